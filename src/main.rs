//! The `tlscat` binary: parse flags, run the library, map errors to exit codes.

mod cli;

use std::error::Error as _;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command};
use log::debug;
use tlscat::{ClientConfig, Error, ServerConfig, client, server::Server, shutdown};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Server(cli.server));
    init_logging(&command);
    let json = command.json();
    match run(command) {
        Ok(code) => code,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "tlscat: {err}");
            if json {
                let object = serde_json::json!({
                    "type": "error",
                    "error": err.to_string(),
                    "exit_code": err.exit_code(),
                });
                let _ = writeln!(std::io::stdout(), "{object}");
            }
            let mut source = err.source();
            while let Some(cause) = source {
                debug!("caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(err.exit_code())
        }
    }
}

/// Runs the command; its exit code when it finished (a benchmark whose connections
/// failed still prints its summary, then exits with the code of its most frequent error).
fn run(command: Command) -> Result<ExitCode, Error> {
    // The server and the load generator run their own thread per core; this runtime
    // only steers them (signals, reloads, metrics, progress).
    let mut builder = match command {
        Command::Server(_) | Command::Bench(_) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    match command {
        Command::Server(args) => {
            let config = ServerConfig::try_from(args)?;
            runtime.block_on(async {
                let requests = shutdown::from_signals()
                    .map_err(|e| Error::Internal(format!("cannot handle signals: {e}")))?;
                Server::bind(config).await?.run(requests).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Client(args) => {
            let config = ClientConfig::try_from(args)?;
            let result = runtime.block_on(client::run(&config));
            // A --pipe whose server closed first leaves a thread blocked reading stdin:
            // do not wait for it.
            runtime.shutdown_background();
            result.map(|()| ExitCode::SUCCESS)
        }
        Command::Bench(args) => {
            let json = args.json;
            let config = args.into_config(std::io::stderr().is_terminal())?;
            let summary = runtime.block_on(tlscat::bench::run(config))?;
            let text = if json {
                format!("{}\n", summary.to_json())
            } else {
                summary.to_text()
            };
            to_stdout(text.as_bytes())?;
            if let Some(error) = summary.most_frequent_error() {
                let _ = writeln!(
                    std::io::stderr(),
                    "tlscat: {} of {} connections failed; most often: {error}",
                    summary.failed,
                    summary.failed + summary.ok
                );
            }
            Ok(ExitCode::from(summary.exit_code()))
        }
        Command::Version(args) => {
            let text = if args.json {
                tlscat::version_json().to_string()
            } else {
                tlscat::version_text(args.verbose)
            };
            let _ = writeln!(std::io::stdout(), "{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Man(args) => manual(args.dir.as_deref()).map(|()| ExitCode::SUCCESS),
        Command::Completions(args) => {
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "tlscat", &mut script);
            to_stdout(&script).map(|()| ExitCode::SUCCESS)
        }
    }
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn to_stdout(bytes: &[u8]) -> Result<(), Error> {
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Internal(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// The manual page on stdout, or every command's page (tlscat.1, tlscat-client.1, …)
/// into `dir`. The pages name only tlscat's version, so every build makes the same ones.
fn manual(dir: Option<&std::path::Path>) -> Result<(), Error> {
    let page = |command: clap::Command| {
        clap_mangen::Man::new(command)
            .source(format!("tlscat {}", env!("CARGO_PKG_VERSION")))
            .manual("User Commands")
    };
    let mut command = Cli::command()
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_subcommand(true);
    command.build();
    let Some(dir) = dir else {
        let mut roff = Vec::new();
        page(command)
            .render(&mut roff)
            .map_err(|e| Error::Internal(format!("cannot render the manual: {e}")))?;
        return to_stdout(&roff);
    };
    let cannot = |e: std::io::Error| {
        Error::Config(format!(
            "cannot write the manual into {}: {e}",
            dir.display()
        ))
    };
    for sub in command.get_subcommands() {
        page(sub.clone()).generate_to(dir).map_err(cannot)?;
    }
    page(command).generate_to(dir).map_err(cannot)?;
    Ok(())
}

/// Logs go to stderr: the server's with a timestamp (it runs for long), the client's as
/// `tlscat: warning: …`. `RUST_LOG` overrides the default level (server info, else warn).
fn init_logging(command: &Command) {
    let server = matches!(command, Command::Server(_));
    let default_level = if server { "info" } else { "warn" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
        .format(move |buf, record| {
            let level = match record.level() {
                log::Level::Warn => "warning".to_string(),
                other => other.as_str().to_ascii_lowercase(),
            };
            if server {
                let time = buf.timestamp_seconds();
                writeln!(buf, "{time} {level}: {}", record.args())
            } else {
                writeln!(buf, "tlscat: {level}: {}", record.args())
            }
        })
        .init();
}
