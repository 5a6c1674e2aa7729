//! One pass over the bytes of a text, counting the character classes and transitions that token
//! counts depend on. No allocation, no UTF-8 decoding beyond lead bytes: the estimate costs a
//! small fraction of an exact count.
//!
//! Two kinds of figures come out of the scan:
//! - regression features (letters, word starts, digits, spaces, scripts by UTF-8 lead byte...),
//!   which the calibrated tables weigh into an estimate;
//! - `letter_runs` and `digit_runs`, which count runs that an OpenAI split pattern can never
//!   join into one piece, and so give a lower bound (see `bounds.rs`).

/// Indices into [`Features::values`], the estimator's inputs.
pub mod f {
    pub const BIAS: usize = 0;
    pub const LOWER: usize = 1;
    pub const UPPER: usize = 2;
    pub const WORD_STARTS: usize = 3;
    pub const CASE_CHANGES: usize = 4;
    pub const DIGITS: usize = 5;
    pub const DIGIT_GROUPS: usize = 6;
    pub const SPACES: usize = 7;
    pub const SPACE_BEFORE_WORD: usize = 8;
    pub const NEWLINES: usize = 9;
    pub const OTHER_WHITESPACE: usize = 10;
    pub const PUNCT: usize = 11;
    pub const PUNCT_RUNS: usize = 12;
    pub const CONTROL: usize = 13;
    pub const REPEATS: usize = 14;
    pub const SPACE_REPEATS: usize = 15;
    pub const LATIN_EXT: usize = 16;
    pub const COMBINING: usize = 17;
    /// Cyrillic (lead bytes D0-D4).
    pub const CYRILLIC: usize = 18;
    pub const OTHER_2BYTE: usize = 19;
    pub const INDIC_THAI: usize = 20;
    pub const LEAD_E1: usize = 21;
    pub const SYMBOLS: usize = 22;
    pub const KANA_CJK_PUNCT: usize = 23;
    pub const CJK: usize = 24;
    pub const HANGUL: usize = 25;
    pub const FULLWIDTH_PRIVATE: usize = 26;
    pub const FOUR_BYTE: usize = 27;
    pub const NON_ASCII_RUNS: usize = 28;
    pub const LONG_WORD_LETTERS: usize = 29;
    pub const VERY_LONG_WORD_LETTERS: usize = 30;
    pub const BIGRAM_TH: usize = 31;
    pub const BIGRAM_CH: usize = 32;
    pub const BIGRAM_EI_IE: usize = 33;
    pub const BIGRAM_ING_ED: usize = 34;
    pub const LETTER_REPEATS: usize = 35;
    pub const LINE_REPEATS: usize = 36;
    pub const DASH_REPEATS: usize = 37;
    pub const EQUALS_REPEATS: usize = 38;
    pub const DOT_REPEATS: usize = 39;
    pub const GREEK: usize = 40;
    pub const HEBREW: usize = 41;
    pub const ARABIC: usize = 42;
    /// CJK ideographs right after another (o200k holds many two- and three-character words).
    pub const CJK_PAIRS: usize = 43;
    pub const COUNT: usize = 44;

    /// Names, for the calibration tool and its tables.
    pub const NAMES: [&str; COUNT] = [
        "bias",
        "lower",
        "upper",
        "word_starts",
        "case_changes",
        "digits",
        "digit_groups",
        "spaces",
        "space_before_word",
        "newlines",
        "other_whitespace",
        "punct",
        "punct_runs",
        "control",
        "repeats",
        "space_repeats",
        "latin_ext",
        "combining",
        "cyrillic",
        "other_2byte",
        "indic_thai",
        "lead_e1",
        "symbols",
        "kana_cjk_punct",
        "cjk",
        "hangul",
        "fullwidth_private",
        "four_byte",
        "non_ascii_runs",
        "long_word_letters",
        "very_long_word_letters",
        "bigram_th",
        "bigram_ch",
        "bigram_ei_ie",
        "bigram_ng_ed",
        "letter_repeats",
        "line_repeats",
        "dash_repeats",
        "equals_repeats",
        "dot_repeats",
        "greek",
        "hebrew",
        "arabic",
        "cjk_pairs",
    ];
}

// Byte classes. ASCII classes come first; non-ASCII lead bytes map to a script feature.
const LOWER: u8 = 0;
const UPPER: u8 = 1;
const DIGIT: u8 = 2;
const SPACE: u8 = 3;
const NEWLINE: u8 = 4;
const OTHER_WS: u8 = 5;
const APOSTROPHE: u8 = 6;
const PUNCT: u8 = 7;
const CONTROL: u8 = 8;
const CONTINUATION: u8 = 9;
/// Lead bytes: the class is `LEAD + feature index` so the scan can add to the feature directly.
const LEAD: u8 = 32;

