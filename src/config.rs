//! Configuration: the guide's TOML shape, the `KANO_TOKENIZER_*` environment variables and
//! their precedence.
//!
//! Precedence, highest first: explicit arguments (to `resolve`), environment variables, the
//! config file, defaults. Every problem is reported with the key (or variable), the value and
//! the reason; unknown keys are errors, so a typo never silently falls back to a default.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::adapter::{AdapterName, Method};
use crate::error::{Error, ErrorKind, Result};
use crate::tiktoken::EncodingName;

/// The environment variable naming a config file, read by [`Config::from_env`] (and
/// [`Registry::new`](crate::Registry::new)) before the other variables.
///
/// ```
/// use kano_tokenizer::{Config, ENV_CONFIG};
/// assert_eq!(ENV_CONFIG, "KANO_TOKENIZER_CONFIG");
/// let path = std::env::temp_dir().join(format!("kano-doc-env-config-{}.toml", std::process::id()));
/// std::fs::write(&path, "[tokenizer]\nmodel = \"gpt-4o\"\n").unwrap();
/// let config = Config::from_env(&|name| (name == ENV_CONFIG).then(|| path.clone().into()));
/// std::fs::remove_file(&path).unwrap();
/// assert_eq!(config?.model.as_deref(), Some("gpt-4o"));
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub const ENV_CONFIG: &str = "KANO_TOKENIZER_CONFIG";
/// The environment variable that sets `[tokenizer] adapter`: `auto`, `heuristic`, `tiktoken` or `huggingface`.
///
/// ```
/// use kano_tokenizer::{Config, ENV_ADAPTER};
/// assert_eq!(ENV_ADAPTER, "KANO_TOKENIZER_ADAPTER");
/// let config = Config::from_env(&|name| (name == ENV_ADAPTER).then(|| "heuristic".into()))?;
/// assert_eq!(config.adapter, kano_tokenizer::AdapterName::Heuristic);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub const ENV_ADAPTER: &str = "KANO_TOKENIZER_ADAPTER";
/// The environment variable that sets `[tokenizer] model`, the model used when `resolve` is given none.
///
/// ```
/// use kano_tokenizer::{Config, ENV_MODEL};
/// assert_eq!(ENV_MODEL, "KANO_TOKENIZER_MODEL");
/// let config = Config::from_env(&|name| (name == ENV_MODEL).then(|| "gpt-4o".into()))?;
/// assert_eq!(config.model.as_deref(), Some("gpt-4o"));
/// assert_eq!(config.source_of("tokenizer.model"), kano_tokenizer::ConfigSource::Env(ENV_MODEL));
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub const ENV_MODEL: &str = "KANO_TOKENIZER_MODEL";
/// The environment variable that sets `[tokenizer] fallback_chain`: adapter names separated by
/// commas (brackets and quotes around them are optional).
///
/// ```
/// use kano_tokenizer::{Config, ENV_FALLBACK_CHAIN};
/// assert_eq!(ENV_FALLBACK_CHAIN, "KANO_TOKENIZER_FALLBACK_CHAIN");
/// let config = Config::from_env(&|name| (name == ENV_FALLBACK_CHAIN).then(|| "[tiktoken, heuristic]".into()))?;
/// use kano_tokenizer::Method;
/// assert_eq!(config.fallback_chain, [Method::Tiktoken, Method::Heuristic]);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub const ENV_FALLBACK_CHAIN: &str = "KANO_TOKENIZER_FALLBACK_CHAIN";
/// The environment variable that sets `[tokenizer.heuristic] chars_per_token`.
///
/// ```
/// use kano_tokenizer::{Config, ENV_CHARS_PER_TOKEN};
/// assert_eq!(ENV_CHARS_PER_TOKEN, "KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN");
/// let config = Config::from_env(&|name| (name == ENV_CHARS_PER_TOKEN).then(|| "8".into()))?;
/// assert_eq!(config.heuristic.chars_per_token, 8.0);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub const ENV_CHARS_PER_TOKEN: &str = "KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN";
/// The environment variable that sets `[tokenizer.tiktoken] encoding`, forcing one encoding for
/// every model.
///
/// ```
/// use kano_tokenizer::{Config, ENV_TIKTOKEN_ENCODING};
/// assert_eq!(ENV_TIKTOKEN_ENCODING, "KANO_TOKENIZER_TIKTOKEN_ENCODING");
/// let config = Config::from_env(&|name| (name == ENV_TIKTOKEN_ENCODING).then(|| "cl100k_base".into()))?;
/// assert_eq!(config.tiktoken.encoding, Some(kano_tokenizer::EncodingName::Cl100kBase));
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub const ENV_TIKTOKEN_ENCODING: &str = "KANO_TOKENIZER_TIKTOKEN_ENCODING";
/// The environment variable that sets `[tokenizer] max_input_bytes`: a byte count, optionally
/// with a `K`, `M` or `G` suffix (powers of 1024).
///
/// ```
/// use kano_tokenizer::{Config, ENV_MAX_INPUT_BYTES};
/// assert_eq!(ENV_MAX_INPUT_BYTES, "KANO_TOKENIZER_MAX_INPUT_BYTES");
/// let config = Config::from_env(&|name| (name == ENV_MAX_INPUT_BYTES).then(|| "16M".into()))?;
/// assert_eq!(config.max_input_bytes, 16 << 20);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub const ENV_MAX_INPUT_BYTES: &str = "KANO_TOKENIZER_MAX_INPUT_BYTES";
/// The environment variable that sets `[tokenizer] batch_threads`.
///
/// ```
/// use kano_tokenizer::{Config, ENV_BATCH_THREADS};
/// assert_eq!(ENV_BATCH_THREADS, "KANO_TOKENIZER_BATCH_THREADS");
/// let config = Config::from_env(&|name| (name == ENV_BATCH_THREADS).then(|| "1".into()))?;
/// assert_eq!(config.batch_threads, 1);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub const ENV_BATCH_THREADS: &str = "KANO_TOKENIZER_BATCH_THREADS";

