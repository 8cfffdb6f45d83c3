//! The migration stream's framing (see PROTOCOL.md, "Migration stream").
//!
//! ```text
//! header:  "WIRTMIG1" | u32 version | u32 page size | u64 RAM bytes
//! record:  u32 tag | u32 count | u64 arg | payload
//!   PAGES  count pages from page index arg (gpa / 4096), count * 4096 bytes
//!   ZERO   count pages of zeros from page index arg, no payload
//!   ROUND  count = round number, arg = dirty pages it carries, no payload
//!   STATE  arg = JSON length, the MachineState as JSON
//!   END    nothing more follows
//!   DISKS  count disks; count * u64 sizes (a storage migration)
//!   DISK   disk count, byte offset arg; one chunk of data
//!   DISK_ZERO  disk count, byte offset arg; the chunk reads as zeros
//! ack (destination to source): u32 ACK | u32 status (0 ok) | u64 length | message
//! go  (source to destination):  u32 GO | u32 0 | u64 0
//! ready (destination to source, once its VM exists): u32 READY | u32 0 | u64 0
//! ```
//! The source waits for READY before it pauses the guest: creating the
//! destination's VM takes milliseconds, spent during pre-copy instead of
//! downtime.
//! All integers little-endian. The destination answers one ack after END
//! (or as soon as it fails, if it still can), its VM built but parked; the
//! source answers a positive ack with GO and stops its guest, and the
//! destination runs the guest only once it has read GO. A source that
//! gives up waiting for the ack closes the connection instead, and the
//! destination tears down: the guest never runs in both places.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::MigrateError;

/// Stream magic.
pub const MAGIC: &[u8; 8] = b"WIRTMIG1";
/// Stream version.
pub const VERSION: u32 = 1;
/// Guest pages of data.
pub const TAG_PAGES: u32 = 1;
/// A run of zero pages.
pub const TAG_ZERO: u32 = 2;
/// Start of a pre-copy round.
pub const TAG_ROUND: u32 = 3;
/// Device and vCPU state (JSON).
pub const TAG_STATE: u32 = 4;
/// End of the stream.
pub const TAG_END: u32 = 5;
/// The destination's answer.
pub const TAG_ACK: u32 = 6;
/// The source's go-ahead after a positive answer.
pub const TAG_GO: u32 = 7;
/// The destination's VM exists.
pub const TAG_READY: u32 = 8;
/// The disks of a storage migration: count disks, their sizes (u64 each).
pub const TAG_DISKS: u32 = 9;
/// One chunk of disk `count` at byte offset `arg`: [`CHUNK`] bytes (fewer
/// at the disk's end).
///
/// [`CHUNK`]: crate::devices::virtio::block::written::CHUNK
pub const TAG_DISK: u32 = 10;
/// One chunk of disk `count` at byte offset `arg` reads as zeros now.
pub const TAG_DISK_ZERO: u32 = 11;
/// Most disks a stream carries.
pub const MAX_DISKS: u32 = 64;
/// Most pages in one PAGES record (1 MiB): bounds the receiver's buffer.
pub const MAX_RUN: u32 = 256;
/// Largest state section a receiver accepts.
pub const MAX_STATE: u64 = 64 << 20;
/// Largest ack message accepted.
const MAX_MESSAGE: u64 = 64 << 10;

/// The stream header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Guest RAM size in bytes.
    pub memory_bytes: u64,
}

impl Header {
    /// Encoded.
    pub fn encode(&self) -> [u8; 24] {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(crate::memory::PAGE as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.memory_bytes.to_le_bytes());
        b
    }