const fn class_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        t[b] = match b as u8 {
            b'a'..=b'z' => LOWER,
            b'A'..=b'Z' => UPPER,
            b'0'..=b'9' => DIGIT,
            b' ' => SPACE,
            b'\n' => NEWLINE,
            b'\t' | b'\r' | 0x0B | 0x0C => OTHER_WS,
            b'\'' => APOSTROPHE,
            0x21..=0x7E => PUNCT,
            0x00..=0x1F | 0x7F => CONTROL,
            0x80..=0xBF => CONTINUATION,
            0xC0..=0xCB => LEAD + f::LATIN_EXT as u8,
            0xCC..=0xCD => LEAD + f::COMBINING as u8,
            0xCE..=0xCF => LEAD + f::GREEK as u8,
            0xD0..=0xD4 => LEAD + f::CYRILLIC as u8,
            0xD6..=0xD7 => LEAD + f::HEBREW as u8,
            0xD8..=0xDB => LEAD + f::ARABIC as u8,
            0xD5 | 0xDC..=0xDF => LEAD + f::OTHER_2BYTE as u8,
            0xE0 => LEAD + f::INDIC_THAI as u8,
            0xE1 => LEAD + f::LEAD_E1 as u8,
            0xE2 => LEAD + f::SYMBOLS as u8,
            0xE3 => LEAD + f::KANA_CJK_PUNCT as u8,
            0xE4..=0xE9 => LEAD + f::CJK as u8,
            0xEA..=0xED => LEAD + f::HANGUL as u8,
            0xEE..=0xEF => LEAD + f::FULLWIDTH_PRIVATE as u8,
            0xF0..=0xFF => LEAD + f::FOUR_BYTE as u8,
        };
        b += 1;
    }
    t
}

static CLASS: [u8; 256] = class_table();

/// Lead bytes of U+00C0..U+017F, Latin letters with diacritics (and × and ÷): they continue a
/// word for the word features.
#[inline]
fn is_latin_letter_lead(b: u8) -> bool {
    matches!(b, 0xC3..=0xC5)
}

/// Whether a lead byte starts a character that is certainly a letter (`\p{L}`) and no mark:
/// U+5000..U+9FFF (CJK Unified Ideographs) and U+B000..U+CFFF (Hangul Syllables), every one
/// assigned and of category Lo.
#[inline]
fn is_definite_letter_lead(b: u8) -> bool {
    matches!(b, 0xE5..=0xE9 | 0xEB..=0xEC)
}

/// The figures one scan yields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Features {
    /// Regression inputs, indexed by the constants in [`f`].
    pub values: [u64; f::COUNT],
    /// Length in bytes.
    pub bytes: u64,
    /// Bytes of non-ASCII characters.
    pub non_ascii_bytes: u64,
    /// Runs of letters that no split pattern joins (see the module comment of `bounds.rs`).
    pub letter_runs: u64,
    /// Runs of ASCII digits that no split pattern joins.
    pub digit_runs: u64,
}

