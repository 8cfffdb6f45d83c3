//! Harness: spawn wirt-vmm with a disk and a console log, talk to it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use wirt_kvm::control::client::Client;
use wirt_kvm::control::protocol::{BootRequest, DiskFormat, DiskRef, FdRef, Request};
use wirt_kvm::launch::{Launch, Launched};

/// Whether this machine has a usable /dev/kvm.
pub fn kvm() -> Option<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .ok()
}

/// Skips the test (with a message) when /dev/kvm is missing.
macro_rules! require_kvm {
    () => {
        if !wirt_testkit::kvm_or_skip() {
            return;
        }
    };
}
pub(crate) use require_kvm;

pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Whether qemu-img and qemu-io are here (scripts/setup.sh installs them);
/// a visible skip naming `what` they would check otherwise.
pub fn qemu_tools(what: &str) -> bool {
    let ok =
        wirt_testkit::have("qemu-img", "--version") && wirt_testkit::have("qemu-io", "--version");
    if !ok {
        wirt_testkit::require("qemu-img / qemu-io (qemu-utils)", what);
    }
    ok
}

/// Runs `program`, failing the test with both of its streams if it fails.
pub fn run_ok(program: &str, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// [`run_ok`]'s standard output, as text.
pub fn run_text(program: &str, args: &[&str]) -> String {
    String::from_utf8_lossy(&run_ok(program, args).stdout).into_owned()
}

/// A disk image with random first sectors.
pub fn make_disk(dir: &Path, name: &str, sectors: u64) -> (PathBuf, Vec<u8>) {
    let path = dir.join(name);
    let mut data = vec![0u8; (sectors * 512) as usize];
    // A cheap xorshift: the guest's checksum must not see a regular pattern.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ (name.len() as u64);
    for chunk in data.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    File::create(&path).unwrap().write_all(&data).unwrap();
    (path, data)
}

/// A running wirt-vmm under test.
pub struct Vmm {
    _dir: tempfile::TempDir,
    pub log: PathBuf,
    pub socket: PathBuf,
    pub client: Client,
    pub child: std::process::Child,
    pub disk_fds: Vec<i32>,
    _owned: Vec<OwnedFd>,
}

impl Vmm {
    /// Spawns a VMM whose inherited descriptors are the given disk files.
    pub fn spawn(disks: &[&Path]) -> Vmm {
        Self::spawn_with(disks, wirt_kvm::seccomp::Mode::default(), None)
    }

    pub fn spawn_with(
        disks: &[&Path],
        seccomp: wirt_kvm::seccomp::Mode,
        dir: Option<tempfile::TempDir>,
    ) -> Vmm {
        let dir = dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
        let n = std::fs::read_dir(dir.path()).unwrap().count();
        let log = dir.path().join(format!("console-{n}.log"));
        let socket = dir.path().join(format!("vmm-{n}.sock"));
        let mut launch = Launch::new(
            env!("CARGO_BIN_EXE_wirt-vmm"),
            kvm().expect("checked by require_kvm"),
        );
        launch.console_log = Some(File::create(&log).unwrap());
        launch.listen_path = Some(socket.clone());
        launch.seccomp = seccomp;
        launch.run_as = wirt_kvm::launch::default_run_as();
        launch.fds = disks
            .iter()
            .map(|p| OwnedFd::from(OpenOptions::new().read(true).write(true).open(p).unwrap()))
            .collect();
        let Launched {
            child,
            control,
            fds,
            owned,
        } = launch.spawn().unwrap();
        let mut client = Client::new(control);
        // Once it answers, it has bound its listening socket too.
        client.request(Request::Hello).unwrap();
        Vmm {
            _dir: dir,
            log,
            socket,
            client,
            child,
            disk_fds: fds,
            _owned: owned,
        }
    }

    pub fn req(&mut self, r: Request) -> Value {
        self.client
            .request(r)
            .unwrap_or_else(|e| panic!("request failed: {e}\nconsole:\n{}", self.console()))
    }

    /// Boots the test guest with every inherited disk attached.
    pub fn boot(&mut self, tweak: impl FnOnce(&mut BootRequest)) -> Value {
        let mut b: BootRequest = serde_json::from_str(r#"{"memory_mib": 16}"#).unwrap();
        b.disks = self
            .disk_fds
            .iter()
            .enumerate()
            .map(|(i, fd)| DiskRef {
                fd: FdRef::Fd(*fd),
                format: DiskFormat::Raw,
                backing: Vec::new(),
                readonly: false,
                serial: format!("disk{i}"),
            })
            .collect();
        tweak(&mut b);
        self.req(Request::Boot(b))
    }

    pub fn console(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the console log contains `needle` `count` times.
    pub fn wait_console_n(&self, needle: &str, count: usize) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let text = self.console();
            if text.matches(needle).count() >= count {
                return text;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {needle:?} x{count}; console:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn wait_console(&self, needle: &str) -> String {
        self.wait_console_n(needle, 1)
    }

    pub fn input(&mut self, s: &str) {
        self.req(Request::ConsoleInput { data: s.into() });
    }

    pub fn state(&mut self) -> (u64, u64) {
        let s = self.req(Request::Status);
        (s["state"].as_u64().unwrap(), s["reason"].as_u64().unwrap())
    }

    /// Sends a request with `file` attached as `{"passed": 0}`.
    pub fn req_with_file(
        &mut self,
        r: Request,
        file: &File,
    ) -> Result<Value, wirt_kvm::control::client::ClientError> {
        self.client
            .request_with_fds(r, &[file.as_raw_fd()], TIMEOUT)
    }

    pub fn quit(mut self) {
        let _ = self.client.request(Request::Quit);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("wirt-vmm did not exit after quit");
    }
}

impl Drop for Vmm {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The value printed after `prefix` on the console, as u64 hex.
pub fn hex_after(console: &str, prefix: &str) -> u64 {
    let line = console
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{console}"));
    u64::from_str_radix(line.trim(), 16).unwrap()
}
