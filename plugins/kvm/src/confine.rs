//! The VMM's box besides seccomp: the descriptors and privileges it keeps.
//!
//! A VMM is started by a host that may be root (wirtd's system mode) and
//! may hold descriptors it forgot to mark close-on-exec. Before any guest
//! code runs, `wirt-vmm` closes every descriptor it was not given, leaves
//! root for an unprivileged uid when told to, and empties every capability
//! set, so that a guest escaping into the VMM holds only this domain's
//! files and no authority of the host's.

use std::os::fd::RawFd;

use caps::CapSet;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// `close_range` failed.
    #[error("cannot close inherited descriptors {first}..={last}")]
    Close {
        /// First descriptor of the range.
        first: u32,
        /// Last descriptor of the range.
        last: u32,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// Changing uid, gid or supplementary groups failed.
    #[error("cannot switch to uid {uid} gid {gid}")]
    Identity {
        /// Target uid.
        uid: u32,
        /// Target gid.
        gid: u32,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// A capability set could not be emptied.
    #[error("cannot clear the {set} capability set")]
    Capabilities {
        /// Which set.
        set: &'static str,
        /// The library's error.
        #[source]
        source: caps::errors::CapsError,
    },
    /// A capability survived the drop (the kernel refused silently).
    #[error("capability set {set} still holds {left} after clearing it")]
    Residue {
        /// Which set.
        set: &'static str,
        /// What is left, as names.
        left: String,
    },
}

/// Closes every descriptor from 3 up except those in `keep`.
///
/// Standard input, output and error stay: the launcher points them at
/// `/dev/null` and the VMM's log.
pub fn close_inherited(keep: &[RawFd]) -> Result<(), ConfineError> {
    for (first, last) in ranges_to_close(keep) {
        close_range(first, last)?;
    }
    Ok(())
}

/// The descriptor ranges from 3 up that hold none of `keep`.
fn ranges_to_close(keep: &[RawFd]) -> Vec<(u32, u32)> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .filter(|&fd| fd > 2)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut ranges = Vec::new();
    let mut first = 3u32;
    for fd in keep.into_iter().chain([u32::MAX]) {
        if fd > first {
            ranges.push((first, fd - 1));
        }
        first = fd.saturating_add(1);
    }
    ranges
}

fn close_range(first: u32, last: u32) -> Result<(), ConfineError> {
    // SAFETY: close_range only closes descriptors; the range excludes every
    // descriptor this process was given, and at this point no Rust object
    // owns any other (the caller runs before opening anything).
    if unsafe { libc::close_range(first, last, 0) } < 0 {
        return Err(ConfineError::Close {
            first,
            last,
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Leaves root for `uid`:`gid` (no supplementary groups) when the process
/// runs as root and `run_as` is given; then empties the bounding, ambient,
/// inheritable, permitted and effective capability sets.
///
/// Runs on the main thread before any other exists: capabilities and ids
/// are per thread, and threads inherit the creator's.
pub fn drop_privileges(run_as: Option<(u32, u32)>) -> Result<(), ConfineError> {
    // The bounding set can only shrink with CAP_SETPCAP, so first.
    if caps::has_cap(None, CapSet::Effective, caps::Capability::CAP_SETPCAP).unwrap_or(false) {
        caps::clear(None, CapSet::Bounding).map_err(|source| ConfineError::Capabilities {
            set: "bounding",
            source,
        })?;
    }
    // SAFETY: getuid has no preconditions.
    if let Some((uid, gid)) = run_as.filter(|_| unsafe { libc::getuid() } == 0) {
        switch_identity(uid, gid)?;
    }
    for (set, name) in [
        (CapSet::Ambient, "ambient"),
        (CapSet::Inheritable, "inheritable"),
        (CapSet::Effective, "effective"),
        (CapSet::Permitted, "permitted"),
    ] {
        caps::clear(None, set)
            .map_err(|source| ConfineError::Capabilities { set: name, source })?;
    }
    for (set, name) in [
        (CapSet::Effective, "effective"),
        (CapSet::Permitted, "permitted"),
    ] {
        let left = caps::read(None, set).unwrap_or_default();
        if !left.is_empty() {
            let mut names: Vec<String> = left.iter().map(|c| c.to_string()).collect();
            names.sort();
            return Err(ConfineError::Residue {
                set: name,
                left: names.join(","),
            });
        }
    }
    Ok(())
}

fn switch_identity(uid: u32, gid: u32) -> Result<(), ConfineError> {
    let fail = |source| ConfineError::Identity { uid, gid, source };
    // SAFETY: plain system calls on this process's credentials; the group
    // list pointer may be null with a zero length. Order matters: groups
    // and gid need root, so they go before the uid.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) < 0
            || libc::setresgid(gid, gid, gid) < 0
            || libc::setresuid(uid, uid, uid) < 0
        {
            return Err(fail(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ranges_between_kept_descriptors_are_what_gets_closed() {
        // Closing in the test process would close the harness's own
        // descriptors; the integration tests check the effect on a VMM.
        assert_eq!(
            ranges_to_close(&[9, 4, 5, 2, 4, -1]),
            [(3, 3), (6, 8), (10, u32::MAX - 1)]
        );
        assert_eq!(ranges_to_close(&[]), [(3, u32::MAX - 1)]);
        assert_eq!(ranges_to_close(&[3]), [(4, u32::MAX - 1)]);
    }
}
