//! Estimates and bounds: the single place that turns text into a token count without a
//! vocabulary. One pass over the bytes, no allocation.
//!
//! The estimate weighs character classes and transitions (`features.rs`) with tables calibrated
//! per tokenizer family from exact counts (`tables.rs`, made by `bench/calibrate.rs`). The
//! bounds (`bounds.rs`) come from what each tokenizer guarantees, and hold for every input.

mod bounds;
mod features;
pub(crate) mod fit;
mod tables;

pub(crate) use bounds::{tiktoken as bounds_tiktoken, PipelineBound};
pub use features::{f as feature, Features};

/// A fast estimate and bounds on the exact count.
///
/// For exact adapters `lower_bound <= exact count <= upper_bound` holds for every input, and
/// `lower_bound <= estimate <= upper_bound`. For the heuristic adapter the bounds are those of
/// the estimate itself.
///
/// ```
/// use kano_tokenizer::{Config, EncodingName, Registry};
/// let cl100k = Registry::with_config(Config::default()).encoding(EncodingName::Cl100kBase)?;
/// let e = cl100k.estimate("Hello, world!");
/// let exact = cl100k.count("Hello, world!"); // 4
/// assert!(e.lower_bound <= exact && exact <= e.upper_bound);
/// assert!(e.lower_bound <= e.estimate && e.estimate <= e.upper_bound);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// The estimated token count.
    pub estimate: u64,
    /// At most the exact count.
    pub lower_bound: u64,
    /// At least the exact count.
    pub upper_bound: u64,
}

/// Whether a text fits a token limit.
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, LimitCheck, Registry};
/// let adapter = Registry::with_config(Config::default()).resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// let fits = adapter.check_limit("Hello, world!", 5)?; // 4 tokens
/// assert_eq!(fits, LimitCheck { within_limit: true, tokens: 4, is_exact: true });
/// let over = adapter.check_limit("Hello, world!", 2)?; // stopped counting past the limit
/// assert!(!over.within_limit && over.tokens > 2 && !over.is_exact);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitCheck {
    /// Always right for exact adapters.
    pub within_limit: bool,
    /// The exact count when `is_exact`; otherwise what proved the verdict: a bound, or the
    /// partial count at which counting stopped past the limit (for the heuristic adapter, the
    /// estimate).
    pub tokens: u64,
    /// Whether `tokens` is the exact count.
    pub is_exact: bool,
}

/// A tokenizer family with its own calibrated weights.
///
/// ```
/// use kano_tokenizer::{EncodingName, Family};
/// assert_eq!(EncodingName::Gpt2.family(), Family::R50k);
/// assert_eq!(EncodingName::O200kHarmony.family(), Family::O200k);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Family {
    /// `r50k_base` and `gpt2`.
    R50k,
    /// `p50k_base` and `p50k_edit`.
    P50k,
    /// `cl100k_base`.
    Cl100k,
    /// `o200k_base` and `o200k_harmony`.
    O200k,
    /// `tokenizer.json` with a WordPiece or WordLevel model (BERT and its descendants).
    WordPiece,
    /// `tokenizer.json` with a BPE model without byte fallback (GPT-2 style, byte-level).
    ByteLevelBpe,
    /// `tokenizer.json` with a BPE model with byte fallback (Llama style).
    ByteFallbackBpe,
    /// `tokenizer.json` with a Unigram model (T5 style).
    Unigram,
}

impl Family {
    /// Every family, each once.
    ///
    /// ```
    /// use kano_tokenizer::Family;
    /// assert_eq!(Family::ALL.len(), 8);
    /// assert_eq!(Family::ALL[2], Family::Cl100k);
    /// ```
    pub const ALL: [Family; 8] = [
        Family::R50k,
        Family::P50k,
        Family::Cl100k,
        Family::O200k,
        Family::WordPiece,
        Family::ByteLevelBpe,
        Family::ByteFallbackBpe,
        Family::Unigram,
    ];

