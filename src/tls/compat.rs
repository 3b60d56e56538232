//! The calls the safe `openssl` crate does not offer, declared and wrapped once. This is
//! the only module that looks at the `ossl*` cfgs from build.rs: each wrapper picks the
//! best call the linked OpenSSL has and falls back on older ones.

#[cfg(ossl300)]
use std::ffi::{CStr, c_char};
use std::ffi::{c_int, c_long, c_void};

use foreign_types::{ForeignType, ForeignTypeRef};
use openssl::error::ErrorStack;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey};
use openssl::ssl::{SslCipher, SslContextBuilder, SslContextRef, SslOptions, SslRef};
use openssl::stack::StackRef;
use openssl_sys::{SSL, SSL_CTX};

/// `SSL_CTX_set_msg_callback`'s callback: (sent?, version, content type, bytes, length,
/// the SSL, user argument).
pub(super) type MessageCallback =
    unsafe extern "C" fn(c_int, c_int, c_int, *const c_void, usize, *mut SSL, *mut c_void);

/// `NID_ct_precert_scts`: the certificate extension that embeds SCTs.
const NID_CT_PRECERT_SCTS: c_int = 951;

unsafe extern "C" {
    fn X509_get_ext_by_NID(x: *const openssl_sys::X509, nid: c_int, lastpos: c_int) -> c_int;
    fn X509_get_ext(x: *const openssl_sys::X509, loc: c_int) -> *mut openssl_sys::X509_EXTENSION;
    fn X509_EXTENSION_get_data(
        ext: *mut openssl_sys::X509_EXTENSION,
    ) -> *mut openssl_sys::ASN1_OCTET_STRING;
    fn SSL_CTX_set_msg_callback(ctx: *mut SSL_CTX, callback: Option<MessageCallback>);
    fn SSL_CTX_set_timeout(ctx: *mut SSL_CTX, seconds: c_long) -> c_long;
    fn SSL_CTX_get_ciphers(ctx: *const SSL_CTX) -> *mut openssl_sys::stack_st_SSL_CIPHER;
    fn SSL_get_peer_signature_type_nid(ssl: *const SSL, nid: *mut c_int) -> c_int;
    fn SSL_has_pending(ssl: *const SSL) -> c_int;
    fn SSL_key_update(ssl: *mut SSL, update_type: c_int) -> c_int;
    fn SSL_renegotiate(ssl: *mut SSL) -> c_int;
    fn SSL_renegotiate_pending(ssl: *const SSL) -> c_int;
    fn SSL_get_early_data_status(ssl: *const SSL) -> c_int;
    fn SSL_verify_client_post_handshake(ssl: *mut SSL) -> c_int;
    fn X509_STORE_CTX_get0_untrusted(
        ctx: *const openssl_sys::X509_STORE_CTX,
    ) -> *mut openssl_sys::stack_st_X509;
    fn SSL_SESSION_is_resumable(session: *const openssl_sys::SSL_SESSION) -> c_int;
    #[cfg(ossl300)]
    fn SSL_get_signature_type_nid(ssl: *const SSL, nid: *mut c_int) -> c_int;
    #[cfg(all(ossl300, not(ossl320)))]
    fn SSL_group_to_name(ssl: *mut SSL, id: c_int) -> *const c_char;
    #[cfg(ossl320)]
    fn SSL_get0_group_name(ssl: *mut SSL) -> *const c_char;
}

const SSL_CTRL_GET_PEER_SIGNATURE_NID: c_int = 108;
const SSL_CTRL_GET_PEER_TMP_KEY: c_int = 109;
#[cfg(ossl300)]
const SSL_CTRL_GET_SIGNATURE_NID: c_int = 132;
#[cfg(all(ossl300, not(ossl320)))]
const SSL_CTRL_GET_NEGOTIATED_GROUP: c_int = 134;

/// Whether the linked library can name the negotiated group itself (3.0 and later) rather
/// than through the peer's ephemeral key.
pub(super) const NAMES_GROUPS: bool = cfg!(ossl300);

