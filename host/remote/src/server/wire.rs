//! What every part of the server shares: the client's socket halves, how a
//! dispatcher answers, and errors as libvirt puts them on the wire.

use std::io::{BufRead, BufReader, Read};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wirt::connect::{Connect, Error, Result};
use wirt::error::{ErrorCode, ErrorDomain};

use crate::packet::{MessageError, Packet, PacketError, read_packet};
use crate::protocol::{Call, Reply};
use crate::socket::Stream;

/// A client that stops reading does not hold the socket's lock forever.
pub(super) const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The sending half of a client's socket, shared with its event forwarder.
pub(super) struct Writer {
    stream: Mutex<Stream>,
}

impl Writer {
    pub(super) fn new(stream: Stream) -> Writer {
        Writer {
            stream: Mutex::new(stream),
        }
    }

    /// Writes one framed packet whole; a failure means the client is gone.
    pub(super) fn send(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        std::io::Write::write_all(&mut *stream, bytes)
    }

    pub(super) fn shutdown(&self) {
        self.stream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .shutdown();
    }
}

/// The socket's reading half, buffered: most calls arrive in one read.
pub(super) type Reader = BufReader<Stream>;

/// What a family of procedures did with a call.
pub(super) enum Routed {
    Done(Result<Reply>),
    /// Not this family's: try the next.
    Pass(Call),
}

/// An error as libvirt puts it on the wire. What the API refuses, libvirt's
/// driver would have refused: it carries the driver's error domain, so
/// clients print "Test Driver error" as with libvirtd.
pub(super) fn wire_error(e: &Error, conn: Option<&Connect>) -> MessageError {
    let domain = match (e, conn.map(Connect::type_name)) {
        (Error::Xml(_) | Error::Remote { .. }, _) => e.domain(),
        (_, Some("TEST")) => ErrorDomain::TEST,
        (_, Some("KVM" | "QEMU")) => ErrorDomain::QEMU,
        _ => e.domain(),
    };
    MessageError::new(e.code().0 as i32, domain.0 as i32, e.message())
}

/// An error of the daemon's own dispatcher (domain RPC).
pub(super) fn rpc_error(code: ErrorCode, detail: &str) -> MessageError {
    MessageError::new(
        code.0 as i32,
        ErrorDomain::RPC.0 as i32,
        code.describe(detail),
    )
}

pub(super) fn check_list_len(len: usize, max: u32, what: &str) -> Result<()> {
    if len > max as usize {
        return Err(Error::api(
            ErrorCode::RPC,
            format!("Too many {what} '{len}' for limit '{max}'"),
        ));
    }
    Ok(())
}

pub(super) fn source_text(e: &dyn std::error::Error) -> String {
    e.source().map(|s| s.to_string()).unwrap_or_default()
}

/// The next packet: waits as long as it takes for one to begin (an idle
/// client may stay; `max_clients` bounds how many), then gives the rest
/// `limit` to arrive, so a client trickling a byte at a time is dropped.
pub(super) fn next_packet(
    reader: &mut Reader,
    limit: Duration,
) -> std::result::Result<Option<Packet>, PacketError> {
    if reader.fill_buf().map_err(PacketError::Io)?.is_empty() {
        return Ok(None);
    }
    let deadline = Instant::now() + limit;
    let mut timed = Timed {
        reader,
        deadline,
        armed: false,
    };
    let packet = read_packet(&mut timed);
    if timed.armed {
        timed
            .reader
            .get_ref()
            .set_read_timeout(None)
            .map_err(PacketError::Io)?;
    }
    packet
}

/// Waits up to `idle` for the client to send something (or hang up): false
/// when it stayed silent.
pub(super) fn wait_for_client(reader: &mut Reader, idle: Duration) -> std::io::Result<bool> {
    reader.get_ref().set_read_timeout(Some(idle))?;
    let outcome = match reader.fill_buf() {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    };
    reader.get_ref().set_read_timeout(None)?;
    outcome
}

/// The reader, failing once `deadline` has passed.
struct Timed<'a> {
    reader: &'a mut Reader,
    deadline: Instant,
    /// The socket has a read timeout set, to be cleared after the packet.
    armed: bool,
}

impl Read for Timed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // What is buffered already costs no wait, and no system call: a
        // small call's whole packet usually came with its first read.
        if !self.reader.buffer().is_empty() {
            return self.reader.read(buf);
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "packet not completed in time",
            ));
        }
        self.reader.get_ref().set_read_timeout(Some(left))?;
        self.armed = true;
        self.reader.read(buf)
    }
}
