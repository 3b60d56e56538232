//! Flags into the library's configs: the one place where that happens, so the checks that
//! involve more than one flag live here too.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tlscat::config::{
    AccessRules, Backend, BenchConfig, BenchMode, ClientAuth, ClientConfig, ClientTls, ExecCommand,
    Expectations, Identity, Mode, OutputSettings, Profile, Revocation, ServerCertificate,
    ServerConfig, ServerTls, SessionSettings, Starttls, Target, Timeouts, TlsSettings, TlsVersion,
    Trace, Trust, TunnelSettings,
};
use tlscat::{Error, proxy};

use super::args::{
    BenchArgs, BenchModeArg, ClientArgs, ConnectArgs, CrlCheckArg, KeyUpdateArg, ModeArg,
    OutputArgs, PhaseTimeouts, ProfileArg, ProxyArg, ServerArgs, TlsArgs, VerifyArg,
};
use super::values::{split_command, unescape};

/// The files a fresh checkout has after `scripts/gen-certs.sh`.
const DEFAULT_CERT: &str = "certs/server.crt";
const DEFAULT_KEY: &str = "certs/server.key";
const DEFAULT_CA_FILE: &str = "certs/ca.crt";

impl PhaseTimeouts {
    fn into_timeouts(self, connect: Duration) -> Timeouts {
        Timeouts {
            connect,
            handshake: self.handshake_timeout,
            read: self.read_timeout,
            write: self.write_timeout,
            close: self.close_timeout,
        }
    }
}