/// Config files larger than this are refused: a tokenizer config is a few hundred bytes.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

pub use crate::estimate::DEFAULT_CHARS_PER_TOKEN;
/// The largest text one call counts, unless configured: 64 MiB is far beyond any model's
/// context window (a million tokens is about 4 MiB of prose) yet bounds the time and memory a
/// single hostile request can take.
///
/// ```
/// use kano_tokenizer::{Config, DEFAULT_MAX_INPUT_BYTES};
/// assert_eq!(DEFAULT_MAX_INPUT_BYTES, 64 * 1024 * 1024);
/// assert_eq!(Config::default().max_input_bytes, DEFAULT_MAX_INPUT_BYTES);
/// ```
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 64 << 20;
/// The adapters `auto` tries when no chain is configured: the exact ones first, the heuristic
/// (which serves any model) last.
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, Method, Registry, DEFAULT_FALLBACK_CHAIN};
/// assert_eq!(DEFAULT_FALLBACK_CHAIN, [Method::Tiktoken, Method::Huggingface, Method::Heuristic]);
/// let registry = Registry::with_env(Config::default(), &|_| None);
/// let adapter = registry.resolve(AdapterName::Auto, "no-such-model")?;
/// assert_eq!(adapter.method(), Method::Heuristic);
/// assert!(adapter.fallback_reason().unwrap().starts_with("tiktoken: "));
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub const DEFAULT_FALLBACK_CHAIN: [Method; 3] = [Method::Tiktoken, Method::Huggingface, Method::Heuristic];

/// Where a config value came from (reported by `kano-tokenizer status`).
///
/// ```
/// use kano_tokenizer::{Config, ConfigSource, ENV_MODEL};
/// let config = Config::from_toml_str("[tokenizer]\nmodel = \"gpt-4o\"", None, ConfigSource::Toml)?;
/// assert_eq!(config.source_of("tokenizer.model"), ConfigSource::Toml);
/// assert_eq!(config.source_of("tokenizer.adapter"), ConfigSource::Default);
/// assert_eq!(ConfigSource::Env(ENV_MODEL).to_string(), "env KANO_TOKENIZER_MODEL");
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// The built-in default.
    Default,
    /// A config file at this path.
    File(PathBuf),
    /// TOML text given directly.
    Toml,
    /// An environment variable.
    Env(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Toml => f.write_str("toml"),
            Source::Env(name) => write!(f, "env {name}"),
        }
    }
}

/// The `[tokenizer.heuristic]` table: how the estimate is scaled.
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, ConfigSource, Registry, DEFAULT_CHARS_PER_TOKEN};
/// assert_eq!(Config::default().heuristic.chars_per_token, DEFAULT_CHARS_PER_TOKEN);
/// let text = "[tokenizer.heuristic]\nchars_per_token = 8";
/// let config = Config::from_toml_str(text, None, ConfigSource::Toml)?;
/// assert_eq!(config.heuristic.chars_per_token, 8.0);
/// // Twice the default ratio: half the default estimate (4 tokens).
/// let adapter = Registry::with_env(config, &|_| None).resolve(AdapterName::Heuristic, "gpt-4o")?;
/// assert_eq!(adapter.count("Hello, world!")?.count, 2);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HeuristicConfig {
    /// Scales the calibrated estimate by `4 / chars_per_token` (4, the default, leaves it as
    /// calibrated), so a higher ratio gives fewer tokens, as in the guide. From 0.5 to 64
    /// (`estimate::MIN_CHARS_PER_TOKEN`, `MAX_CHARS_PER_TOKEN`); other values are refused.
    pub chars_per_token: f64,
}

/// The `[tokenizer.tiktoken]` table.
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, ConfigSource, EncodingName, Registry};
/// let text = "[tokenizer.tiktoken]\nencoding = \"cl100k_base\"";
/// let config = Config::from_toml_str(text, None, ConfigSource::Toml)?;
/// assert_eq!(config.tiktoken.encoding, Some(EncodingName::Cl100kBase));
/// // gpt-4o would use o200k_base; the forced encoding wins.
/// let adapter = Registry::with_env(config, &|_| None).resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// assert_eq!(adapter.model(), "cl100k_base");
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TiktokenConfig {
    /// Forces this encoding for every model.
    pub encoding: Option<EncodingName>,
}