/// The verification result "certificate rejected": its alert is bad_certificate, which
/// a client takes for "the server refuses my certificate".
pub(super) fn certificate_rejected() -> openssl::x509::X509VerifyResult {
    // SAFETY: X509_V_ERR_CERT_REJECTED is one of OpenSSL's verification codes.
    unsafe { openssl::x509::X509VerifyResult::from_raw(openssl_sys::X509_V_ERR_CERT_REJECTED) }
}

/// An ASN.1 GeneralizedTime (OCSP's times) seen as the ASN.1 time the time functions take.
pub(super) fn as_time(time: &openssl::asn1::Asn1GeneralizedTimeRef) -> &openssl::asn1::Asn1TimeRef {
    // SAFETY: ASN1_GENERALIZEDTIME and ASN1_TIME are the same C type (ASN1_STRING), and
    // the ASN1_TIME functions read GeneralizedTime; the reference lives as long as `time`.
    unsafe { openssl::asn1::Asn1TimeRef::from_ptr(time.as_ptr().cast()) }
}

/// The number of signed certificate timestamps embedded in a certificate (the
/// Certificate Transparency extension, RFC 6962 3.3): 0 without one.
pub(super) fn sct_count(cert: &openssl::x509::X509Ref) -> usize {
    // SAFETY: a valid certificate; the extension and its data belong to it and outlive
    // the slice, which is only read here.
    let value = unsafe {
        let index = X509_get_ext_by_NID(cert.as_ptr(), NID_CT_PRECERT_SCTS, -1);
        if index < 0 {
            return 0;
        }
        let extension = X509_get_ext(cert.as_ptr(), index);
        if extension.is_null() {
            return 0;
        }
        let data = X509_EXTENSION_get_data(extension);
        if data.is_null() {
            return 0;
        }
        let bytes = openssl_sys::ASN1_STRING_get0_data(data.cast());
        let length = openssl_sys::ASN1_STRING_length(data.cast());
        if bytes.is_null() || length <= 0 {
            return 0;
        }
        std::slice::from_raw_parts(bytes, length as usize)
    };
    count_scts(value)
}

/// Counts the entries of a DER OCTET STRING holding a TLS SignedCertificateTimestampList:
/// a 2-byte length, then entries of a 2-byte length each.
fn count_scts(der: &[u8]) -> usize {
    let Some((&0x04, rest)) = der.split_first() else {
        return 0;
    };
    let Some((&first, rest)) = rest.split_first() else {
        return 0;
    };
    let content = match first {
        length @ 0..=0x7f => rest.get(..usize::from(length)),
        0x81 => rest
            .split_first()
            .and_then(|(&n, rest)| rest.get(..usize::from(n))),
        0x82 => rest
            .get(..2)
            .and_then(|n| rest.get(2..2 + usize::from(u16::from_be_bytes([n[0], n[1]])))),
        _ => None,
    };
    let Some(list) = content.and_then(|c| c.get(2..)) else {
        return 0;
    };
    let mut rest = list;
    let mut count = 0;
    while let Some(length) = rest.get(..2) {
        let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
        let Some(next) = rest.get(2 + length..) else {
            break;
        };
        count += 1;
        rest = next;
    }
    count
}

/// Installs a message callback on every connection of the context.
pub(super) fn set_message_callback(ctx: &mut SslContextBuilder, callback: MessageCallback) {
    // SAFETY: the context pointer is valid; the callback is a plain function.
    unsafe { SSL_CTX_set_msg_callback(ctx.as_ptr(), Some(callback)) }
}

/// How long sessions stay resumable (`SSL_CTX_set_timeout`).
pub(super) fn set_session_timeout(ctx: &mut SslContextBuilder, seconds: u64) {
    let seconds = c_long::try_from(seconds).unwrap_or(c_long::MAX);
    // SAFETY: the context pointer is valid.
    unsafe {
        SSL_CTX_set_timeout(ctx.as_ptr(), seconds);
    }
}

/// A cipher suite: OpenSSL's name, the IANA name and the code point.
pub struct Cipher {
    pub name: &'static str,
    pub standard_name: Option<&'static str>,
    pub id: u16,
}

