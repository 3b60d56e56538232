//! Client sessions saved to and loaded from files in OpenSSL's PEM format
//! (`-----BEGIN SSL SESSION PARAMETERS-----`), the format of `s_client -sess_out/-sess_in`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use openssl::base64;
use openssl::ssl::{SslSession, SslSessionRef};

use crate::error::{Error, Result};

const BEGIN: &str = "-----BEGIN SSL SESSION PARAMETERS-----";
const END: &str = "-----END SSL SESSION PARAMETERS-----";

/// Reads a session saved by `--sess-out` or `openssl s_client -sess_out`.
pub fn load(path: &Path) -> Result<SslSession> {
    let shown = path.display();
    let pem =
        fs::read(path).map_err(|e| Error::Config(format!("cannot read --sess-in {shown}: {e}")))?;
    let Some(der) = pem_body(&String::from_utf8_lossy(&pem)) else {
        return Err(Error::Config(format!(
            "{shown} holds no PEM session ({BEGIN}): save one with --sess-out \
             or openssl s_client -sess_out"
        )));
    };
    SslSession::from_der(&der).map_err(|_| {
        Error::Config(format!(
            "{shown} holds a session {} cannot decode: was it saved by a newer \
             OpenSSL? (3.x sessions carry fields 1.1.1 does not know)",
            openssl::version::version()
        ))
    })
}

/// The DER bytes inside the first session PEM block.
fn pem_body(text: &str) -> Option<Vec<u8>> {
    let body = text.split_once(BEGIN)?.1.split_once(END)?.0;
    let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::decode_block(&base64).ok()
}

fn to_pem(session: &SslSessionRef) -> Result<Vec<u8>> {
    let encoded = base64::encode_block(&session.to_der()?);
    let mut pem = format!("{BEGIN}\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(END);
    pem.push('\n');
    Ok(pem.into_bytes())
}

/// Writes a session atomically (temporary file, then rename), readable only by the user:
/// it holds the keys to resume, and so to impersonate, this client.
pub fn save(session: &SslSessionRef, path: &Path) -> Result<()> {
    let shown = path.display();
    let fail =
        |e: &dyn std::fmt::Display| Error::Config(format!("cannot write --sess-out {shown}: {e}"));
    let pem = to_pem(session)?;
    let file_name = path.file_name().ok_or_else(|| fail(&"not a file path"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(&pem)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(fail(&e));
    }
    Ok(())
}
