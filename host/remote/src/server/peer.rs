//! Who is at the other end of a unix socket (`SO_PEERCRED`), and whether
//! the daemon lets them in. libvirtd's defaults: the read-write socket
//! admits root and the daemon's own user, and members of `unix_sock_group`
//! when one is set; the read-only socket admits anyone, read-only.
//!
//! The socket file's mode is the first gate; this one holds even when the
//! mode is loosened (`unix_sock_rw_perms`) or the socket is reached through
//! a descriptor passed on by someone allowed to open it.

use std::os::unix::net::UnixStream;

/// A unix socket peer as the kernel saw it at `connect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
    /// Process id (it may have exited since).
    pub pid: i32,
}

impl Peer {
    /// The credentials of `stream`'s peer.
    pub fn of(stream: &UnixStream) -> std::io::Result<Peer> {
        use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
        let cred = getsockopt(stream, PeerCredentials).map_err(std::io::Error::from)?;
        Ok(Peer {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
        })
    }

    /// Whether the peer process belongs to `gid`, as its primary group or
    /// one of the supplementary groups in /proc/PID/status. A process that
    /// is gone (or hides its status) counts as not a member.
    fn in_group(&self, gid: u32) -> bool {
        if self.gid == gid {
            return true;
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", self.pid)) else {
            return false;
        };
        supplementary_groups(&status).any(|g| g == gid)
    }
}

/// The `Groups:` line of a /proc/PID/status file.
fn supplementary_groups(status: &str) -> impl Iterator<Item = u32> + '_ {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .into_iter()
        .flat_map(str::split_whitespace)
        .filter_map(|g| g.parse().ok())
}

/// Who may use the read-write socket besides root and the daemon's user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `unix_sock_group`: members of this group are admitted too.
    pub rw_group: Option<u32>,
}

impl Policy {
    /// Why `peer` may not use the read-write socket, or None when it may.
    /// `owner` is the daemon's effective uid.
    pub fn refuses(&self, peer: &Peer, owner: u32) -> Option<String> {
        if peer.uid == 0 || peer.uid == owner {
            return None;
        }
        if self.rw_group.is_some_and(|g| peer.in_group(g)) {
            return None;
        }
        Some(format!(
            "uid {} may not use the read-write socket of the daemon of uid {owner}",
            peer.uid
        ))
    }
}

/// The daemon's effective uid.
pub fn daemon_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// A group given by name or number (`unix_sock_group`).
pub fn resolve_group(name: &str) -> Option<u32> {
    if let Ok(gid) = name.parse() {
        return Some(gid);
    }
    nix::unistd::Group::from_name(name)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Peer {
        let (a, _b) = UnixStream::pair().unwrap();
        Peer::of(&a).unwrap()
    }

    #[test]
    fn a_socket_pair_names_this_process() {
        let peer = me();
        assert_eq!(peer.pid as u32, std::process::id());
        assert_eq!(peer.uid, daemon_uid());
        assert_eq!(peer.gid, nix::unistd::getegid().as_raw());
    }

    #[test]
    fn root_and_the_owner_are_admitted_others_only_through_the_group() {
        let policy = Policy::default();
        let stranger = Peer {
            uid: 4242,
            gid: 4242,
            pid: i32::MAX,
        };
        assert_eq!(policy.refuses(&Peer { uid: 0, ..stranger }, 1000), None);
        assert_eq!(
            policy.refuses(
                &Peer {
                    uid: 1000,
                    ..stranger
                },
                1000
            ),
            None
        );
        let why = policy.refuses(&stranger, 1000).expect("refused");
        assert!(why.contains("uid 4242"), "{why}");
        // The primary group is enough; a gone process has no other groups.
        let group = Policy {
            rw_group: Some(4242),
        };
        assert_eq!(group.refuses(&stranger, 1000), None);
        let other = Policy {
            rw_group: Some(4343),
        };
        assert!(other.refuses(&stranger, 1000).is_some());
    }

    #[test]
    fn supplementary_groups_come_from_proc_status() {
        let status = "Name:\tx\nGid:\t5\t5\t5\t5\nGroups:\t4 24 27 \nNgid:\t0\n";
        assert_eq!(
            supplementary_groups(status).collect::<Vec<_>>(),
            [4, 24, 27]
        );
        assert_eq!(supplementary_groups("Groups:\t\n").count(), 0);
        assert_eq!(supplementary_groups("").count(), 0);
        // This process's own supplementary groups are read the same way.
        let own = std::fs::read_to_string("/proc/self/status").unwrap();
        let me = me();
        for g in supplementary_groups(&own) {
            assert!(me.in_group(g));
        }
    }

    #[test]
    fn groups_resolve_by_name_or_number() {
        assert_eq!(resolve_group("0"), Some(0));
        assert_eq!(resolve_group("root"), Some(0));
        assert_eq!(resolve_group("no-such-group-wirt"), None);
    }
}
