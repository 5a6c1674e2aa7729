//! GPT-2's byte-level alphabet: each byte stands for one printable character, so that a
//! vocabulary of strings can hold every byte sequence. Printable Latin-1 bytes stand for
//! themselves; the others, in byte order, for U+0100 onwards.

use std::sync::LazyLock;

/// The character of each byte.
pub(crate) static BYTE_CHARS: LazyLock<[char; 256]> = LazyLock::new(|| {
    let mut chars = ['\0'; 256];
    let mut extra = 0u32;
    for (b, slot) in chars.iter_mut().enumerate() {
        let printable = matches!(b, 0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff);
        let code = if printable {
            b as u32
        } else {
            extra += 1;
            255 + extra
        };
        *slot = char::from_u32(code).unwrap_or('\0');
    }
    chars
});

/// The byte a character of the alphabet stands for.
pub(crate) fn byte_of(c: char) -> Option<u8> {
    let code = c as u32;
    match code {
        0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff => Some(code as u8),
        0x100..=0x143 => BYTE_CHARS.iter().position(|&x| x == c).map(|b| b as u8),
        _ => None,
    }
}

/// The bytes a string of the alphabet stands for; `None` if a character is not in it.
pub(crate) fn to_bytes(text: &str) -> Option<Vec<u8>> {
    text.chars().map(byte_of).collect()
}

/// `bytes` in the alphabet.
pub(crate) fn to_chars(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| BYTE_CHARS[b as usize]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alphabet_is_a_bijection_onto_gpt2s_characters() {
        assert_eq!(BYTE_CHARS[b' ' as usize], 'Ġ');
        assert_eq!(BYTE_CHARS[b'\n' as usize], 'Ċ');
        assert_eq!(BYTE_CHARS[b'a' as usize], 'a');
        for b in 0..=255u8 {
            assert_eq!(byte_of(BYTE_CHARS[b as usize]), Some(b));
        }
        let distinct: std::collections::HashSet<char> = BYTE_CHARS.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
        assert_eq!(byte_of('\u{144}'), None);
        assert_eq!(byte_of(' '), None);
    }
}
