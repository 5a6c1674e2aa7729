//! `tokenizer.json` post-processors, count-only: how many ids a single sequence of `n` tokens
//! ends with. Every processor the format has makes that `copies * n`, plus a constant when
//! special tokens are added.

use serde_json::Value;

use super::load::{kind_of, LoadError};

/// `copies * n + specials` (with special tokens) or `copies * n` (without).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PostCount {
    pub(crate) copies: u64,
    pub(crate) specials: u64,
}

impl PostCount {
    const IDENTITY: PostCount = PostCount { copies: 1, specials: 0 };

    pub(crate) fn from_json(value: &Value) -> Result<PostCount, LoadError> {
        if value.is_null() {
            return Ok(PostCount::IDENTITY);
        }
        let kind = kind_of(value, "post_processor")?
            .ok_or_else(|| LoadError::Unsupported("a post_processor without \"type\"".into()))?;
        Ok(match kind {
            "ByteLevel" => PostCount::IDENTITY,
            "BertProcessing" | "RobertaProcessing" => {
                for key in ["sep", "cls"] {
                    let ok = value[key].as_array().is_some_and(|pair| {
                        pair.len() == 2
                            && pair[0].is_string()
                            && pair[1].as_u64().is_some_and(|id| id <= u64::from(u32::MAX))
                    });
                    if !ok {
                        return Err(LoadError::Invalid(format!("{kind}: \"{key}\" must be a [token, id] pair")));
                    }
                }
                PostCount { copies: 1, specials: 2 }
            }
            "TemplateProcessing" => template(value)?,
            "Sequence" => {
                let items = value["processors"].as_array().ok_or_else(|| {
                    LoadError::Invalid("a Sequence post_processor needs a \"processors\" array".into())
                })?;
                let mut total = PostCount::IDENTITY;
                for item in items {
                    let next = PostCount::from_json(item)?;
                    total = PostCount {
                        copies: total.copies.saturating_mul(next.copies),
                        specials: total.specials.saturating_mul(next.copies).saturating_add(next.specials),
                    };
                }
                total
            }
            other => return Err(LoadError::Unsupported(format!("the post_processor type {other:?}"))),
        })
    }

    /// The ids of a sequence of `n` tokens after this processor.
    pub(crate) fn apply(self, n: u64, add_special_tokens: bool) -> u64 {
        let text = self.copies.saturating_mul(n);
        if add_special_tokens {
            text.saturating_add(self.specials)
        } else {
            text
        }
    }
}

/// The single template: each `Sequence` piece is the text again (it must be `A`), each
/// `SpecialToken` piece its token's ids.
fn template(value: &Value) -> Result<PostCount, LoadError> {
    let invalid = |m: String| LoadError::Invalid(format!("post_processor: {m}"));
    let special = match value.get("special_tokens") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => return Err(invalid("special_tokens must be an object".into())),
    };
    let single = value["single"].as_array().ok_or_else(|| invalid("the single template must be an array".into()))?;
    let mut count = PostCount { copies: 0, specials: 0 };
    for piece in single {
        if let Some(seq) = piece.get("Sequence") {
            if seq["id"].as_str() != Some("A") {
                return Err(invalid("the single template uses a second sequence".into()));
            }
            count.copies += 1;
        } else if let Some(tok) = piece.get("SpecialToken") {
            let id = tok["id"].as_str().ok_or_else(|| invalid("a SpecialToken piece needs a string id".into()))?;
            let entry = special
                .and_then(|s| s.get(id))
                .ok_or_else(|| invalid(format!("the single template uses {id:?}, not in special_tokens")))?;
            let ids = entry["ids"]
                .as_array()
                .ok_or_else(|| invalid(format!("special token {id:?} needs an \"ids\" array")))?;
            count.specials += ids.len() as u64;
        } else {
            return Err(invalid("a template piece is neither Sequence nor SpecialToken".into()));
        }
    }
    // The pair template is checked too: the crate reads it at load.
    if let Some(pair) = value.get("pair").and_then(Value::as_array) {
        for piece in pair {
            if let Some(id) = piece.get("SpecialToken").and_then(|t| t["id"].as_str()) {
                if !special.is_some_and(|s| s.contains_key(id)) {
                    return Err(invalid(format!("the pair template uses {id:?}, not in special_tokens")));
                }
            }
        }
    }
    Ok(count)
}
