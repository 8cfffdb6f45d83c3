//! Tap devices: [`open_tap`], the helper the host uses to create one, and
//! [`Tap`], the VMM's handle on a tap descriptor it was given.
//!
//! The VMM never opens `/dev/net/tun` and never speaks netlink: the host
//! creates the tap (`IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`), brings it up,
//! puts it on a bridge and passes the descriptor with `boot` or `restore`.
//! The VMM then only issues `TUNGETIFF` (to check what it got) and, once the
//! guest driver has negotiated features, `TUNSETVNETHDRSZ` and
//! `TUNSETOFFLOAD` (see [`crate::seccomp`]).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use vmm_sys_util::ioctl::{ioctl_with_mut_ref, ioctl_with_ref, ioctl_with_val};

/// Where the tun/tap driver lives.
pub const TUN_PATH: &str = "/dev/net/tun";
/// Interface flags the VMM requires of a tap.
pub const REQUIRED_FLAGS: i32 = libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR;

/// `struct ifreq` as the tun ioctls use it: a name and a flags word.
#[repr(C)]
#[derive(Clone, Copy)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    // The rest of the 40-byte union.
    _pad: [u8; 22],
}

impl IfReq {
    fn new() -> Self {
        IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: 0,
            _pad: [0; 22],
        }
    }

    fn name(&self) -> String {
        let end = self
            .name
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(self.name.len());
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

/// Creates (or attaches to) a tap interface in the caller's network
/// namespace and returns its descriptor (non-blocking, close-on-exec) and the
/// name the kernel gave it. `name` may be a template such as `"wirt%d"`;
/// without one the kernel picks `tapN`. With `vnet_hdr` every frame carries a
/// virtio-net header, as the VMM requires. The interface starts down: bringing
/// it up and attaching it to a bridge is the host's business.
pub fn open_tap(name: Option<&str>, vnet_hdr: bool) -> io::Result<(OwnedFd, String)> {
    let mut req = IfReq::new();
    if let Some(n) = name {
        if n.is_empty() || n.len() >= libc::IFNAMSIZ || n.contains(['\0', '/']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid interface name {n:?}"),
            ));
        }
        req.name[..n.len()].copy_from_slice(n.as_bytes());
    }
    let vnet = if vnet_hdr { libc::IFF_VNET_HDR } else { 0 };
    req.flags = (libc::IFF_TAP | libc::IFF_NO_PI | vnet) as libc::c_short;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(TUN_PATH)?;
    // SAFETY: TUNSETIFF reads and writes back one `struct ifreq`; `req` is
    // one, laid out as the kernel expects, and outlives the call.
    if unsafe { ioctl_with_mut_ref(&file, libc::TUNSETIFF, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((file.into(), req.name()))
}

/// Why a descriptor cannot serve as a virtio-net backend.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// `TUNGETIFF` failed: not a tap (or a detached one).
    #[error("not an attached tun/tap descriptor")]
    NotTap(#[source] io::Error),
    /// A tap, but without the flags the device needs.
    #[error("tap {name:?} lacks IFF_TAP|IFF_NO_PI|IFF_VNET_HDR (flags {flags:#x})")]
    Flags {
        /// Interface name.
        name: String,
        /// Its flags.
        flags: i32,
    },
    /// Making it non-blocking failed.
    #[error("cannot make the tap non-blocking")]
    NonBlocking(#[source] io::Error),
}

/// A tap descriptor handed to the VMM.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
}

impl Tap {
    /// Checks that `fd` is a tap opened with [`REQUIRED_FLAGS`] and makes it
    /// non-blocking (the flag belongs to the open file, so the host's copy
    /// becomes non-blocking too; the host is not meant to use it any more).
    pub fn new(fd: OwnedFd) -> Result<Tap, TapError> {
        let file = File::from(fd);
        let mut req = IfReq::new();
        // SAFETY: TUNGETIFF writes one `struct ifreq` into `req`, which is one.
        if unsafe { ioctl_with_mut_ref(&file, libc::TUNGETIFF, &mut req) } < 0 {
            return Err(TapError::NotTap(io::Error::last_os_error()));
        }
        let flags = i32::from(req.flags) & 0xffff;
        if flags & REQUIRED_FLAGS != REQUIRED_FLAGS || flags & libc::IFF_TUN != 0 {
            return Err(TapError::Flags {
                name: req.name(),
                flags,
            });
        }
        set_nonblocking(file.as_fd()).map_err(TapError::NonBlocking)?;
        Ok(Tap {
            file,
            name: req.name(),
        })
    }

    /// The interface name (in the host's namespace that created it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Another handle on the same tap (for the machine built on a reboot).
    pub fn try_clone(&self) -> io::Result<Tap> {
        Ok(Tap {
            file: self.file.try_clone()?,
            name: self.name.clone(),
        })
    }

    /// `TUNSETVNETHDRSZ`: the size of the header in front of every frame.
    pub fn set_vnet_hdr_size(&self, size: usize) -> io::Result<()> {
        let size = libc::c_int::try_from(size).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: TUNSETVNETHDRSZ reads one int from the pointer; `size` is one.
        if unsafe { ioctl_with_ref(&self.file, libc::TUNSETVNETHDRSZ, &size) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// `TUNSETOFFLOAD`: which `TUN_F_*` offloads frames read from the tap
    /// may carry (checksum-partial, TSO...), i.e. what the guest accepts.
    pub fn set_offload(&self, flags: u32) -> io::Result<()> {
        // SAFETY: TUNSETOFFLOAD takes its argument by value and touches no memory.
        if unsafe { ioctl_with_val(&self.file, libc::TUNSETOFFLOAD, libc::c_ulong::from(flags)) }
            < 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl AsRawFd for Tap {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl From<Tap> for OwnedFd {
    fn from(t: Tap) -> OwnedFd {
        t.file.into()
    }
}

impl AsFd for Tap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Sets `O_NONBLOCK` on an open file.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL only change the open file's status flags.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifreq_has_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
        assert_eq!(
            std::mem::size_of::<IfReq>(),
            std::mem::size_of::<libc::ifreq>()
        );
    }

    #[test]
    fn bad_names_and_non_taps_are_refused() {
        assert!(open_tap(Some("much-too-long-for-ifnamsiz"), true).is_err());
        assert!(open_tap(Some(""), true).is_err());
        let f = File::open("/dev/null").unwrap();
        assert!(matches!(Tap::new(f.into()), Err(TapError::NotTap(_))));
    }
}
