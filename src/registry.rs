//! The registry: configuration plus the encodings and tokenizers loaded so far.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use once_cell::sync::OnceCell;
use parking_lot::Mutex;

use crate::adapter::{Adapter, AdapterName, Engine};
use crate::config::{process_env, Config, EnvLookup, Source};
use crate::error::{Error, ErrorKind, Result};
use crate::estimate::{Family, HeuristicEstimator};
use crate::huggingface::{self, HfTokenizer, TokenizerSource};
use crate::tiktoken::{self, Encoding, EncodingName, RankTable, RankTableId};

type Shared<T> = Arc<OnceCell<Arc<T>>>;

/// Resolves adapters for models. Each rank table and tokenizer file is loaded at most once per
/// registry, on first use, even when many threads resolve at once; adapters share what they use
/// and stay valid after the registry is dropped. `Registry` is `Send + Sync`.
///
/// ```
/// use kano_tokenizer::{AdapterName, Registry};
/// let registry = Registry::from_env(&|_| None)?;
/// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// drop(registry);
/// assert_eq!(adapter.count("Hello, world!")?.count, 4);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub struct Registry {
    config: Config,
    hub_cache: Option<PathBuf>,
    rank_tables: [OnceCell<Arc<RankTable>>; 4],
    // Keyed by source identity. The map lock is held only to find the slot, never while loading.
    tokenizers: Mutex<HashMap<String, Shared<HfTokenizer>>>,
}

