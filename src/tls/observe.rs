//! What one connection's OpenSSL callbacks saw: the first certificate verification failure,
//! whether the server asked for a client certificate, and (with `--trace`) every TLS
//! message as it goes by. One [`Observer`] is attached to each `Ssl`.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use foreign_types::ForeignTypeRef;
use log::warn;
use openssl::error::ErrorStack;
use openssl::ex_data::Index;
use openssl::ssl::{Ssl, SslContextBuilder, SslRef, SslSession, SslVersion};
use openssl::x509::{X509Ref, X509StoreContextRef};
use openssl_sys::SSL;

use super::compat;
use super::failure::{Clues, Side};
use super::revocation::OcspReport;
use super::summary;
use super::trace::{self, Direction, Message, TraceEvent, TraceSink};
use super::verify::VerifyFailure;

/// Per-connection record filled by OpenSSL callbacks.
pub struct Observer {
    side: Side,
    /// Who the connection is with, for trace lines.
    peer: String,
    started: Instant,
    /// Where trace events go, when tracing.
    trace: Option<&'static dyn TraceSink>,
    /// Boxed: rare, and large next to the rest of a connection's idle state.
    verify_failure: Mutex<Option<Box<VerifyFailure>>>,
    /// The allow rule that let the client certificate in.
    allowed_by: Mutex<Option<String>>,
    certificate_requested: AtomicBool,
    /// We refused the peer's renegotiation request (a no_renegotiation alert went out).
    refused_renegotiation: AtomicBool,
    /// Finished messages received: 1 after the handshake, 2 once a client answered a
    /// certificate request after it.
    finished_received: AtomicU8,
    /// What the peer's first record header looked like (one of the `FIRST_RECORD_*`).
    first_record: AtomicU8,
    /// The newest session the server gave this client, for resumption.
    session: Mutex<Option<SslSession>>,
    /// Keep the client's first ClientHello (server side, inspect mode).
    keep_client_hello: bool,
    client_hello: Mutex<Option<Vec<u8>>>,
    /// What the server's stapled OCSP response said (client, `--status`).
    ocsp: Mutex<Option<Box<OcspReport>>>,
}

const FIRST_RECORD_UNSEEN: u8 = 0;
const FIRST_RECORD_TLS: u8 = 1;
const FIRST_RECORD_NOT_TLS: u8 = 2;
/// An HTTP proxy request (`CONNECT host:port`), which OpenSSL 3.2+ reports as not TLS.
const FIRST_RECORD_PROXY_REQUEST: u8 = 3;
/// OpenSSL's pseudo content type for a record header (`SSL3_RT_HEADER`).
const RECORD_HEADER: i32 = 256;

static INDEX: OnceLock<Index<Ssl, Arc<Observer>>> = OnceLock::new();

fn index() -> Result<Index<Ssl, Arc<Observer>>, ErrorStack> {
    if let Some(index) = INDEX.get() {
        return Ok(*index);
    }
    let index = Ssl::new_ex_index()?;
    Ok(*INDEX.get_or_init(|| index))
}

/// Routes the context's message callback to the observer of each connection.
pub fn install(ctx: &mut SslContextBuilder) {
    compat::set_message_callback(ctx, on_message);
}

impl Observer {
    /// A new observer; trace events go to `trace`, if any.
    pub fn new(side: Side, peer: String, trace: Option<&'static dyn TraceSink>) -> Arc<Observer> {
        Observer::build(side, peer, trace, false)
    }

    /// A server-side observer that also keeps the raw ClientHello (for inspect mode).
    pub fn keeping_client_hello(
        peer: String,
        trace: Option<&'static dyn TraceSink>,
    ) -> Arc<Observer> {
        Observer::build(Side::Server, peer, trace, true)
    }