    /// A short lowercase name, distinct for each family.
    ///
    /// ```
    /// use kano_tokenizer::Family;
    /// assert_eq!(Family::Cl100k.name(), "cl100k");
    /// assert_eq!(Family::ByteFallbackBpe.name(), "byte-fallback-bpe");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Family::R50k => "r50k",
            Family::P50k => "p50k",
            Family::Cl100k => "cl100k",
            Family::O200k => "o200k",
            Family::WordPiece => "wordpiece",
            Family::ByteLevelBpe => "byte-level-bpe",
            Family::ByteFallbackBpe => "byte-fallback-bpe",
            Family::Unigram => "unigram",
        }
    }

    /// The calibrated weight of each feature.
    pub(crate) fn weights(self) -> &'static [f64; feature::COUNT] {
        match self {
            Family::R50k => &tables::R50K,
            Family::P50k => &tables::P50K,
            Family::Cl100k => &tables::CL100K,
            Family::O200k => &tables::O200K,
            Family::WordPiece => &tables::WORDPIECE,
            Family::ByteLevelBpe => &tables::BYTE_LEVEL_BPE,
            Family::ByteFallbackBpe => &tables::BYTE_FALLBACK_BPE,
            Family::Unigram => &tables::UNIGRAM,
        }
    }

    /// The calibrated estimate for a scanned text, before bounds and rounding.
    pub(crate) fn weigh(self, x: &Features) -> f64 {
        // Through i64: one instruction per conversion (every count is below 2^63). Four running
        // sums, so the additions do not wait on each other one by one.
        // Four sums in locals, not an array indexed by `k % 4`: the compiler kept that array
        // in memory, each addition waiting on the store before it (half the cost of a short
        // text's estimate).
        let (w, v) = (self.weights(), &x.values);
        let (mut s0, mut s1, mut s2, mut s3) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let (wc, vc) = (w.chunks_exact(4), v.chunks_exact(4));
        let (w_rest, v_rest) = (wc.remainder(), vc.remainder());
        for (w, v) in wc.zip(vc) {
            s0 += w[0] * v[0] as i64 as f64;
            s1 += w[1] * v[1] as i64 as f64;
            s2 += w[2] * v[2] as i64 as f64;
            s3 += w[3] * v[3] as i64 as f64;
        }
        for (w, &v) in w_rest.iter().zip(v_rest) {
            s0 += w * v as i64 as f64;
        }
        ((s0 + s1) + (s2 + s3)).max(0.0)
    }
}

/// The guide's default `chars_per_token`; the calibrated tables are scaled by
/// `DEFAULT_CHARS_PER_TOKEN / chars_per_token`.
///
/// ```
/// use kano_tokenizer::{Config, DEFAULT_CHARS_PER_TOKEN};
/// assert_eq!(DEFAULT_CHARS_PER_TOKEN, 4.0);
/// assert_eq!(Config::default().heuristic.chars_per_token, DEFAULT_CHARS_PER_TOKEN);
/// ```
pub const DEFAULT_CHARS_PER_TOKEN: f64 = 4.0;

/// The range of `chars_per_token`: from 8 times the calibrated estimate to a sixteenth of it.
/// The guide tunes it between 2 (CJK) and 5; a value far outside says nothing about text and
/// only makes absurd counts (5e-324 made 25 bytes 2^64-1 tokens).
///
/// ```
/// use kano_tokenizer::{Config, ConfigSource, ErrorKind, MIN_CHARS_PER_TOKEN};
/// assert_eq!(MIN_CHARS_PER_TOKEN, 0.5);
/// let low = "[tokenizer.heuristic]\nchars_per_token = 0.25";
/// let err = Config::from_toml_str(low, None, ConfigSource::Toml).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Config);
/// ```
pub const MIN_CHARS_PER_TOKEN: f64 = 0.5;
/// The largest `chars_per_token` (see [`MIN_CHARS_PER_TOKEN`]).
///
/// ```
/// use kano_tokenizer::{Config, ConfigSource, ErrorKind, MAX_CHARS_PER_TOKEN};
/// assert_eq!(MAX_CHARS_PER_TOKEN, 64.0);
/// let at_max = Config::from_toml_str("[tokenizer.heuristic]\nchars_per_token = 64", None, ConfigSource::Toml)?;
/// assert_eq!(at_max.heuristic.chars_per_token, MAX_CHARS_PER_TOKEN);
/// let over = Config::from_toml_str("[tokenizer.heuristic]\nchars_per_token = 65", None, ConfigSource::Toml);
/// assert_eq!(over.unwrap_err().kind(), ErrorKind::Config);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub const MAX_CHARS_PER_TOKEN: f64 = 64.0;

