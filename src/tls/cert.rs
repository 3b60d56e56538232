//! Certificates and keys: read from PEM files with errors that name the file and the fix;
//! names and validity in words (the full description is [`super::summary`]).

use std::io;
use std::net::IpAddr;
use std::path::Path;

use openssl::asn1::Asn1Time;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509, X509NameRef, X509Ref};

use crate::config::{Identity, Passphrase};
use crate::error::{Error, Result};

/// The files `scripts/gen-certs.sh` makes, which tlscat uses when no flag names a file.
const GENERATED: [&str; 5] = [
    "certs/server.crt",
    "certs/server.key",
    "certs/ca.crt",
    "certs/client.crt",
    "certs/client.key",
];

/// Whether `path` is one of gen-certs.sh's files (a default), rather than one a flag named.
fn generated(path: &Path) -> bool {
    path.to_str().is_some_and(|p| GENERATED.contains(&p))
}

/// Reads a whole file named by `flag` (or a default), turning the common failures into a
/// one-line fix.
pub(super) fn read_file(path: &Path, flag: &str) -> Result<Vec<u8>> {
    let shown = path.display();
    match std::fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {
            Err(Error::Config(if generated(path) {
                format!("{shown} is empty: regenerate it with scripts/gen-certs.sh --force")
            } else {
                format!("{shown} ({flag}) is empty: check the file, or pass another")
            }))
        }
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::Config(if generated(path) {
            format!(
                "{shown} not found: run scripts/gen-certs.sh to create certs/, or pass {flag} FILE"
            )
        } else {
            format!("{shown} not found: check the path given to {flag}")
        })),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(Error::Config(format!(
            "cannot read {shown}: permission denied: run as a user who can read it, or pass another {flag}"
        ))),
        Err(e) => Err(Error::Config(format!(
            "cannot read {shown}: {e}: pass a readable file with {flag}"
        ))),
    }
}

/// Whether `needle` occurs in `haystack`.
pub(super) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// All certificates of a PEM file, in order (a leaf followed by its chain, or a CA bundle).
pub fn load_certificates(path: &Path, flag: &str) -> Result<Vec<X509>> {
    let pem = read_file(path, flag)?;
    let shown = path.display();
    match X509::stack_from_pem(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        _ if contains(&pem, "PRIVATE KEY-----") && !contains(&pem, "CERTIFICATE-----") => {
            Err(Error::Config(if flag == "--cert" {
                format!(
                    "{shown} holds a private key, not a certificate: did you swap --cert and --key?"
                )
            } else {
                format!(
                    "{shown} holds a private key, not a certificate: {flag} wants CA \
                     certificates (PEM), such as certs/ca.crt"
                )
            }))
        }
        _ => Err(Error::Config(format!(
            "{shown} holds no readable PEM certificate (-----BEGIN CERTIFICATE-----): pass one with {flag}"
        ))),
    }
}

/// Refuses a secret file (private key, PKCS#12 bundle, ticket keys) that other users can
/// read, as ssh does, unless `insecure_permissions`.
pub fn check_private(path: &Path, flag: &str, insecure_permissions: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(()); // reading it reports what is wrong
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 && !insecure_permissions {
        let shown = path.display();
        return Err(Error::Config(format!(
            "{shown} ({flag}) is readable by other users (mode {mode:04o}): run chmod 600 \
             {shown}, or pass --allow-insecure-key-permissions"
        )));
    }
    Ok(())
}

