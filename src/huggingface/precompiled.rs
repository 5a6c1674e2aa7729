//! The SentencePiece `Precompiled` normalizer of `tokenizer.json`, count-only.
//!
//! `precompiled_charsmap` is SentencePiece's compiled normalization rules: a little-endian `u32`
//! giving the size in bytes of a double-array trie (darts-clone layout), the trie's `u32` units,
//! then the replacement strings, each ended by a NUL. A key (a byte string) that reaches a leaf
//! of the trie names, through the leaf's value, the offset of its replacement.
//!
//! The output is what the `tokenizers` crate's `Precompiled` normalizer (which wraps the
//! `spm_precompiled` crate) produces, quirks included:
//! - the text is walked grapheme by grapheme (extended clusters, `unicode-segmentation`, the
//!   crate and version the `tokenizers` crate uses);
//! - a grapheme shorter than 6 bytes is looked up whole, and when some prefix of it is a key the
//!   whole grapheme becomes the replacement of its *shortest* such prefix (the rest of the
//!   grapheme is dropped: that is what the crate does, and its counts depend on it);
//! - otherwise each character is looked up alone and replaced, or kept when no prefix of it is
//!   a key;
//! - a key stops at a NUL byte.
//!
//! Unlike the crate, this never panics and never allocates more than the input's size: every
//! length field is checked before use, every trie index is bounds-checked, and a replacement
//! offset that lies outside the strings or inside a character (where the crate would panic)
//! counts as no match.

use unicode_segmentation::UnicodeSegmentation;

/// Graphemes shorter than this are looked up whole before character by character.
const WHOLE_GRAPHEME_LIMIT: usize = 6;
/// The longest key the normalizer can look up: a whole grapheme of 5 bytes.
const LONGEST_KEY: usize = WHOLE_GRAPHEME_LIMIT - 1;
/// Trie probes `max_growth` may spend exploring the trie at load (real charsmaps need about
/// 210,000); past it the bound falls back to the longest replacement per input byte.
const GROWTH_PROBE_BUDGET: usize = 16 << 20;

pub(crate) struct Precompiled {
    /// The double-array units as stored.
    units: Box<[u32]>,
    /// The replacement strings, NUL-separated; checked UTF-8 as the crate requires.
    replacements: Box<str>,
    /// Where the search starts: the root unit's offset.
    root: usize,
    /// The replacement of each ASCII byte taken alone (`None`: kept as is), so that ASCII text
    /// skips the trie and the grapheme segmenter.
    ascii: [Option<Span>; 128],
    max_growth: f64,
}

/// A replacement: `start..end` in `replacements`.
#[derive(Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

impl std::fmt::Debug for Precompiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Precompiled")
            .field("trie_units", &self.units.len())
            .field("replacement_bytes", &self.replacements.len())
            .field("max_growth", &self.max_growth)
            .finish()
    }
}

