//! `--mode files`: the files under `--root` over HTTP/1.1, GET and HEAD, with keep-alive
//! and pipelining. A request line per response goes to stdout (unless `--quiet`).
//!
//! Files are read on the connection's worker thread, as nginx does without thread pools:
//! keep the root on a local disk (or tmpfs), not on a network share.

use std::io::Read as _;
use std::time::Instant;

use log::debug;

use super::exchange::{RECORD_SIZE, RequestSource, Tls};
use super::shared::Shared;
use crate::conn;
use crate::docroot::{self, Target};
use crate::error::{Error, Phase, Result};
use crate::http::{self, Incoming, Request};
use crate::report::{self, Report};
use crate::tls::Side;

/// Files up to this size go out in one write with their head.
const SMALL_FILE: u64 = 64 * 1024;
/// How much of a large file is read and written at a time.
const CHUNK: usize = 4 * RECORD_SIZE;

/// Answers requests until the client closes, asks to close, or stays idle for the read
/// timeout. Returns false when the client disconnected without close_notify.
#[allow(clippy::manual_async_fn)] // an idle connection waits in here: see `connection::handle`
pub(super) fn serve(
    tls: &mut Tls,
    shared: &Shared,
    report: &mut Report,
    handshake_done: Instant,
) -> impl Future<Output = Result<bool>> {
    async move {
        let config = &shared.config;
        let timeouts = &config.timeouts;
        let Some(root) = &shared.root else {
            return Err(Error::Internal("files mode without a root".into()));
        };
        // Bytes received and not yet answered: empty (and without memory) while idle.
        let mut pending = Vec::new();
        loop {
            let incoming = {
                let mut source = RequestSource {
                    tls: &mut *tls,
                    report: &mut *report,
                    handshake_done,
                };
                http::read_request(&mut source, &mut pending, timeouts.read).await?
            };
            // One await for every answer, boxed: what came in is held only while answering,
            // never while idle.
            let keep_alive = match incoming {
                Incoming::Closed => return Ok(true),
                Incoming::Truncated => return Ok(false),
                incoming => Box::pin(respond(tls, shared, report, incoming, root)).await?,
            };
            if !keep_alive {
                return Ok(true);
            }
            if pending.is_empty() {
                // Idle until the next request: give the memory back.
                pending = Vec::new();
            }
        }
    }
}

/// Answers what came in: a request, or something that is not one (400, then close);
/// returns whether the connection stays open.
async fn respond(
    tls: &mut Tls,
    shared: &Shared,
    report: &mut Report,
    incoming: Incoming,
    root: &docroot::Root,
) -> Result<bool> {
    let why = match incoming {
        Incoming::Request(request) => return answer(tls, shared, report, &request, root).await,
        Incoming::NotHttp => "not an HTTP request",
        Incoming::Invalid(reason) => {
            debug!("{}: bad request: {reason}", report.peer);
            "malformed request"
        }
        Incoming::Closed | Incoming::Truncated => return Ok(false),
    };
    refuse(tls, shared, report, 400, why).await?;
    Ok(false)
}

/// Answers one request; returns whether the connection stays open.
async fn answer(
    tls: &mut Tls,
    shared: &Shared,
    report: &mut Report,
    request: &Request,
    root: &docroot::Root,
) -> Result<bool> {
    let head_only = request.method == "HEAD";
    if request.method != "GET" && !head_only {
        let head = docroot::response_head(405, &[("Allow", "GET, HEAD")], 0, false);
        send(tls, shared, report, &head).await?;
        log_request(shared, report, request, 405, 0);
        return Ok(false);
    }
    if request.version == "HTTP/1.1" && request.header("host").is_none() {
        refuse(tls, shared, report, 400, "HTTP/1.1 request without Host").await?;
        return Ok(false);
    }
    // A body we do not read would be taken for the next request: close after answering.
    let keep_alive = request.keep_alive() && !request.has_body();
    let (status, body_bytes) = match root.resolve(&request.target) {
        Target::File {
            mut file,
            len,
            modified,
            content_type,
        } => {
            let last_modified = modified.map(httpdate::fmt_http_date);
            let mut fields = vec![("Content-Type", content_type)];
            if let Some(date) = &last_modified {
                fields.push(("Last-Modified", date));
            }
            if docroot::not_modified(request.header("if-modified-since"), modified) {
                let head = docroot::response_head(304, &fields, 0, keep_alive);
                send(tls, shared, report, &head).await?;
                (304, 0)
            } else {
                let mut out = docroot::response_head(200, &fields, len, keep_alive);
                if head_only {
                    send(tls, shared, report, &out).await?;
                    (200, 0)
                } else if len <= SMALL_FILE {
                    let head_len = out.len();
                    read_file(&mut file, &mut out, len)?;
                    send(tls, shared, report, &out).await?;
                    (200, (out.len() - head_len) as u64)
                } else {
                    send(tls, shared, report, &out).await?;
                    stream_file(tls, shared, report, &mut file, len).await?;
                    (200, len)
                }
            }
        }
        Target::Redirect(location) => {
            let body = format!("moved to {location}\n");
            let fields = [
                ("Location", location.as_str()),
                ("Content-Type", "text/plain"),
            ];
            let out = text_response(301, &fields, &body, keep_alive, head_only);
            send(tls, shared, report, &out).await?;
            (301, if head_only { 0 } else { body.len() as u64 })
        }
        Target::Refused(status, why) => {
            debug!("{}: {} {}: {why}", report.peer, status, request.target);
            let body = format!("{status} {}\n", http::reason(status));
            let fields = [("Content-Type", "text/plain")];
            let out = text_response(status, &fields, &body, keep_alive, head_only);
            send(tls, shared, report, &out).await?;
            (status, if head_only { 0 } else { body.len() as u64 })
        }
    };
    log_request(shared, report, request, status, body_bytes);
    Ok(keep_alive)
}