/// The `[tokenizer.huggingface]` table: where `tokenizer.json` files are found and how they count.
///
/// ```
/// use std::path::Path;
/// use kano_tokenizer::{Config, ConfigSource};
/// let text = "[tokenizer.huggingface]\nadd_special_tokens = false\n\
///             [tokenizer.huggingface.models]\nmy-model = \"my-model/tokenizer.json\"";
/// let base = Path::new("/srv/kano");
/// let hf = Config::from_toml_str(text, Some(base), ConfigSource::Toml)?.huggingface;
/// assert!(!hf.add_special_tokens);
/// // Relative paths resolve against the base directory.
/// assert_eq!(hf.models["my-model"], base.join("my-model/tokenizer.json"));
/// assert!(Config::default().huggingface.add_special_tokens);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuggingfaceConfig {
    /// Accepted for compatibility with the guide; counting always uses the Rust `tokenizers`
    /// pipeline described by `tokenizer.json`.
    pub use_fast: bool,
    /// Accepted for compatibility with the guide. No code from a model repository is ever run,
    /// whatever this says: only `tokenizer.json` is read.
    pub trust_remote_code: bool,
    /// Count the post-processor's special tokens (`[CLS]`, `[SEP]`, `<s>`...), as
    /// `transformers` does by default.
    pub add_special_tokens: bool,
    /// The Hugging Face hub cache to search; unset means `$HF_HUB_CACHE`, else `$HF_HOME/hub`,
    /// else `~/.cache/huggingface/hub`.
    pub cache_dir: Option<PathBuf>,
    /// Model names mapped to a `tokenizer.json` file or a directory holding one.
    pub models: BTreeMap<String, PathBuf>,
    /// Larger `tokenizer.json` files are refused. Loading takes about 17 times the file's size
    /// in memory (a 39 MB file of 2 million entries: 656 MB, 4 s), so this bounds both.
    pub max_file_bytes: u64,
}

impl Default for HuggingfaceConfig {
    fn default() -> Self {
        HuggingfaceConfig {
            use_fast: true,
            trust_remote_code: false,
            add_special_tokens: true,
            cache_dir: None,
            models: BTreeMap::new(),
            max_file_bytes: crate::huggingface::MAX_TOKENIZER_FILE_BYTES,
        }
    }
}

/// The effective configuration of a registry.
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, ENV_ADAPTER};
/// let config = Config::from_env(&|_| None)?;
/// assert_eq!(config, Config::default());
/// assert_eq!(config.adapter, AdapterName::Auto);
/// assert_eq!(config.model, None);
/// let mut config = Config::default();
/// config.apply_env(&|name| (name == ENV_ADAPTER).then(|| "tiktoken".into()))?;
/// assert_eq!(config.adapter, AdapterName::Tiktoken);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The adapter used when `resolve` is given none.
    pub adapter: AdapterName,
    /// The model used when `resolve` is given none.
    pub model: Option<String>,
    /// The adapters `auto` tries, in order.
    pub fallback_chain: Vec<Method>,
    /// The largest text, in bytes, that one call counts; larger texts are refused
    /// (`ErrorKind::InputTooLarge`) before any work is done.
    pub max_input_bytes: u64,
    /// The most threads one batch call uses, the caller's included; 0 (the default) means the
    /// available cores, at most 8, and 1 counts every batch on the caller's thread.
    pub batch_threads: usize,
    /// `[tokenizer.heuristic]`.
    pub heuristic: HeuristicConfig,
    /// `[tokenizer.tiktoken]`.
    pub tiktoken: TiktokenConfig,
    /// `[tokenizer.huggingface]`.
    pub huggingface: HuggingfaceConfig,
    sources: BTreeMap<&'static str, Source>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            adapter: AdapterName::Auto,
            model: None,
            fallback_chain: DEFAULT_FALLBACK_CHAIN.to_vec(),
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
            batch_threads: 0,
            heuristic: HeuristicConfig { chars_per_token: DEFAULT_CHARS_PER_TOKEN },
            tiktoken: TiktokenConfig::default(),
            huggingface: HuggingfaceConfig::default(),
            sources: BTreeMap::new(),
        }
    }
}

/// Reads environment variables; tests pass a map instead of the process environment. Values
/// are bytes: a path (`KANO_TOKENIZER_CONFIG`, `HF_HOME`...) is used as it is, and a text value
/// that is not UTF-8 is refused, never converted (a replaced byte names another file or model).
///
/// ```
/// use std::collections::HashMap;
/// use std::ffi::OsString;
/// use kano_tokenizer::{Config, EnvLookup, ENV_BATCH_THREADS, ENV_MODEL};
/// let vars = HashMap::from([(ENV_MODEL, OsString::from("gpt-4o")), (ENV_BATCH_THREADS, OsString::from("2"))]);
/// let lookup = |name: &str| vars.get(name).cloned();
/// let env: EnvLookup = &lookup;
/// let config = Config::from_env(env)?;
/// assert_eq!((config.model.as_deref(), config.batch_threads), (Some("gpt-4o"), 2));
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The process environment, values as they are.
///
/// ```
/// use kano_tokenizer::{process_env, EnvLookup};
/// let env: EnvLookup = &process_env;
/// assert_eq!(env("PATH"), std::env::var_os("PATH"));
/// assert_eq!(process_env("KANO_TOKENIZER_NOT_A_VARIABLE"), None);
/// ```
pub fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

