//! `tlscat client`: connect, handshake, send the message, print the response, close;
//! optionally again, resuming the session.

use std::io;
use std::time::Instant;

use log::{debug, warn};
use openssl::ssl::{SslConnector, SslSession, SslSessionRef, SslVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_openssl::SslStream;

use crate::config::{ClientConfig, Expectations};
use crate::conn::{self, Read, within};
use crate::dial::{self, PlainStream, check_pins, handshake};
use crate::error::{Error, Phase, Result, seconds};
use crate::report::{self, EarlyDataReport, Report, StarttlsReport, millis};
use crate::tls::observe::Observer;
use crate::tls::revocation::OcspReport;
use crate::tls::{self, Side, display_group, events, session};

/// The seed's client: one connection (plus `reconnect` more, each offering the newest
/// session), one message each, the response printed as `Response from server: …` on
/// stdout, a report on stderr (or JSON on stdout).
pub async fn run(config: &ClientConfig) -> Result<()> {
    if !config.listen.is_empty() {
        return crate::tunnel::originate::run(config).await;
    }
    if config.tls.insecure {
        warn!(
            "--insecure: the server's certificate is NOT verified; anyone on the path can \
             impersonate it and read this connection"
        );
    }
    let connector = tls::connector(&config.tls)?;
    let mut offer = config
        .session_in
        .as_deref()
        .map(session::load)
        .transpose()?;
    let early_data = config
        .early_data
        .as_deref()
        .map(|path| {
            std::fs::read(path).map_err(|e| {
                Error::Config(format!("cannot read --early-data {}: {e}", path.display()))
            })
        })
        .transpose()?;
    for attempt in 0..=config.reconnect {
        let (report, outcome) =
            connection(&connector, config, offer.as_deref(), early_data.as_deref()).await;
        report.emit(config.output.json, config.output.quiet);
        let newest = outcome?;
        let should_resume = attempt > 0 || config.session_in.is_some();
        check(
            &config.expect,
            &report,
            should_resume.then_some(offer.is_some()),
        )?;
        // TLS 1.2 resumption issues no new session: keep offering the one that worked.
        if newest.is_some() {
            offer = newest;
        }
    }
    if let Some(path) = &config.session_out {
        match &offer {
            Some(session) => session::save(session, path)?,
            None => warn!(
                "no session to save in {}: the server issued none (are its tickets off?)",
                path.display()
            ),
        }
    }
    Ok(())
}

/// One connection from TCP connect to close, with its report whatever happened; on
/// success, the newest session the server issued.
async fn connection(
    connector: &SslConnector,
    config: &ClientConfig,
    offer: Option<&SslSessionRef>,
    early_data: Option<&[u8]>,
) -> (Report, Result<Option<SslSession>>) {
    let mut report = Report::new(Side::Client, config.target.address.to_string());
    let result = connect_and_exchange(connector, config, offer, early_data, &mut report).await;
    if let Err(e) = &result {
        report.error = Some(e.to_string());
    }
    (report, result)
}

async fn connect_and_exchange(
    connector: &SslConnector,
    config: &ClientConfig,
    offer: Option<&SslSessionRef>,
    early_data: Option<&[u8]>,
    report: &mut Report,
) -> Result<Option<SslSession>> {
    let output = config.output;
    let (mut tcp, observer) = dial::open(config, report).await?;
    if let Some(starttls) = &config.starttls {
        let started = Instant::now();
        dial::starttls(config, &mut tcp, &observer).await?;
        report.extra().starttls = Some(StarttlsReport {
            protocol: starttls.protocol.name(),
            ms: millis(started.elapsed()),
        });
    }
    report.negotiated.sni = config.target.sni().map(Box::from);
    let early_data = early_data
        .map(|data| sendable_early_data(data, offer, config, report))
        .transpose()?
        .flatten();
    let handshake_started = Instant::now();
    let mut stream = handshake(
        connector,
        config,
        tcp,
        &observer,
        offer,
        early_data,
        Some(report),
    )
    .await?;
    report.timings_ms.handshake = Some(millis(handshake_started.elapsed()));
    report.record_handshake(
        stream.ssl(),
        Side::Client,
        !config.tls.insecure,
        output.show_certs,
    );
    if let Some(data) = early_data {
        let status = events::early_data_status(stream.ssl());
        if status == "rejected" {
            warn!("the server rejected the early data: it was not delivered");
        }
        report.extra().early_data = Some(EarlyDataReport {
            status: status.to_string(),
            bytes: data.len(),
            data: None,
        });
    }
    if config.key_update.is_some() && stream.ssl().version2() != Some(SslVersion::TLS1_3) {
        return Err(Error::Handshake {
            reason: format!(
                "--key-update: {} was negotiated, which has no KeyUpdate",
                stream.ssl().version_str()
            ),
            hint: Some("drop --tls1.2 and --max-tls; TLS 1.2 has --renegotiate".into()),
            source: None,
        });
    }
    if config.tls.renegotiation {
        if stream.ssl().version2() != Some(SslVersion::TLS1_2) {
            return Err(Error::Handshake {
                reason: format!(
                    "--renegotiate: {} was negotiated, which has no renegotiation",
                    stream.ssl().version_str()
                ),
                hint: Some(
                    "add --tls1.2; TLS 1.3 has --key-update and --post-handshake-auth".into(),
                ),
                source: None,
            });
        }
        events::renegotiate(&mut stream, Side::Client, config.timeouts.handshake).await?;
        report.extra().renegotiated = true;
    }
    if config.tls.ocsp {
        report.extra().ocsp = Some(observer.take_ocsp().unwrap_or_else(OcspReport::none));
    }
    check_pins(&config.tls, stream.ssl())?;
    if config.pipe {
        pipe(stream, config, report).await?;
    } else {
        exchange(&mut stream, config, report).await?;
    }
    Ok(observer.take_session())
}

/// The early data to send on this connection, or `None` with the reason in the report:
/// it needs a session whose server allows early data, and no more of it than allowed.
fn sendable_early_data<'a>(
    data: &'a [u8],
    offer: Option<&SslSessionRef>,
    config: &ClientConfig,
    report: &mut Report,
) -> Result<Option<&'a [u8]>> {
    let not_sent = |report: &mut Report, why: &str| {
        report.extra().early_data = Some(EarlyDataReport {
            status: format!("not sent: {why}"),
            bytes: 0,
            data: None,
        });
        Ok(None)
    };
    let Some(session) = offer else {
        return not_sent(report, "no session to resume yet");
    };
    let allowed = session.max_early_data() as usize;
    if allowed == 0 {
        return not_sent(
            report,
            "the session allows none (the server did not enable early data: tlscat server \
             --max-early-data N, s_server -early_data)",
        );
    }
    if data.len() > allowed {
        return Err(Error::Config(format!(
            "--early-data {} holds {} bytes; the server allows {allowed} bytes of early data",
            config
                .early_data
                .as_deref()
                .unwrap_or_else(|| "-".as_ref())
                .display(),
            data.len()
        )));
    }
    Ok(Some(data))
}

