//! Static files for `--mode files`: where a request target leads inside the root (never
//! outside it, whatever the dots, percent escapes or symbolic links), and the response
//! heads. The serving loop is in the server's `files` module.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::http;

/// The file served for a folder.
const INDEX: &str = "index.html";

/// The folder served: absolute, without symbolic links.
#[derive(Debug, Clone)]
pub(crate) struct Root {
    dir: PathBuf,
}

/// Where a request target leads.
#[derive(Debug)]
pub(crate) enum Target {
    /// A regular file, open for reading.
    File {
        file: File,
        len: u64,
        modified: Option<SystemTime>,
        content_type: &'static str,
    },
    /// A folder named without its trailing slash: where the client should go instead.
    Redirect(String),
    /// No file: the status to answer, and why (for the log).
    Refused(u16, &'static str),
}

impl Root {
    /// Checks that `dir` is a readable folder and remembers its real path.
    pub(crate) fn open(dir: &Path) -> Result<Root> {
        let shown = dir.display();
        let real = std::fs::canonicalize(dir).map_err(|e| {
            Error::Config(format!(
                "cannot serve --root {shown}: {e}: give an existing folder"
            ))
        })?;
        if !real.is_dir() {
            return Err(Error::Config(format!(
                "--root {shown} is not a folder: give the folder to serve"
            )));
        }
        let listing = std::fs::read_dir(&real);
        match listing {
            Ok(_) => Ok(Root { dir: real }),
            Err(e) => Err(Error::Config(format!(
                "cannot serve --root {shown}: {e}: give a folder tlscat may read"
            ))),
        }
    }

    /// Finds and opens the file a request target names. `..` segments are refused, and
    /// a symbolic link that leads outside the root is treated as missing.
    pub(crate) fn resolve(&self, target: &str) -> Target {
        let (path, query) = split_target(target);
        if !path.starts_with('/') {
            return Target::Refused(400, "the request target is not a path");
        }
        let Some(decoded) = percent_decode(path) else {
            return Target::Refused(400, "bad percent escape or NUL in the path");
        };
        let mut relative = PathBuf::new();
        for segment in decoded.split(|&b| b == b'/') {
            match segment {
                b"" | b"." => {}
                b".." => return Target::Refused(400, "the path climbs out with .."),
                name => relative.push(OsStr::from_bytes(name)),
            }
        }
        let found = match self.inside(&self.dir.join(&relative)) {
            Ok(found) => found,
            Err(refused) => return refused,
        };
        let file_path = if found.is_dir() {
            if !decoded.ends_with(b"/") {
                let query = query.map(|q| format!("?{q}")).unwrap_or_default();
                return Target::Redirect(format!("{path}/{query}"));
            }
            match self.inside(&found.join(INDEX)) {
                Ok(index) => index,
                Err(Target::Refused(404, _)) => {
                    return Target::Refused(403, "folder without index.html");
                }
                Err(refused) => return refused,
            }
        } else {
            found
        };
        open_regular(&file_path)
    }

    /// The real path of `path`, if it exists and lies inside the root.
    fn inside(&self, path: &Path) -> std::result::Result<PathBuf, Target> {
        match std::fs::canonicalize(path) {
            Ok(real) if real.starts_with(&self.dir) => Ok(real),
            Ok(_) => Err(Target::Refused(404, "symbolic link out of the root")),
            Err(e) => Err(refused_by(&e)),
        }
    }
}

/// Opens `path` if it is a regular file (never a FIFO or device, which could block).
fn open_regular(path: &Path) -> Target {
    let opened = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) => return refused_by(&e),
    };
    match file.metadata() {
        Ok(meta) if meta.is_file() => Target::File {
            len: meta.len(),
            modified: meta.modified().ok(),
            content_type: content_type(path),
            file,
        },
        Ok(_) => Target::Refused(403, "not a regular file"),
        Err(e) => refused_by(&e),
    }
}

fn refused_by(err: &io::Error) -> Target {
    match err.kind() {
        io::ErrorKind::PermissionDenied => Target::Refused(403, "permission denied"),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
            Target::Refused(404, "no such file")
        }
        _ => Target::Refused(500, "cannot read the file"),
    }
}

/// The path and query of an origin-form (`/a?b`) or absolute-form (`https://h/a?b`)
/// target; a fragment is dropped.
fn split_target(target: &str) -> (&str, Option<&str>) {
    let target = target.split('#').next().unwrap_or_default();
    let target = match target.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") || scheme == "http" => {
            rest.find('/').map_or("/", |slash| &rest[slash..])
        }
        _ => target,
    };
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a NUL byte.
fn percent_decode(path: &str) -> Option<Vec<u8>> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                i += 2;
                u8::from_str_radix(hex, 16).ok()?
            }
            other => other,
        };
        if byte == 0 {
            return None;
        }
        out.push(byte);
        i += 1;
    }
    Some(out)
}