impl Features {
    pub fn scan(text: &str) -> Features {
        let bytes = text.as_bytes();
        let mut v = [0u64; f::COUNT];
        v[f::BIAS] = u64::from(!bytes.is_empty());

        let mut prev_byte = 0u8;
        let mut prev_class = CONTROL;
        let mut digit_run_len = 0u32;
        let mut word_len = 0u32;
        // Bound runs: set by a letter (digit), cleared by a definite separator, untouched by
        // characters of unknown class, which might join two runs.
        let mut in_letter_run = false;
        let mut in_digit_run = false;
        let mut letter_runs = 0u64;
        let mut digit_runs = 0u64;
        let mut non_ascii_bytes = 0u64;

        for &b in bytes {
            let class = CLASS[b as usize];
            match class {
                LOWER | UPPER => {
                    v[class as usize + f::LOWER] += 1;
                    if prev_class > UPPER {
                        v[f::WORD_STARTS] += 1;
                        v[f::SPACE_BEFORE_WORD] += u64::from(prev_class == SPACE);
                        word_len = 0;
                    } else {
                        v[f::CASE_CHANGES] += u64::from(class == UPPER && prev_class == LOWER);
                        word_len += 1;
                        v[f::LONG_WORD_LETTERS] += u64::from(word_len >= 6);
                        v[f::VERY_LONG_WORD_LETTERS] += u64::from(word_len >= 12);
                        // Frequent letter pairs that tell English from German, whose words the
                        // OpenAI vocabularies split differently.
                        match (prev_byte | 0x20, b | 0x20) {
                            (b't', b'h') => v[f::BIGRAM_TH] += 1,
                            (b'c', b'h') => v[f::BIGRAM_CH] += 1,
                            (b'e', b'i') | (b'i', b'e') => v[f::BIGRAM_EI_IE] += 1,
                            (b'n', b'g') | (b'e', b'd') => v[f::BIGRAM_ING_ED] += 1,
                            _ => {}
                        }
                    }
                    letter_runs += u64::from(!in_letter_run);
                    in_letter_run = true;
                    in_digit_run = false;
                }
                DIGIT => {
                    v[f::DIGITS] += 1;
                    digit_run_len = if prev_class == DIGIT { digit_run_len + 1 } else { 0 };
                    v[f::DIGIT_GROUPS] += u64::from(digit_run_len % 3 == 0);
                    digit_runs += u64::from(!in_digit_run);
                    in_digit_run = true;
                    in_letter_run = false;
                }
                CONTINUATION => {
                    non_ascii_bytes += 1;
                    continue;
                }
                _ if class >= LEAD => {
                    non_ascii_bytes += 1;
                    v[(class - LEAD) as usize] += 1;
                    v[f::CJK_PAIRS] += u64::from(class == LEAD + f::CJK as u8 && prev_class == class);
                    v[f::NON_ASCII_RUNS] += u64::from(prev_class < CONTINUATION);
                    if is_definite_letter_lead(b) {
                        letter_runs += u64::from(!in_letter_run);
                        in_letter_run = true;
                        in_digit_run = false;
                    }
                    if is_latin_letter_lead(b) {
                        if prev_class > UPPER {
                            v[f::WORD_STARTS] += 1;
                            v[f::SPACE_BEFORE_WORD] += u64::from(prev_class == SPACE);
                            word_len = 0;
                        } else {
                            word_len += 1;
                        }
                        prev_byte = b;
                        prev_class = LOWER;
                        continue;
                    }
                }
                _ => {
                    match class {
                        SPACE => {
                            v[f::SPACES] += 1;
                            v[f::SPACE_REPEATS] += u64::from(prev_byte == b' ');
                        }
                        NEWLINE => v[f::NEWLINES] += 1,
                        OTHER_WS => v[f::OTHER_WHITESPACE] += 1,
                        CONTROL => v[f::CONTROL] += 1,
                        _ => {
                            v[f::PUNCT] += 1;
                            v[f::PUNCT_RUNS] += u64::from(prev_class != PUNCT && prev_class != APOSTROPHE);
                        }
                    }
                    // An apostrophe may sit inside one piece (o200k's "it's"); every other ASCII
                    // character ends letter and digit runs.
                    if class != APOSTROPHE {
                        in_letter_run = false;
                    }
                    in_digit_run = false;
                }
            }
            if b == prev_byte {
                // Runs of one character: letters, the characters of drawn lines (which the
                // vocabularies hold long tokens of), and the rest.
                match class {
                    LOWER | UPPER => v[f::LETTER_REPEATS] += 1,
                    _ if b == b'-' => v[f::DASH_REPEATS] += 1,
                    _ if b == b'=' => v[f::EQUALS_REPEATS] += 1,
                    _ if b == b'.' => v[f::DOT_REPEATS] += 1,
                    _ if matches!(b, b'_' | b'*' | b'#' | b'~') => v[f::LINE_REPEATS] += 1,
                    _ if b < 0x80 => v[f::REPEATS] += 1,
                    _ => {}
                }
            }
            prev_byte = b;
            prev_class = class;
        }
        Features { values: v, bytes: bytes.len() as u64, non_ascii_bytes, letter_runs, digit_runs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_classes_and_runs() {
        let x = Features::scan("Hello, World! it's 12345 ab");
        let v = x.values;
        assert_eq!(v[f::LOWER], 13);
        assert_eq!(v[f::UPPER], 2);
        assert_eq!(v[f::WORD_STARTS], 5, "Hello World it s ab");
        assert_eq!(v[f::DIGITS], 5);
        assert_eq!(v[f::DIGIT_GROUPS], 2, "123 45");
        assert_eq!(v[f::SPACES], 4);
        assert_eq!(v[f::SPACE_BEFORE_WORD], 3);
        assert_eq!(v[f::PUNCT], 3, ", ! and the apostrophe");
        assert_eq!(x.letter_runs, 4, "the apostrophe does not end a run");
        assert_eq!(x.digit_runs, 1);
        assert_eq!(x.bytes, 27);
    }

    #[test]
    fn non_ascii_by_lead_byte() {
        let x = Features::scan("日本語のテキスト 한국어 Привет 👍 é");
        let v = x.values;
        assert_eq!(v[f::CJK], 3);
        assert_eq!(v[f::KANA_CJK_PUNCT], 5);
        assert_eq!(v[f::HANGUL], 3);
        assert_eq!(v[f::CYRILLIC], 6);
        assert_eq!(v[f::FOUR_BYTE], 1);
        assert_eq!(v[f::LATIN_EXT], 1);
        assert_eq!(v[f::NON_ASCII_RUNS], 5);
        // 日本語 (kana unknown, joins) | 한국어 (after a space): Cyrillic is of unknown class.
        assert_eq!(x.letter_runs, 2);
        assert_eq!(x.non_ascii_bytes, 3 * 3 + 5 * 3 + 3 * 3 + 6 * 2 + 4 + 2);
    }

    #[test]
    fn empty_text_has_no_features() {
        let x = Features::scan("");
        assert!(x.values.iter().all(|&v| v == 0));
        assert_eq!((x.bytes, x.non_ascii_bytes, x.letter_runs, x.digit_runs), (0, 0, 0, 0));
    }
}