impl Precompiled {
    /// From the base64 text of `precompiled_charsmap` as it appears in tokenizer.json.
    ///
    /// Refused, as the crate refuses them: text that is not standard base64 (the `base64` 0.13
    /// rules the crate uses: `+/` alphabet, padding optional but only where it belongs, no
    /// whitespace, zero trailing bits), fewer than 4 bytes, a trie size larger than the bytes
    /// that follow, replacement strings that are not UTF-8. Also refused, where the crate would
    /// accept the file and then panic on the first non-empty text: an empty trie.
    pub(crate) fn from_base64(text: &str) -> Result<Precompiled, String> {
        let bytes = decode_base64(text.as_bytes())?;
        let header: [u8; 4] = bytes
            .get(..4)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| format!("precompiled_charsmap is {} bytes, too short for its 4-byte header", bytes.len()))?;
        let trie_bytes = u32::from_le_bytes(header) as usize;
        // The size is in bytes, read as whole units; the crate leaves a remainder of 1-3 bytes
        // to the replacement strings, and so does this.
        let unit_count = trie_bytes / 4;
        let body = &bytes[4..];
        if unit_count > body.len() / 4 {
            return Err(format!(
                "precompiled_charsmap declares a trie of {trie_bytes} bytes but only {} bytes follow its header",
                body.len()
            ));
        }
        if unit_count == 0 {
            return Err(
                "precompiled_charsmap has an empty trie (the tokenizers crate panics on any text with it)".into()
            );
        }
        let (trie, strings) = body.split_at(unit_count * 4);
        // Offsets into the strings are kept as `u32`.
        if u32::try_from(strings.len()).is_err() {
            return Err("precompiled_charsmap: its replacement strings exceed 4 GiB".into());
        }
        let units: Box<[u32]> =
            trie.chunks_exact(4).map(|unit| u32::from_le_bytes([unit[0], unit[1], unit[2], unit[3]])).collect();
        let replacements = std::str::from_utf8(strings)
            .map_err(|err| format!("precompiled_charsmap: its replacement strings are not UTF-8 ({err})"))?
            .into();
        let root = units.first().map_or(0, |&unit| offset(unit));
        let mut precompiled = Precompiled { units, replacements, root, ascii: [None; 128], max_growth: 1.0 };
        for byte in 0..128u8 {
            precompiled.ascii[byte as usize] = precompiled.shortest_match(&[byte]);
        }
        precompiled.max_growth = precompiled.compute_max_growth();
        Ok(precompiled)
    }

    /// Appends the normalized form of `text` to `out`: the `tokenizers` crate's output for
    /// every charsmap it does not panic on. Linear in the text (plus the output).
    pub(crate) fn normalize(&self, text: &str, out: &mut String) {
        let bytes = text.as_bytes();
        let mut at = 0;
        while let Some(&byte) = bytes.get(at) {
            // Between two ASCII characters there is always a grapheme boundary, except inside
            // CR LF (UAX #29: every rule that joins characters involves a non-ASCII one). So an
            // ASCII byte followed by one is a grapheme of its own, and `at` is always a
            // boundary, which lets the segmenter start afresh there.
            if byte < 0x80 {
                let alone = match bytes.get(at + 1) {
                    None => true,
                    Some(&next) => next < 0x80 && !(byte == b'\r' && next == b'\n'),
                };
                if alone {
                    match self.ascii[byte as usize] {
                        Some(span) => out.push_str(self.replacement_text(span)),
                        None => out.push(byte as char),
                    }
                    at += 1;
                    continue;
                }
            }
            let end = next_certain_boundary(bytes, at + 1);
            // Both ends are boundaries of `text` and ASCII around them stops every look-behind,
            // so the region segments as it does inside the whole text.
            let Some(region) = text.get(at..end) else {
                // Unreachable: both ends are character boundaries. Copy rather than panic.
                out.push_str(text.get(at..).unwrap_or_default());
                return;
            };
            for grapheme in region.graphemes(true) {
                self.push_grapheme(grapheme, out);
            }
            at = end;
        }
    }

    /// An upper bound on the bytes `normalize` produces per input byte: the longest replacement
    /// relative to the shortest key that reaches it (at least 1).
    pub(crate) fn max_growth(&self) -> f64 {
        self.max_growth
    }

    fn push_grapheme(&self, grapheme: &str, out: &mut String) {
        if grapheme.len() < WHOLE_GRAPHEME_LIMIT {
            if let Some(span) = self.shortest_match(grapheme.as_bytes()) {
                out.push_str(self.replacement_text(span));
                return;
            }
            // A lone character was just looked up: nothing more to try.
            if grapheme.chars().nth(1).is_none() {
                out.push_str(grapheme);
                return;
            }
        }
        let mut buffer = [0u8; 4];
        for c in grapheme.chars() {
            let part = c.encode_utf8(&mut buffer);
            match self.shortest_match(part.as_bytes()) {
                Some(span) => out.push_str(self.replacement_text(span)),
                None => out.push(c),
            }
        }
    }

    /// The replacement of the shortest prefix of `key` that is a key of the trie (the crate
    /// takes the first of its common-prefix results). `None` where the crate finds none, and
    /// where it would index outside the trie or the strings.
    fn shortest_match(&self, key: &[u8]) -> Option<Span> {
        let mut position = self.root;
        for &byte in key {
            if byte == 0 {
                return None;
            }
            position ^= byte as usize;
            let unit = *self.units.get(position)?;
            if label(unit) != byte as u32 {
                return None;
            }
            position ^= offset(unit);
            if has_leaf(unit) {
                return self.span_at(value(*self.units.get(position)?));
            }
        }
        None
    }

    /// The replacement starting at `start`: up to the next NUL or the end of the strings.
    fn span_at(&self, start: u32) -> Option<Span> {
        let from = start as usize;
        let rest = self.replacements.get(from..)?;
        let length = rest.bytes().position(|b| b == 0).unwrap_or(rest.len());
        Some(Span { start, end: (from + length) as u32 })
    }

    fn replacement_text(&self, span: Span) -> &str {
        self.replacements.get(span.start as usize..span.end as usize).unwrap_or_default()
    }

    /// Explores every key of up to `LONGEST_KEY` bytes (a key ends at its first leaf, as the
    /// search does) and returns the largest replacement length per key byte. Each trie position
    /// is expanded at most once per depth, and a hostile trie that needs more than the probe
    /// budget gets the cruder bound of the longest replacement string per byte.
    fn compute_max_growth(&self) -> f64 {
        let mut growth: f64 = 1.0;
        let mut seen = vec![false; self.units.len()];
        let mut frontier = vec![self.root];
        let mut probes = 0usize;
        for depth in 1..=LONGEST_KEY {
            let mut next_frontier = Vec::new();
            seen.iter_mut().for_each(|s| *s = false);
            for &position in &frontier {
                for byte in 1..=255u8 {
                    probes += 1;
                    if probes > GROWTH_PROBE_BUDGET {
                        return self.longest_replacement().max(1) as f64;
                    }
                    let child = position ^ byte as usize;
                    let Some(&unit) = self.units.get(child) else { continue };
                    if label(unit) != byte as u32 {
                        continue;
                    }
                    let next = child ^ offset(unit);
                    if has_leaf(unit) {
                        let span = self.units.get(next).and_then(|&leaf| self.span_at(value(leaf)));
                        if let Some(span) = span {
                            growth = growth.max((span.end - span.start) as f64 / depth as f64);
                        }
                        continue;
                    }
                    if let Some(mark) = seen.get_mut(next) {
                        if !*mark {
                            *mark = true;
                            next_frontier.push(next);
                        }
                    }
                }
            }
            frontier = next_frontier;
            if frontier.is_empty() {
                break;
            }
        }
        growth
    }

    /// The longest NUL-free run of the replacement strings.
    fn longest_replacement(&self) -> usize {
        self.replacements.as_bytes().split(|&b| b == 0).map(<[u8]>::len).max().unwrap_or(0)
    }
}