/// `--pipe`: stdin goes to the server and the server's data to stdout, as raw bytes and
/// both at once; at the end of stdin, close_notify (TLS 1.3 half-close) and read on
/// until the server closes.
async fn pipe(
    stream: SslStream<PlainStream>,
    config: &ClientConfig,
    report: &mut Report,
) -> Result<()> {
    let timeouts = &config.timeouts;
    let observer = Observer::of(stream.ssl()).cloned();
    let clues = || observer.as_deref().map(Observer::clues).unwrap_or_default();
    let (mut from_server, mut to_server) = tokio::io::split(stream);
    let (received, sent) = {
        let upload = async {
            let mut stdin = tokio::io::stdin();
            let mut buf = vec![0; 16 * 1024];
            let mut sent = 0u64;
            loop {
                let n = stdin.read(&mut buf).await.map_err(|e| Error::Io {
                    phase: Phase::Read,
                    source: io::Error::new(e.kind(), format!("reading stdin: {e}")),
                })?;
                if n == 0 {
                    break;
                }
                within(Phase::Write, timeouts.write, to_server.write_all(&buf[..n]))
                    .await?
                    .map_err(|e| tls::io_failure(e, Phase::Write, Side::Client, clues()))?;
                sent += n as u64;
            }
            // close_notify: the server sees the end of our data and can still answer.
            within(Phase::Close, timeouts.close, to_server.shutdown())
                .await?
                .map_err(|e| tls::io_failure(e, Phase::Close, Side::Client, clues()))?;
            Ok::<_, Error>(sent)
        };
        let download = async {
            let mut stdout = tokio::io::stdout();
            let mut buf = vec![0; 16 * 1024];
            let mut received = 0u64;
            loop {
                let n = conn::read_half(
                    &mut from_server,
                    &mut buf,
                    timeouts.read,
                    Side::Client,
                    observer.as_deref(),
                )
                .await?;
                if n == 0 {
                    break;
                }
                received += n as u64;
                match stdout.write_all(&buf[..n]).await {
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break,
                    written => written.map_err(|e| Error::Io {
                        phase: Phase::Write,
                        source: io::Error::new(e.kind(), format!("writing stdout: {e}")),
                    })?,
                }
            }
            let _ = stdout.flush().await;
            Ok::<_, Error>(received)
        };
        tokio::pin!(upload, download);
        let mut sent = None;
        // Done when the server closes; stdin still open then is not waited for (as netcat).
        let received = loop {
            tokio::select! {
                result = &mut upload, if sent.is_none() => sent = Some(result),
                result = &mut download => break result,
            }
        };
        (received, sent)
    };
    report.bytes_received = received?;
    report.bytes_sent = match sent {
        Some(Ok(sent)) => sent,
        Some(Err(e)) => {
            // The server may close first (it has said all it wanted): our input is moot.
            debug!("sending stopped: {e}");
            0
        }
        None => 0,
    };
    let stream = from_server.unsplit(to_server);
    report.closed = Some(if tls::received_close_notify(stream.ssl()) {
        "close_notify"
    } else {
        warn!("the server closed the connection without close_notify: the data may be truncated");
        "no close_notify"
    });
    Ok(())
}

