//! What a network card reads frames from and writes them to: a tap in the
//! VMM, a datagram socket in tests and benchmarks.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::tap::Tap;

/// The most iovecs one `readv`/`writev` takes (Linux's UIO_MAXIOV).
pub const IOV_MAX: usize = 1024;

/// iovecs pointing into guest memory.
#[derive(Debug, Default)]
pub(super) struct IoVecs(pub Vec<libc::iovec>);

// SAFETY: the pointers refer to guest memory that the owning device keeps
// mapped (its `GuestMemoryMmap` clone); they are plain addresses with no
// thread affinity, used only by whoever holds the device's transport lock.
unsafe impl Send for IoVecs {}

/// A frame source and sink carrying frames with a virtio-net header.
pub trait NetBackend: Send + std::fmt::Debug {
    /// The descriptor the worker polls for readability.
    fn fd(&self) -> RawFd;
    /// Applies the negotiated header size and the `TUN_F_*` offloads the
    /// guest accepts.
    fn configure(&mut self, hdr_len: usize, offloads: u32) -> io::Result<()>;
    /// Reads one frame into `iovs`. Returns the frame's full length, which
    /// exceeds the iovecs' if it was cut short (a tap's behaviour).
    fn read_frame(&mut self, iovs: &[libc::iovec]) -> io::Result<usize> {
        readv(self.fd(), iovs)
    }
    /// Writes one frame gathered from `iovs`.
    fn write_frame(&mut self, iovs: &[libc::iovec]) -> io::Result<usize> {
        writev(self.fd(), iovs)
    }
}

fn readv(fd: RawFd, iovs: &[libc::iovec]) -> io::Result<usize> {
    let n = iovs.len().min(IOV_MAX) as libc::c_int;
    // SAFETY: every iovec points at writable guest memory the caller keeps
    // mapped (checked by vm-memory when the chain was parsed); the kernel
    // writes at most their lengths.
    let r = unsafe { libc::readv(fd, iovs.as_ptr(), n) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

fn writev(fd: RawFd, iovs: &[libc::iovec]) -> io::Result<usize> {
    let n = iovs.len().min(IOV_MAX) as libc::c_int;
    // SAFETY: every iovec points at readable guest memory the caller keeps
    // mapped; the kernel only reads it.
    let r = unsafe { libc::writev(fd, iovs.as_ptr(), n) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

impl NetBackend for Tap {
    fn fd(&self) -> RawFd {
        self.as_raw_fd()
    }

    fn configure(&mut self, hdr_len: usize, offloads: u32) -> io::Result<()> {
        self.set_vnet_hdr_size(hdr_len)?;
        self.set_offload(offloads)
    }
}

/// A connected `SOCK_SEQPACKET` or `SOCK_DGRAM` socket standing in for a tap
/// (tests, benchmarks): one message per frame, header included, no offload
/// settings. Reads report a cut-short message's full length, as a tap does.
#[derive(Debug)]
pub struct DatagramBackend {
    fd: OwnedFd,
    /// The last `configure` call, for tests.
    pub configured: Option<(usize, u32)>,
}

impl DatagramBackend {
    /// Wraps one end of a socket pair.
    pub fn new(fd: OwnedFd) -> Self {
        DatagramBackend {
            fd,
            configured: None,
        }
    }

    /// A backend on a non-blocking `SOCK_SEQPACKET` pair, and the other end
    /// (one `write` there is one frame for the device, one `read` one frame
    /// from it).
    pub fn pair() -> io::Result<(DatagramBackend, std::fs::File)> {
        let mut fds = [-1; 2];
        let kind = libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: socketpair writes two descriptors into `fds`.
        if unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned by nobody else.
        let (ours, theirs) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // Room for a whole ring of large frames in flight (the default
        // 208 KiB is not); the kernel caps it at net.core.wmem_max.
        for fd in [&ours, &theirs] {
            let size: libc::c_int = 4 << 20;
            // SAFETY: SO_SNDBUF reads one int from the pointer given.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_SNDBUF,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
        }
        Ok((DatagramBackend::new(ours), theirs.into()))
    }
}

impl NetBackend for DatagramBackend {
    fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn configure(&mut self, hdr_len: usize, offloads: u32) -> io::Result<()> {
        self.configured = Some((hdr_len, offloads));
        Ok(())
    }

    fn read_frame(&mut self, iovs: &[libc::iovec]) -> io::Result<usize> {
        // SAFETY: an all-zero msghdr is valid; it only points at `iovs`.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iovs.as_ptr().cast_mut();
        msg.msg_iovlen = iovs.len().min(IOV_MAX);
        // SAFETY: as for readv; MSG_TRUNC makes the kernel return the
        // message's real length.
        let r = unsafe {
            libc::recvmsg(
                self.fd.as_raw_fd(),
                &mut msg,
                libc::MSG_TRUNC | libc::MSG_DONTWAIT,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }
}

/// Copies `buf.len()` bytes at byte offset `off` of the area `iovs`
/// describes, into `buf` (or from it, with `write`). False if the area is
/// shorter.
pub(super) fn iov_copy(iovs: &[libc::iovec], mut off: usize, buf: &mut [u8], write: bool) -> bool {
    let mut i = 0;
    for v in iovs {
        if i == buf.len() {
            break;
        }
        if off >= v.iov_len {
            off -= v.iov_len;
            continue;
        }
        let n = (v.iov_len - off).min(buf.len() - i);
        for k in 0..n {
            // SAFETY: `off + k < iov_len`, inside guest memory the device
            // keeps mapped. The guest may touch it concurrently: volatile,
            // byte by byte, as vm-memory does for shared memory.
            unsafe {
                let p = v.iov_base.cast::<u8>().add(off + k);
                if write {
                    p.write_volatile(buf[i + k]);
                } else {
                    buf[i + k] = p.read_volatile();
                }
            }
        }
        i += n;
        off = 0;
    }
    i == buf.len()
}
