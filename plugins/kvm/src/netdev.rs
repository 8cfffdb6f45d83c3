//! The host's side of a tap: bringing it up, its MTU and MAC, putting it on
//! a bridge. Plain `SIOC*` ioctls on a datagram socket, in the caller's
//! network namespace; the VMM never calls these (it only gets the tap's
//! descriptor), the host does before passing it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `SIOCBRADDIF` (linux/sockios.h): add a port to a bridge; not in `libc`
/// for every target.
const SIOCBRADDIF: libc::c_ulong = 0x89a2;

/// An ioctl on `name` failed: what was attempted, and the kernel's errno.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct NetDevError {
    /// libvirt's wording of the step, e.g. `Cannot get interface MTU on 'br0'`.
    pub what: String,
    /// The kernel's answer.
    #[source]
    pub source: io::Error,
}

impl NetDevError {
    /// Whether the device does not exist (`ENODEV`).
    pub fn no_device(&self) -> bool {
        self.source.raw_os_error() == Some(libc::ENODEV)
    }
}

fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket() takes no pointers; a non-negative result is a fresh
    // descriptor this function then owns.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(['\0', '/']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interface name {name:?}"),
        ));
    }
    // SAFETY: ifreq is plain data (a name and a union of integers and
    // sockaddrs): all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

/// One ioctl taking a `struct ifreq` for `name`, set up by `fill`.
fn ioctl(
    name: &str,
    request: libc::c_ulong,
    what: impl Fn() -> String,
    fill: impl FnOnce(&mut libc::ifreq),
) -> Result<libc::ifreq, NetDevError> {
    let fail = |what: String, source| NetDevError { what, source };
    let mut req = ifreq(name).map_err(|e| fail(what(), e))?;
    fill(&mut req);
    let sock = control_socket().map_err(|e| fail(what(), e))?;
    // SAFETY: every request used here reads or writes one `struct ifreq`,
    // which `req` is; it outlives the call.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), request as _, &mut req) };
    if r < 0 {
        return Err(fail(what(), io::Error::last_os_error()));
    }
    Ok(req)
}

/// The interface's MTU.
pub fn mtu(name: &str) -> Result<u32, NetDevError> {
    let req = ioctl(
        name,
        libc::SIOCGIFMTU,
        || format!("Cannot get interface MTU on '{name}'"),
        |_| {},
    )?;
    // SAFETY: SIOCGIFMTU filled the union's `mtu` member.
    Ok(unsafe { req.ifr_ifru.ifru_mtu } as u32)
}

/// Sets the interface's MTU.
pub fn set_mtu(name: &str, mtu: u32) -> Result<(), NetDevError> {
    ioctl(
        name,
        libc::SIOCSIFMTU,
        || format!("Cannot set interface MTU on '{name}'"),
        |r| r.ifr_ifru.ifru_mtu = mtu as libc::c_int,
    )
    .map(drop)
}

/// Sets the interface's own (host-side) MAC address.
pub fn set_mac(name: &str, mac: [u8; 6]) -> Result<(), NetDevError> {
    ioctl(
        name,
        libc::SIOCSIFHWADDR,
        || format!("Cannot set interface MAC on '{name}'"),
        |r| {
            // SAFETY: sockaddr is plain data; all zeroes is a valid value.
            let mut sa: libc::sockaddr = unsafe { std::mem::zeroed() };
            sa.sa_family = libc::ARPHRD_ETHER;
            for (dst, src) in sa.sa_data.iter_mut().zip(mac) {
                *dst = src as libc::c_char;
            }
            r.ifr_ifru.ifru_hwaddr = sa;
        },
    )
    .map(drop)
}

/// Brings the interface up (or down).
pub fn set_up(name: &str, up: bool) -> Result<(), NetDevError> {
    let what = || format!("Cannot set interface flags on '{name}'");
    let req = ioctl(name, libc::SIOCGIFFLAGS, what, |_| {})?;
    // SAFETY: SIOCGIFFLAGS filled the union's `flags` member.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    let flags = if up {
        flags | libc::IFF_UP as libc::c_short
    } else {
        flags & !(libc::IFF_UP as libc::c_short)
    };
    ioctl(name, libc::SIOCSIFFLAGS, what, |r| {
        r.ifr_ifru.ifru_flags = flags
    })
    .map(drop)
}

/// The interface's index, or the error if there is none by that name.
pub fn index(name: &str) -> Result<u32, NetDevError> {
    let req = ioctl(
        name,
        libc::SIOCGIFINDEX,
        || format!("Unable to get index for interface {name}"),
        |_| {},
    )?;
    // SAFETY: SIOCGIFINDEX filled the union's `ifindex` member.
    Ok(unsafe { req.ifr_ifru.ifru_ifindex } as u32)
}

/// Makes `port` a port of the bridge `bridge` (`EOPNOTSUPP` when `bridge`
/// is no bridge).
pub fn bridge_add_port(bridge: &str, port: &str) -> Result<(), NetDevError> {
    let what = || format!("Unable to add bridge {bridge} port {port}");
    let ifindex = index(port).map_err(|e| NetDevError {
        what: what(),
        source: e.source,
    })?;
    ioctl(bridge, SIOCBRADDIF, what, |r| {
        r.ifr_ifru.ifru_ifindex = ifindex as libc::c_int
    })
    .map(drop)
}

/// Whether an interface of that name exists (in the caller's namespace).
pub fn exists(name: &str) -> bool {
    index(name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_devices_are_named_and_recognised() {
        let e = mtu("wirt-nodev-x").unwrap_err();
        assert!(e.no_device(), "{e:?}");
        assert_eq!(e.to_string(), "Cannot get interface MTU on 'wirt-nodev-x'");
        assert!(!exists("wirt-nodev-x"));
        assert!(exists("lo"));
        assert!(set_mtu("much-too-long-for-ifnamsiz", 1500).is_err());
    }
}