/// The cipher suites (TLS 1.3 and older) the context would offer.
pub(super) fn context_ciphers(ctx: &SslContextRef) -> Vec<Cipher> {
    // SAFETY: the stack belongs to the context and outlives this call; cipher names are
    // static strings inside OpenSSL.
    unsafe {
        let stack = SSL_CTX_get_ciphers(ctx.as_ptr());
        if stack.is_null() {
            return Vec::new();
        }
        let stack: &StackRef<SslCipher> = StackRef::from_ptr(stack);
        stack
            .iter()
            .map(|cipher| Cipher {
                name: cipher.name(),
                standard_name: cipher.standard_name(),
                id: u16::from_be_bytes(cipher.protocol_id()),
            })
            .collect()
    }
}

/// C string from OpenSSL, or `None` for NULL.
///
/// # Safety
/// `ptr` must be NULL or a NUL-terminated string that outlives the copy.
#[cfg(ossl300)]
unsafe fn owned(ptr: *const c_char) -> Option<String> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: per the function contract.
        Some(
            unsafe { CStr::from_ptr(ptr) }
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// The key exchange group of the connection, in OpenSSL's spelling (`X25519`,
/// `secp256r1`, `X25519MLKEM768`, …).
pub(super) fn negotiated_group(ssl: &SslRef) -> Option<String> {
    #[cfg(ossl320)]
    {
        // SAFETY: valid SSL; the name is static inside OpenSSL.
        unsafe { owned(SSL_get0_group_name(ssl.as_ptr())) }.or_else(|| peer_key_group(ssl))
    }
    #[cfg(all(ossl300, not(ossl320)))]
    {
        // SAFETY: valid SSL; SSL_get_negotiated_group is this SSL_ctrl; the name is static.
        unsafe {
            let id = openssl_sys::SSL_ctrl(
                ssl.as_ptr(),
                SSL_CTRL_GET_NEGOTIATED_GROUP,
                0,
                std::ptr::null_mut(),
            );
            if id <= 0 {
                return peer_key_group(ssl);
            }
            owned(SSL_group_to_name(ssl.as_ptr(), id as c_int)).or_else(|| peer_key_group(ssl))
        }
    }
    #[cfg(not(ossl300))]
    {
        peer_key_group(ssl)
    }
}

/// The group, deduced from the peer's ephemeral key (what `s_client` shows as "Server
/// Temp Key"): the only way before OpenSSL 3.0.
fn peer_key_group(ssl: &SslRef) -> Option<String> {
    let mut key: *mut openssl_sys::EVP_PKEY = std::ptr::null_mut();
    // SAFETY: valid SSL; on success we own one reference to the key.
    let key = unsafe {
        // SSL_get_peer_tmp_key is this SSL_ctrl (a macro before 3.0).
        let found = openssl_sys::SSL_ctrl(
            ssl.as_ptr(),
            SSL_CTRL_GET_PEER_TMP_KEY,
            0,
            (&mut key as *mut *mut openssl_sys::EVP_PKEY).cast(),
        );
        if found <= 0 || key.is_null() {
            return None;
        }
        PKey::<openssl::pkey::Public>::from_ptr(key)
    };
    match key.id() {
        Id::X25519 => Some("X25519".into()),
        Id::X448 => Some("X448".into()),
        Id::EC => key
            .ec_key()
            .ok()?
            .group()
            .curve_name()
            .and_then(|nid| nid.short_name().ok())
            .map(str::to_string),
        Id::DH => Some(format!("DH {} bits", key.bits())),
        _ => None,
    }
}

/// The signature scheme the peer signed the handshake with (`ecdsa_secp256r1_sha256`, …).
pub(super) fn peer_signature(ssl: &SslRef) -> Option<String> {
    let mut kind = 0;
    // SAFETY: valid SSL and out-pointer.
    let have_kind = unsafe { SSL_get_peer_signature_type_nid(ssl.as_ptr(), &mut kind) } == 1;
    let mut digest: c_int = 0;
    // SAFETY: SSL_get_peer_signature_nid is this SSL_ctrl with an int out-pointer.
    let have_digest = unsafe {
        openssl_sys::SSL_ctrl(
            ssl.as_ptr(),
            SSL_CTRL_GET_PEER_SIGNATURE_NID,
            0,
            (&mut digest as *mut c_int).cast(),
        )
    } == 1;
    have_kind.then(|| signature_name(kind, have_digest.then_some(digest), ssl))
}

/// The signature scheme we signed the handshake with (OpenSSL 3.0 and later).
pub(super) fn own_signature(ssl: &SslRef) -> Option<String> {
    #[cfg(ossl300)]
    {
        let mut kind = 0;
        let mut digest: c_int = 0;
        // SAFETY: valid SSL and out-pointers; SSL_get_signature_nid is this SSL_ctrl.
        let (have_kind, have_digest) = unsafe {
            (
                SSL_get_signature_type_nid(ssl.as_ptr(), &mut kind) == 1,
                openssl_sys::SSL_ctrl(
                    ssl.as_ptr(),
                    SSL_CTRL_GET_SIGNATURE_NID,
                    0,
                    (&mut digest as *mut c_int).cast(),
                ) == 1,
            )
        };
        have_kind.then(|| signature_name(kind, have_digest.then_some(digest), ssl))
    }
    #[cfg(not(ossl300))]
    {
        let _ = ssl;
        None
    }
}

/// TLS 1.3 style scheme names from OpenSSL's (key type, digest) pair.
fn signature_name(kind: c_int, digest: Option<c_int>, ssl: &SslRef) -> String {
    let digest = digest
        .map(Nid::from_raw)
        .and_then(|nid| nid.short_name().ok())
        .map(|name| name.to_ascii_lowercase().replace('-', ""));
    let digest = digest.as_deref().unwrap_or("unknown");
    match kind {
        openssl_sys::EVP_PKEY_EC => {
            // TLS 1.3 binds the curve to the hash; TLS 1.2 names only the hash.
            let curve = match digest {
                "sha256" => "secp256r1_",
                "sha384" => "secp384r1_",
                "sha512" => "secp521r1_",
                _ => "",
            };
            if ssl.version2() == Some(openssl::ssl::SslVersion::TLS1_3) {
                format!("ecdsa_{curve}{digest}")
            } else {
                format!("ecdsa_{digest}")
            }
        }
        openssl_sys::EVP_PKEY_RSA_PSS => format!("rsa_pss_rsae_{digest}"),
        openssl_sys::EVP_PKEY_RSA => format!("rsa_pkcs1_{digest}"),
        openssl_sys::EVP_PKEY_ED25519 => "ed25519".to_string(),
        openssl_sys::EVP_PKEY_ED448 => "ed448".to_string(),
        other => format!(
            "{}+{digest}",
            Nid::from_raw(other)
                .short_name()
                .unwrap_or("unknown")
                .to_ascii_lowercase()
        ),
    }
}

/// Whether the peer's close_notify has arrived (`SSL_get_shutdown`). The safe
/// `SslRef::get_shutdown` needs `&mut`, which `tokio_openssl::SslStream` does not hand out.
pub fn received_close_notify(ssl: &SslRef) -> bool {
    // SAFETY: `ssl` is a valid SSL for the lifetime of the reference; SSL_get_shutdown only
    // reads a flag word.
    let flags = unsafe { openssl_sys::SSL_get_shutdown(ssl.as_ptr()) };
    flags & openssl_sys::SSL_RECEIVED_SHUTDOWN != 0
}

/// Whether OpenSSL holds bytes read from the peer that the application has not seen,
/// including the start of a record still incomplete (`SSL_has_pending`).
pub fn has_pending(ssl: &SslRef) -> bool {
    // SAFETY: `ssl` is a valid SSL for the lifetime of the reference.
    unsafe { SSL_has_pending(ssl.as_ptr()) == 1 }
}

/// The certificates the peer sent, in its order, as a verification sees them (OpenSSL
/// hands them to it as the untrusted chain). Unlike `SSL_get_peer_cert_chain`, available
/// in the verify callback whatever the verdict, on every version.
pub(super) fn sent_chain(ctx: &openssl::x509::X509StoreContextRef) -> Vec<openssl::x509::X509> {
    // SAFETY: a valid store context; the stack and its certificates belong to it and are
    // only borrowed here (each certificate is up-referenced by `to_owned`).
    unsafe {
        let stack = X509_STORE_CTX_get0_untrusted(ctx.as_ptr());
        if stack.is_null() {
            return Vec::new();
        }
        StackRef::<openssl::x509::X509>::from_ptr(stack)
            .iter()
            .map(|cert| cert.to_owned())
            .collect()
    }
}

/// OpenSSL's usual answer: 1 is success, anything else left its reasons on the error
/// queue.
fn succeeded(ret: c_int) -> Result<(), ErrorStack> {
    if ret == 1 {
        Ok(())
    } else {
        Err(ErrorStack::get())
    }
}

/// Schedules a TLS 1.3 KeyUpdate (sent with the next write or handshake call); with
/// `requested`, the peer must answer with its own (`SSL_key_update`).
pub(super) fn key_update(ssl: &SslRef, requested: bool) -> Result<(), ErrorStack> {
    // SAFETY: a valid SSL; OpenSSL only records the request in it.
    succeeded(unsafe { SSL_key_update(ssl.as_ptr(), c_int::from(requested)) })
}

/// Schedules a TLS 1.2 renegotiation (`SSL_renegotiate`): a client's next handshake call
/// runs it; a server's sends a HelloRequest.
pub(super) fn renegotiate(ssl: &SslRef) -> Result<(), ErrorStack> {
    // SAFETY: a valid SSL; OpenSSL only records the request in it.
    succeeded(unsafe { SSL_renegotiate(ssl.as_ptr()) })
}

/// Whether a renegotiation asked for has not finished yet (`SSL_renegotiate_pending`).
pub(super) fn renegotiate_pending(ssl: &SslRef) -> bool {
    // SAFETY: a valid SSL; the call only reads a flag.
    unsafe { SSL_renegotiate_pending(ssl.as_ptr()) == 1 }
}

/// What became of 0-RTT early data (`SSL_get_early_data_status`).
pub(super) fn early_data_status(ssl: &SslRef) -> &'static str {
    // SAFETY: a valid SSL; the call only reads a field.
    match unsafe { SSL_get_early_data_status(ssl.as_ptr()) } {
        2 => "accepted",
        1 => "rejected",
        _ => "not sent",
    }
}

