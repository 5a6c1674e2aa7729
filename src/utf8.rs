//! UTF-8 validation of the text callers pass as bytes (the C ABI, `Adapter::count_bytes`, the
//! counter). std's validator takes about half a nanosecond per byte of non-ASCII text, longer
//! than the estimate of that text; `simdutf8` checks it with SIMD at several bytes per
//! nanosecond. std runs again only on invalid text, for the offset of the first bad byte.

use std::str::Utf8Error;

/// `bytes` as text, or std's error for it.
pub(crate) fn validate(bytes: &[u8]) -> Result<&str, Utf8Error> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(_) => std::str::from_utf8(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Agrees with std, error offsets included, on valid text and on every kind of bad
    /// sequence at every position of a SIMD block.
    #[test]
    fn agrees_with_std() {
        let good = "Grüße, 日本語の文章, Привет, 👍🏽 and ASCII. ".repeat(8);
        assert_eq!(validate(good.as_bytes()), Ok(good.as_str()));
        let bad: [&[u8]; 8] = [
            b"\xFF",
            b"\xC0\x80",
            b"\xE0\x80\x80",
            b"\xED\xA0\x80",
            b"\xF4\x90\x80\x80",
            b"\xE6\x97",
            b"\x80",
            b"\xF0\x9F\x91",
        ];
        for seq in bad {
            for at in 0..130 {
                let mut bytes = good.as_bytes()[..at.min(good.len())].to_vec();
                while std::str::from_utf8(&bytes).is_err() {
                    bytes.pop();
                }
                bytes.extend_from_slice(seq);
                bytes.extend_from_slice(b"tail");
                let (ours, std) = (validate(&bytes), std::str::from_utf8(&bytes));
                assert!(ours.is_err(), "{seq:?} at {at}");
                assert_eq!(ours, std, "{seq:?} at {at}");
            }
        }
    }
}