    /// Reads and checks a header.
    pub fn read(input: &mut impl Read) -> Result<Header, MigrateError> {
        let mut b = [0u8; 24];
        input.read_exact(&mut b).map_err(MigrateError::Receive)?;
        let version = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        let page = u32::from_le_bytes(b[12..16].try_into().expect("4 bytes"));
        if &b[..8] != MAGIC || version != VERSION || u64::from(page) != crate::memory::PAGE {
            return Err(MigrateError::Format(format!(
                "not a wirt migration stream of version {VERSION} (version {version}, page size {page})"
            )));
        }
        Ok(Header {
            memory_bytes: u64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
        })
    }
}

/// A record's fixed part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// `TAG_*`.
    pub tag: u32,
    /// Page count or round number.
    pub count: u32,
    /// First page, dirty-page count or payload length.
    pub arg: u64,
}

impl Record {
    /// Encoded.
    pub fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&self.tag.to_le_bytes());
        b[4..8].copy_from_slice(&self.count.to_le_bytes());
        b[8..16].copy_from_slice(&self.arg.to_le_bytes());
        b
    }

    /// Reads one record's fixed part.
    pub fn read(input: &mut impl Read) -> Result<Record, MigrateError> {
        let mut b = [0u8; 16];
        input.read_exact(&mut b).map_err(MigrateError::Receive)?;
        Ok(Record {
            tag: u32::from_le_bytes(b[..4].try_into().expect("4 bytes")),
            count: u32::from_le_bytes(b[4..8].try_into().expect("4 bytes")),
            arg: u64::from_le_bytes(b[8..16].try_into().expect("8 bytes")),
        })
    }
}

/// Writes the destination's answer: `Ok` or the error it failed with.
pub fn write_ack(out: &mut impl Write, result: Result<(), &str>) -> std::io::Result<()> {
    let msg = result.err().unwrap_or("").as_bytes();
    let head = Record {
        tag: TAG_ACK,
        count: u32::from(result.is_err()),
        arg: msg.len() as u64,
    };
    out.write_all(&head.encode())?;
    out.write_all(msg)?;
    out.flush()
}

/// Reads the destination's answer.
pub fn read_ack(input: &mut impl Read) -> Result<(), MigrateError> {
    let r = Record::read(input).map_err(|e| match e {
        MigrateError::Receive(io) => MigrateError::NoAck(io),
        e => e,
    })?;
    if r.tag != TAG_ACK || r.arg > MAX_MESSAGE {
        return Err(MigrateError::Format(format!(
            "expected the destination's acknowledgement, got record {}",
            r.tag
        )));
    }
    let mut msg = vec![0u8; r.arg as usize];
    input.read_exact(&mut msg).map_err(MigrateError::NoAck)?;
    if r.count != 0 {
        return Err(MigrateError::Refused(
            String::from_utf8_lossy(&msg).into_owned(),
        ));
    }
    Ok(())
}

/// Writes a record without payload: GO (run the guest) or READY.
pub fn write_mark(out: &mut impl Write, tag: u32) -> std::io::Result<()> {
    let mark = Record {
        tag,
        count: 0,
        arg: 0,
    };
    out.write_all(&mark.encode())?;
    out.flush()
}

/// Reads the record `tag` (GO or READY). A failed acknowledgement in its
/// place (the destination failed before it got ready) is its refusal.
pub fn read_mark(input: &mut impl Read, tag: u32) -> Result<(), MigrateError> {
    let r = Record::read(input)?;
    if r.tag == TAG_ACK && r.count != 0 && r.arg <= MAX_MESSAGE {
        let mut msg = vec![0u8; r.arg as usize];
        input.read_exact(&mut msg).map_err(MigrateError::Receive)?;
        return Err(MigrateError::Refused(
            String::from_utf8_lossy(&msg).into_owned(),
        ));
    }
    if r.tag != tag {
        return Err(MigrateError::Format(format!(
            "expected record {tag}, got record {}",
            r.tag
        )));
    }
    Ok(())
}

/// The migration connection. Non-blocking underneath: a peer that stops
/// reading or writing (hung, or the network between gone) fails the
/// migration after `stall` instead of holding the control thread for ever.
#[derive(Debug)]
pub struct Conn {
    file: File,
    stall: Duration,
}

