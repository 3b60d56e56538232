//! `--exec` / `--sh-exec`: a program per connection, its stdin fed with the connection's
//! plaintext and its stdout sent back, like ncat's `--sh-exec` or socat's `EXEC`.

use std::io;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::Socket;
use crate::config::ExecCommand;
use crate::error::{Error, Result};

/// A running program as one end of a tunnel: reads are its stdout, writes its stdin, the
/// clean end closes its stdin, an abort kills it. Dropped, it kills the program.
pub(crate) struct Program {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
}

impl Program {
    /// Starts `command` with its stdin and stdout piped and `env` added to its
    /// environment; its stderr is the server's.
    pub(crate) fn spawn(command: &ExecCommand, env: &[(&str, String)]) -> Result<Program> {
        let mut child = Command::new(&command.program)
            .args(&command.args)
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Error::Internal(format!("cannot start {}: {e}", shown(&command.program)))
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Error::Internal(
                "the program's pipes were not set up".into(),
            ));
        };
        Ok(Program {
            child,
            stdin: Some(stdin),
            stdout,
        })
    }

    /// Waits up to `limit` for the program to exit, then kills it; its exit status.
    pub(crate) async fn finish(mut self, limit: Duration) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                self.child.start_kill()?;
                self.child.wait().await
            }
        }
    }
}

/// A program name for messages.
fn shown(program: &str) -> String {
    format!("{program:?}")
}

impl AsyncRead for Program {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for Program {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stdin {
            Some(stdin) => Pin::new(stdin).poll_write(cx, buf),
            None => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stdin {
            Some(stdin) => Pin::new(stdin).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Closes the program's stdin: it reads end of file.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        drop(self.get_mut().stdin.take());
        Poll::Ready(Ok(()))
    }
}

impl Socket for Program {
    /// Pipes offer no readiness of their own here: the read itself waits.
    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn abort(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.start_kill();
    }

    /// A dropped program is always killed (`kill_on_drop`).
    fn abort_on_drop(&mut self, _on: bool) {}
}
