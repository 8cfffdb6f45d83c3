//! A plugin's stdout and stderr: appended to its log file (bounded, rotated
//! once) with the last few KiB kept in memory, so a crash report can quote
//! the guest's last words (a Rust guest's panic message). Writes never fail:
//! a chatty plugin must not die of its own logging.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// How much of the latest output is kept for error reports.
const TAIL: usize = 4096;
/// Past this size the log moves to `<name>.log.1` and starts again.
const MAX_LOG: u64 = 8 << 20;

struct Inner {
    tail: VecDeque<u8>,
    file: Option<(PathBuf, File, u64)>,
}

/// One plugin instance's output. Cloning shares it.
#[derive(Clone)]
pub struct GuestLog {
    inner: Arc<Mutex<Inner>>,
}

impl GuestLog {
    /// A log appending to `path` (created with its directory), or memory
    /// only when `path` is None or cannot be opened.
    pub fn new(path: Option<&Path>) -> GuestLog {
        let file = path.and_then(|p| {
            std::fs::create_dir_all(p.parent()?).ok()?;
            let f = OpenOptions::new().create(true).append(true).open(p).ok()?;
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            Some((p.to_path_buf(), f, len))
        });
        GuestLog {
            inner: Arc::new(Mutex::new(Inner {
                tail: VecDeque::with_capacity(TAIL),
                file,
            })),
        }
    }

    fn write(&self, data: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.tail.extend(data.iter().copied());
        let excess = inner.tail.len().saturating_sub(TAIL);
        inner.tail.drain(..excess);
        if let Some((path, file, len)) = inner.file.as_mut() {
            if *len + data.len() as u64 > MAX_LOG {
                let _ = std::fs::rename(&*path, path.with_extension("log.1"));
                if let Ok(fresh) = OpenOptions::new().create(true).append(true).open(&*path) {
                    *file = fresh;
                    *len = 0;
                }
            }
            if file.write_all(data).is_ok() {
                *len += data.len() as u64;
            }
        }
    }

    /// Forgets the in-memory tail, so that the last words quoted after a
    /// failed call are what the guest wrote during that call.
    pub fn begin_call(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.tail.clear();
    }

    /// The last lines written, joined for an error message.
    pub fn last_words(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let bytes: Vec<u8> = inner.tail.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        // Rust's advice to set RUST_BACKTRACE means nothing to a plugin's user.
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
            .rev()
            .take(4)
            .collect();
        let joined = lines.into_iter().rev().collect::<Vec<_>>().join(" / ");
        // The end matters most (the panic message): keep the last 600 chars.
        let chars: Vec<char> = joined.chars().collect();
        chars[chars.len().saturating_sub(600)..].iter().collect()
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for GuestLog {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_tail_and_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join("p.log");
        let log = GuestLog::new(Some(&path));
        log.write(b"starting\n");
        log.write(&vec![b'x'; 10_000]);
        log.write(b"\npanicked at 'boom'\n");
        log.write(
            b"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n",
        );
        assert!(
            log.last_words().ends_with("panicked at 'boom'"),
            "{}",
            log.last_words()
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 10_029 + 79);
        log.begin_call();
        assert_eq!(log.last_words(), "", "a new call starts with no last words");
        for _ in 0..(MAX_LOG / 10_000 + 1) {
            log.write(&vec![b'y'; 10_000]);
        }
        assert!(path.with_extension("log.1").exists(), "rotated");
        assert!(std::fs::metadata(&path).unwrap().len() < MAX_LOG);
    }
}