/// Asks a TLS 1.3 client for its certificate after the handshake (sent with the next
/// write or handshake call): `SSL_verify_client_post_handshake`. The client must have
/// offered post-handshake authentication.
pub(super) fn request_client_certificate(ssl: &SslRef) -> Result<(), ErrorStack> {
    // SAFETY: a valid SSL; OpenSSL only records the request in it.
    succeeded(unsafe { SSL_verify_client_post_handshake(ssl.as_ptr()) })
}

/// A client context that offers post-handshake authentication (TLS 1.3).
pub(super) fn offer_post_handshake_auth(ctx: &mut SslContextBuilder) {
    // SAFETY: a valid context being built.
    unsafe { openssl_sys::SSL_CTX_set_post_handshake_auth(ctx.as_ptr(), 1) }
}

/// Lets clients renegotiate (TLS 1.2): no `SSL_OP_NO_RENEGOTIATION`, and on OpenSSL 3,
/// which refuses client-initiated renegotiation by default, `SSL_OP_ALLOW_CLIENT_RENEGOTIATION`.
pub(super) fn allow_renegotiation(ctx: &mut SslContextBuilder) {
    ctx.clear_options(SslOptions::NO_RENEGOTIATION);
    #[cfg(ossl300)]
    ctx.set_options(SslOptions::from_bits_retain(
        SSL_OP_ALLOW_CLIENT_RENEGOTIATION,
    ));
}