impl Registry {
    /// Defaults, then the file named by `KANO_TOKENIZER_CONFIG`, then the other
    /// `KANO_TOKENIZER_*` variables.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Method, Registry};
    /// let registry = Registry::new()?; // reads the process environment
    /// let adapter = registry.resolve(AdapterName::Heuristic, "gpt-4o")?;
    /// assert_eq!(adapter.count("Hello, world!")?.method, Method::Heuristic);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn new() -> Result<Registry> {
        Registry::from_env(&process_env)
    }

    /// As [`Registry::new`], reading variables through `env`.
    ///
    /// ```
    /// use kano_tokenizer::{ConfigSource, Registry, ENV_ADAPTER};
    /// let registry = Registry::from_env(&|name| (name == ENV_ADAPTER).then(|| "heuristic".into()))?;
    /// assert!(!registry.resolve_model("gpt-4o")?.is_exact());
    /// assert_eq!(registry.config().source_of("tokenizer.adapter"), ConfigSource::Env(ENV_ADAPTER));
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn from_env(env: EnvLookup<'_>) -> Result<Registry> {
        Ok(Registry::with_env(Config::from_env(env)?, env))
    }

    /// A config file, then the `KANO_TOKENIZER_*` variables over it.
    ///
    /// ```
    /// use kano_tokenizer::{ConfigSource, Registry};
    /// let path = std::env::temp_dir().join(format!("kano-doc-registry-file-{}.toml", std::process::id()));
    /// std::fs::write(&path, "[tokenizer.huggingface]\nadd_special_tokens = false\n").unwrap();
    /// let registry = Registry::from_config_file(&path);
    /// std::fs::remove_file(&path).unwrap();
    /// let config = registry?.config().clone();
    /// assert!(!config.huggingface.add_special_tokens);
    /// assert_eq!(config.source_of("tokenizer.huggingface.add_special_tokens"), ConfigSource::File(path));
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn from_config_file(path: impl AsRef<Path>) -> Result<Registry> {
        let mut config = Config::from_file(path.as_ref())?;
        config.apply_env(&process_env)?;
        Ok(Registry::with_env(config, &process_env))
    }

    /// TOML text, then the `KANO_TOKENIZER_*` variables over it.
    ///
    /// ```
    /// use kano_tokenizer::{ErrorKind, Registry};
    /// let registry = Registry::from_toml("[tokenizer.huggingface]\nmax_file_bytes = 1048576")?;
    /// assert_eq!(registry.config().huggingface.max_file_bytes, 1 << 20);
    /// let err = Registry::from_toml("[tokenizer]\nadapter = \"fast\"").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Config);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn from_toml(text: &str) -> Result<Registry> {
        let mut config = Config::from_toml_str(text, None, Source::Toml)?;
        config.apply_env(&process_env)?;
        Ok(Registry::with_env(config, &process_env))
    }

    /// Exactly this config; the hub cache location still comes from the process environment
    /// unless the config sets `cache_dir`.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let mut config = Config::default();
    /// config.adapter = AdapterName::Heuristic;
    /// let registry = Registry::with_config(config);
    /// assert_eq!(registry.config().adapter, AdapterName::Heuristic);
    /// assert!(!registry.resolve_model("gpt-4o")?.is_exact());
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn with_config(config: Config) -> Registry {
        Registry::with_env(config, &process_env)
    }

    /// Exactly this config, with the hub cache location read through `env`.
    ///
    /// ```
    /// use std::path::Path;
    /// use kano_tokenizer::{Config, Registry};
    /// let env = |name: &str| (name == "HF_HUB_CACHE").then(|| "/srv/hf".into());
    /// let registry = Registry::with_env(Config::default(), &env);
    /// assert_eq!(registry.hub_cache(), Some(Path::new("/srv/hf")));
    /// assert_eq!(registry.config(), &Config::default());
    /// ```
    pub fn with_env(config: Config, env: EnvLookup<'_>) -> Registry {
        let hub_cache = config.huggingface.cache_dir.clone().or_else(|| huggingface::hub_cache_dir(env));
        Registry { config, hub_cache, rank_tables: Default::default(), tokenizers: Mutex::new(HashMap::new()) }
    }

    /// The configuration in force.
    ///
    /// ```
    /// use kano_tokenizer::{Config, Registry, ENV_MODEL};
    /// let registry = Registry::from_env(&|name| (name == ENV_MODEL).then(|| "gpt-4o".into()))?;
    /// assert_eq!(registry.config().model.as_deref(), Some("gpt-4o"));
    /// assert_eq!(registry.config().max_input_bytes, Config::default().max_input_bytes);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The Hugging Face hub cache this registry searches.
    ///
    /// ```
    /// use std::path::Path;
    /// use kano_tokenizer::{Config, Registry};
    /// let env = |name: &str| (name == "HF_HOME").then(|| "/srv/hf-home".into());
    /// let registry = Registry::with_env(Config::default(), &env);
    /// assert_eq!(registry.hub_cache(), Some(Path::new("/srv/hf-home").join("hub").as_path()));
    /// let mut config = Config::default();
    /// config.huggingface.cache_dir = Some("/srv/models".into()); // the config's cache_dir wins
    /// assert_eq!(Registry::with_env(config, &env).hub_cache(), Some(Path::new("/srv/models")));
    /// assert_eq!(Registry::with_env(Config::default(), &|_| None).hub_cache(), None);
    /// ```
    pub fn hub_cache(&self) -> Option<&Path> {
        self.hub_cache.as_deref()
    }

    /// Resolves `adapter` for `model`: an OpenAI model or encoding name, a `tokenizer.json` path
    /// or folder, a name from `[tokenizer.huggingface.models]`, or a repository in the local
    /// Hugging Face cache. Nothing is downloaded.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Registry};
    /// let registry = Registry::from_env(&|_| None)?; // defaults, whatever the environment says
    /// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// assert_eq!(adapter.count("Hello, world!")?.count, 4);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn resolve(&self, adapter: AdapterName, model: &str) -> Result<Adapter> {
        self.select(adapter, Some(model))
    }

    /// Resolves the configured adapter (`[tokenizer] adapter`, `KANO_TOKENIZER_ADAPTER`;
    /// `auto` by default) for `model`.
    ///
    /// ```
    /// use kano_tokenizer::{Config, Registry};
    /// let config = Config::from_env(&|name| (name == "KANO_TOKENIZER_ADAPTER").then(|| "heuristic".into()))?;
    /// let registry = Registry::with_env(config, &|_| None);
    /// let adapter = registry.resolve_model("gpt-4o")?;
    /// assert!(!adapter.is_exact());
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn resolve_model(&self, model: &str) -> Result<Adapter> {
        self.select(self.config.adapter, Some(model))
    }

    /// Resolves `adapter` for the configured model (`[tokenizer] model`,
    /// `KANO_TOKENIZER_MODEL`); an exact adapter with no model configured is an
    /// [`ErrorKind::UnknownModel`] error.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Registry};
    /// let registry = Registry::from_env(&|name| (name == "KANO_TOKENIZER_MODEL").then(|| "gpt-4".into()))?;
    /// assert_eq!(registry.resolve_adapter(AdapterName::Tiktoken)?.model(), "cl100k_base");
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn resolve_adapter(&self, adapter: AdapterName) -> Result<Adapter> {
        self.select(adapter, None)
    }

    /// Resolves the configured adapter for the configured model.
    ///
    /// ```
    /// let model = |name: &str| (name == kano_tokenizer::ENV_MODEL).then(|| "gpt-4o".into());
    /// let registry = kano_tokenizer::Registry::from_env(&model)?;
    /// assert!(registry.resolve_configured()?.is_exact());
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn resolve_configured(&self) -> Result<Adapter> {
        self.select(self.config.adapter, None)
    }

    /// The C API's and the bindings' form: a name to parse (`None` for the configured adapter)
    /// and an optional model.
    #[cfg(feature = "ffi")]
    pub(crate) fn resolve_named(&self, adapter: Option<&str>, model: Option<&str>) -> Result<Adapter> {
        let name = match adapter {
            Some(name) => name.parse()?,
            None => self.config.adapter,
        };
        self.select(name, model)
    }

    fn select(&self, adapter: AdapterName, model: Option<&str>) -> Result<Adapter> {
        if model == Some("") {
            return Err(Error::new(ErrorKind::InvalidArgument, "the model name is empty"));
        }
        let model = model.or(self.config.model.as_deref());
        let adapter = match adapter {
            AdapterName::Heuristic => Ok(self.heuristic(model)),
            AdapterName::Tiktoken => self.tiktoken(model),
            AdapterName::Huggingface => self.huggingface(model),
            AdapterName::Auto => self.auto(model),
        }?;
        Ok(adapter.with_max_input_bytes(self.config.max_input_bytes).with_batch_threads(self.config.batch_threads))
    }

    fn heuristic(&self, model: Option<&str>) -> Adapter {
        let family = model.map_or(Family::Cl100k, family_of_model);
        let estimator = HeuristicEstimator::new(family, self.config.heuristic.chars_per_token);
        Adapter::new(Engine::Heuristic(estimator), model.unwrap_or("default").to_string())
    }

    fn tiktoken(&self, model: Option<&str>) -> Result<Adapter> {
        let name = match (self.config.tiktoken.encoding, model) {
            (Some(forced), _) => forced,
            (None, Some(model)) => tiktoken::encoding_for_model(model).ok_or_else(|| {
                Error::new(
                    ErrorKind::UnknownModel,
                    format!(
                        "tiktoken has no encoding for model {model:?}; give an OpenAI model or an encoding name \
                         ({}), or force one with [tokenizer.tiktoken] encoding or KANO_TOKENIZER_TIKTOKEN_ENCODING",
                        EncodingName::ALL_NAMES.join(", ")
                    ),
                )
            })?,
            (None, None) => return Err(no_model("tiktoken")),
        };
        let encoding = self.encoding(name)?;
        Ok(Adapter::new(Engine::Tiktoken(encoding), name.as_str().to_string()))
    }

    /// The encoding, loading its rank table on first use.
    ///
    /// ```
    /// use kano_tokenizer::{EncodingName, Registry};
    /// let registry = Registry::from_env(&|_| None)?;
    /// let encoding = registry.encoding(EncodingName::Cl100kBase)?;
    /// assert_eq!(encoding.count("Hello, world!"), 4);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn encoding(&self, name: EncodingName) -> Result<Encoding> {
        let id = name.table();
        let slot = &self.rank_tables[id as usize];
        let table = slot.get_or_try_init(|| RankTable::load(id).map(Arc::new))?;
        Ok(Encoding::new(name, Arc::clone(table)))
    }

    /// Whether the rank table behind `name` is loaded (for tests and status output).
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, EncodingName, Registry};
    /// let registry = Registry::from_env(&|_| None)?;
    /// assert!(!registry.is_loaded(EncodingName::O200kBase));
    /// registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// assert!(registry.is_loaded(EncodingName::O200kBase));
    /// assert!(registry.is_loaded(EncodingName::O200kHarmony)); // the same rank table
    /// assert!(!registry.is_loaded(EncodingName::Cl100kBase));
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn is_loaded(&self, name: EncodingName) -> bool {
        let id: RankTableId = name.table();
        self.rank_tables[id as usize].get().is_some()
    }

    fn huggingface(&self, model: Option<&str>) -> Result<Adapter> {
        let model = model.ok_or_else(|| no_model("huggingface"))?;
        let source = huggingface::locate(model, &self.config.huggingface, self.hub_cache.as_deref())?;
        let tokenizer = self.tokenizer(&source)?;
        let engine = Engine::Huggingface { tokenizer, add_special_tokens: self.config.huggingface.add_special_tokens };
        Ok(Adapter::new(engine, source.identity()))
    }

    fn tokenizer(&self, source: &TokenizerSource) -> Result<Arc<HfTokenizer>> {
        let slot = Arc::clone(self.tokenizers.lock().entry(source.identity()).or_default());
        let limit = self.config.huggingface.max_file_bytes;
        slot.get_or_try_init(|| HfTokenizer::load_with_limit(source, limit).map(Arc::new)).cloned()
    }

    fn auto(&self, model: Option<&str>) -> Result<Adapter> {
        let mut reasons = Vec::new();
        for &method in &self.config.fallback_chain {
            match self.select(method.into(), model) {
                Ok(adapter) if reasons.is_empty() => return Ok(adapter),
                Ok(adapter) => return Ok(adapter.with_fallback_reason(reasons.join("; "))),
                Err(e) => reasons.push(format!("{method}: {}", e.message())),
            }
        }
        let chain: Vec<&str> = self.config.fallback_chain.iter().map(|m| m.as_str()).collect();
        Err(Error::new(
            ErrorKind::AdapterUnavailable,
            format!(
                "no adapter in the fallback chain [{}] can serve model {:?}: {}",
                chain.join(", "),
                model.unwrap_or("(none)"),
                reasons.join("; ")
            ),
        ))
    }
}