/// The media type announced for a file, by its extension.
pub(crate) fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(OsStr::to_str)
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("txt" | "log" | "md") => "text/plain; charset=utf-8",
        Some("css") => "text/css",
        Some("js" | "mjs") => "text/javascript",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("pdf") => "application/pdf",
        Some("wasm") => "application/wasm",
        Some("pem" | "crt") => "application/x-pem-file",
        _ => "application/octet-stream",
    }
}

/// A response head: status line, `Date`, the given fields, `Content-Length` and
/// `Connection`.
pub(crate) fn response_head(
    status: u16,
    fields: &[(&str, &str)],
    content_length: u64,
    keep_alive: bool,
) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nDate: {}\r\n",
        http::reason(status),
        httpdate::fmt_http_date(SystemTime::now())
    );
    for (name, value) in fields {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {content_length}\r\n"));
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    head.into_bytes()
}

/// Whether a file modified at `modified` is still what the client cached
/// (`If-Modified-Since`, to the second).
pub(crate) fn not_modified(if_modified_since: Option<&str>, modified: Option<SystemTime>) -> bool {
    let (Some(since), Some(modified)) = (if_modified_since, modified) else {
        return false;
    };
    let Ok(since) = httpdate::parse_http_date(since) else {
        return false;
    };
    let whole_seconds = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    whole_seconds(modified) <= whole_seconds(since)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("docs")).unwrap();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::write(root.join("hello.txt"), "hi\n").unwrap();
        std::fs::write(root.join("a b.html"), "<p>").unwrap();
        std::fs::write(root.join("docs/index.html"), "<h1>").unwrap();
        std::fs::write(dir.path().join("secret"), "no").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join("hello.txt"), root.join("in")).unwrap();
        let served = Root::open(&root).unwrap();
        (dir, served)
    }

    fn status(target: Target) -> u16 {
        match target {
            Target::File { .. } => 200,
            Target::Redirect(_) => 301,
            Target::Refused(status, _) => status,
        }
    }

    #[test]
    fn files_inside_the_root_are_found_with_their_length_and_type() {
        let (_dir, root) = tree();
        let Target::File {
            len, content_type, ..
        } = root.resolve("/hello.txt?x=1")
        else {
            panic!("not found");
        };
        assert_eq!((len, content_type), (3, "text/plain; charset=utf-8"));
        assert_eq!(status(root.resolve("/a%20b.html")), 200);
        assert_eq!(status(root.resolve("/./docs//index.html")), 200);
        assert_eq!(status(root.resolve("https://localhost/hello.txt")), 200);
        assert_eq!(status(root.resolve("/in")), 200, "a link inside the root");
    }

    #[test]
    fn folders_serve_their_index_or_redirect_or_refuse() {
        let (_dir, root) = tree();
        assert_eq!(status(root.resolve("/docs/")), 200);
        assert!(matches!(root.resolve("/docs?x"), Target::Redirect(to) if to == "/docs/?x"));
        assert_eq!(status(root.resolve("/empty/")), 403);
        assert_eq!(status(root.resolve("/")), 403);
    }

    #[test]
    fn nothing_outside_the_root_is_reachable() {
        let (_dir, root) = tree();
        for escape in [
            "/../secret",
            "/docs/../../secret",
            "/%2e%2e/secret",
            "/%2E%2E%2fsecret",
            "/..%2fsecret",
        ] {
            assert_eq!(status(root.resolve(escape)), 400, "{escape}");
        }
        assert_eq!(status(root.resolve("/out")), 404, "a link leading out");
        assert_eq!(status(root.resolve("/hello.txt%00.png")), 400);
        assert_eq!(status(root.resolve("/bad%zz")), 400);
        assert_eq!(status(root.resolve("/bad%4")), 400);
        assert_eq!(status(root.resolve("*")), 400);
        assert_eq!(status(root.resolve("/missing")), 404);
        assert_eq!(status(root.resolve("/hello.txt/more")), 404);
    }

    #[test]
    fn a_missing_root_is_a_configuration_error() {
        let err = Root::open(Path::new("/nonexistent/tlscat-root")).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--root"), "{err}");
    }

    #[test]
    fn heads_carry_date_length_and_connection() {
        let head = response_head(200, &[("Content-Type", "text/plain")], 3, true);
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\nDate: "), "{head}");
        assert!(
            head.ends_with(
                "Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n"
            ),
            "{head}"
        );
        let closing = String::from_utf8(response_head(404, &[], 0, false)).unwrap();
        assert!(closing.contains("404 Not Found") && closing.contains("Connection: close"));
    }

    #[test]
    fn if_modified_since_compares_whole_seconds() {
        let modified = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let same = Some("Sun, 06 Nov 1994 08:49:37 GMT");
        let earlier = Some("Sun, 06 Nov 1994 08:49:36 GMT");
        assert!(not_modified(same, Some(modified)));
        assert!(!not_modified(earlier, Some(modified)));
        assert!(!not_modified(Some("yesterday"), Some(modified)));
        assert!(!not_modified(None, Some(modified)));
    }
}
