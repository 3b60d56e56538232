//! A two-level CA run with the `openssl` command line (`openssl ca`, `openssl ocsp`), as
//! an operator would: a root, an intermediate that issues the leaves, revocations, CRLs
//! and OCSP responses.

use std::path::PathBuf;
use std::process::Command;

use super::{rand_u32, require, run, text};

/// A root CA, an intermediate CA under it, and leaves issued by the intermediate, in a
/// temporary folder. Files: `root.crt`, `inter.crt`, `STEM.crt`/`STEM.key` (the leaf
/// alone), `STEM-chain.crt` (leaf then intermediate).
pub struct OpensslCa {
    dir: tempfile::TempDir,
    /// The unique part of the CAs' names.
    tag: String,
}

/// The value of a Certificate Transparency extension holding two (made-up) signed
/// certificate timestamps: an OCTET STRING around a TLS SignedCertificateTimestampList.
const TWO_SCTS: &str = "04:6C:00:6A:00:33:00:00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F:00:00:01:A2:52:A6:F4:78:00:00:04:03:00:04:01:02:03:04:00:33:00:00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F:00:00:01:A2:52:A6:F4:78:00:00:04:03:00:04:01:02:03:04";

/// Which CA signs or lists.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    Root,
    Intermediate,
}

impl Level {
    fn section(self) -> &'static str {
        match self {
            Level::Root => "root_ca",
            Level::Intermediate => "inter_ca",
        }
    }

    fn stem(self) -> &'static str {
        match self {
            Level::Root => "root",
            Level::Intermediate => "inter",
        }
    }
}

