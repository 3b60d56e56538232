//! `tlscat --version` and `tlscat version`: tlscat's version, the OpenSSL it was built
//! against and the one it runs with, and what that library can do here.

use crate::tls::probe;

/// The OpenSSL version tlscat was compiled against (from `openssl-sys`, via build.rs).
pub const OPENSSL_BUILD_VERSION: &str = env!("TLSCAT_OPENSSL_BUILD_VERSION");

/// Width of the text output of `tlscat version`.
const WIDTH: usize = 88;
/// Where the values start in each line of it.
const LABEL_WIDTH: usize = 20;

/// `tlscat version --json`: versions and what the linked OpenSSL supports here.
pub fn version_json() -> serde_json::Value {
    serde_json::json!({
        "tlscat": env!("CARGO_PKG_VERSION"),
        "openssl_build": OPENSSL_BUILD_VERSION,
        "openssl_runtime": openssl::version::version(),
        "supports": probe::capabilities(),
    })
}

/// `tlscat version`: the same as [`version_json`], in words, wrapped; the long list of
/// TLS 1.2 ciphers is counted unless `verbose`.
pub fn version_text(verbose: bool) -> String {
    let caps = probe::capabilities();
    let mut out = String::new();
    let mut line = |label: &str, value: &str| {
        out.push_str(&format!("{:<LABEL_WIDTH$}{value}\n", format!("{label}:")));
    };
    line("tlscat", env!("CARGO_PKG_VERSION"));
    line("OpenSSL built with", OPENSSL_BUILD_VERSION);
    line("OpenSSL running", openssl::version::version());
    line("TLS versions", &wrapped(&caps.versions));
    line("groups", &wrapped(&caps.groups));
    line("TLS 1.3 suites", &wrapped(&caps.tls13_suites));
    if verbose {
        line("TLS 1.2 ciphers", &wrapped(&caps.tls12_ciphers));
    } else {
        line(
            "TLS 1.2 ciphers",
            &format!(
                "{} (tlscat version --verbose lists them)",
                caps.tls12_ciphers.len()
            ),
        );
    }
    line("signature schemes", &wrapped(&caps.sigalgs));
    line(
        "group names",
        if caps.group_names {
            "from the library"
        } else {
            "from the peer's key"
        },
    );
    line("key logging", if caps.key_logging { "yes" } else { "no" });
    out.pop();
    out
}

/// A comma-separated list broken into lines that fit [`WIDTH`], continuation lines
/// indented under the first.
fn wrapped<S: AsRef<str>>(items: &[S]) -> String {
    let mut text = String::new();
    let mut column = LABEL_WIDTH;
    for (index, item) in items.iter().enumerate() {
        let item = item.as_ref();
        let separator = if index + 1 < items.len() { "," } else { "" };
        if index > 0 {
            if column + 1 + item.len() + separator.len() > WIDTH {
                text.push('\n');
                text.push_str(&" ".repeat(LABEL_WIDTH));
                column = LABEL_WIDTH;
            } else {
                text.push(' ');
                column += 1;
            }
        }
        text.push_str(item);
        text.push_str(separator);
        column += item.len() + separator.len();
    }
    text
}

/// One line naming tlscat's version and both OpenSSL versions: the one it was built
/// against and the one it runs with (they differ when the system library is upgraded).
pub fn version_line() -> String {
    format!(
        "{} (built with {}, running {})",
        env!("CARGO_PKG_VERSION"),
        OPENSSL_BUILD_VERSION,
        openssl::version::version()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_wrap_under_their_label() {
        let names: Vec<String> = (0..30).map(|i| format!("NAME-{i:02}")).collect();
        let text = wrapped(&names);
        for line in text.lines() {
            assert!(LABEL_WIDTH + line.trim_start().len() <= WIDTH, "{line:?}");
        }
        assert!(
            text.lines()
                .skip(1)
                .all(|l| l.starts_with(&" ".repeat(LABEL_WIDTH)))
        );
        assert_eq!(text.matches("NAME-").count(), 30);
        assert_eq!(wrapped(&["a", "b"]), "a, b");
    }

    #[test]
    fn the_text_form_is_short_and_counts_the_tls12_ciphers() {
        let text = version_text(false);
        assert!(text.lines().all(|l| l.len() <= WIDTH), "{text}");
        assert!(text.contains("--verbose lists them"), "{text}");
        let verbose = version_text(true);
        assert!(
            verbose.contains("ECDHE-ECDSA-AES128-GCM-SHA256"),
            "{verbose}"
        );
        assert!(verbose.lines().all(|l| l.len() <= WIDTH), "{verbose}");
    }
}