impl TlsArgs {
    fn settings(&self) -> TlsSettings {
        let (min_version, max_version) = if self.tls12 {
            (Some(TlsVersion::Tls1_2), Some(TlsVersion::Tls1_2))
        } else if self.tls13 {
            (Some(TlsVersion::Tls1_3), Some(TlsVersion::Tls1_3))
        } else {
            (self.min_tls, self.max_tls)
        };
        let keylog = self.keylog.clone().or_else(|| {
            std::env::var_os("SSLKEYLOGFILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        TlsSettings {
            profile: match self.profile {
                ProfileArg::Intermediate => Profile::Intermediate,
                ProfileArg::Modern => Profile::Modern,
                ProfileArg::System => Profile::System,
            },
            min_version,
            max_version,
            ciphers: self.ciphers.clone(),
            ciphersuites: self.ciphersuites.clone(),
            groups: self.groups.clone(),
            sigalgs: self.sigalgs.clone(),
            alpn: self.alpn.clone(),
            keylog,
        }
    }
}

impl OutputArgs {
    fn settings(&self) -> OutputSettings {
        OutputSettings {
            json: self.json,
            quiet: self.quiet,
            trace: match (self.trace, self.json) {
                (false, _) => Trace::Off,
                (true, false) => Trace::Text,
                (true, true) => Trace::Json,
            },
            show_certs: self.showcerts,
        }
    }
}

impl TryFrom<ServerArgs> for ServerConfig {
    type Error = Error;

    fn try_from(args: ServerArgs) -> Result<Self, Error> {
        let passphrase = args.pass.clone();
        let pem = |cert, key, names| ServerCertificate {
            identity: Identity::Pem {
                cert,
                key,
                passphrase: passphrase.clone(),
            },
            names,
        };
        let mut certificates = Vec::new();
        if let Some(path) = args.p12 {
            certificates.push(ServerCertificate {
                identity: Identity::Pkcs12 {
                    path,
                    passphrase: passphrase.clone(),
                },
                names: Vec::new(),
            });
        } else if args.cert.len() != args.key.len() {
            return Err(Error::Config(format!(
                "{} --cert but {} --key: give one --key for each --cert, in the same order",
                args.cert.len(),
                args.key.len()
            )));
        } else if args.cert.is_empty() {
            // The default certificate stays the default: --sni only adds names.
            certificates.push(pem(
                PathBuf::from(DEFAULT_CERT),
                PathBuf::from(DEFAULT_KEY),
                Vec::new(),
            ));
        }
        for (cert, key) in args.cert.into_iter().zip(args.key) {
            certificates.push(pem(cert, key, Vec::new()));
        }
        for (name, cert, key) in args.sni {
            certificates.push(pem(cert, key, vec![name]));
        }
        let protocol = args.tls.settings();
        if args.alpn_optional && protocol.alpn.is_empty() {
            return Err(Error::Config("--alpn-optional needs --alpn LIST".into()));
        }
        let mode = match (args.mode, &args.forward, &args.exec, &args.sh_exec) {
            (_, Some(_), _, _) => Mode::Forward,
            (_, _, Some(_), _) | (_, _, _, Some(_)) => Mode::Exec,
            (None | Some(ModeArg::Reply), ..) => Mode::Reply,
            (Some(ModeArg::Echo), ..) => Mode::Echo,
            (Some(ModeArg::Inspect), ..) => Mode::Inspect,
            (Some(ModeArg::Files), ..) => Mode::Files,
        };
        let exec = match (&args.exec, &args.sh_exec) {
            (Some(text), _) => {
                Some(split_command(text).map_err(|e| Error::Config(format!("--exec {e}")))?)
            }
            (None, Some(text)) => Some(ExecCommand {
                program: "/bin/sh".into(),
                args: vec!["-c".into(), text.clone()],
            }),
            (None, None) => None,
        };
        let access = AccessRules {
            cn: args.allow_cn,
            dns: args.allow_dns,
            uri: args.allow_uri,
            ou: args.allow_ou,
        };
        if !access.is_empty() && matches!(args.verify, Some(VerifyArg::Optional)) {
            return Err(Error::Config(
                "--allow-* rules need every client to show a certificate: drop --verify \
                 optional"
                    .into(),
            ));
        }
        if args.max_early_data.is_some() && !matches!(mode, Mode::Reply | Mode::Echo) {
            return Err(Error::Config(
                "--max-early-data is for --mode reply and echo: early data can be replayed, \
                 and tunnels, files and inspect would act on it"
                    .into(),
            ));
        }
        if args.post_handshake_auth && mode != Mode::Reply {
            return Err(Error::Config(
                "--post-handshake-auth is for --mode reply (nothing is answered before the \
                 certificate verified)"
                    .into(),
            ));
        }
        let speaks_http = matches!(mode, Mode::Inspect | Mode::Files);
        if speaks_http && protocol.alpn.iter().any(|p| p != "http/1.1") {
            return Err(Error::Config(
                "--mode inspect and --mode files answer in HTTP/1.x: use --alpn http/1.1 or \
                 no --alpn"
                    .into(),
            ));
        }
        match (mode, &args.root) {
            (Mode::Files, None) => {
                return Err(Error::Config(
                    "--mode files needs --root DIR: the folder to serve".into(),
                ));
            }
            (Mode::Files, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(Error::Config(
                    "--root is the folder of --mode files: add --mode files".into(),
                ));
            }
        }
        Ok(ServerConfig {
            listen: args.listen,
            reuse_port: args.reuse_port,
            proxy_protocol: args.proxy_protocol,
            postgres_ssl_request: args.starttls.is_some(),
            mode,
            root: args.root,
            backend: args.forward.map(|address| Backend {
                address,
                send_proxy: args.send_proxy.map(|version| match version {
                    ProxyArg::V1 => proxy::Version::V1,
                    ProxyArg::V2 => proxy::Version::V2,
                }),
            }),
            exec,
            tunnel: TunnelSettings {
                connect_timeout: args.backend_connect_timeout,
                idle_timeout: args.idle_timeout,
            },
            tls: ServerTls {
                certificates,
                allow_expired: args.allow_expired,
                allow_insecure_key_permissions: args.allow_insecure_key_permissions,
                protocol,
                alpn_optional: args.alpn_optional,
                client_auth: args.client_ca.map(|ca_file| ClientAuth {
                    ca_file,
                    required: !matches!(args.verify, Some(VerifyArg::Optional)),
                    revocation: Revocation {
                        crls: args.crl,
                        whole_chain: matches!(args.crl_check, CrlCheckArg::Chain),
                    },
                }),
                access,
                sessions: SessionSettings {
                    timeout: args.session_timeout,
                    tickets: !args.no_tickets,
                    num_tickets: args.num_tickets,
                    ticket_rotation: args.ticket_rotation,
                },
                ticket_key_file: args.ticket_key_file,
                ocsp_response: args.ocsp_response,
                max_early_data: args.max_early_data.unwrap_or(0),
                renegotiation: args.renegotiate,
                post_handshake_auth: args.post_handshake_auth,
            },
            reload_interval: args.reload_interval,
            metrics: args.metrics,
            reply: args.reply.into_bytes(),
            max_message: args.max_message,
            max_conns: args.max_conns,
            threads: args.threads.and_then(NonZeroUsize::new),
            timeouts: args.timeouts.into_timeouts(Timeouts::default().connect),
            drain_timeout: args.drain_timeout,
            output: args.output.settings(),
        })
    }
}

impl ConnectArgs {
    /// Where the server is, how to trust it, and the timeouts: what `client` and `bench`
    /// share.
    fn into_parts(self) -> Result<(Target, ClientTls, Timeouts), Error> {
        let trust = match self.cacert {
            Some(path) => Trust::CaFile(path),
            None if Path::new(DEFAULT_CA_FILE).is_file() => {
                Trust::CaFile(PathBuf::from(DEFAULT_CA_FILE))
            }
            None => Trust::System,
        };
        if let Some(name) = &self.servername {
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(Error::Config(format!(
                    "--servername {name:?} is not a host name: pass a DNS name such as localhost"
                )));
            }
        }
        let identity = match (self.p12, self.cert, self.key) {
            (Some(path), _, _) => Some(Identity::Pkcs12 {
                path,
                passphrase: self.pass,
            }),
            (None, Some(cert), Some(key)) => Some(Identity::Pem {
                cert,
                key,
                passphrase: self.pass,
            }),
            _ => None,
        };
        let target = Target {
            address: self.connect,
            server_name: self.servername,
            sni: !self.no_sni,
        };
        let tls = ClientTls {
            trust,
            insecure: self.insecure,
            identity,
            allow_insecure_key_permissions: self.allow_insecure_key_permissions,
            protocol: self.tls.settings(),
            pins: self.pin.into_iter().flatten().collect(),
            revocation: Revocation {
                crls: self.crl,
                whole_chain: matches!(self.crl_check, CrlCheckArg::Chain),
            },
            ocsp: false,
            post_handshake_auth: false,
            renegotiation: false,
        };
        Ok((
            target,
            tls,
            self.timeouts.into_timeouts(self.connect_timeout),
        ))
    }
}

impl TryFrom<ClientArgs> for ClientConfig {
    type Error = Error;