/// A short error response that closes the connection.
async fn refuse(
    tls: &mut Tls,
    shared: &Shared,
    report: &mut Report,
    status: u16,
    why: &str,
) -> Result<()> {
    debug!("{}: answering {status}: {why}", report.peer);
    let body = format!("{status} {}: {why}\n", http::reason(status));
    let out = text_response(
        status,
        &[("Content-Type", "text/plain")],
        &body,
        false,
        false,
    );
    send(tls, shared, report, &out).await
}

/// A short response: its head with `fields` and, unless `head_only`, `body`.
fn text_response(
    status: u16,
    fields: &[(&str, &str)],
    body: &str,
    keep_alive: bool,
    head_only: bool,
) -> Vec<u8> {
    let mut out = docroot::response_head(status, fields, body.len() as u64, keep_alive);
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

async fn send(tls: &mut Tls, shared: &Shared, report: &mut Report, bytes: &[u8]) -> Result<()> {
    conn::write_all(tls, bytes, shared.config.timeouts.write, Side::Server).await?;
    report.bytes_sent += bytes.len() as u64;
    Ok(())
}

/// Appends the whole (small) file to `out`.
fn read_file(file: &mut std::fs::File, out: &mut Vec<u8>, len: u64) -> Result<()> {
    let before = out.len();
    file.take(len)
        .read_to_end(out)
        .map_err(|e| file_error(&e))?;
    if ((out.len() - before) as u64) < len {
        return Err(file_error(&std::io::Error::other("the file shrank")));
    }
    Ok(())
}

/// Sends `len` bytes of the file in large chunks. A file that shrinks meanwhile ends
/// the connection, so that the client sees the download cut short.
async fn stream_file(
    tls: &mut Tls,
    shared: &Shared,
    report: &mut Report,
    file: &mut std::fs::File,
    len: u64,
) -> Result<()> {
    let mut buf = vec![0; CHUNK];
    let mut left = len;
    // Each chunk's records leave in one system call (every send ends with a flush).
    tls.get_mut().set_bulk(true);
    while left > 0 {
        let want = (left as usize).min(CHUNK);
        let n = file.read(&mut buf[..want]).map_err(|e| file_error(&e))?;
        if n == 0 {
            return Err(file_error(&std::io::Error::other("the file shrank")));
        }
        send(tls, shared, report, &buf[..n]).await?;
        left -= n as u64;
    }
    tls.get_mut().set_bulk(false);
    Ok(())
}

fn file_error(err: &std::io::Error) -> Error {
    Error::Io {
        phase: Phase::Write,
        source: std::io::Error::new(err.kind(), format!("reading the file: {err}")),
    }
}

/// One line per request on stdout: `PEER "GET /path HTTP/1.1" STATUS BYTES`, or a JSON
/// object with `--json`.
fn log_request(shared: &Shared, report: &Report, request: &Request, status: u16, bytes: u64) {
    let output = shared.config.output;
    if output.quiet {
        return;
    }
    let line = if output.json {
        serde_json::json!({
            "type": "request",
            "peer": report.peer,
            "method": request.method,
            "target": request.target,
            "version": request.version,
            "status": status,
            "bytes": bytes,
        })
        .to_string()
    } else {
        format!(
            "{} \"{} {} {}\" {status} {bytes}",
            report.peer,
            request.method,
            report::printable(request.target.as_bytes()),
            request.version
        )
    };
    let _ = report::line(format_args!("{line}"));
}