/// The private key of a PEM file (PKCS#8, or traditional RSA/EC), decrypted with
/// `passphrase` if it is encrypted. Never prompts on the terminal.
fn load_private_key(
    path: &Path,
    flag: &str,
    passphrase: Option<&Passphrase>,
    insecure_permissions: bool,
) -> Result<PKey<Private>> {
    let pem = read_file(path, flag)?;
    check_private(path, flag, insecure_permissions)?;
    let shown = path.display();
    let secret = passphrase.map(read_passphrase).transpose()?;
    let encrypted = contains(&pem, "ENCRYPTED");
    // The callback answers OpenSSL's passphrase prompt, so it never reaches the terminal.
    let parsed = PKey::private_key_from_pem_callback(&pem, |buf| {
        let secret = secret.as_deref().unwrap_or_default();
        let n = secret.len().min(buf.len());
        buf[..n].copy_from_slice(&secret[..n]);
        Ok(n)
    });
    match (parsed, passphrase) {
        (Ok(key), _) => Ok(key),
        (Err(_), None) if encrypted => Err(Error::Config(format!(
            "{shown} is an encrypted private key: give its passphrase with --pass env:VAR \
             or --pass file:PATH"
        ))),
        (Err(_), Some(source)) if encrypted => Err(Error::Config(format!(
            "{shown}: wrong passphrase (from --pass {source:?})"
        ))),
        (Err(_), _)
            if contains(&pem, "CERTIFICATE-----") && !contains(&pem, "PRIVATE KEY-----") =>
        {
            Err(Error::Config(format!(
                "{shown} holds a certificate, not a private key: did you swap --cert and --key?"
            )))
        }
        (Err(_), _) => Err(Error::Config(format!(
            "{shown} holds no readable PEM private key (-----BEGIN PRIVATE KEY-----): pass one with {flag}"
        ))),
    }
}

/// The secret behind `--pass`: the variable's value, the file's first line, or the text.
fn read_passphrase(passphrase: &Passphrase) -> Result<Vec<u8>> {
    match passphrase {
        Passphrase::Env(var) => std::env::var_os(var)
            .map(|value| value.into_encoded_bytes())
            .ok_or_else(|| {
                Error::Config(format!(
                    "--pass env:{var}: the environment variable {var} is not set"
                ))
            }),
        Passphrase::File(path) => {
            let content = std::fs::read(path).map_err(|e| {
                Error::Config(format!(
                    "--pass file:{}: cannot read it: {e}",
                    path.display()
                ))
            })?;
            let line = content.split(|&b| b == b'\n').next().unwrap_or_default();
            Ok(line.strip_suffix(b"\r").unwrap_or(line).to_vec())
        }
        Passphrase::Literal(text) => Ok(text.as_bytes().to_vec()),
    }
}

/// A certificate, the chain sent after it, and its private key.
pub struct LoadedIdentity {
    pub cert: X509,
    pub chain: Vec<X509>,
    pub key: PKey<Private>,
}

/// Loads a PEM pair or a PKCS#12 bundle and checks that key and certificate belong
/// together; the key's file must be private unless `insecure_permissions`.
pub fn load_identity(identity: &Identity, insecure_permissions: bool) -> Result<LoadedIdentity> {
    let loaded = match identity {
        Identity::Pem {
            cert,
            key,
            passphrase,
        } => {
            let certs = load_certificates(cert, "--cert")?;
            let private =
                load_private_key(key, "--key", passphrase.as_ref(), insecure_permissions)?;
            check_order(&certs, &private, cert, key)?;
            let mut certs = certs.into_iter();
            let Some(leaf) = certs.next() else {
                return Err(Error::Internal("empty certificate list".into()));
            };
            LoadedIdentity {
                cert: leaf,
                chain: certs.collect(),
                key: private,
            }
        }
        Identity::Pkcs12 { path, passphrase } => {
            check_private(path, "--p12", insecure_permissions)?;
            load_pkcs12(path, passphrase.as_ref())?
        }
    };
    if !loaded.cert.public_key()?.public_eq(&loaded.key) {
        let what = match identity {
            Identity::Pem { cert, key, .. } => {
                format!("{} does not match {}", key.display(), cert.display())
            }
            Identity::Pkcs12 { path, .. } => {
                format!(
                    "the key in {} does not match its certificate",
                    path.display()
                )
            }
        };
        return Err(Error::Config(format!(
            "{what}: pass the key that belongs to this certificate, \
             or regenerate both with scripts/gen-certs.sh --force"
        )));
    }
    Ok(loaded)
}