/// `SSL_OP_ALLOW_CLIENT_RENEGOTIATION` (OpenSSL 3.0+; not in openssl-sys).
#[cfg(ossl300)]
const SSL_OP_ALLOW_CLIENT_RENEGOTIATION: u64 = 1 << 8;

/// Whether a session can be offered for resumption: in TLS 1.3, only once a ticket
/// for it has arrived (`SSL_SESSION_is_resumable`).
pub fn is_resumable(session: &openssl::ssl::SslSessionRef) -> bool {
    // SAFETY: the session pointer is valid for the lifetime of the reference.
    unsafe { SSL_SESSION_is_resumable(session.as_ptr()) == 1 }
}

/// Serves session tickets with keys from a ticket key file, on any OpenSSL: through
/// `SSL_CTX_set_tlsext_ticket_key_evp_cb` (3.0+) or `SSL_CTX_set_tlsext_ticket_key_cb`
/// (1.1.1). The keys live in the context's ex_data, where the callback finds them.
pub(super) fn set_ticket_keys(
    ctx: &mut SslContextBuilder,
    keys: std::sync::Arc<super::tickets::TicketKeys>,
) -> Result<(), openssl::error::ErrorStack> {
    ctx.set_ex_data(ticket_keys_index()?, keys);
    #[cfg(ossl300)]
    let installed = {
        // SAFETY: a valid context and a callback with the documented signature.
        unsafe { SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx.as_ptr(), Some(ticket_key_evp)) }
    };
    #[cfg(not(ossl300))]
    let installed = {
        // SAFETY: SSL_CTX_set_tlsext_ticket_key_cb is this callback_ctrl; OpenSSL calls
        // the function back with the ticket callback's signature.
        unsafe {
            let callback: unsafe extern "C" fn() = std::mem::transmute(
                ticket_key_hmac
                    as unsafe extern "C" fn(
                        *mut SSL,
                        *mut u8,
                        *mut u8,
                        *mut openssl_sys::EVP_CIPHER_CTX,
                        *mut openssl_sys::HMAC_CTX,
                        c_int,
                    ) -> c_int,
            );
            openssl_sys::SSL_CTX_callback_ctrl__fixed_rust(
                ctx.as_ptr(),
                SSL_CTRL_SET_TLSEXT_TICKET_KEY_CB,
                Some(callback),
            ) as c_int
        }
    };
    succeeded(installed)
}

