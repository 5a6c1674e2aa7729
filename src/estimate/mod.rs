//! The heuristic estimator: the single place that turns text into an estimated token count
//! without a vocabulary. One pass over the characters, no allocation.
//!
//! The guide's rule: `chars_per_token` characters make one token, except CJK ideographs, kana
//! and hangul, which are about one token each.

/// A fast estimate and bounds on the exact count.
///
/// For exact adapters `lower_bound <= exact count <= upper_bound` holds for every input, and
/// `lower_bound <= estimate <= upper_bound`. For the heuristic adapter the bounds are those of
/// the estimate itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub estimate: u64,
    pub lower_bound: u64,
    pub upper_bound: u64,
}

/// Whether a text fits a token limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitCheck {
    /// Always right for exact adapters.
    pub within_limit: bool,
    /// The exact count when `is_exact`; otherwise the bound that proved the verdict (or, for the
    /// heuristic adapter, the estimate).
    pub tokens: u64,
    pub is_exact: bool,
}

/// Estimates token counts from character classes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeuristicEstimator {
    chars_per_token: f64,
}

impl HeuristicEstimator {
    /// `chars_per_token` must be finite and positive; the config layer guarantees it.
    pub fn new(chars_per_token: f64) -> Self {
        debug_assert!(chars_per_token.is_finite() && chars_per_token > 0.0);
        HeuristicEstimator { chars_per_token }
    }

    pub fn chars_per_token(&self) -> f64 {
        self.chars_per_token
    }

    /// The estimated token count: 0 for empty text, at least 1 otherwise.
    pub fn estimate(&self, text: &str) -> u64 {
        if text.is_empty() {
            return 0;
        }
        let mut one_token_chars = 0u64;
        let mut other_chars = 0u64;
        for c in text.chars() {
            if is_one_token_script(c) {
                one_token_chars += 1;
            } else {
                other_chars += 1;
            }
        }
        let others = (other_chars as f64 / self.chars_per_token).ceil() as u64;
        (one_token_chars + others).max(1)
    }
}

/// CJK ideographs, kana and hangul: scripts written without spaces where a character is
/// roughly one token.
fn is_one_token_script(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF      // Hangul Jamo
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x3130..=0x318F    // Hangul Compatibility Jamo
        | 0x31F0..=0x31FF    // Katakana Phonetic Extensions
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xAC00..=0xD7AF    // Hangul Syllables
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0xFF66..=0xFF9F    // Halfwidth Katakana
        | 0x20000..=0x3134F  // CJK Extensions B..G
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_zero_for_non_empty_text() {
        let e = HeuristicEstimator::new(1e9);
        assert_eq!(e.estimate(""), 0);
        assert_eq!(e.estimate("a"), 1);
        assert_eq!(e.estimate(" "), 1);
    }

    #[test]
    fn cjk_counts_one_per_character_and_latin_by_ratio() {
        let e = HeuristicEstimator::new(4.0);
        assert_eq!(e.estimate("日本語のテキスト"), 8);
        assert_eq!(e.estimate("한국어"), 3);
        assert_eq!(e.estimate("abcdefgh"), 2);
        assert_eq!(e.estimate("abcdefghi"), 3);
        assert_eq!(e.estimate("abcd日本"), 3);
    }

    #[test]
    fn higher_ratio_gives_fewer_tokens() {
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(20);
        let counts: Vec<u64> =
            [3.0, 3.5, 4.0, 4.5, 5.0].iter().map(|&r| HeuristicEstimator::new(r).estimate(&text)).collect();
        assert!(counts.windows(2).all(|w| w[0] > w[1]), "{counts:?}");
    }
}
