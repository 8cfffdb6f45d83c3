//! What a network card reads frames from and writes them to: a tap or a
//! passt stream in the VMM, a datagram socket in tests and benchmarks.

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
    /// Whether frames may carry partial checksums and segmentation offloads
    /// (a tap's do; a plain-frame backend's may not, so none is offered).
    fn offloads(&self) -> bool {
        true
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

/// The largest frame a stream peer may announce: a 64 KiB GSO frame and
/// its Ethernet header, with room; anything larger is a broken stream.
const MAX_STREAM_FRAME: usize = 65_536 + 256;

/// A card's frames over a connected unix `SOCK_STREAM` socket in QEMU's
/// "stream" framing: each frame a 4-byte big-endian length, then the
/// Ethernet frame, with no virtio-net header. This is how passt (libvirt's
/// backend for `<interface type='user'>`) talks. No offloads: passt takes
/// and gives whole frames with their checksums.
///
/// The state of a frame half read lives behind an `Arc`, shared by the
/// clones the machines of successive reboots get: a reboot in the middle
/// of a frame must not lose the framing.
#[derive(Debug, Clone)]
pub struct StreamBackend {
    inner: std::sync::Arc<std::sync::Mutex<Stream>>,
    fd: RawFd,
}

#[derive(Debug)]
struct Stream {
    file: std::fs::File,
    hdr_len: usize,
    len: [u8; 4],
    len_got: usize,
    frame: Vec<u8>,
    frame_got: usize,
}

/// The peer went away (or broke the framing): the card stops, as for a
/// tap that is gone.
fn stream_gone() -> io::Error {
    io::Error::from_raw_os_error(libc::EBADFD)
}

impl StreamBackend {
    /// Wraps a connected stream socket; it is made non-blocking.
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        let raw = fd.as_raw_fd();
        // SAFETY: F_GETFL/F_SETFL on a descriptor we own; no memory is passed.
        unsafe {
            let flags = libc::fcntl(raw, libc::F_GETFL);
            if flags < 0 || libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let mut kind: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: SO_TYPE writes one int into `kind`, of the size given.
        let r = unsafe {
            libc::getsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_TYPE,
                (&mut kind as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if r < 0 || kind != libc::SOCK_STREAM {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a stream socket",
            ));
        }
        Ok(StreamBackend {
            inner: std::sync::Arc::new(std::sync::Mutex::new(Stream {
                file: fd.into(),
                hdr_len: 0,
                len: [0; 4],
                len_got: 0,
                frame: Vec::new(),
                frame_got: 0,
            })),
            fd: raw,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stream> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Stream {
    /// Reads into `buf` what is there; `Ok(false)` when it would block.
    /// Never reads past the current frame, so a next frame waiting in the
    /// socket keeps its descriptor readable for the worker's poll.
    fn fill(file: &mut std::fs::File, buf: &mut [u8], got: &mut usize) -> io::Result<bool> {
        use std::io::Read as _;
        while *got < buf.len() {
            match file.read(&mut buf[*got..]) {
                Ok(0) => return Err(stream_gone()),
                Ok(n) => *got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

impl NetBackend for StreamBackend {
    fn fd(&self) -> RawFd {
        self.fd
    }

    fn configure(&mut self, hdr_len: usize, _offloads: u32) -> io::Result<()> {
        self.lock().hdr_len = hdr_len;
        Ok(())
    }

    fn read_frame(&mut self, iovs: &[libc::iovec]) -> io::Result<usize> {
        let mut s = self.lock();
        let s = &mut *s;
        if !Stream::fill(&mut s.file, &mut s.len, &mut s.len_got)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let len = u32::from_be_bytes(s.len) as usize;
        if len > MAX_STREAM_FRAME {
            return Err(stream_gone());
        }
        s.frame.resize(len, 0);
        if !Stream::fill(&mut s.file, &mut s.frame, &mut s.frame_got)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        // A whole frame: an all-zero header (no offload, no checksum
        // left to do), then the frame; cut short if the buffers are.
        let mut header = vec![0u8; s.hdr_len];
        iov_copy(iovs, 0, &mut header, true);
        iov_copy(iovs, s.hdr_len, &mut s.frame, true);
        let total = s.hdr_len + len;
        s.len_got = 0;
        s.frame_got = 0;
        Ok(total)
    }

    fn write_frame(&mut self, iovs: &[libc::iovec]) -> io::Result<usize> {
        let mut s = self.lock();
        let total: usize = iovs.iter().map(|v| v.iov_len).sum();
        let Some(frame_len) = total.checked_sub(s.hdr_len) else {
            return Ok(total);
        };
        let mut buf = vec![0u8; 4 + frame_len];
        buf[..4].copy_from_slice(&(frame_len as u32).to_be_bytes());
        iov_copy(iovs, s.hdr_len, &mut buf[4..], false);
        write_all_waiting(&mut s.file, &buf)?;
        Ok(total)
    }

    fn offloads(&self) -> bool {
        false
    }
}

/// Writes all of `buf` to a non-blocking stream, waiting (up to a second
/// each time) while the peer's buffer is full: a frame is never cut.
fn write_all_waiting(file: &mut std::fs::File, mut buf: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    while !buf.is_empty() {
        match file.write(buf) {
            Ok(0) => return Err(stream_gone()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut pfd = libc::pollfd {
                    fd: file.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: poll reads and writes the one pollfd given.
                if unsafe { libc::poll(&mut pfd, 1, 1000) } == 0 {
                    return Err(io::ErrorKind::TimedOut.into());
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => return Err(stream_gone()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What a card of the VMM runs on.
#[derive(Debug)]
pub enum NicBackend {
    /// A tap the host made.
    Tap(Tap),
    /// A stream to passt.
    Stream(StreamBackend),
}

impl NicBackend {
    /// The tap's name; a stream has none.
    pub fn name(&self) -> &str {
        match self {
            NicBackend::Tap(t) => t.name(),
            NicBackend::Stream(_) => "",
        }
    }

    /// Another handle on the same backend (for the next machine of a
    /// reboot).
    pub fn try_clone(&self) -> io::Result<NicBackend> {
        Ok(match self {
            NicBackend::Tap(t) => NicBackend::Tap(t.try_clone()?),
            NicBackend::Stream(s) => NicBackend::Stream(s.clone()),
        })
    }
}

impl NetBackend for NicBackend {
    fn fd(&self) -> RawFd {
        match self {
            NicBackend::Tap(t) => NetBackend::fd(t),
            NicBackend::Stream(s) => s.fd(),
        }
    }
    fn configure(&mut self, hdr_len: usize, offloads: u32) -> io::Result<()> {
        match self {
            NicBackend::Tap(t) => t.configure(hdr_len, offloads),
            NicBackend::Stream(s) => s.configure(hdr_len, offloads),
        }
    }
    fn read_frame(&mut self, iovs: &[libc::iovec]) -> io::Result<usize> {
        match self {
            NicBackend::Tap(t) => t.read_frame(iovs),
            NicBackend::Stream(s) => s.read_frame(iovs),
        }
    }
    fn write_frame(&mut self, iovs: &[libc::iovec]) -> io::Result<usize> {
        match self {
            NicBackend::Tap(t) => t.write_frame(iovs),
            NicBackend::Stream(s) => s.write_frame(iovs),
        }
    }
    fn offloads(&self) -> bool {
        match self {
            NicBackend::Tap(t) => t.offloads(),
            NicBackend::Stream(s) => s.offloads(),
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