/// The heuristic adapter's estimator: a family's calibrated estimate, scaled by the configured
/// `chars_per_token`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeuristicEstimator {
    family: Family,
    chars_per_token: f64,
}

impl HeuristicEstimator {
    /// The config layer refuses a `chars_per_token` outside
    /// [`MIN_CHARS_PER_TOKEN`, `MAX_CHARS_PER_TOKEN`]; here, for callers of the Rust API, such a
    /// value is clamped into that range (NaN is the default, 4).
    pub fn new(family: Family, chars_per_token: f64) -> Self {
        let chars_per_token = if chars_per_token.is_nan() {
            DEFAULT_CHARS_PER_TOKEN
        } else {
            chars_per_token.clamp(MIN_CHARS_PER_TOKEN, MAX_CHARS_PER_TOKEN)
        };
        HeuristicEstimator { family, chars_per_token }
    }

    /// The estimated token count: 0 for empty text, at least 1 otherwise.
    pub fn estimate(&self, text: &str) -> u64 {
        let x = Features::scan(text);
        let scaled = self.family.weigh(&x) * DEFAULT_CHARS_PER_TOKEN / self.chars_per_token;
        round_estimate(scaled, &x)
    }
}

/// Rounds an estimate, never 0 for a non-empty text; saturates at `u64::MAX`, never wraps.
pub(crate) fn round_estimate(value: f64, x: &Features) -> u64 {
    let rounded = if value.is_finite() { value.round().min(u64::MAX as f64) as u64 } else { u64::MAX };
    rounded.max(u64::from(x.bytes > 0))
}

/// Clamps an estimate into its bounds.
pub(crate) fn estimate_within(value: f64, x: &Features, (lower, upper): (u64, u64)) -> Estimate {
    let estimate = round_estimate(value, x).clamp(lower, upper);
    Estimate { estimate, lower_bound: lower, upper_bound: upper }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_zero_for_non_empty_text() {
        for family in Family::ALL {
            let e = HeuristicEstimator::new(family, 1e9);
            assert_eq!(e.estimate(""), 0);
            assert_eq!(e.estimate("a"), 1);
            assert_eq!(e.estimate(" "), 1);
        }
    }

    /// The Rust API has no config layer to refuse a ratio: the estimator keeps it in range
    /// itself (5e-324 made 25 bytes 2^64-1 tokens), and its count saturates, never wraps.
    #[test]
    fn chars_per_token_is_kept_in_range() {
        let text = "twenty-five bytes of text";
        let at = |r: f64| HeuristicEstimator::new(Family::Cl100k, r).estimate(text);
        for (tiny, low_end) in [(5e-324, 0.5), (0.0, 0.5), (-3.0, 0.5)] {
            assert_eq!(at(tiny), at(low_end), "{tiny}");
        }
        assert_eq!(at(f64::INFINITY), at(64.0));
        assert_eq!(at(f64::NAN), at(DEFAULT_CHARS_PER_TOKEN));
        assert!(at(0.5) <= 4 * text.len() as u64, "{}", at(0.5));
    }

    #[test]
    fn chars_per_token_scales_the_estimate() {
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(20);
        let counts: Vec<u64> = [3.0, 3.5, 4.0, 4.5, 5.0]
            .iter()
            .map(|&r| HeuristicEstimator::new(Family::Cl100k, r).estimate(&text))
            .collect();
        assert!(counts.windows(2).all(|w| w[0] > w[1]), "{counts:?}");
        let at = |r| HeuristicEstimator::new(Family::Cl100k, r).estimate(&text) as f64;
        assert!((at(2.0) / at(4.0) - 2.0).abs() < 0.01);
    }
}