impl Config {
    /// Where the value of a dotted key (`tokenizer.adapter`, `tokenizer.heuristic.chars_per_token`...)
    /// came from.
    ///
    /// ```
    /// use kano_tokenizer::{Config, ConfigSource, ENV_MODEL};
    /// let mut config = Config::from_toml_str("[tokenizer]\nadapter = \"tiktoken\"", None, ConfigSource::Toml)?;
    /// config.apply_env(&|name| (name == ENV_MODEL).then(|| "gpt-4o".into()))?;
    /// assert_eq!(config.source_of("tokenizer.adapter"), ConfigSource::Toml);
    /// assert_eq!(config.source_of("tokenizer.model"), ConfigSource::Env(ENV_MODEL));
    /// assert_eq!(config.source_of("tokenizer.batch_threads"), ConfigSource::Default);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn source_of(&self, key: &str) -> Source {
        self.sources.get(key).cloned().unwrap_or(Source::Default)
    }

    /// Every dotted key this config knows, with where its value came from.
    ///
    /// ```
    /// use kano_tokenizer::{Config, ConfigSource};
    /// let config = Config::from_toml_str("[tokenizer]\nmodel = \"gpt-4o\"", None, ConfigSource::Toml)?;
    /// let sources = config.sources();
    /// assert_eq!(sources.len(), 13);
    /// assert!(sources.contains(&("tokenizer.model", ConfigSource::Toml)));
    /// assert_eq!(sources.iter().filter(|(_, source)| *source == ConfigSource::Default).count(), 12);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn sources(&self) -> Vec<(&'static str, Source)> {
        KNOWN_KEYS.iter().map(|k| (*k, self.source_of(k))).collect()
    }

    /// Parses TOML text in the guide's shape. Relative paths resolve against `base_dir` (the
    /// config file's folder) or, without one, the working directory.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, ConfigSource, ErrorKind};
    /// let text = "[tokenizer]\nadapter = \"heuristic\"\nmax_input_bytes = 1024";
    /// let config = Config::from_toml_str(text, None, ConfigSource::Toml)?;
    /// assert_eq!((config.adapter, config.max_input_bytes), (AdapterName::Heuristic, 1024));
    /// // Unknown keys are errors, never ignored.
    /// let err = Config::from_toml_str("[tokenizer]\nmodle = \"gpt-4o\"", None, ConfigSource::Toml).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Config);
    /// assert!(err.message().contains("tokenizer.modle: unknown key"));
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn from_toml_str(text: &str, base_dir: Option<&Path>, origin: Source) -> Result<Config> {
        let label = match &origin {
            Source::File(p) => p.display().to_string(),
            _ => "TOML text".to_string(),
        };
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_column(text, s.start)).unwrap_or((1, 1));
            Error::new(ErrorKind::Config, format!("{label}:{line}:{column}: TOML syntax error: {}", e.message().trim()))
        })?;
        let mut config = Config::default();
        let mut problems = Vec::new();
        config.load_table(&table, base_dir, &origin, &mut problems);
        finish(&label, problems)?;
        Ok(config)
    }

    /// Reads and parses a config file.
    ///
    /// ```
    /// use kano_tokenizer::{Config, ConfigSource, ErrorKind};
    /// let path = std::env::temp_dir().join(format!("kano-doc-from-file-{}.toml", std::process::id()));
    /// std::fs::write(&path, "[tokenizer]\nmodel = \"cl100k_base\"\n").unwrap();
    /// let config = Config::from_file(&path);
    /// std::fs::remove_file(&path).unwrap();
    /// let config = config?;
    /// assert_eq!(config.model.as_deref(), Some("cl100k_base"));
    /// assert_eq!(config.source_of("tokenizer.model"), ConfigSource::File(path.clone()));
    /// assert_eq!(Config::from_file(&path).unwrap_err().kind(), ErrorKind::Io);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = read_config_file(path)?;
        Config::from_toml_str(&text, path.parent(), Source::File(path.to_path_buf()))
    }

    /// The defaults, then the file named by `KANO_TOKENIZER_CONFIG` if set, then the other
    /// `KANO_TOKENIZER_*` variables.
    ///
    /// ```
    /// use kano_tokenizer::{Config, ErrorKind, ENV_CHARS_PER_TOKEN, ENV_MODEL};
    /// let config = Config::from_env(&|name| match name {
    ///     ENV_MODEL => Some("gpt-4o".into()),
    ///     ENV_CHARS_PER_TOKEN => Some("  ".into()), // blank: unset
    ///     _ => None,
    /// })?;
    /// assert_eq!(config.model.as_deref(), Some("gpt-4o"));
    /// assert_eq!(config.heuristic.chars_per_token, 4.0);
    /// let err = Config::from_env(&|name| (name == ENV_CHARS_PER_TOKEN).then(|| "abc".into())).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Config);
    /// assert!(err.message().contains("KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN=\"abc\": not a number"));
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn from_env(env: EnvLookup<'_>) -> Result<Config> {
        let mut config = match env(ENV_CONFIG).filter(|path| !is_blank(path)) {
            // Debug formatting shows a byte that is not UTF-8 as `\xFF`, not as U+FFFD.
            Some(path) => Config::from_file(Path::new(&path))
                .map_err(|e| Error::new(e.kind(), format!("{ENV_CONFIG}={path:?}: {}", e.message())))?,
            None => Config::default(),
        };
        config.apply_env(env)?;
        Ok(config)
    }

    /// Overrides values with the `KANO_TOKENIZER_*` variables that are set and not empty.
    ///
    /// ```
    /// use kano_tokenizer::{Config, ConfigSource, ENV_MODEL};
    /// let mut config = Config::from_toml_str("[tokenizer]\nmodel = \"gpt-4\"", None, ConfigSource::Toml)?;
    /// config.apply_env(&|name| (name == ENV_MODEL).then(|| "gpt-4o".into()))?;
    /// assert_eq!(config.model.as_deref(), Some("gpt-4o"));
    /// config.apply_env(&|_| None)?; // nothing set: nothing changes
    /// assert_eq!(config.source_of("tokenizer.model"), ConfigSource::Env(ENV_MODEL));
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn apply_env(&mut self, env: EnvLookup<'_>) -> Result<()> {
        let mut problems = Vec::new();
        if let Some(value) = text_var(env, ENV_ADAPTER, &mut problems) {
            match AdapterName::parse(&value) {
                Some(name) => {
                    self.adapter = name;
                    self.sources.insert(KEY_ADAPTER, Source::Env(ENV_ADAPTER));
                }
                None => problems.push(format!("{ENV_ADAPTER}: {}", AdapterName::unknown(&value))),
            }
        }
        if let Some(value) = text_var(env, ENV_MODEL, &mut problems) {
            self.model = Some(value);
            self.sources.insert(KEY_MODEL, Source::Env(ENV_MODEL));
        }
        if let Some(value) = text_var(env, ENV_FALLBACK_CHAIN, &mut problems) {
            let items: Vec<String> = value
                .trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .map(|s| s.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
                .collect();
            match parse_chain(items.iter().map(String::as_str)) {
                Ok(chain) => {
                    self.fallback_chain = chain;
                    self.sources.insert(KEY_FALLBACK_CHAIN, Source::Env(ENV_FALLBACK_CHAIN));
                }
                Err(reason) => problems.push(format!("{ENV_FALLBACK_CHAIN}={value:?}: {reason}")),
            }
        }
        if let Some(value) = text_var(env, ENV_CHARS_PER_TOKEN, &mut problems) {
            match value.trim().parse::<f64>() {
                Ok(v) => match check_chars_per_token(v) {
                    Ok(()) => {
                        self.heuristic.chars_per_token = v;
                        self.sources.insert(KEY_CHARS_PER_TOKEN, Source::Env(ENV_CHARS_PER_TOKEN));
                    }
                    Err(reason) => problems.push(format!("{ENV_CHARS_PER_TOKEN}={value:?}: {reason}")),
                },
                Err(_) => problems.push(format!("{ENV_CHARS_PER_TOKEN}={value:?}: not a number")),
            }
        }
        if let Some(value) = text_var(env, ENV_MAX_INPUT_BYTES, &mut problems) {
            match parse_max_input_bytes(value.trim()) {
                Ok(v) => {
                    self.max_input_bytes = v;
                    self.sources.insert(KEY_MAX_INPUT_BYTES, Source::Env(ENV_MAX_INPUT_BYTES));
                }
                Err(reason) => problems.push(format!("{ENV_MAX_INPUT_BYTES}={value:?}: {reason}")),
            }
        }
        if let Some(value) = text_var(env, ENV_BATCH_THREADS, &mut problems) {
            match value.trim().parse::<i64>() {
                Ok(i) => match check_batch_threads(i) {
                    Ok(v) => {
                        self.batch_threads = v;
                        self.sources.insert(KEY_BATCH_THREADS, Source::Env(ENV_BATCH_THREADS));
                    }
                    Err(reason) => problems.push(format!("{ENV_BATCH_THREADS}={value:?}: {reason}")),
                },
                Err(_) => problems.push(format!("{ENV_BATCH_THREADS}={value:?}: not a whole number")),
            }
        }
        if let Some(value) = text_var(env, ENV_TIKTOKEN_ENCODING, &mut problems) {
            match EncodingName::parse(value.trim()) {
                Some(enc) => {
                    self.tiktoken.encoding = Some(enc);
                    self.sources.insert(KEY_ENCODING, Source::Env(ENV_TIKTOKEN_ENCODING));
                }
                None => problems.push(format!("{ENV_TIKTOKEN_ENCODING}={value:?}: {}", unknown_encoding_reason())),
            }
        }
        finish("environment", problems)
    }

    fn load_table(
        &mut self,
        table: &toml::Table,
        base_dir: Option<&Path>,
        origin: &Source,
        problems: &mut Vec<String>,
    ) {
        for (key, value) in table {
            if key != "tokenizer" {
                problems.push(format!("{key}: unknown key (expected only a [tokenizer] table)"));
                continue;
            }
            let Some(tokenizer) = value.as_table() else {
                problems.push(format!("tokenizer: expected a table, found {}", value.type_str()));
                continue;
            };
            for (key, value) in tokenizer {
                let path = format!("tokenizer.{key}");
                match key.as_str() {
                    "adapter" => match value.as_str() {
                        Some(s) => match AdapterName::parse(s) {
                            Some(name) => {
                                self.adapter = name;
                                self.sources.insert(KEY_ADAPTER, origin.clone());
                            }
                            None => problems.push(format!("{path}: {}", AdapterName::unknown(s))),
                        },
                        None => problems.push(expected(&path, "a string", value)),
                    },
                    "model" => match value.as_str() {
                        Some("") => problems.push(format!("{path} = \"\": the model name is empty")),
                        Some(s) => {
                            self.model = Some(s.to_string());
                            self.sources.insert(KEY_MODEL, origin.clone());
                        }
                        None => problems.push(expected(&path, "a string", value)),
                    },
                    "fallback_chain" => match value.as_array() {
                        Some(items) => {
                            let names: Option<Vec<&str>> = items.iter().map(|v| v.as_str()).collect();
                            match names {
                                Some(names) => match parse_chain(names.into_iter()) {
                                    Ok(chain) => {
                                        self.fallback_chain = chain;
                                        self.sources.insert(KEY_FALLBACK_CHAIN, origin.clone());
                                    }
                                    Err(reason) => problems.push(format!("{path} = {value}: {reason}")),
                                },
                                None => problems.push(expected(&path, "an array of strings", value)),
                            }
                        }
                        None => problems.push(expected(&path, "an array of adapter names", value)),
                    },
                    "max_input_bytes" => match value.as_integer() {
                        Some(i) => match check_max_input_bytes(i) {
                            Ok(v) => {
                                self.max_input_bytes = v;
                                self.sources.insert(KEY_MAX_INPUT_BYTES, origin.clone());
                            }
                            Err(reason) => problems.push(format!("{path} = {value}: {reason}")),
                        },
                        None => problems.push(expected(&path, "an integer number of bytes", value)),
                    },
                    "batch_threads" => match value.as_integer() {
                        Some(i) => match check_batch_threads(i) {
                            Ok(v) => {
                                self.batch_threads = v;
                                self.sources.insert(KEY_BATCH_THREADS, origin.clone());
                            }
                            Err(reason) => problems.push(format!("{path} = {value}: {reason}")),
                        },
                        None => problems.push(expected(&path, "an integer number of threads", value)),
                    },
                    "heuristic" => self.load_heuristic(value, origin, problems),
                    "tiktoken" => self.load_tiktoken(value, origin, problems),
                    "huggingface" => self.load_huggingface(value, base_dir, origin, problems),
                    _ => problems.push(format!(
                        "{path}: unknown key (known: adapter, model, fallback_chain, max_input_bytes, batch_threads, [tokenizer.heuristic], [tokenizer.tiktoken], [tokenizer.huggingface])"
                    )),
                }
            }
        }
    }

    fn load_heuristic(&mut self, value: &toml::Value, origin: &Source, problems: &mut Vec<String>) {
        let Some(table) = value.as_table() else {
            problems.push(expected("tokenizer.heuristic", "a table", value));
            return;
        };
        for (key, value) in table {
            let path = format!("tokenizer.heuristic.{key}");
            match key.as_str() {
                "chars_per_token" => {
                    let number = match value {
                        toml::Value::Float(f) => Some(*f),
                        toml::Value::Integer(i) => Some(*i as f64),
                        _ => None,
                    };
                    match number {
                        Some(v) => match check_chars_per_token(v) {
                            Ok(()) => {
                                self.heuristic.chars_per_token = v;
                                self.sources.insert(KEY_CHARS_PER_TOKEN, origin.clone());
                            }
                            Err(reason) => problems.push(format!("{path} = {value}: {reason}")),
                        },
                        None => problems.push(expected(&path, "a number", value)),
                    }
                }
                _ => problems.push(format!("{path}: unknown key (known: chars_per_token)")),
            }
        }
    }

    fn load_tiktoken(&mut self, value: &toml::Value, origin: &Source, problems: &mut Vec<String>) {
        let Some(table) = value.as_table() else {
            problems.push(expected("tokenizer.tiktoken", "a table", value));
            return;
        };
        for (key, value) in table {
            let path = format!("tokenizer.tiktoken.{key}");
            match key.as_str() {
                "encoding" => match value.as_str() {
                    Some(s) => match EncodingName::parse(s) {
                        Some(enc) => {
                            self.tiktoken.encoding = Some(enc);
                            self.sources.insert(KEY_ENCODING, origin.clone());
                        }
                        None => problems.push(format!("{path} = {value}: {}", unknown_encoding_reason())),
                    },
                    None => problems.push(expected(&path, "a string", value)),
                },
                _ => problems.push(format!("{path}: unknown key (known: encoding)")),
            }
        }
    }

    fn load_huggingface(
        &mut self,
        value: &toml::Value,
        base_dir: Option<&Path>,
        origin: &Source,
        problems: &mut Vec<String>,
    ) {
        let Some(table) = value.as_table() else {
            problems.push(expected("tokenizer.huggingface", "a table", value));
            return;
        };
        for (key, value) in table {
            let path = format!("tokenizer.huggingface.{key}");
            let flag = |problems: &mut Vec<String>| {
                let b = value.as_bool();
                if b.is_none() {
                    problems.push(expected(&path, "true or false", value));
                }
                b
            };
            match key.as_str() {
                "use_fast" => {
                    if let Some(b) = flag(problems) {
                        self.huggingface.use_fast = b;
                        self.sources.insert(KEY_USE_FAST, origin.clone());
                    }
                }
                "trust_remote_code" => {
                    if let Some(b) = flag(problems) {
                        self.huggingface.trust_remote_code = b;
                        self.sources.insert(KEY_TRUST_REMOTE_CODE, origin.clone());
                    }
                }
                "add_special_tokens" => {
                    if let Some(b) = flag(problems) {
                        self.huggingface.add_special_tokens = b;
                        self.sources.insert(KEY_ADD_SPECIAL_TOKENS, origin.clone());
                    }
                }
                "cache_dir" => match value.as_str() {
                    Some("") => problems.push(format!("{path} = \"\": the path is empty")),
                    Some(s) => {
                        self.huggingface.cache_dir = Some(resolve_path(s, base_dir));
                        self.sources.insert(KEY_CACHE_DIR, origin.clone());
                    }
                    None => problems.push(expected(&path, "a path string", value)),
                },
                "max_file_bytes" => match value.as_integer() {
                    Some(i) if i > 0 => {
                        self.huggingface.max_file_bytes = i as u64;
                        self.sources.insert(KEY_MAX_FILE_BYTES, origin.clone());
                    }
                    Some(_) => problems.push(format!("{path} = {value}: max_file_bytes must be greater than 0")),
                    None => problems.push(expected(&path, "an integer number of bytes", value)),
                },
                "models" => match value.as_table() {
                    Some(models) => {
                        for (name, file) in models {
                            match file.as_str() {
                                Some("") => problems.push(format!("{path}.{name} = \"\": the path is empty")),
                                Some(s) => {
                                    self.huggingface.models.insert(name.clone(), resolve_path(s, base_dir));
                                }
                                None => problems.push(expected(&format!("{path}.{name}"), "a path string", file)),
                            }
                        }
                        self.sources.insert(KEY_MODELS, origin.clone());
                    }
                    None => problems.push(expected(&path, "a table of model name = \"path\"", value)),
                },
                _ => problems.push(format!(
                    "{path}: unknown key (known: use_fast, trust_remote_code, add_special_tokens, cache_dir, max_file_bytes, [tokenizer.huggingface.models])"
                )),
            }
        }
    }
}

