//! The state a VMM publishes in a small file beside its socket, so a host
//! process can tell what its guest is doing without connecting.
//!
//! Connecting costs a round trip through the VMM's control loop; a host
//! with a thousand guests that connected to every VMM to list them would
//! spend its time there. The file answers the two questions a listing asks:
//! is the VMM alive, and in which state (and why) is its guest.
//!
//! Liveness is a lock, not a pid: the host creates the file and takes an
//! exclusive `flock` on it before spawning the VMM, which inherits the open
//! file (and so the lock) and holds it until it exits, however it exits. A
//! reader's shared lock succeeds only once the VMM is gone; readers never
//! conflict with each other, and a recycled pid cannot fool them.
//!
//! The record is 24 bytes written with one `pwrite`: a magic, the state,
//! the reason, a sequence number and a checksum, so a torn read (a reader
//! racing the write) is detected and read again.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

const MAGIC: u32 = 0x5752_5354; // "WRST"
const LEN: usize = 24;

/// What a reader learns from a VMM's state file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// The VMM runs; its guest is in `state` for `reason` (libvirt's
    /// numbers), as of its last published change.
    Alive {
        /// `virDomainState`.
        state: u32,
        /// The reason for `state`.
        reason: u32,
    },
    /// The VMM has exited (or was killed): its lock is free.
    Gone,
}

/// Creates (or takes over) the state file at `path`, locked for the VMM
/// that will inherit it. Fails if a live VMM still holds it.
pub fn create(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is held by a running VMM", path.display()),
            ));
        }
        Err(TryLockError::Error(e)) => return Err(e),
    }
    file.set_len(0)?;
    Ok(file)
}

/// Reads the state file at `path`; `None` if there is none (a VMM started
/// by a wirt that published nothing) or it holds no valid record yet.
pub fn read(path: &Path) -> io::Result<Option<Published>> {
    match File::open(path) {
        Ok(file) => read_open(&file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the state file `name` in the directory open as `dir`, as `read`
/// does. A host listing a thousand guests opens their directory once: the
/// path walk is most of what opening each file by path costs.
pub fn read_in(dir: &File, name: &str) -> io::Result<Option<Published>> {
    use rustix::fs::{Mode, OFlags, openat};
    match openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => read_open(&File::from(fd)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn read_open(file: &File) -> io::Result<Option<Published>> {
    match file.try_lock_shared() {
        // Our shared lock got in: nobody holds the exclusive one any more.
        Ok(()) => return Ok(Some(Published::Gone)),
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(e)) => return Err(e),
    }
    // A write is one pwrite of 24 bytes; a read racing it is retried.
    for _ in 0..8 {
        let mut buf = [0u8; LEN];
        match file.read_at(&mut buf, 0) {
            Ok(LEN) => {}
            Ok(_) => return Ok(None),
            Err(e) => return Err(e),
        }
        if let Some((state, reason)) = decode(&buf) {
            return Ok(Some(Published::Alive { state, reason }));
        }
    }
    Ok(None)
}

/// The VMM's side: writes a record whenever the state changes.
#[derive(Debug)]
pub struct Publisher {
    file: File,
    last: Option<(u32, u32)>,
    seq: u32,
}

impl Publisher {
    /// Publishes through `file` (the inherited, locked state file).
    pub fn new(file: File) -> Self {
        Publisher {
            file,
            last: None,
            seq: 0,
        }
    }

    /// Records `state` and `reason` if they differ from the last record.
    /// A failed write is reported; readers then see the previous record
    /// (or none) and fall back to asking the VMM.
    pub fn publish(&mut self, state: u32, reason: u32) -> io::Result<()> {
        if self.last == Some((state, reason)) {
            return Ok(());
        }
        self.seq = self.seq.wrapping_add(1);
        self.file
            .write_all_at(&encode(state, reason, self.seq), 0)?;
        self.last = Some((state, reason));
        Ok(())
    }
}

fn checksum(words: [u32; 4]) -> u64 {
    // FNV-1a over the words: enough to catch a torn write.
    words
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

fn encode(state: u32, reason: u32, seq: u32) -> [u8; LEN] {
    let words = [MAGIC, state, reason, seq];
    let mut buf = [0u8; LEN];
    for (i, w) in words.iter().enumerate() {
        buf[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    buf[16..].copy_from_slice(&checksum(words).to_le_bytes());
    buf
}

fn decode(buf: &[u8; LEN]) -> Option<(u32, u32)> {
    let word = |i: usize| u32::from_le_bytes(buf[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    let words = [word(0), word(1), word(2), word(3)];
    let sum = u64::from_le_bytes(buf[16..].try_into().expect("8 bytes"));
    (words[0] == MAGIC && checksum(words) == sum).then_some((words[1], words[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_a_torn_one_does_not() {
        let buf = encode(3, 2, 7);
        assert_eq!(decode(&buf), Some((3, 2)));
        let mut torn = buf;
        torn[4] = 1;
        assert_eq!(decode(&torn), None);
        assert_eq!(decode(&[0; LEN]), None);
    }

    #[test]
    fn the_lock_tells_a_live_writer_from_a_gone_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vm.state");
        assert_eq!(read(&path).unwrap(), None);
        let file = create(&path).unwrap();
        // Created, nothing published yet.
        assert_eq!(read(&path).unwrap(), None);
        // A second creator (another host spawning the same VM) is refused.
        assert_eq!(create(&path).unwrap_err().kind(), io::ErrorKind::AddrInUse);
        let mut publisher = Publisher::new(file);
        publisher.publish(1, 1).unwrap();
        assert_eq!(
            read(&path).unwrap(),
            Some(Published::Alive {
                state: 1,
                reason: 1
            })
        );
        publisher.publish(3, 2).unwrap();
        assert_eq!(
            read(&path).unwrap(),
            Some(Published::Alive {
                state: 3,
                reason: 2
            })
        );
        drop(publisher);
        assert_eq!(read(&path).unwrap(), Some(Published::Gone));
        // And the file can be taken over for the next start.
        create(&path).unwrap();
    }
}
