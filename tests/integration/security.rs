//! Security defaults, checked by an independent scanner (sslyze) and by hand: Mozilla's
//! intermediate and modern configurations, no known vulnerability, the server's cipher
//! order, and rotating session ticket keys.

use std::process::Command;
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

/// Runs sslyze against the server with the vulnerability scans and a Mozilla profile;
/// returns its exit status and the per-scan results.
fn sslyze(server: &Server, pki: &Pki, profile: &str) -> (bool, Value) {
    require("sslyze", "sslyze (pip install sslyze)");
    let report = pki.path(&format!("sslyze-{profile}.json"));
    let output = run(Command::new("sslyze")
        .arg("--certinfo_ca_file")
        .arg(pki.ca())
        .args(["--early_data", &format!("--mozilla_config={profile}")])
        .arg(format!("--json_out={}", report.display()))
        .arg(format!("localhost:{}", server.port())));
    let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let results = json["server_scan_results"][0]["scan_result"].clone();
    if !output.status.success() {
        eprintln!("{}", text(&output.stdout));
    }
    (output.status.success(), results)
}

fn assert_no_known_vulnerability(results: &Value) {
    let result = |scan: &str| results[scan]["result"].clone();
    assert_eq!(result("heartbleed")["is_vulnerable_to_heartbleed"], false);
    assert_eq!(
        result("openssl_ccs_injection")["is_vulnerable_to_ccs_injection"],
        false
    );
    assert!(
        result("robot")["robot_result"]
            .as_str()
            .unwrap()
            .starts_with("NOT_VULNERABLE"),
        "{}",
        result("robot")
    );
    let renegotiation = result("session_renegotiation");
    assert_eq!(renegotiation["supports_secure_renegotiation"], true);
    assert_eq!(
        renegotiation["is_vulnerable_to_client_renegotiation_dos"],
        false
    );
    assert_eq!(result("tls_compression")["supports_compression"], false);
    assert_eq!(result("tls_1_3_early_data")["supports_early_data"], false);
    assert_eq!(result("tls_fallback_scsv")["supports_fallback_scsv"], true);
    for old in [
        "ssl_2_0_cipher_suites",
        "ssl_3_0_cipher_suites",
        "tls_1_0_cipher_suites",
        "tls_1_1_cipher_suites",
    ] {
        assert_eq!(
            result(old)["accepted_cipher_suites"]
                .as_array()
                .map(Vec::len),
            Some(0),
            "{old} refused"
        );
    }
}

#[test]
fn the_default_server_is_mozilla_intermediate_compliant_and_not_vulnerable() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let (compliant, results) = sslyze(&server, &pki, "intermediate");
    assert!(
        compliant,
        "sslyze finds the default server intermediate-compliant"
    );
    assert_no_known_vulnerability(&results);
    let accepted = results["tls_1_2_cipher_suites"]["result"]["accepted_cipher_suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cipher_suite"]["name"].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    assert!(!accepted.is_empty());
    for suite in &accepted {
        assert!(
            suite.contains("ECDHE") || suite.contains("DHE"),
            "forward secrecy: {suite}"
        );
        assert!(
            suite.contains("GCM") || suite.contains("CHACHA20"),
            "AEAD: {suite}"
        );
    }
}

#[test]
fn the_modern_profile_is_mozilla_modern_compliant() {
    // gen-certs.sh's default: an ECDSA certificate valid 90 days, as "modern" wants.
    let pki = Pki::generate(KeyKind::Ecdsa, 90);
    let server = Server::start(&pki, &["--profile", "modern"]);
    let (compliant, results) = sslyze(&server, &pki, "modern");
    assert!(compliant, "sslyze finds --profile modern modern-compliant");
    assert_no_known_vulnerability(&results);
}

#[test]
fn the_servers_cipher_order_decides() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let tls13 = server.client(
        &pki,
        &[
            "--json",
            "--ciphersuites",
            "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
        ],
    );
    assert_eq!(
        connections(&tls13.stdout)[0]["cipher"],
        "TLS_AES_128_GCM_SHA256"
    );
    let tls12 = server.client(
        &pki,
        &[
            "--json",
            "--tls1.2",
            "--ciphers",
            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256",
        ],
    );
    assert_eq!(
        connections(&tls12.stdout)[0]["cipher"],
        "ECDHE-ECDSA-AES128-GCM-SHA256"
    );
}

fn rotations(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("tlscat_ticket_key_rotations_total "))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn generated_ticket_keys_rotate_and_old_tickets_stop_resuming() {
    require("curl", "curl");
    let pki = Pki::ecdsa();
    let server = Server::start(
        &pki,
        &["--ticket-rotation", "1s", "--metrics", "127.0.0.1:0"],
    );
    let url = {
        let line = server.proc.wait_stderr("metrics on http://");
        line.rsplit(' ').next().unwrap().to_string()
    };
    let scrape = || text(&run(Command::new("curl").args(["--silent", &url])).stdout);
    let session = pki.path("session.pem");
    let resumes = || {
        let output = server.client(&pki, &["--sess-in", &arg(&session), "--json"]);
        connections(&output.stdout)[0]["resumed"] == true
    };
    assert_exit(&server.client(&pki, &["--sess-out", &arg(&session)]), 0);
    let issued_at = rotations(&scrape());
    assert!(resumes(), "a fresh ticket resumes");
    // Three keys decrypt (the current and two previous): three rotations later, no more.
    let rotated = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        rotations(&scrape()) >= issued_at + 3
    });
    assert!(rotated, "the key rotates every second");
    assert!(
        !resumes(),
        "a ticket under a forgotten key gets a full handshake"
    );
}