impl Conn {
    /// Wraps a connected stream socket (makes it non-blocking).
    pub fn new(file: File, stall: Duration) -> std::io::Result<Conn> {
        let fd = file.as_raw_fd();
        // SAFETY: F_GETFL / F_SETFL on a descriptor `file` owns.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        // SAFETY: as above.
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Conn { file, stall })
    }

    /// Waits until there is something to read (or the peer closed), at
    /// most `timeout`; `TimedOut` otherwise.
    pub fn wait_readable(&self, timeout: Duration) -> std::io::Result<()> {
        self.wait(libc::POLLIN, timeout)
    }

    fn wait(&self, events: libc::c_short, timeout: Duration) -> std::io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut pfd = libc::pollfd {
                fd: self.file.as_raw_fd(),
                events,
                revents: 0,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
            // SAFETY: one valid pollfd, for the duration of the call.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r > 0 {
                return Ok(());
            }
            if r == 0 {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl Read for &Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match (&self.file).read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.wait(libc::POLLIN, self.stall)?
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }
}

impl Write for &Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            match (&self.file).write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.wait(libc::POLLOUT, self.stall)?
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_record_and_ack_round_trip() {
        let h = Header {
            memory_bytes: 64 << 20,
        };
        assert_eq!(Header::read(&mut &h.encode()[..]).unwrap(), h);
        let mut bad = h.encode();
        bad[0] = b'X';
        assert!(matches!(
            Header::read(&mut &bad[..]),
            Err(MigrateError::Format(_))
        ));
        let r = Record {
            tag: TAG_PAGES,
            count: 3,
            arg: 0x1234,
        };
        assert_eq!(Record::read(&mut &r.encode()[..]).unwrap(), r);

        let mut buf = Vec::new();
        write_ack(&mut buf, Ok(())).unwrap();
        read_ack(&mut &buf[..]).unwrap();
        let mut buf = Vec::new();
        write_ack(&mut buf, Err("disk too small")).unwrap();
        match read_ack(&mut &buf[..]) {
            Err(MigrateError::Refused(m)) => assert_eq!(m, "disk too small"),
            other => panic!("{other:?}"),
        }
        let mut buf = Vec::new();
        write_mark(&mut buf, TAG_GO).unwrap();
        read_mark(&mut &buf[..], TAG_GO).unwrap();
        assert!(read_mark(&mut &buf[..], TAG_READY).is_err());
        let mut buf = Vec::new();
        write_ack(&mut buf, Err("no memory")).unwrap();
        match read_mark(&mut &buf[..], TAG_READY) {
            Err(MigrateError::Refused(m)) => assert_eq!(m, "no memory"),
            other => panic!("{other:?}"),
        }
        // A peer that closes without answering.
        assert!(matches!(
            read_ack(&mut &[][..]),
            Err(MigrateError::NoAck(_))
        ));
    }

    #[test]
    fn a_stalled_peer_times_out_and_a_live_one_does_not() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let conn = Conn::new(
            File::from(std::os::fd::OwnedFd::from(a)),
            Duration::from_millis(50),
        )
        .unwrap();
        let mut byte = [0u8; 1];
        let e = (&conn).read(&mut byte).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        (&b).write_all(b"x").unwrap();
        assert_eq!((&conn).read(&mut byte).unwrap(), 1);
        // Nobody reads: the socket buffer fills, then writing times out.
        let chunk = vec![0u8; 1 << 16];
        let e = loop {
            if let Err(e) = (&conn).write_all(&chunk) {
                break e;
            }
        };
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        // The peer gone (with our bytes unread: a reset): at once, no wait.
        drop(b);
        let mut rest = Vec::new();
        let r = (&conn).read_to_end(&mut rest).map_err(|e| e.kind());
        assert_ne!(r, Err(std::io::ErrorKind::TimedOut));
    }
}
