//! Session ticket keys shared by every server instance (`--ticket-key-file`), so that a
//! client resumes on any of them.
//!
//! The file holds one key per line: 80 random bytes in base64 (16-byte key name, 32-byte
//! HMAC-SHA256 secret, 32-byte AES-256 key); `#` starts a comment. The first key
//! encrypts new tickets; every key decrypts, and a ticket under an older key is renewed
//! under the first. To rotate, add a new line at the top, reload every instance, and drop
//! the last line once its tickets have expired. Make a key with
//! `openssl rand 80 | base64 -w0`.

use std::path::Path;

use openssl::base64;

use crate::error::{Error, Result};

/// Bytes of one key.
pub const KEY_BYTES: usize = 80;

/// One ticket key.
pub struct TicketKey {
    pub name: [u8; 16],
    pub hmac: [u8; 32],
    pub aes: [u8; 32],
}

/// The keys of a ticket key file, the encrypting one first.
pub struct TicketKeys {
    keys: Vec<TicketKey>,
}

impl TicketKeys {
    /// The key new tickets are encrypted with.
    pub fn encrypting(&self) -> &TicketKey {
        &self.keys[0]
    }

    /// The key with this name, and whether it is the encrypting one.
    pub fn find(&self, name: &[u8]) -> Option<(&TicketKey, bool)> {
        self.keys
            .iter()
            .enumerate()
            .find(|(_, key)| key.name == name)
            .map(|(i, key)| (key, i == 0))
    }

    /// How many keys the file holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is no key (never true for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Parses the file's text. Errors name the line.
pub fn parse(text: &str) -> std::result::Result<TicketKeys, String> {
    let mut keys: Vec<TicketKey> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bytes =
            base64::decode_block(line).map_err(|_| format!("line {}: not base64", number + 1))?;
        if bytes.len() != KEY_BYTES {
            return Err(format!(
                "line {}: {} bytes, a key has {KEY_BYTES}",
                number + 1,
                bytes.len()
            ));
        }
        let mut key = TicketKey {
            name: [0; 16],
            hmac: [0; 32],
            aes: [0; 32],
        };
        key.name.copy_from_slice(&bytes[..16]);
        key.hmac.copy_from_slice(&bytes[16..48]);
        key.aes.copy_from_slice(&bytes[48..]);
        if keys.iter().any(|k| k.name == key.name) {
            return Err(format!(
                "line {}: a key with this name is already listed",
                number + 1
            ));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err("no key in it".into());
    }
    Ok(TicketKeys { keys })
}

/// Reads and parses a ticket key file.
pub fn load(path: &Path) -> Result<TicketKeys> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read --ticket-key-file {shown}: {e}")))?;
    parse(&text).map_err(|reason| {
        Error::Config(format!(
            "--ticket-key-file {shown}: {reason}: each line must be 80 random bytes in base64 \
             (openssl rand 80 | base64 -w0)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_line(fill: u8) -> String {
        base64::encode_block(&[fill; KEY_BYTES])
    }

    #[test]
    fn keys_parse_in_order_with_comments_and_blank_lines() {
        let text = format!("# rotated 2026-11-27\n{}\n\n{}\n", key_line(1), key_line(2));
        let keys = parse(&text).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.encrypting().name, [1; 16]);
        assert!(keys.find(&[1; 16]).unwrap().1, "the first key encrypts");
        assert!(!keys.find(&[2; 16]).unwrap().1);
        assert!(keys.find(&[3; 16]).is_none());
    }

    #[test]
    fn bad_files_name_the_line() {
        assert_eq!(parse("").err().unwrap(), "no key in it");
        assert_eq!(parse("not base64!").err().unwrap(), "line 1: not base64");
        let short = base64::encode_block(&[0; 48]);
        assert_eq!(
            parse(&short).err().unwrap(),
            "line 1: 48 bytes, a key has 80"
        );
        let twice = format!("{}\n{}", key_line(1), key_line(1));
        assert!(parse(&twice).err().unwrap().starts_with("line 2:"));
    }
}