#[cfg(not(ossl300))]
const SSL_CTRL_SET_TLSEXT_TICKET_KEY_CB: c_int = 72;

static TICKET_KEYS: std::sync::OnceLock<
    openssl::ex_data::Index<openssl::ssl::SslContext, std::sync::Arc<super::tickets::TicketKeys>>,
> = std::sync::OnceLock::new();

fn ticket_keys_index() -> Result<
    openssl::ex_data::Index<openssl::ssl::SslContext, std::sync::Arc<super::tickets::TicketKeys>>,
    openssl::error::ErrorStack,
> {
    if let Some(index) = TICKET_KEYS.get() {
        return Ok(*index);
    }
    let index = openssl::ssl::SslContext::new_ex_index()?;
    Ok(*TICKET_KEYS.get_or_init(|| index))
}

/// The ticket keys of the connection's context.
///
/// # Safety
/// `ssl` must be a live SSL.
unsafe fn ticket_keys<'a>(ssl: *mut SSL) -> Option<&'a super::tickets::TicketKeys> {
    // SAFETY: per the function contract.
    let ssl = unsafe { SslRef::from_ptr(ssl) };
    ssl.ssl_context()
        .ex_data(*TICKET_KEYS.get()?)
        .map(|keys| &**keys)
}

/// What the ticket callbacks share: pick the key, set up the cipher, report the verdict
/// (encrypt: 1; decrypt: 1 use the ticket, 2 use it and issue a new one, 0 unknown key so
/// make a full handshake, -1 error). `mac_key` sets the HMAC secret in the version's MAC
/// context type.
///
/// # Safety
/// The pointers are those OpenSSL passes to a ticket key callback.
unsafe fn ticket_key(
    ssl: *mut SSL,
    key_name: *mut u8,
    iv: *mut u8,
    cipher: *mut openssl_sys::EVP_CIPHER_CTX,
    encrypt: bool,
    mac_key: impl FnOnce(&[u8; 32]) -> bool,
) -> c_int {
    // SAFETY: per the function contract; key_name holds 16 bytes and iv at least 16.
    unsafe {
        let Some(keys) = ticket_keys(ssl) else {
            return -1;
        };
        let name = std::slice::from_raw_parts_mut(key_name, 16);
        let (key, verdict) = if encrypt {
            let key = keys.encrypting();
            name.copy_from_slice(&key.name);
            if openssl_sys::RAND_bytes(iv, 16) != 1 {
                return -1;
            }
            (key, 1)
        } else {
            // Renew a ticket under an older key; in TLS 1.3 renew always, so that a
            // resumed connection gets fresh tickets (as OpenSSL's own keys do).
            let tls13 = SslRef::from_ptr(ssl).version2() == Some(openssl::ssl::SslVersion::TLS1_3);
            match keys.find(name) {
                Some((key, current)) => (key, if current && !tls13 { 1 } else { 2 }),
                None => return 0,
            }
        };
        let init = if encrypt {
            openssl_sys::EVP_EncryptInit_ex(
                cipher,
                openssl_sys::EVP_aes_256_cbc(),
                std::ptr::null_mut(),
                key.aes.as_ptr(),
                iv,
            )
        } else {
            openssl_sys::EVP_DecryptInit_ex(
                cipher,
                openssl_sys::EVP_aes_256_cbc(),
                std::ptr::null_mut(),
                key.aes.as_ptr(),
                iv,
            )
        };
        if init != 1 || !mac_key(&key.hmac) {
            return -1;
        }
        verdict
    }
}