    fn build(
        side: Side,
        peer: String,
        trace: Option<&'static dyn TraceSink>,
        keep: bool,
    ) -> Arc<Observer> {
        Arc::new(Observer {
            side,
            peer,
            started: Instant::now(),
            trace,
            verify_failure: Mutex::new(None),
            allowed_by: Mutex::new(None),
            certificate_requested: AtomicBool::new(false),
            refused_renegotiation: AtomicBool::new(false),
            finished_received: AtomicU8::new(0),
            first_record: AtomicU8::new(FIRST_RECORD_UNSEEN),
            session: Mutex::new(None),
            keep_client_hello: keep,
            client_hello: Mutex::new(None),
            ocsp: Mutex::new(None),
        })
    }

    /// Attaches the observer to a connection before its handshake.
    pub fn attach(self: &Arc<Self>, ssl: &mut SslRef) -> Result<(), ErrorStack> {
        ssl.set_ex_data(index()?, Arc::clone(self));
        Ok(())
    }

    /// The observer attached to a connection, if any.
    pub fn of(ssl: &SslRef) -> Option<&Arc<Observer>> {
        ssl.ex_data(*INDEX.get()?)
    }

    /// Called from the verify callback for a certificate that failed; keeps the first.
    pub fn record_verify_failure(&self, ctx: &X509StoreContextRef) {
        let mut slot = self
            .verify_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            let error = ctx.error();
            *slot = Some(Box::new(VerifyFailure {
                code: error.as_raw(),
                reason: error.error_string().to_string(),
                depth: ctx.error_depth(),
                certificate: ctx.current_cert().map(summary::summary),
                refused: None,
                sent: compat::sent_chain(ctx),
            }));
        }
    }

    /// Called when a verified client certificate matches no allow rule.
    pub fn record_refusal(&self, certificate: &X509Ref, why: String) {
        let mut slot = self
            .verify_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *slot = Some(Box::new(VerifyFailure {
            code: openssl_sys::X509_V_ERR_CERT_REJECTED,
            reason: "not allowed".into(),
            depth: 0,
            certificate: Some(summary::summary(certificate)),
            refused: Some(why),
            sent: Vec::new(),
        }));
    }

    /// Called from the client's status callback with what the staple said.
    pub fn record_ocsp(&self, report: OcspReport) {
        *self.ocsp.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(report));
    }

    /// What the server's stapled OCSP response said, once the handshake read it.
    pub fn take_ocsp(&self) -> Option<OcspReport> {
        self.ocsp
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .map(|report| *report)
    }

    /// Called when an allow rule let the client certificate in.
    pub fn record_allowed(&self, rule: String) {
        *self
            .allowed_by
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(rule);
    }

    /// The allow rule that let the client certificate in, if rules are set.
    pub fn allowed_by(&self) -> Option<String> {
        self.allowed_by
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The first verification failure, if any.
    pub fn verify_failure(&self) -> Option<VerifyFailure> {
        self.verify_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_deref()
            .cloned()
    }

    /// Whether the server sent a CertificateRequest.
    pub fn certificate_requested(&self) -> bool {
        self.certificate_requested.load(Ordering::Relaxed)
    }

    /// How many Finished messages the peer sent (handshakes it completed).
    pub fn finished_received(&self) -> u8 {
        self.finished_received.load(Ordering::Relaxed)
    }

    /// What the callbacks saw that explains a failed handshake.
    pub fn clues(&self) -> Clues {
        Clues {
            certificate_requested: self.certificate_requested(),
            not_tls: matches!(
                self.first_record.load(Ordering::Relaxed),
                FIRST_RECORD_NOT_TLS | FIRST_RECORD_PROXY_REQUEST
            ),
            proxy_request: self.first_record.load(Ordering::Relaxed) == FIRST_RECORD_PROXY_REQUEST,
            refused_renegotiation: self.refused_renegotiation.load(Ordering::Relaxed),
        }
    }

    /// Keeps the newest session (client side), replacing older ones.
    pub fn record_session(&self, session: SslSession) {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = Some(session);
    }

    /// The newest session received, if any.
    pub fn take_session(&self) -> Option<SslSession> {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Records application data for the trace (the message callback does not see it).
    pub fn application_data(&self, direction: Direction, bytes: usize) {
        if self.trace.is_some() {
            self.emit(direction, bytes, trace::application_data());
        }
    }

    /// Records a line of the plaintext exchange before a STARTTLS handshake for the trace.
    pub fn plaintext(&self, direction: Direction, bytes: usize, words: impl FnOnce() -> String) {
        if self.trace.is_some() {
            self.emit(direction, bytes, trace::plaintext(words()));
        }
    }

    /// The first ClientHello received, as sent (inspect mode only).
    pub fn client_hello(&self) -> Option<Vec<u8>> {
        self.client_hello
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn on_message(&self, direction: Direction, content_type: i32, bytes: &[u8], tls13: bool) {
        if content_type == RECORD_HEADER && direction == Direction::Received {
            // A TLS record starts with a content type (20 to 24) and major version 3.
            let seen = if matches!(bytes, [20..=24, 3, ..]) {
                FIRST_RECORD_TLS
            } else if bytes.starts_with(b"CONNE") {
                FIRST_RECORD_PROXY_REQUEST
            } else {
                FIRST_RECORD_NOT_TLS
            };
            let _ = self.first_record.compare_exchange(
                FIRST_RECORD_UNSEEN,
                seen,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            return;
        }
        let received_handshake = content_type == 22 && direction == Direction::Received;
        // OpenSSL answers a renegotiation request with this warning alert, and goes on.
        if content_type == 21 && direction == Direction::Sent && bytes.get(1) == Some(&100) {
            self.refused_renegotiation.store(true, Ordering::Relaxed);
            warn!(
                "{}: refused the peer's renegotiation request (renegotiation is off)",
                self.peer
            );
        }
        if received_handshake && bytes.first() == Some(&13) {
            self.certificate_requested.store(true, Ordering::Relaxed);
        }
        if received_handshake && bytes.first() == Some(&20) {
            self.finished_received.fetch_add(1, Ordering::Relaxed);
        }
        if received_handshake && self.keep_client_hello && bytes.first() == Some(&1) {
            let mut slot = self
                .client_hello
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if slot.is_none() {
                *slot = Some(bytes.to_vec());
            }
        }
        if self.trace.is_none() {
            return;
        }
        if let Some(message) = trace::describe(content_type, bytes, direction, self.side, tls13) {
            self.emit(direction, bytes.len(), message);
        }
    }

    fn emit(&self, direction: Direction, bytes: usize, message: Message) {
        let Some(sink) = self.trace else {
            return;
        };
        sink.event(&TraceEvent {
            peer: &self.peer,
            millis: self.started.elapsed().as_secs_f64() * 1000.0,
            direction,
            bytes,
            message,
        });
    }
}

/// The message callback: finds the connection's observer and hands it the message.
unsafe extern "C" fn on_message(
    write_p: c_int,
    _version: c_int,
    content_type: c_int,
    buf: *const c_void,
    len: usize,
    ssl: *mut SSL,
    _arg: *mut c_void,
) {
    if ssl.is_null() || (buf.is_null() && len > 0) {
        return;
    }
    // SAFETY: OpenSSL passes the live SSL of the connection and `len` readable bytes.
    let (ssl, bytes) = unsafe {
        (
            SslRef::from_ptr(ssl),
            if len == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(buf.cast::<u8>(), len)
            },
        )
    };
    let Some(observer) = Observer::of(ssl) else {
        return;
    };
    let direction = if write_p == 1 {
        Direction::Sent
    } else {
        Direction::Received
    };
    let tls13 = ssl.version2() == Some(SslVersion::TLS1_3);
    observer.on_message(direction, content_type, bytes, tls13);
}