/// When the connection broke right after a handshake in which the server asked for a
/// client certificate, the server most likely refused ours (or its absence): in TLS 1.3
/// its alert comes after the handshake and can be lost to the reset that follows it.
fn refused_for_want_of_a_certificate(
    stream: &SslStream<PlainStream>,
    config: &ClientConfig,
) -> Option<Error> {
    if !Observer::of(stream.ssl()).is_some_and(|o| o.certificate_requested()) {
        return None;
    }
    Some(match config.tls.identity {
        None => Error::Verify {
            reason: "the server asked for a client certificate, then closed the connection".into(),
            hint: Some("it probably requires one: pass --cert and --key (or --p12)".into()),
        },
        Some(_) => Error::Verify {
            reason: "the server closed the connection right after receiving our client \
                     certificate"
                .into(),
            hint: Some(
                "it probably rejected it (unknown CA, expired): check --cert against the \
                 server's --client-ca"
                    .into(),
            ),
        },
    })
}

/// How reading the response ended.
enum End {
    /// The server sent close_notify.
    Closed,
    /// The server closed TCP without close_notify.
    Truncated,
    /// We stopped at `max_response` bytes.
    Limit,
    /// The answer had begun, then nothing more came for the quiet period.
    Quiet,
}

/// Sends the message, reads until the server closes (or `max_response` bytes, or the
/// answer pauses for the quiet period), prints the response, and closes with close_notify.
async fn exchange(
    stream: &mut SslStream<PlainStream>,
    config: &ClientConfig,
    report: &mut Report,
) -> Result<()> {
    let timeouts = &config.timeouts;
    if let Err(e) = conn::write_all(stream, &config.message, timeouts.write, Side::Client).await {
        return Err(refused_for_want_of_a_certificate(stream, config).unwrap_or(e));
    }
    report.sent = Some(String::from_utf8_lossy(&config.message).into());
    report.bytes_sent += config.message.len() as u64;
    let sent_at = Instant::now();

    let mut response = Vec::new();
    let mut buf = vec![0; 16 * 1024];
    let end = loop {
        // The whole read timeout for the answer to begin, the quiet period for more of it.
        let limit = if response.is_empty() {
            timeouts.read
        } else {
            config.quiet_period
        };
        match conn::read(stream, &mut buf, limit, Side::Client).await {
            Ok(Read::Data(n)) => {
                if response.is_empty() {
                    report.timings_ms.first_byte = Some(millis(sent_at.elapsed()));
                }
                response.extend_from_slice(&buf[..n]);
                report.bytes_received += n as u64;
                if response.len() >= config.max_response {
                    response.truncate(config.max_response);
                    break End::Limit;
                }
            }
            Ok(Read::Closed) => break End::Closed,
            Ok(Read::Truncated) => break End::Truncated,
            Err(Error::Timeout { .. }) if !response.is_empty() => break End::Quiet,
            Err(e) => {
                // Keep what arrived before the failure.
                if !response.is_empty() {
                    print_response(&response, report, config)?;
                }
                return Err(e);
            }
        }
    };
    print_response(&response, report, config)?;
    report.closed = Some(match end {
        End::Truncated => {
            warn!(
                "the server closed the connection without close_notify: \
                 the response may be truncated"
            );
            "no close_notify"
        }
        End::Limit => {
            warn!(
                "stopped reading at --max-response {} bytes: the rest of the response is discarded",
                config.max_response
            );
            "max-response reached"
        }
        End::Closed => "close_notify",
        End::Quiet => {
            debug!(
                "the server sent nothing more for --quiet-period {}: done",
                seconds(config.quiet_period)
            );
            "quiet period"
        }
    });
    if let Some(requested) = config.key_update {
        key_update(stream, requested, &end, config, report).await?;
    }
    if !matches!(end, End::Truncated) {
        if let Err(e) = conn::close(stream, timeouts.close, Side::Client).await {
            // The response is complete; a server that hangs up first costs nothing.
            debug!("closing: {e}");
        }
    }
    Ok(())
}