impl OpensslCa {
    /// The two CAs, with a server leaf (`server`: localhost, 127.0.0.1, ::1) and a client
    /// leaf (`client`: CN=tlscat client).
    pub fn new() -> OpensslCa {
        require("openssl", "openssl");
        let dir = tempfile::tempdir().expect("temp dir");
        let tag = format!("{:08x}", rand_u32());
        let ca = OpensslCa { dir, tag };
        for level in [Level::Root, Level::Intermediate] {
            let db = ca.path(level.stem());
            std::fs::create_dir_all(db.join("certs")).unwrap();
            std::fs::write(db.join("index.txt"), "").unwrap();
            std::fs::write(db.join("index.txt.attr"), "unique_subject = no\n").unwrap();
            std::fs::write(db.join("serial"), format!("{:08X}\n", rand_u32() | 1)).unwrap();
            std::fs::write(db.join("crlnumber"), "1000\n").unwrap();
        }
        std::fs::write(ca.path("openssl.cnf"), ca.config()).unwrap();
        ca.key("root");
        ca.openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            "root.key",
            "-subj",
            &format!("/CN=tlscat test root {}", ca.tag),
            "-days",
            "3650",
            "-config",
            "openssl.cnf",
            "-extensions",
            "v3_root",
            "-out",
            "root.crt",
        ]);
        ca.key("inter");
        ca.request("inter", &format!("/CN=tlscat test intermediate {}", ca.tag));
        ca.sign("inter", Level::Root, "v3_intermediate", 3650);
        ca.issue("server", "/CN=localhost", "server_cert");
        ca.issue("client", "/CN=tlscat client", "client_cert");
        ca
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The root's subject, `CN=tlscat test root …`.
    pub fn root_subject(&self) -> String {
        format!("CN=tlscat test root {}", self.tag)
    }

    /// The intermediate's subject.
    pub fn intermediate_subject(&self) -> String {
        format!("CN=tlscat test intermediate {}", self.tag)
    }

    /// Issues another leaf from the intermediate: `extensions` is `server_cert` or
    /// `client_cert`; writes `STEM.crt`, `STEM.key` and `STEM-chain.crt`.
    pub fn issue(&self, stem: &str, subject: &str, extensions: &str) {
        self.key(stem);
        self.request(stem, subject);
        self.sign(stem, Level::Intermediate, extensions, 30);
        let leaf = std::fs::read_to_string(self.path(&format!("{stem}.crt"))).unwrap();
        let inter = std::fs::read_to_string(self.path("inter.crt")).unwrap();
        std::fs::write(
            self.path(&format!("{stem}-chain.crt")),
            format!("{leaf}{inter}"),
        )
        .unwrap();
    }

    /// Revokes a leaf (`STEM.crt`) in the intermediate's database.
    pub fn revoke(&self, stem: &str) {
        self.openssl(&[
            "ca",
            "-batch",
            "-config",
            "openssl.cnf",
            "-name",
            "inter_ca",
            "-revoke",
            &format!("{stem}.crt"),
            "-crl_reason",
            "keyCompromise",
        ]);
    }

    /// A fresh CRL of `level` (PEM) named `name`, valid for `hours`.
    pub fn crl(&self, level: Level, name: &str, hours: u32) -> PathBuf {
        self.openssl(&[
            "ca",
            "-batch",
            "-gencrl",
            "-config",
            "openssl.cnf",
            "-name",
            level.section(),
            "-crlhours",
            &hours.to_string(),
            "-out",
            name,
        ]);
        self.path(name)
    }

    /// An OCSP response about leaf `STEM` from the intermediate's database, signed by the
    /// intermediate itself (DER, as `openssl ocsp -respout` writes it).
    pub fn ocsp_response(&self, stem: &str) -> PathBuf {
        let request = format!("{stem}.ocsp-req");
        let response = format!("{stem}.ocsp");
        self.openssl(&[
            "ocsp",
            "-issuer",
            "inter.crt",
            "-cert",
            &format!("{stem}.crt"),
            "-no_nonce",
            "-reqout",
            &request,
        ]);
        self.openssl(&[
            "ocsp",
            "-index",
            "inter/index.txt",
            "-rsigner",
            "inter.crt",
            "-rkey",
            "inter.key",
            "-CA",
            "inter.crt",
            "-reqin",
            &request,
            "-ndays",
            "1",
            "-respout",
            &response,
        ]);
        self.path(&response)
    }

    fn key(&self, stem: &str) {
        self.openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &format!("{stem}.key"),
        ]);
        super::make_private(&self.path(&format!("{stem}.key")));
    }

    fn request(&self, stem: &str, subject: &str) {
        self.openssl(&[
            "req",
            "-new",
            "-key",
            &format!("{stem}.key"),
            "-subj",
            subject,
            "-config",
            "openssl.cnf",
            "-out",
            &format!("{stem}.csr"),
        ]);
    }

    fn sign(&self, stem: &str, by: Level, extensions: &str, days: u32) {
        self.openssl(&[
            "ca",
            "-batch",
            "-notext",
            "-config",
            "openssl.cnf",
            "-name",
            by.section(),
            "-extensions",
            extensions,
            "-days",
            &days.to_string(),
            "-in",
            &format!("{stem}.csr"),
            "-out",
            &format!("{stem}.crt"),
        ]);
    }

    fn openssl(&self, args: &[&str]) {
        let output = run(Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path()));
        assert!(
            output.status.success(),
            "openssl {}: {}{}",
            args.join(" "),
            text(&output.stdout),
            text(&output.stderr)
        );
    }

    fn config(&self) -> String {
        let dir = self.dir.path().display();
        let ca = |level: Level| {
            let stem = level.stem();
            format!(
                "[{section}]\n\
                 dir = {dir}/{stem}\n\
                 database = $dir/index.txt\n\
                 serial = $dir/serial\n\
                 crlnumber = $dir/crlnumber\n\
                 new_certs_dir = $dir/certs\n\
                 certificate = {dir}/{stem}.crt\n\
                 private_key = {dir}/{stem}.key\n\
                 default_md = sha256\n\
                 default_crl_hours = 24\n\
                 policy = any_name\n\
                 crl_extensions = crl_ext\n\n",
                section = level.section()
            )
        };
        format!(
            "{}{}\
             [req]\n\
             distinguished_name = req_dn\n\
             prompt = no\n\
             [req_dn]\n\
             CN = unused\n\
             [any_name]\n\
             commonName = supplied\n\
             [crl_ext]\n\
             authorityKeyIdentifier = keyid\n\
             [v3_root]\n\
             basicConstraints = critical, CA:TRUE\n\
             keyUsage = critical, keyCertSign, cRLSign\n\
             subjectKeyIdentifier = hash\n\
             [v3_intermediate]\n\
             basicConstraints = critical, CA:TRUE, pathlen:0\n\
             keyUsage = critical, keyCertSign, cRLSign\n\
             subjectKeyIdentifier = hash\n\
             authorityKeyIdentifier = keyid\n\
             [server_cert]\n\
             basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n\
             subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1\n\
             authorityKeyIdentifier = keyid\n\
             [server_cert_with_scts]\n\
             basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n\
             subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1\n\
             authorityKeyIdentifier = keyid\n\
             1.3.6.1.4.1.11129.2.4.2 = DER:{TWO_SCTS}\n\
             [client_cert]\n\
             basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = clientAuth\n\
             authorityKeyIdentifier = keyid\n",
            ca(Level::Root),
            ca(Level::Intermediate)
        )
    }
}