fn no_model(adapter: &str) -> Error {
    Error::new(
        ErrorKind::UnknownModel,
        format!("the {adapter} adapter needs a model: pass one, or set [tokenizer] model or KANO_TOKENIZER_MODEL"),
    )
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("config", &self.config)
            .field("hub_cache", &self.hub_cache)
            .finish_non_exhaustive()
    }
}

/// The estimate family of a model name for the heuristic adapter: the tiktoken table's encoding
/// when it knows the model, else a guess from the name, else cl100k, the most common
/// vocabulary size class. Model names are the registry's business: the estimate only takes the
/// family it is given.
fn family_of_model(model: &str) -> Family {
    if let Some(encoding) = crate::tiktoken::encoding_for_model(model) {
        return encoding.family();
    }
    let m = model.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if has(&["bert", "minilm", "mpnet", "e5-", "bge-"]) {
        Family::WordPiece
    } else if has(&["llama", "mistral", "mixtral", "gemma"]) {
        Family::ByteFallbackBpe
    } else if has(&["t5", "xlnet", "albert"]) {
        Family::Unigram
    } else if has(&["gpt2", "gpt-2", "roberta", "bart"]) {
        Family::ByteLevelBpe
    } else {
        Family::Cl100k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_from_model_names() {
        assert_eq!(family_of_model("gpt-4o"), Family::O200k);
        assert_eq!(family_of_model("gpt-3.5-turbo"), Family::Cl100k);
        assert_eq!(family_of_model("text-davinci-003"), Family::P50k);
        assert_eq!(family_of_model("bert-base-uncased"), Family::WordPiece);
        assert_eq!(family_of_model("mistralai/Mistral-7B-v0.1"), Family::ByteFallbackBpe);
        assert_eq!(family_of_model("google/flan-t5-base"), Family::Unigram);
        assert_eq!(family_of_model("something-else"), Family::Cl100k);
    }
}