const KEY_ADAPTER: &str = "tokenizer.adapter";
const KEY_MODEL: &str = "tokenizer.model";
const KEY_FALLBACK_CHAIN: &str = "tokenizer.fallback_chain";
const KEY_MAX_INPUT_BYTES: &str = "tokenizer.max_input_bytes";
const KEY_BATCH_THREADS: &str = "tokenizer.batch_threads";
const KEY_CHARS_PER_TOKEN: &str = "tokenizer.heuristic.chars_per_token";
const KEY_ENCODING: &str = "tokenizer.tiktoken.encoding";
const KEY_USE_FAST: &str = "tokenizer.huggingface.use_fast";
const KEY_TRUST_REMOTE_CODE: &str = "tokenizer.huggingface.trust_remote_code";
const KEY_ADD_SPECIAL_TOKENS: &str = "tokenizer.huggingface.add_special_tokens";
const KEY_CACHE_DIR: &str = "tokenizer.huggingface.cache_dir";
const KEY_MODELS: &str = "tokenizer.huggingface.models";
const KEY_MAX_FILE_BYTES: &str = "tokenizer.huggingface.max_file_bytes";
const KNOWN_KEYS: [&str; 13] = [
    KEY_ADAPTER,
    KEY_MODEL,
    KEY_FALLBACK_CHAIN,
    KEY_MAX_INPUT_BYTES,
    KEY_BATCH_THREADS,
    KEY_CHARS_PER_TOKEN,
    KEY_ENCODING,
    KEY_USE_FAST,
    KEY_TRUST_REMOTE_CODE,
    KEY_ADD_SPECIAL_TOKENS,
    KEY_CACHE_DIR,
    KEY_MODELS,
    KEY_MAX_FILE_BYTES,
];