/// `--key-update`: after the exchange, while the server still listens, a KeyUpdate (TLS
/// 1.3); when one is requested back, a read for the quiet period lets it arrive (any data
/// with it is counted, not printed).
async fn key_update(
    stream: &mut SslStream<PlainStream>,
    requested: bool,
    end: &End,
    config: &ClientConfig,
    report: &mut Report,
) -> Result<()> {
    if matches!(end, End::Closed | End::Truncated) {
        warn!("--key-update: the server had closed the connection: no KeyUpdate sent");
        return Ok(());
    }
    events::key_update(stream, requested, Side::Client, config.timeouts.handshake).await?;
    report.extra().key_update = Some(if requested {
        "update_requested"
    } else {
        "update_not_requested"
    });
    if requested {
        let mut buf = vec![0; 16 * 1024];
        if let Ok(Read::Data(n)) =
            conn::read(stream, &mut buf, config.quiet_period, Side::Client).await
        {
            report.bytes_received += n as u64;
        }
    }
    Ok(())
}

/// Records the response and prints the seed's line (not with `--json`: the report has
/// it); a closed stdout (`tlscat client | head -c0`) is not an error.
fn print_response(response: &[u8], report: &mut Report, config: &ClientConfig) -> Result<()> {
    report.received = Some(String::from_utf8_lossy(response).into_owned());
    if config.output.json {
        return Ok(());
    }
    match report::response(response) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Error::Io {
            phase: Phase::Write,
            source: io::Error::new(e.kind(), format!("cannot write to stdout: {e}")),
        }),
        _ => Ok(()),
    }
}

/// Checks the `--expect-*` assertions against one connection's report. `resumable` is
/// `Some(offered)` for connections that should resume: reconnections and `--sess-in`.
fn check(expect: &Expectations, report: &Report, resumable: Option<bool>) -> Result<()> {
    let got = |value: Option<&str>| value.unwrap_or("none").to_string();
    let mismatch = |what, expected: &str, got: String| Error::Expectation {
        what,
        expected: expected.to_string(),
        got,
    };
    let negotiated = &report.negotiated;
    if let Some(version) = expect.version {
        if negotiated.version != Some(version.name()) {
            return Err(mismatch("version", version.name(), got(negotiated.version)));
        }
    }
    if let Some(cipher) = &expect.cipher {
        if !negotiated
            .cipher
            .is_some_and(|c| c.eq_ignore_ascii_case(cipher))
        {
            return Err(mismatch("cipher", cipher, got(negotiated.cipher)));
        }
    }
    if let Some(group) = &expect.group {
        let wanted = display_group(group);
        if !negotiated
            .group
            .as_deref()
            .is_some_and(|g| g.eq_ignore_ascii_case(&wanted))
        {
            return Err(mismatch("group", &wanted, got(negotiated.group.as_deref())));
        }
    }
    if let Some(alpn) = &expect.alpn {
        if negotiated.alpn.as_deref() != Some(alpn.as_str()) {
            return Err(mismatch(
                "ALPN protocol",
                alpn,
                got(negotiated.alpn.as_deref()),
            ));
        }
    }
    if let Some(days) = expect.days_left {
        // The verified chain includes the trust anchor; without verification, what was sent.
        let chain = report
            .extra
            .as_ref()
            .and_then(|e| e.verified_chain.as_deref())
            .unwrap_or(&report.peer_chain);
        if let Some(soonest) = chain.iter().min_by_key(|c| c.days_left) {
            if soonest.days_left < i64::from(days) {
                return Err(mismatch(
                    "days left",
                    &format!("at least {days}"),
                    format!(
                        "{} ({} expires {})",
                        soonest.days_left, soonest.subject, soonest.not_after
                    ),
                ));
            }
        }
    }
    if expect.ocsp_good {
        let staple = report.extra.as_ref().and_then(|e| e.ocsp.as_ref());
        if !staple.is_some_and(OcspReport::good) {
            return Err(mismatch(
                "OCSP status",
                "good",
                staple.map_or_else(|| "no response".to_string(), OcspReport::describe),
            ));
        }
    }
    if let (true, Some(offered), false) = (expect.resumed, resumable, negotiated.resumed) {
        let why = if offered {
            "a full handshake (the server did not accept the session)"
        } else {
            "a full handshake (the server issued no session to offer)"
        };
        return Err(mismatch("session", "resumed", why.to_string()));
    }
    Ok(())
}
