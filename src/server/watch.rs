//! `--reload-interval`: notices when the certificate, key, CA, CRL, OCSP response or ticket
//! key files change.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Identity, ServerTls};

/// What identifies a version of a file: a digest of its content (these files are small,
/// and timestamps may be too coarse to tell two writes in the same second apart).
type Stamp = Option<[u8; 32]>;

/// The files a reload reads, and how they looked last time.
pub(super) struct Files {
    files: Vec<(PathBuf, Stamp)>,
    every: Duration,
}

/// Every file the TLS setup is built from.
pub(super) fn watched(config: &ServerTls) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for certificate in &config.certificates {
        match &certificate.identity {
            Identity::Pem { cert, key, .. } => files.extend([cert.clone(), key.clone()]),
            Identity::Pkcs12 { path, .. } => files.push(path.clone()),
        }
    }
    if let Some(auth) = &config.client_auth {
        files.push(auth.ca_file.clone());
        files.extend(auth.revocation.crls.iter().cloned());
    }
    files.extend(config.ticket_key_file.clone());
    files.extend(config.ocsp_response.clone());
    files
}

fn stamp(path: &PathBuf) -> Stamp {
    std::fs::read(path)
        .ok()
        .map(|content| openssl::sha::sha256(&content))
}

impl Files {
    pub(super) fn new(paths: Vec<PathBuf>, every: Duration) -> Files {
        Files {
            files: paths.into_iter().map(|p| (p.clone(), stamp(&p))).collect(),
            every,
        }
    }
}

/// Returns once a watched file has changed since the last call; never without a watch.
pub(super) async fn changed(files: &mut Option<Files>) {
    let Some(files) = files else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(files.every).await;
        let mut changed = false;
        for (path, last) in &mut files.files {
            let now = stamp(path);
            if now != *last {
                *last = now;
                changed = true;
            }
        }
        if changed {
            return;
        }
    }
}