#[cfg(ossl300)]
unsafe extern "C" {
    fn SSL_CTX_set_tlsext_ticket_key_evp_cb(
        ctx: *mut SSL_CTX,
        callback: Option<
            unsafe extern "C" fn(
                *mut SSL,
                *mut u8,
                *mut u8,
                *mut openssl_sys::EVP_CIPHER_CTX,
                *mut openssl_sys::EVP_MAC_CTX,
                c_int,
            ) -> c_int,
        >,
    ) -> c_int;
    fn OSSL_PARAM_construct_utf8_string(
        key: *const c_char,
        buf: *mut c_char,
        size: usize,
    ) -> openssl_sys::OSSL_PARAM;
}

#[cfg(ossl300)]
unsafe extern "C" fn ticket_key_evp(
    ssl: *mut SSL,
    key_name: *mut u8,
    iv: *mut u8,
    cipher: *mut openssl_sys::EVP_CIPHER_CTX,
    mac: *mut openssl_sys::EVP_MAC_CTX,
    enc: c_int,
) -> c_int {
    // SAFETY: OpenSSL passes valid pointers; the parameters point into `secret` and static
    // strings, which outlive the call.
    unsafe {
        ticket_key(ssl, key_name, iv, cipher, enc == 1, |secret| {
            let mut secret = *secret;
            let params = [
                openssl_sys::OSSL_PARAM_construct_octet_string(
                    c"key".as_ptr(),
                    secret.as_mut_ptr().cast(),
                    secret.len(),
                ),
                OSSL_PARAM_construct_utf8_string(
                    c"digest".as_ptr(),
                    c"SHA256".as_ptr().cast_mut(),
                    0,
                ),
                openssl_sys::OSSL_PARAM_construct_end(),
            ];
            openssl_sys::EVP_MAC_CTX_set_params(mac, params.as_ptr()) == 1
        })
    }
}

#[cfg(not(ossl300))]
unsafe extern "C" fn ticket_key_hmac(
    ssl: *mut SSL,
    key_name: *mut u8,
    iv: *mut u8,
    cipher: *mut openssl_sys::EVP_CIPHER_CTX,
    hmac: *mut openssl_sys::HMAC_CTX,
    enc: c_int,
) -> c_int {
    // SAFETY: OpenSSL passes valid pointers.
    unsafe {
        ticket_key(ssl, key_name, iv, cipher, enc == 1, |secret| {
            openssl_sys::HMAC_Init_ex(
                hmac,
                secret.as_ptr().cast(),
                secret.len() as c_int,
                openssl_sys::EVP_sha256(),
                std::ptr::null_mut(),
            ) == 1
        })
    }
}

#[cfg(test)]
mod tests {
    use super::count_scts;

    #[test]
    fn embedded_scts_are_counted() {
        // OCTET STRING { list length 7: [1 byte] [2 bytes] }
        let two = [0x04, 9, 0, 7, 0, 1, 0xaa, 0, 2, 0xbb, 0xcc];
        assert_eq!(count_scts(&two), 2);
        assert_eq!(count_scts(&[0x04, 2, 0, 0]), 0);
        assert_eq!(count_scts(&[]), 0);
        assert_eq!(count_scts(&[0x30, 0]), 0);
    }
}