fn finish(label: &str, problems: Vec<String>) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let mut message = format!("invalid configuration in {label}:");
    for p in &problems {
        message.push_str("\n  - ");
        message.push_str(p);
    }
    Err(Error::new(ErrorKind::Config, message))
}

fn expected(key: &str, what: &str, value: &toml::Value) -> String {
    format!("{key} = {value}: expected {what}, found {}", value.type_str())
}

/// Empty or blank values count as unset.
fn is_blank(value: &std::ffi::OsStr) -> bool {
    value.as_encoded_bytes().iter().all(u8::is_ascii_whitespace)
}

/// A variable holding text (a name, a number): `None` when unset or blank, and a problem when
/// it is not UTF-8.
fn text_var(env: EnvLookup<'_>, name: &str, problems: &mut Vec<String>) -> Option<String> {
    let value = env(name).filter(|v| !is_blank(v))?;
    match value.into_string() {
        Ok(text) => Some(text).filter(|t| !t.trim().is_empty()),
        Err(raw) => {
            let at = std::str::from_utf8(raw.as_encoded_bytes()).err().map_or(0, |e| e.valid_up_to());
            problems.push(format!("{name}={raw:?}: not valid UTF-8 (invalid byte at offset {at})"));
            None
        }
    }
}

fn check_chars_per_token(v: f64) -> std::result::Result<(), String> {
    use crate::estimate::{MAX_CHARS_PER_TOKEN as MAX, MIN_CHARS_PER_TOKEN as MIN};
    // NaN fails the range check too.
    if (MIN..=MAX).contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "chars_per_token must be from {MIN} to {MAX} ([{MIN}, {MAX}]; the estimate is scaled by 4 / chars_per_token)"
        ))
    }
}

