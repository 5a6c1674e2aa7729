//! Model name to encoding, with the same table and prefix rules as the Python `tiktoken`
//! package (0.14): an exact name first, then the first matching prefix in table order.

use super::EncodingName::{self, *};

/// Exact model names.
const MODEL_TO_ENCODING: &[(&str, EncodingName)] = &[
    // reasoning
    ("o1", O200kBase),
    ("o3", O200kBase),
    ("o4-mini", O200kBase),
    // chat
    ("gpt-5", O200kBase),
    ("gpt-4.1", O200kBase),
    ("gpt-4o", O200kBase),
    ("gpt-4", Cl100kBase),
    ("gpt-3.5-turbo", Cl100kBase),
    ("gpt-3.5", Cl100kBase),
    ("gpt-35-turbo", Cl100kBase),
    // base
    ("davinci-002", Cl100kBase),
    ("babbage-002", Cl100kBase),
    // embeddings
    ("text-embedding-ada-002", Cl100kBase),
    ("text-embedding-3-small", Cl100kBase),
    ("text-embedding-3-large", Cl100kBase),
    // legacy completion models
    ("text-davinci-003", P50kBase),
    ("text-davinci-002", P50kBase),
    ("text-davinci-001", R50kBase),
    ("text-curie-001", R50kBase),
    ("text-babbage-001", R50kBase),
    ("text-ada-001", R50kBase),
    ("davinci", R50kBase),
    ("curie", R50kBase),
    ("babbage", R50kBase),
    ("ada", R50kBase),
    // legacy code models
    ("code-davinci-002", P50kBase),
    ("code-davinci-001", P50kBase),
    ("code-cushman-002", P50kBase),
    ("code-cushman-001", P50kBase),
    ("davinci-codex", P50kBase),
    ("cushman-codex", P50kBase),
    // legacy edit models
    ("text-davinci-edit-001", P50kEdit),
    ("code-davinci-edit-001", P50kEdit),
    // legacy embeddings
    ("text-similarity-davinci-001", R50kBase),
    ("text-similarity-curie-001", R50kBase),
    ("text-similarity-babbage-001", R50kBase),
    ("text-similarity-ada-001", R50kBase),
    ("text-search-davinci-doc-001", R50kBase),
    ("text-search-curie-doc-001", R50kBase),
    ("text-search-babbage-doc-001", R50kBase),
    ("text-search-ada-doc-001", R50kBase),
    ("code-search-babbage-code-001", R50kBase),
    ("code-search-ada-code-001", R50kBase),
    // open source
    ("gpt2", Gpt2),
    ("gpt-2", Gpt2),
];

/// Prefixes, tried in this order (the order matters: `ft:gpt-4o` before `ft:gpt-4`).
const MODEL_PREFIX_TO_ENCODING: &[(&str, EncodingName)] = &[
    ("o1-", O200kBase),
    ("o3-", O200kBase),
    ("o4-mini-", O200kBase),
    ("gpt-5", O200kBase),
    ("gpt-4.5-", O200kBase),
    ("gpt-4.1-", O200kBase),
    ("chatgpt-4o-", O200kBase),
    ("gpt-4o-", O200kBase),
    ("gpt-4-", Cl100kBase),
    ("gpt-3.5-turbo-", Cl100kBase),
    ("gpt-35-turbo-", Cl100kBase),
    ("gpt-oss-", O200kHarmony),
    // fine-tuned models
    ("ft:gpt-4o", O200kBase),
    ("ft:gpt-4", Cl100kBase),
    ("ft:gpt-3.5-turbo", Cl100kBase),
    ("ft:davinci-002", Cl100kBase),
    ("ft:babbage-002", Cl100kBase),
];

/// The encoding of a model, or of an encoding name given as the model.
///
/// ```
/// use kano_tokenizer::{encoding_for_model, EncodingName};
/// assert_eq!(encoding_for_model("gpt-4"), Some(EncodingName::Cl100kBase)); // exact name
/// assert_eq!(encoding_for_model("gpt-4o-mini"), Some(EncodingName::O200kBase)); // prefix `gpt-4o-`
/// assert_eq!(encoding_for_model("p50k_base"), Some(EncodingName::P50kBase)); // encoding name
/// assert_eq!(encoding_for_model("llama-3"), None);
/// ```
pub fn encoding_for_model(model: &str) -> Option<EncodingName> {
    if let Some(&(_, enc)) = MODEL_TO_ENCODING.iter().find(|(name, _)| *name == model) {
        return Some(enc);
    }
    if let Some(&(_, enc)) = MODEL_PREFIX_TO_ENCODING.iter().find(|(prefix, _)| model.starts_with(prefix)) {
        return Some(enc);
    }
    EncodingName::parse(model)
}

/// The exact-name table, for documentation and the CLI.
///
/// ```
/// use kano_tokenizer::{model_table, EncodingName};
/// assert!(model_table().contains(&("gpt-4o", EncodingName::O200kBase)));
/// assert!(model_table().iter().all(|&(name, enc)| kano_tokenizer::encoding_for_model(name) == Some(enc)));
/// ```
pub fn model_table() -> &'static [(&'static str, EncodingName)] {
    MODEL_TO_ENCODING
}

/// The prefix table, in matching order.
///
/// ```
/// use kano_tokenizer::{prefix_table, EncodingName};
/// let at = |p: &str| prefix_table().iter().position(|&(prefix, _)| prefix == p);
/// assert!(at("ft:gpt-4o") < at("ft:gpt-4")); // the longer prefix is tried first
/// assert!(prefix_table().contains(&("gpt-oss-", EncodingName::O200kHarmony)));
/// ```
pub fn prefix_table() -> &'static [(&'static str, EncodingName)] {
    MODEL_PREFIX_TO_ENCODING
}
