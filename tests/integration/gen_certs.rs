//! scripts/gen-certs.sh: what it makes, what it refuses, how it fails.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use crate::common::*;

const FILES: [&str; 6] = [
    "ca.crt",
    "ca.key",
    "server.crt",
    "server.key",
    "client.crt",
    "client.key",
];

fn gen_certs(args: &[&str]) -> Output {
    require("openssl", "openssl");
    run(Command::new(repo().join("scripts/gen-certs.sh")).args(args))
}

fn x509_text(path: &Path) -> String {
    text(
        &run(Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(path))
        .stdout,
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn makes_a_verified_ecdsa_set_with_the_seed_names_and_private_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let output = gen_certs(&["--out", &arg(&out)]);
    assert_exit(&output, 0);
    assert!(text(&output.stdout).contains("checked with openssl verify"));
    for file in FILES {
        let path = out.join(file);
        assert!(path.is_file(), "{file} made");
        if file.ends_with(".key") {
            assert_eq!(mode(&path), 0o600, "{file} is private");
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| !FILES.iter().any(|f| name == *f))
        .collect();
    assert!(leftovers.is_empty(), "no temp files left: {leftovers:?}");

    let server = x509_text(&out.join("server.crt"));
    assert!(
        server.contains("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"),
        "{server}"
    );
    assert!(server.contains("TLS Web Server Authentication"), "{server}");
    assert!(
        server.contains("prime256v1"),
        "ECDSA P-256 by default: {server}"
    );
    let client = x509_text(&out.join("client.crt"));
    assert!(client.contains("TLS Web Client Authentication"), "{client}");

    let verified = run(Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(out.join("ca.crt"))
        .arg(out.join("server.crt"))
        .arg(out.join("client.crt")));
    assert_exit(&verified, 0);
}

#[test]
fn keeps_a_valid_set_refuses_an_incomplete_one_and_force_regenerates() {
    let dir = tempfile::tempdir().unwrap();
    let out = arg(dir.path());
    assert_exit(&gen_certs(&["--out", &out]), 0);
    let original = std::fs::read(dir.path().join("server.crt")).unwrap();

    let again = gen_certs(&["--out", &out, "--san", "extra.example"]);
    assert_exit(&again, 0);
    assert!(text(&again.stdout).contains("already holds a valid set"));
    assert!(text(&again.stdout).contains("add --force"));
    assert_eq!(
        std::fs::read(dir.path().join("server.crt")).unwrap(),
        original
    );

    std::fs::remove_file(dir.path().join("client.key")).unwrap();
    let incomplete = gen_certs(&["--out", &out]);
    assert_exit(&incomplete, 1);
    let stderr = text(&incomplete.stderr);
    assert!(stderr.contains("client.key is missing"), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(
        std::fs::read(dir.path().join("server.crt")).unwrap(),
        original
    );

    let forced = gen_certs(&["--out", &out, "--force", "--san", "extra.example"]);
    assert_exit(&forced, 0);
    assert_ne!(
        std::fs::read(dir.path().join("server.crt")).unwrap(),
        original
    );
    assert!(x509_text(&dir.path().join("server.crt")).contains("DNS:extra.example"));
    assert_eq!(mode(&dir.path().join("client.key")), 0o600);
}

#[test]
fn rsa_keys_days_and_extra_sans_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let output = gen_certs(&[
        "--out",
        &arg(dir.path()),
        "--rsa",
        "3072",
        "--days",
        "7",
        "--san",
        "10.1.2.3",
        "--san",
        "svc.example",
    ]);
    assert_exit(&output, 0);
    let server = x509_text(&dir.path().join("server.crt"));
    assert!(server.contains("Public-Key: (3072 bit)"), "{server}");
    assert!(server.contains("IP Address:10.1.2.3"), "{server}");
    assert!(server.contains("DNS:svc.example"), "{server}");
    let end = text(
        &run(Command::new("openssl")
            .args([
                "x509",
                "-noout",
                "-checkend",
                &(8 * 86_400).to_string(),
                "-in",
            ])
            .arg(dir.path().join("server.crt")))
        .stdout,
    );
    assert!(end.contains("will expire"), "valid 7 days, not 8: {end}");
}

#[test]
fn every_set_has_a_ca_of_its_own_name() {
    let dir = tempfile::tempdir().unwrap();
    let subject = |out: &Path| {
        let output = run(Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-in"])
            .arg(out.join("ca.crt")));
        text(&output.stdout).trim().to_string()
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert_exit(&gen_certs(&["--out", &arg(&a)]), 0);
    assert_exit(&gen_certs(&["--out", &arg(&b)]), 0);
    assert!(
        subject(&a).starts_with("subject=CN = tlscat local CA "),
        "{}",
        subject(&a)
    );
    assert_ne!(subject(&a), subject(&b), "two sets, two CA names");
}

#[test]
fn client_names_and_spiffe_ids_make_certificates_the_allow_rules_admit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let made = gen_certs(&[
        "--out",
        &arg(&out),
        "--client-cn",
        "web-1",
        "--client-uri",
        "spiffe://example.org/web",
    ]);
    assert_exit(&made, 0);
    let client = x509_text(&out.join("client.crt"));
    assert!(client.contains("Subject: CN = web-1"), "{client}");
    assert!(client.contains("URI:spiffe://example.org/web"), "{client}");
    let mut command = tlscat();
    command
        .args(["server", "--listen", "127.0.0.1:0"])
        .arg("--cert")
        .arg(out.join("server.crt"))
        .arg("--key")
        .arg(out.join("server.key"))
        .arg("--client-ca")
        .arg(out.join("ca.crt"))
        .args(["--allow-uri", "spiffe://example.org/web"]);
    let server = Server::start_with(&mut command);
    let output = run(tlscat()
        .args(["client", "--connect", &server.target()])
        .arg("--cacert")
        .arg(out.join("ca.crt"))
        .arg("--cert")
        .arg(out.join("client.crt"))
        .arg("--key")
        .arg(out.join("client.key")));
    assert_exit(&output, 0);
}

#[test]
fn bad_options_are_usage_errors() {
    for args in [
        &["--days", "0"][..],
        &["--rsa", "1024"],
        &["--san", "bad name"],
        &["--bogus"],
        &["--out"],
        &["--client-uri", "not a uri"],
        &["--client-cn"],
    ] {
        let output = gen_certs(args);
        assert_exit(&output, 2);
        assert_eq!(text(&output.stderr).lines().count(), 1, "{args:?}");
    }
}

#[test]
fn a_missing_openssl_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(Command::new("/bin/bash")
        .arg(repo().join("scripts/gen-certs.sh"))
        .args(["--out", &arg(dir.path())])
        .env("PATH", dir.path()));
    assert_exit(&output, 1);
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("openssl not found: install it"), "{stderr}");
}

#[test]
fn an_unwritable_output_directory_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let output = gen_certs(&["--out", &arg(&file.join("certs"))]);
    assert_exit(&output, 1);
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot create directory"), "{stderr}");
}