    fn try_from(args: ClientArgs) -> Result<Self, Error> {
        if args.expect_resumed && args.reconnect == 0 && args.sess_in.is_none() {
            return Err(Error::Config(
                "--expect-resumed needs a session to resume: add --reconnect N or --sess-in FILE"
                    .into(),
            ));
        }
        if args.early_data.is_some() && args.reconnect == 0 && args.sess_in.is_none() {
            return Err(Error::Config(
                "--early-data is sent on a resumed connection: add --sess-in FILE or \
                 --reconnect N"
                    .into(),
            ));
        }
        let (target, mut tls, timeouts) = args.connection.into_parts()?;
        tls.ocsp = args.status || args.expect_ocsp.is_some();
        tls.post_handshake_auth = args.post_handshake_auth;
        tls.renegotiation = args.renegotiate;
        Ok(ClientConfig {
            target,
            tls,
            listen: args.listen,
            tunnel: TunnelSettings {
                idle_timeout: args.idle_timeout,
                ..TunnelSettings::default()
            },
            max_conns: args.max_conns,
            starttls: args.starttls.map(|protocol| Starttls {
                protocol,
                host: args.starttls_host,
            }),
            message: args.message.into_bytes(),
            max_response: args.max_response,
            quiet_period: args.quiet_period,
            reconnect: args.reconnect,
            session_in: args.sess_in,
            session_out: args.sess_out,
            pipe: args.pipe,
            early_data: args.early_data,
            key_update: args
                .key_update
                .map(|k| matches!(k, KeyUpdateArg::Requested)),
            expect: Expectations {
                version: args.expect_version,
                cipher: args.expect_cipher,
                group: args.expect_group,
                alpn: args.expect_alpn,
                resumed: args.expect_resumed,
                days_left: args.expect_days_left,
                ocsp_good: args.expect_ocsp.is_some(),
            },
            timeouts,
            output: args.output.settings(),
        })
    }
}

impl BenchArgs {
    /// The config; `progress` says whether stderr is a terminal to draw on.
    pub(crate) fn into_config(self, progress: bool) -> Result<BenchConfig, Error> {
        let mode = match self.mode {
            BenchModeArg::Handshake | BenchModeArg::Request
                if self.bytes.is_some() || self.get.is_some() =>
            {
                return Err(Error::Config(
                    "--bytes and --get are for --mode throughput".into(),
                ));
            }
            BenchModeArg::Handshake => BenchMode::Handshake,
            BenchModeArg::Request => BenchMode::Request(
                unescape(&self.request)
                    .map_err(|e| Error::Config(format!("--request {:?}: {e}", self.request)))?,
            ),
            BenchModeArg::Throughput => match (self.bytes, self.get) {
                (Some(bytes), None) => BenchMode::Echo(bytes),
                (None, Some(path)) if path.starts_with('/') => BenchMode::Download(path),
                (None, Some(path)) => {
                    return Err(Error::Config(format!(
                        "--get {path:?}: give a path starting with /, e.g. --get /big"
                    )));
                }
                _ => {
                    return Err(Error::Config(
                        "--mode throughput needs --bytes N (to an echo server) or --get PATH"
                            .into(),
                    ));
                }
            },
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let duration = match (self.duration, self.count) {
            (None, None) => Some(Duration::from_secs(10)),
            (duration, _) => duration,
        };
        let json = self.json;
        let (target, tls, timeouts) = self.connection.into_parts()?;
        if let tlscat::config::Address::Unix(_) = target.address {
            return Err(Error::Config(
                "tlscat bench connects over TCP: give --connect HOST:PORT".into(),
            ));
        }
        Ok(BenchConfig {
            target,
            tls,
            timeouts,
            mode,
            resume: self.resume,
            concurrency: self.concurrency.unwrap_or(2 * cores),
            duration,
            count: self.count,
            progress: progress && !json,
        })
    }
}
