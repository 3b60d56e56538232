//! `--mode inspect`: what the connection negotiated and what the client offered in its
//! ClientHello ([`crate::tls::hello`]), as JSON or as an HTML page.

use std::fmt::Write as _;

use crate::http::Request;
use crate::report::{Report, or_dash};

/// The JSON answer of inspect mode.
pub(crate) fn json(report: &Report, request: Option<&Request>) -> String {
    let mut value = serde_json::json!({
        "type": "inspect",
        "connection": report,
    });
    if let Some(request) = request {
        value["http"] = serde_json::json!({
            "method": request.method,
            "target": request.target,
            "version": request.version,
            "user_agent": request.header("user-agent"),
        });
    }
    let mut text = value.to_string();
    text.push('\n');
    text
}

/// The HTML page of inspect mode.
pub(crate) fn html(report: &Report, request: &Request) -> String {
    let mut page = String::new();
    let row = |page: &mut String, name: &str, value: &str| {
        let _ = write!(
            page,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(name),
            escape(value)
        );
    };
    let list = |values: &[String]| values.join(", ");
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>tlscat: your TLS connection</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         h1{{font-size:1.6rem}}h2{{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}}\
         table{{border-collapse:collapse;width:100%}}th{{text-align:left;width:14rem;vertical-align:top;padding:.3rem;color:#555}}\
         td{{padding:.3rem;font-family:ui-monospace,monospace;word-break:break-all}}\
         .ok{{color:#0a7a2f;font-weight:bold}}</style></head><body>\
         <h1>Your TLS connection to tlscat</h1>"
    );
    let negotiated = &report.negotiated;
    let _ = write!(page, "<h2>Negotiated</h2><table>");
    row(&mut page, "protocol", or_dash(negotiated.version));
    row(&mut page, "cipher suite", or_dash(negotiated.cipher));
    row(
        &mut page,
        "key exchange group",
        or_dash(negotiated.group.as_deref()),
    );
    row(
        &mut page,
        "signature",
        or_dash(negotiated.signature.as_deref()),
    );
    row(&mut page, "ALPN", or_dash(negotiated.alpn.as_deref()));
    row(&mut page, "SNI", or_dash(negotiated.sni.as_deref()));
    row(
        &mut page,
        "session",
        if negotiated.resumed {
            "resumed"
        } else {
            "full handshake"
        },
    );
    row(&mut page, "your address", &report.peer);
    row(
        &mut page,
        "handshake",
        &report
            .timings_ms
            .handshake
            .map_or_else(|| "-".to_string(), |ms| format!("{ms:.3} ms")),
    );
    if let Some(cert) = &report.certificate {
        row(&mut page, "certificate served", &cert.subject);
    }
    let _ = write!(page, "</table>");
    if let Some(hello) = report.extra.as_ref().and_then(|e| e.client_hello.as_ref()) {
        let _ = write!(page, "<h2>Your client offered</h2><table>");
        row(&mut page, "JA4", &hello.ja4);
        row(&mut page, "versions", &list(&hello.versions));
        row(&mut page, "cipher suites", &list(&hello.cipher_suites));
        row(&mut page, "groups", &list(&hello.groups));
        row(&mut page, "key shares", &list(&hello.key_shares));
        row(
            &mut page,
            "signature algorithms",
            &list(&hello.signature_algorithms),
        );
        row(&mut page, "ALPN", &list(&hello.alpn));
        row(
            &mut page,
            "server name",
            hello.server_name.as_deref().unwrap_or("-"),
        );
        row(&mut page, "extensions, in order", &list(&hello.extensions));
        let _ = write!(page, "</table>");
    }
    let _ = write!(page, "<h2>Your request</h2><table>");
    row(
        &mut page,
        "request",
        &format!("{} {} {}", request.method, request.target, request.version),
    );
    row(
        &mut page,
        "user agent",
        request.header("user-agent").unwrap_or("-"),
    );
    let _ = writeln!(
        page,
        "</table><p>The same as JSON: <a href=\"/json\">/json</a>, or send \
         <code>Accept: application/json</code>.</p></body></html>"
    );
    page
}

/// Text made safe for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_what_the_client_controls() {
        assert_eq!(escape("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
    }
}
