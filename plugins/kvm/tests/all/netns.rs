//! Network namespaces for tests: every tap, address and socket a test uses
//! lives in a namespace it creates and deletes, never in the host's.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Why network tests cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (network namespaces and taps need it)".into());
    }
    if !Path::new(wirt_kvm::tap::TUN_PATH).exists() {
        return Some(format!("{} is missing", wirt_kvm::tap::TUN_PATH));
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("`ip` (iproute2) is not installed".into()),
    }
}

/// Skips the test (with a message) when namespaces or taps are unavailable.
macro_rules! require_net {
    () => {
        if let Some(why) = crate::netns::unavailable() {
            eprintln!("skipping: {why}");
            return;
        }
    };
}
pub(crate) use require_net;

/// A network namespace, deleted on drop (also when the test panics).
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    pub fn new() -> NetNs {
        sweep();
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "wirt-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        run("ip", &["netns", "add", &name]);
        NetNs { name }
    }

    /// `ip -n <ns> <args>`: runs inside the namespace only.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    /// Runs `f` on a thread that joined the namespace: taps and sockets it
    /// creates belong to the namespace; descriptors work anywhere after.
    pub fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let ns = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            // SAFETY: setns on a namespace descriptor; it changes only this
            // thread's network namespace, and the thread ends with `f`.
            let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("namespace thread")
    }

    /// A tap (with the virtio-net header unless `vnet_hdr` is false),
    /// created in the namespace and up.
    pub fn tap(&self, vnet_hdr: bool) -> (OwnedFd, String) {
        let (fd, name) = self.run(move || wirt_kvm::tap::open_tap(Some("wt%d"), vnet_hdr).unwrap());
        self.ip(&["link", "set", &name, "up"]);
        (fd, name)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Deletes namespaces left by test processes that died without running
/// their destructors (killed, or ended by a seccomp report).
fn sweep() {
    let Ok(dir) = std::fs::read_dir("/var/run/netns") else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("wirt-test-")
            .and_then(|r| r.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