/// The first position from `from` on where two ASCII characters other than CR LF meet (a
/// grapheme boundary whatever surrounds it), or the end of the text.
fn next_certain_boundary(bytes: &[u8], from: usize) -> usize {
    let mut position = from;
    while position < bytes.len() {
        let (before, after) = (bytes[position - 1], bytes[position]);
        if before < 0x80 && after < 0x80 && !(before == b'\r' && after == b'\n') {
            return position;
        }
        position += 1;
    }
    bytes.len()
}

// The darts-clone unit layout, as SentencePiece writes it.
fn has_leaf(unit: u32) -> bool {
    (unit >> 8) & 1 == 1
}

fn value(unit: u32) -> u32 {
    unit & 0x7FFF_FFFF
}

fn label(unit: u32) -> u32 {
    unit & (0x8000_0000 | 0xFF)
}

fn offset(unit: u32) -> usize {
    ((unit >> 10) << ((unit & (1 << 9)) >> 6)) as usize
}

/// Standard base64 as the `base64` 0.13 crate decodes it (what `spm_precompiled` uses): the
/// `+/` alphabet, no whitespace, padding optional but at most to the end of the last quad,
/// trailing bits zero.
fn decode_base64(text: &[u8]) -> Result<Vec<u8>, String> {
    let data_len = text.iter().position(|&b| b == b'=').unwrap_or(text.len());
    let (data, padding) = text.split_at(data_len);
    let bad = |index: usize| {
        let byte = text.get(index).copied().unwrap_or(0);
        Err(format!("precompiled_charsmap is not valid base64: byte {byte:#04x} at offset {index}"))
    };
    let mut out = Vec::with_capacity(data_len / 4 * 3 + 2);
    let mut bits: u32 = 0;
    let mut bit_count = 0;
    for (index, &byte) in data.iter().enumerate() {
        let Some(sextet) = sextet(byte) else { return bad(index) };
        bits = (bits << 6) | sextet as u32;
        bit_count += 6;
        if bit_count >= 8 {
            bit_count -= 8;
            out.push((bits >> bit_count) as u8);
            bits &= (1 << bit_count) - 1;
        }
    }
    if let Some(extra) = padding.iter().position(|&b| b != b'=') {
        return bad(data_len + extra);
    }
    // Padding may only fill the last two places of a quad.
    let room = match data_len % 4 {
        0 => 0,
        1 => return Err("precompiled_charsmap is not valid base64: its length leaves 6 bits over".into()),
        2 => 2,
        _ => 1,
    };
    if padding.len() > room {
        return bad(data_len + room);
    }
    if bits != 0 {
        return Err(format!(
            "precompiled_charsmap is not valid base64: its last symbol (offset {}) has nonzero trailing bits",
            data_len - 1
        ));
    }
    Ok(out)
}