fn check_max_input_bytes(v: i64) -> std::result::Result<u64, String> {
    // A text longer than isize::MAX bytes cannot exist in memory; such a limit is a mistake.
    if v <= 0 {
        Err("max_input_bytes must be greater than 0".into())
    } else {
        Ok(v as u64)
    }
}

fn check_batch_threads(v: i64) -> std::result::Result<usize, String> {
    let max = crate::batch::MAX_BATCH_THREADS;
    if (0..=max as i64).contains(&v) {
        Ok(v as usize)
    } else {
        Err(format!("batch_threads must be from 0 (automatic: the cores, at most 8) to {max}"))
    }
}

/// A byte count, with an optional binary suffix: `1048576`, `64K`, `16M`, `1G` (powers of 1024).
fn parse_max_input_bytes(value: &str) -> std::result::Result<u64, String> {
    let (digits, shift) = match value.as_bytes().last() {
        Some(b'K' | b'k') => (&value[..value.len() - 1], 10),
        Some(b'M' | b'm') => (&value[..value.len() - 1], 20),
        Some(b'G' | b'g') => (&value[..value.len() - 1], 30),
        _ => (value, 0),
    };
    let n: i64 =
        digits.trim().parse().map_err(|_| "not a byte count (examples: 1048576, 512K, 64M, 1G)".to_string())?;
    let v = n.checked_mul(1 << shift).ok_or_else(|| "too large".to_string())?;
    check_max_input_bytes(v)
}

