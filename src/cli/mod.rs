//! Command-line flags (clap) and their conversion into the library's configs, split as
//! ripgrep splits its flags: the declarations ([`args`]), their conversion into configs
//! with the cross-flag checks ([`convert`], the one place where flags become config), and
//! the parsers of single values ([`values`]).

mod args;
mod convert;
mod values;

use std::path::PathBuf;
use std::sync::LazyLock;

use clap::{Args, Parser, Subcommand};

pub(crate) use args::{BenchArgs, ClientArgs, ServerArgs};

static VERSION: LazyLock<String> = LazyLock::new(tlscat::version_line);

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  internal error, or the connection failed below TLS after it was set up
  2  usage or configuration error (bad flag, unreadable or mismatched cert/key, address in use)
  3  could not connect (name does not resolve, connection refused, unreachable)
  4  TLS handshake failed (alert, no shared version or cipher, peer does not speak TLS,
     STARTTLS refused)
  5  certificate rejected (untrusted, expired, revoked, hostname mismatch, client
     certificate refused)
  6  timed out (connect, handshake, read, write, close)
  7  an --expect-* assertion failed

Logging: RUST_LOG=debug (or info, warn, error) on stderr.";

/// A TLS server and client on the system OpenSSL, for setting up, testing and debugging TLS.
///
/// Without a subcommand, tlscat runs the server (the flags below are the server's).
#[derive(Debug, Parser)]
#[command(
    name = "tlscat",
    version = VERSION.as_str(),
    after_help = EXIT_CODES,
    args_conflicts_with_subcommands = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Accept TLS connections; print each client's message and answer it (the default).
    #[command(after_help = EXIT_CODES)]
    Server(ServerArgs),
    /// Connect over TLS, send a message and print the server's response.
    #[command(after_help = EXIT_CODES)]
    Client(ClientArgs),
    /// Load a TLS server: many connections at once for a while, then the rates,
    /// latencies, failures and this client's own CPU per connection.
    #[command(after_help = EXIT_CODES)]
    Bench(BenchArgs),
    /// Show tlscat's version and what the linked OpenSSL supports here.
    Version(VersionArgs),
    /// Print the manual page (roff), or write one page per command into a directory.
    Man(ManArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write tlscat.1 and one tlscat-COMMAND.1 per command into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub(crate) struct VersionArgs {
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// List every cipher suite, group and signature scheme instead of counting them.
    #[arg(long, short)]
    pub verbose: bool,
}

impl Command {
    /// Whether errors should be reported as JSON on stdout.
    pub(crate) fn json(&self) -> bool {
        match self {
            Command::Server(args) => args.output.json,
            Command::Client(args) => args.output.json,
            Command::Bench(args) => args.json,
            Command::Version(args) => args.json,
            Command::Man(_) | Command::Completions(_) => false,
        }
    }
}