fn sextet(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::normalizers::Precompiled as CratePrecompiled;
    use tokenizers::{NormalizedString, Normalizer};

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/unigram/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
    }

    /// The charsmap of `spm_small.json`: SentencePiece's compilation of a few rules with
    /// multi-character keys, deletions and expansions (see make_fixtures.py).
    fn small_charsmap() -> String {
        let json: serde_json::Value = serde_json::from_str(&fixture("spm_small.json")).expect("fixture is JSON");
        json["normalizer"]["precompiled_charsmap"].as_str().expect("a charsmap").to_owned()
    }

    fn crate_precompiled(charsmap: &str) -> CratePrecompiled {
        let json = serde_json::json!({"type": "Precompiled", "precompiled_charsmap": charsmap}).to_string();
        serde_json::from_str(&json).expect("the crate loads the charsmap")
    }

    fn crate_normalize(precompiled: &CratePrecompiled, text: &str) -> String {
        let mut normalized = NormalizedString::from(text);
        precompiled.normalize(&mut normalized).expect("normalizes");
        normalized.get().to_owned()
    }

    fn normalize(precompiled: &Precompiled, text: &str) -> String {
        let mut out = String::new();
        precompiled.normalize(text, &mut out);
        out
    }

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n.max(1) as u64) as usize
        }
    }

    /// Text that reaches the grapheme rules: marks after ASCII, CR LF, emoji sequences,
    /// conjuncts, prepended marks, jamo, the fixture's keys, any scalar value.
    fn random_text(rng: &mut Rng) -> String {
        const PIECES: &[&str] = &[
            "a", "e", "A", "Z", "0", " ", "\t", "\r", "\n", "\r\n", "\0", "\u{1e}", "\u{1f}", "\u{7f}", "\u{a0}",
            "\u{301}", "\u{30a}", "\u{200b}", "\u{200d}", "\u{fe0f}", "\u{feff}", "\u{3000}", "\u{3099}", "\u{20e3}",
            "Ａ", "Ｂ", "ａ", "０", "！", "ｶ", "ﾞ", "ｷ", "™", "①", "②", "ﬁ", "ﬂ", "ﷺ", "㎒", "Å", "Ω", "é", "日本",
            "👍", "🏽", "👨", "🇫", "🇷", "क", "\u{94d}", "ष", "\u{600}", "\u{1100}", "\u{1161}", "\u{11a8}", "한",
        ];
        let mut text = String::new();
        for _ in 0..rng.below(24) {
            if rng.below(12) == 0 {
                text.extend(char::from_u32(rng.below(0x11_0000) as u32));
            } else {
                text.push_str(PIECES[rng.below(PIECES.len())]);
            }
        }
        text
    }

    #[test]
    fn base64_follows_the_base64_crate_the_tokenizers_crate_uses() {
        // Checked against base64 0.13's `decode`.
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("", Some(b"")),
            ("QQ", Some(b"A")),
            ("QQ=", Some(b"A")),
            ("QQ==", Some(b"A")),
            ("QUI", Some(b"AB")),
            ("QUI=", Some(b"AB")),
            ("QUJD", Some(b"ABC")),
            ("QUJDRA==", Some(b"ABCD")),
            ("+/+/", Some(&[0xFB, 0xFF, 0xBF])),
            ("Q", None),
            ("QUJDQ", None),
            ("QQ===", None),
            ("QUJD=", None),
            ("QR==", None),
            ("QUJ=", None),
            ("QQ==QQ==", None),
            ("Q Q==", None),
            ("QQ\n", None),
            ("-_", None),
            ("=", None),
            ("==", None),
        ];
        for &(text, expected) in cases {
            assert_eq!(decode_base64(text.as_bytes()).ok().as_deref(), expected, "{text:?}");
        }
    }

    #[test]
    fn refuses_inconsistent_charsmaps_without_allocating_their_sizes() {
        // A header announcing 4 GiB of trie and nothing after it (spm_precompiled asks for 8 GiB).
        let err = Precompiled::from_base64("8P///w==").expect_err("refused");
        assert!(err.contains("4294967280 bytes") && err.contains("only 0 bytes"), "{err}");
        assert!(Precompiled::from_base64("").expect_err("refused").contains("too short"));
        assert!(Precompiled::from_base64("AAA=").expect_err("refused").contains("too short"));
        assert!(Precompiled::from_base64("AAAAAA==").expect_err("refused").contains("empty trie"));
        // 8 bytes of trie announced, 4 present.
        assert!(Precompiled::from_base64("CAAAAAAAAAA=").expect_err("refused").contains("only 4 bytes"));
        // Replacement strings that are not UTF-8.
        assert!(Precompiled::from_base64("BAAAAAAAAAD/").expect_err("refused").contains("UTF-8"));
        assert!(Precompiled::from_base64("not base64!").expect_err("refused").contains("base64"));
        // A trie size that is not a multiple of 4 leaves its remainder to the strings, as in
        // the crate: 5 bytes announced, one unit read, `a` is a replacement string.
        assert!(Precompiled::from_base64("BQAAAAAAAABh").is_ok());
    }

    #[test]
    fn keeps_the_crates_grapheme_rules() {
        let precompiled = Precompiled::from_base64(&small_charsmap()).expect("loads");
        for (text, expected) in [
            // A grapheme under 6 bytes becomes the replacement of its shortest matching prefix:
            // the accent after the fullwidth A is dropped.
            ("Ａ\u{301}", "A"),
            // 7 bytes: character by character, the accents stay.
            ("Ａ\u{301}\u{301}", "A\u{301}\u{301}"),
            // Keys of two characters.
            ("e\u{301}", "é"),
            ("A\u{30a}", "Å"),
            ("\r\n", " "),
            // The halfwidth voiced mark is its own grapheme (a spacing letter): mapped alone.
            ("ｶﾞ", "カ\u{3099}"),
            // Deletions and expansions.
            ("a\u{1e}b", "ab"),
            ("x\u{200b}y", "xy"),
            ("ﬁ™", "fiTM"),
            ("ﷺ", "صلى الله عليه وسلم"),
            ("ＡＢＣ！", "ABC!"),
        ] {
            assert_eq!(normalize(&precompiled, text), expected, "{text:?}");
        }
        assert_eq!(precompiled.max_growth(), 11.0, "ﷺ: 3 bytes to 33");
    }

    #[test]
    fn normalizes_as_the_tokenizers_crate() {
        let charsmap = small_charsmap();
        let ours = Precompiled::from_base64(&charsmap).expect("loads");
        let theirs = crate_precompiled(&charsmap);
        let check = |text: &str| {
            let mine = normalize(&ours, text);
            assert_eq!(mine, crate_normalize(&theirs, text), "{text:?}");
            assert!(mine.len() as f64 <= ours.max_growth() * text.len() as f64, "{text:?}");
        };
        let mut rng = Rng(20261203);
        for _ in 0..3000 {
            check(&random_text(&mut rng));
        }
        // Every character of the BMP (and a sample beyond), alone and before a mark.
        for code in (0..0x1_0000).chain((0x1_0000..0x11_0000).step_by(97)) {
            let Some(c) = char::from_u32(code) else { continue };
            check(&c.to_string());
            if code % 5 == 0 {
                check(&format!("{c}\u{301}"));
            }
        }
        let corpus = format!("{}/bench/corpus", env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(&corpus).expect("bench/corpus") {
            let text = std::fs::read_to_string(entry.expect("entry").path()).expect("UTF-8");
            check(&text);
        }
    }

    #[test]
    fn matches_python() {
        let ours = Precompiled::from_base64(&small_charsmap()).expect("loads");
        let mut compared = 0;
        for line in fixture("python_expected.jsonl").lines() {
            let item: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            let (Some("unigram/spm_small"), Some(expected)) = (item["tokenizer"].as_str(), item["normalized"].as_str())
            else {
                continue;
            };
            let text = item["text"].as_str().expect("text");
            assert_eq!(normalize(&ours, text), expected, "{text:?}");
            compared += 1;
        }
        assert!(compared > 100, "{compared} lines");
    }

    #[test]
    fn hostile_charsmaps_never_panic_and_keep_the_growth_bound() {
        let mut bytes = decode_base64(small_charsmap().as_bytes()).expect("base64");
        let trie_end = 4 + u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let mut rng = Rng(7);
        for round in 0..400 {
            let mut damaged = bytes.clone();
            for _ in 0..1 + rng.below(12) {
                let at = 4 + rng.below(damaged.len() - 4);
                if round % 2 == 0 && at < trie_end {
                    // Any unit: offsets and values that point anywhere, cycles, stray leaves.
                    let unit = (at - 4) / 4 * 4 + 4;
                    damaged[unit..unit + 4].copy_from_slice(&(rng.below(usize::MAX) as u32).to_le_bytes());
                } else {
                    // ASCII keeps the strings UTF-8; NULs go missing or appear.
                    damaged[at] = [b'x', 0, b'y'][rng.below(3)];
                }
            }
            let text = encode_base64(&damaged);
            let Ok(precompiled) = Precompiled::from_base64(&text) else { continue };
            for _ in 0..20 {
                let input = random_text(&mut rng);
                let out = normalize(&precompiled, &input);
                assert!(out.len() as f64 <= precompiled.max_growth() * input.len() as f64, "round {round}");
            }
        }
        // Strings without any NUL: a replacement runs to the end.
        bytes.truncate(trie_end);
        bytes.extend_from_slice("abc".as_bytes());
        let precompiled = Precompiled::from_base64(&encode_base64(&bytes)).expect("loads");
        normalize(&precompiled, "Ａ™ﷺ\r\n");
    }

    fn encode_base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut text = String::new();
        for chunk in bytes.chunks(3) {
            let bits = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                text.push(ALPHABET[(bits >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        text
    }
}