/// A PEM file must hold the certificate of its key first, then the CAs that issued it, each
/// followed by its own issuer. A key that matches a later certificate is a file in the
/// wrong order (an error: the first certificate is the one served); issuers out of order
/// are a warning (OpenSSL sends them as they are, and some clients cannot build the chain).
fn check_order(
    certs: &[X509],
    key: &PKey<Private>,
    cert_path: &Path,
    key_path: &Path,
) -> Result<()> {
    let matches = |cert: &X509| cert.public_key().is_ok_and(|public| public.public_eq(key));
    if !certs.first().is_some_and(matches) {
        if let Some(position) = certs.iter().position(matches) {
            return Err(Error::Config(format!(
                "{} holds its certificates in the wrong order: the one for {} ({}) is number {} \
                 of {}: put it first, then the CAs that issued it",
                cert_path.display(),
                key_path.display(),
                name(certs[position].subject_name()),
                position + 1,
                certs.len()
            )));
        }
        return Ok(()); // the key check says what is wrong
    }
    for pair in certs.windows(2) {
        let (child, parent) = (&pair[0], &pair[1]);
        if child.issuer_name().try_cmp(parent.subject_name()).ok()
            != Some(std::cmp::Ordering::Equal)
        {
            log::warn!(
                "{}: the chain is out of order: {} was not issued by {}, which follows it; \
                 clients may fail to verify it: put each certificate before its issuer",
                cert_path.display(),
                name(child.subject_name()),
                name(parent.subject_name())
            );
            break;
        }
    }
    Ok(())
}

fn load_pkcs12(path: &Path, passphrase: Option<&Passphrase>) -> Result<LoadedIdentity> {
    let der = std::fs::read(path)
        .map_err(|e| Error::Config(format!("cannot read --p12 {}: {e}", path.display())))?;
    let shown = path.display();
    let bundle = Pkcs12::from_der(&der).map_err(|_| {
        Error::Config(format!(
            "{shown} is not a PKCS#12 file: make one with openssl pkcs12 -export"
        ))
    })?;
    let secret = passphrase
        .map(read_passphrase)
        .transpose()?
        .unwrap_or_default();
    let secret = String::from_utf8(secret)
        .map_err(|_| Error::Config(format!("--pass for {shown} is not valid UTF-8")))?;
    let parsed = bundle.parse2(&secret).map_err(|_| {
        Error::Config(format!(
            "cannot open {shown}: wrong passphrase (--pass), or an old encryption \
             (RC2/3DES) that needs OpenSSL's legacy provider: re-export it with a current openssl"
        ))
    })?;
    match (parsed.cert, parsed.pkey) {
        (Some(cert), Some(key)) => Ok(LoadedIdentity {
            cert,
            chain: parsed
                .ca
                .map(|ca| ca.into_iter().collect())
                .unwrap_or_default(),
            key,
        }),
        _ => Err(Error::Config(format!(
            "{shown} must hold both a certificate and its private key"
        ))),
    }
}

/// A distinguished name as `CN=localhost, O=Example`.
pub fn name(name: &X509NameRef) -> String {
    name.entries()
        .map(|entry| {
            let field = entry.object().nid().short_name().unwrap_or("?");
            let value = entry.data().to_string().unwrap_or_else(|_| "?".to_string());
            format!("{field}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The subject alternative names, as `DNS:localhost`, `IP:127.0.0.1`, …
pub fn alt_names(cert: &X509Ref) -> Vec<String> {
    let Some(names) = cert.subject_alt_names() else {
        return Vec::new();
    };
    names
        .iter()
        .filter_map(|general| {
            if let Some(dns) = general.dnsname() {
                Some(format!("DNS:{dns}"))
            } else if let Some(ip) = general.ipaddress() {
                ip_from_bytes(ip).map(|ip| format!("IP:{ip}"))
            } else if let Some(email) = general.email() {
                Some(format!("email:{email}"))
            } else {
                general.uri().map(|uri| format!("URI:{uri}"))
            }
        })
        .collect()
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Whether the certificate's validity ended before now.
pub fn has_expired(cert: &X509Ref) -> Result<bool> {
    Ok(cert.not_after() < Asn1Time::days_from_now(0)?)
}

/// Whether the certificate's validity starts after now.
pub fn is_not_yet_valid(cert: &X509Ref) -> Result<bool> {
    Ok(cert.not_before() > Asn1Time::days_from_now(0)?)
}
