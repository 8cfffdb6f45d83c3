//! The serial console's output side: a log file, a replay history, and the
//! attached console clients (raw byte streams over unix sockets).
//!
//! Output is line-buffered: every guest byte is already a ~10 us VM exit, so
//! the VMM avoids adding a system call per byte; the control loop flushes
//! partial lines (prompts) on its periodic tick.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

/// How much recent output a newly attached client can replay.
pub const HISTORY_BYTES: usize = 64 * 1024;
const FLUSH_AT: usize = 1024;

/// Shared console output state.
#[derive(Debug)]
pub struct Console {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    log: Option<File>,
    pending: Vec<u8>,
    history: VecDeque<u8>,
    clients: Vec<UnixStream>,
}

impl Console {
    /// A console writing to `log`, if any.
    pub fn new(log: Option<File>) -> Arc<Self> {
        Arc::new(Console {
            inner: Mutex::new(Inner {
                log,
                pending: Vec::with_capacity(FLUSH_AT),
                history: VecDeque::with_capacity(HISTORY_BYTES),
                clients: Vec::new(),
            }),
        })
    }

    /// Adds guest output.
    pub fn push(&self, bytes: &[u8]) {
        let mut inner = self.inner.lock().expect("console");
        inner.pending.extend_from_slice(bytes);
        if bytes.contains(&b'\n') || inner.pending.len() >= FLUSH_AT {
            inner.flush();
        }
    }

    /// Writes out any partial line.
    pub fn flush(&self) {
        self.inner.lock().expect("console").flush();
    }

    /// Attaches a client; with `replay`, it first gets the recent history.
    pub fn attach(&self, stream: UnixStream, replay: bool) -> io::Result<()> {
        let mut inner = self.inner.lock().expect("console");
        inner.flush();
        if replay {
            let (a, b) = inner.history.as_slices();
            let mut s = &stream;
            s.write_all(a)?;
            s.write_all(b)?;
        }
        stream.set_nonblocking(true)?;
        inner.clients.push(stream);
        Ok(())
    }

    /// Recent output (flushed first).
    pub fn history(&self) -> Vec<u8> {
        let mut inner = self.inner.lock().expect("console");
        inner.flush();
        inner.history.iter().copied().collect()
    }

    /// Number of attached clients.
    pub fn clients(&self) -> usize {
        self.inner.lock().expect("console").clients.len()
    }
}

impl Inner {
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let data = std::mem::take(&mut self.pending);
        if let Some(log) = &mut self.log {
            // A full disk must not stop the guest; the log is best effort.
            let _ = log.write_all(&data);
        }
        // A slow client loses output rather than stalling a vCPU.
        self.clients.retain(|c| {
            let mut c = c;
            let mut rest = &data[..];
            while !rest.is_empty() {
                match c.write(rest) {
                    Ok(0) => return false,
                    Ok(n) => rest = &rest[n..],
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return e.kind() == io::ErrorKind::WouldBlock,
                }
            }
            true
        });
        let overflow = (self.history.len() + data.len()).saturating_sub(HISTORY_BYTES);
        self.history.drain(..overflow.min(self.history.len()));
        let skip = data.len().saturating_sub(HISTORY_BYTES);
        self.history.extend(&data[skip..]);
        self.pending = data;
        self.pending.clear();
    }
}

/// `io::Write` adapter the UART writes guest bytes into.
#[derive(Debug, Clone)]
pub struct ConsoleWriter(pub Arc<Console>);

impl Write for ConsoleWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // The UART flushes after every byte; buffering is ours to decide.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_the_tail_and_clients_get_lines() {
        let console = Console::new(None);
        let (a, b) = UnixStream::pair().unwrap();
        console.push(b"early\n");
        console.attach(a, true).unwrap();
        console.push(b"late");
        console.flush();
        let mut got = vec![0u8; 10];
        let mut b = b;
        io::Read::read_exact(&mut b, &mut got).unwrap();
        assert_eq!(&got, b"early\nlate");
        assert_eq!(console.history(), b"early\nlate");
        let big = vec![b'x'; HISTORY_BYTES + 10];
        console.push(&big);
        assert_eq!(console.history().len(), HISTORY_BYTES);
    }
}