fn unknown_encoding_reason() -> String {
    format!("unknown encoding (expected one of {})", EncodingName::ALL_NAMES.join(", "))
}

fn parse_chain<'a>(names: impl Iterator<Item = &'a str>) -> std::result::Result<Vec<Method>, String> {
    let mut chain = Vec::new();
    for name in names {
        match Method::parse(name) {
            Some(m) => chain.push(m),
            None if name == "auto" => return Err("\"auto\" cannot be part of its own fallback chain".into()),
            None => return Err(format!("unknown adapter {name:?} (expected heuristic, tiktoken or huggingface)")),
        }
    }
    if chain.is_empty() {
        return Err("the fallback chain is empty".into());
    }
    Ok(chain)
}

/// Expands a leading `~/` and resolves relative paths against `base_dir`.
pub(crate) fn resolve_path(s: &str, base_dir: Option<&Path>) -> PathBuf {
    let expanded = match s.strip_prefix("~/") {
        Some(rest) => match std::env::var_os("HOME") {
            Some(home) => Path::new(&home).join(rest),
            None => PathBuf::from(s),
        },
        None => PathBuf::from(s),
    };
    match base_dir {
        Some(base) if expanded.is_relative() => base.join(expanded),
        _ => expanded,
    }
}

fn read_config_file(path: &Path) -> Result<String> {
    let bytes = crate::capped_read::read_capped(path, "config file", MAX_CONFIG_BYTES, ErrorKind::Config, "")?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        Error::new(
            ErrorKind::Config,
            format!("config file {} is not valid UTF-8: invalid byte at offset {at}", path.display()),
        )
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    (line, column)
}
