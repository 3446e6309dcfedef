//! Input that is not UTF-8, carried through unchanged.
//!
//! File names and lines on Unix are bytes; GNU parallel runs Latin-1 file names as they
//! are. workpool works on text (templates, quoting, logs), so it reads every input byte that
//! is not part of valid UTF-8 as a character of its own: byte `0xNN` becomes U+10FFNN, the
//! last 128 code points of the last private-use plane, which no text uses. Every place where
//! text leaves workpool for the system (the command given to `sh -c`, a printed command or
//! tag, the job log, a results directory's names, a CSV table) turns those characters back
//! into the bytes they stand for, so the command gets exactly the bytes of its input.
//!
//! So that this cannot change anything, input that holds one of those 128 characters itself
//! (as valid UTF-8) is refused with a clear error rather than read. JSON can only hold text:
//! the JSON outputs write U+FFFD for such a byte and give the exact bytes beside it (see
//! [`crate::run::results`]).

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// The character that stands for byte 0x00; only bytes from 0x80 are ever invalid UTF-8.
const BASE: u32 = 0x0010_FF00;
/// The first character that stands for a byte.
const FIRST: char = '\u{10FF80}';

/// `true` if `c` stands for a byte that is not UTF-8.
fn stands_for_a_byte(c: char) -> bool {
    c >= FIRST
}

/// The error for input that holds one of the characters reserved for bytes.
pub fn reserved_error() -> String {
    "holds a character from U+10FF80 to U+10FFFF, which workpool reserves to carry bytes that are not UTF-8".to_owned()
}

/// `true` if `text` holds a character reserved for a byte.
pub fn has_reserved(text: &str) -> bool {
    // All of them are encoded from F4 8F BE 80.
    text.as_bytes().contains(&0xF4) && text.chars().any(stands_for_a_byte)
}

/// Reads bytes as text, each byte that is not part of valid UTF-8 as its own character.
///
/// # Errors
///
/// A message if the bytes hold, as valid UTF-8, a character reserved for bytes.
pub fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, String> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if has_reserved(text) {
            return Err(reserved_error());
        }
        return Ok(Cow::Borrowed(text));
    }
    let mut text = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        if has_reserved(chunk.valid()) {
            return Err(reserved_error());
        }
        text.push_str(chunk.valid());
        for &b in chunk.invalid() {
            // Bytes 0x80..=0xFF: U+10FF80..=U+10FFFF, all valid characters.
            text.push(char::from_u32(BASE + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
    }
    Ok(Cow::Owned(text))
}

/// [`decode`] of an argument of the command line.
///
/// # Errors
///
/// As [`decode`].
pub fn decode_os(arg: OsString) -> Result<String, String> {
    match arg.into_string() {
        Ok(text) if has_reserved(&text) => Err(reserved_error()),
        Ok(text) => Ok(text),
        Err(arg) => decode(&arg.into_vec()).map(Cow::into_owned),
    }
}

/// The bytes `text` stands for.
pub fn encode(text: &str) -> Cow<'_, [u8]> {
    if !has_reserved(text) {
        return Cow::Borrowed(text.as_bytes());
    }
    let mut bytes = Vec::with_capacity(text.len());
    let mut buf = [0u8; 4];
    for c in text.chars() {
        if stands_for_a_byte(c) {
            // The low byte of the code point is the byte itself.
            bytes.push((u32::from(c) - BASE) as u8);
        } else {
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    Cow::Owned(bytes)
}

/// [`encode`] as an OS string (an argument, a file name).
pub fn encode_os(text: &str) -> Cow<'_, OsStr> {
    match encode(text) {
        Cow::Borrowed(bytes) => Cow::Borrowed(OsStr::from_bytes(bytes)),
        Cow::Owned(bytes) => Cow::Owned(OsString::from_vec(bytes)),
    }
}

/// `text` for a reader of UTF-8: each character that stands for a byte as U+FFFD; `None` if
/// there is none.
pub fn lossy(text: &str) -> Option<String> {
    has_reserved(text).then(|| {
        text.chars()
            .map(|c| {
                if stands_for_a_byte(c) {
                    char::REPLACEMENT_CHARACTER
                } else {
                    c
                }
            })
            .collect()
    })
}

/// The bytes `text` stands for, in hexadecimal.
pub fn hex(text: &str) -> String {
    encode(text).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_1_bytes_come_back_exactly() {
        let bytes = b"caf\xe9 \xff\x80 ok \xc3\xa9";
        let text = decode(bytes).unwrap();
        assert_eq!(text.chars().count(), 12);
        assert!(text.ends_with(" ok é"));
        assert_eq!(&*encode(&text), bytes);
        assert_eq!(encode_os(&text).as_bytes(), bytes);
        assert_eq!(lossy(&text).unwrap(), "caf\u{fffd} \u{fffd}\u{fffd} ok é");
        assert_eq!(hex("a\u{10ffe9}"), "61e9");
    }

    #[test]
    fn valid_text_is_untouched_and_reserved_characters_are_refused() {
        assert!(matches!(
            decode("héllo".as_bytes()),
            Ok(Cow::Borrowed("héllo"))
        ));
        assert_eq!(&*encode("héllo"), "héllo".as_bytes());
        assert_eq!(lossy("héllo"), None);
        let reserved = "x\u{10ff90}".as_bytes();
        assert!(decode(reserved).unwrap_err().contains("U+10FF80"));
        let mut mixed = reserved.to_vec();
        mixed.push(0xff);
        assert!(decode(&mixed).is_err());
        // Other private-use characters are ordinary text.
        assert!(decode("\u{10ff7f}\u{f700}".as_bytes()).is_ok());
    }
}
