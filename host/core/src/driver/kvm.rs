//! The KVM adapter: one `wirt-vmm` process per running domain.
//!
//! The host opens what a VM needs (`/dev/kvm`, the disk files, kernel and
//! initrd, the console log) and hands exactly those descriptors to a fresh
//! `wirt-vmm`, which confines itself with seccomp before running guest code.
//! Each VMM listens on `<runtime>/vmm/<uuid>.sock`, so a restarted host
//! re-attaches to VMMs that outlived it. A watcher connection per VMM turns
//! the VMM's events (guest powered off, rebooted, crashed, or the VMM died)
//! into status reports for the host.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use wirt_kvm::control::client::{Client, ClientError};
use wirt_kvm::control::protocol::{
    BootRequest, FdRef, KernelRef, LifecycleAction, Policies, Request, RestoreRequest, StatusReply,
};
use wirt_kvm::control::published;
use wirt_kvm::launch::Launch;
use wirt_vocab::{Reason, State};

use super::*;
use crate::plugin::StatusSink;
use disks::OpenedDisk;

mod attach;
pub use attach::{BeforeSpawn, ConfigSource};
use attach::{Unwatched, is_vmm_serving, retire};
mod devices;
mod disks;
mod internal;
mod nic;
mod save;
mod snapshot;
// Live migration's host side.
mod migrate;

/// How long one control request may take (boot of a big guest, a save).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// How long `reboot` waits for a guest that obeys the power-control port
/// to reset itself.
const REBOOT_WAIT: Duration = Duration::from_secs(10);
/// Bulk copies between the host and a VMM's save pipe.
const COPY_CHUNK: usize = 1 << 20;

/// Where a KVM connection keeps its files.
#[derive(Clone, Debug)]
pub struct KvmPaths {
    /// The `wirt-vmm` binary.
    pub vmm: PathBuf,
    /// Sockets and per-VM runtime records (`<runtime>/vmm/`).
    pub runtime: PathBuf,
    /// Console logs (`<logs>/<name>.log`).
    pub logs: PathBuf,
    /// Machine state of snapshots (`<snapshots>/<uuid>/<name>.state`).
    pub snapshots: PathBuf,
}

/// Finds the `wirt-vmm` binary: `$WIRT_VMM`, next to the running
/// executable, one directory up (test binaries live in `deps/`), or `PATH`.
pub fn find_vmm() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WIRT_VMM") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    for candidate in [dir.join("wirt-vmm"), dir.parent()?.join("wirt-vmm")] {
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("wirt-vmm"))
            .find(|p| p.is_file())
    })
}

struct Vm {
    name: String,
    /// What it was started with (snapshots need to know its disks).
    config: DomainConfig,
    socket: PathBuf,
    client: Mutex<Client>,
    /// Set before the host stops the VMM itself, so the watcher does not
    /// report the closing connection as a crash.
    stopping: Arc<AtomicBool>,
    /// The process, when this host spawned it (not after re-attaching).
    child: Mutex<Option<std::process::Child>>,
    /// Guest resets, power-offs and crashes seen by the watcher (and its
    /// end), so `reboot` can wait for the guest to act.
    resets: Arc<(Mutex<u64>, Condvar)>,
}

impl Vm {
    /// One control request, passing `fds` with it.
    fn call(&self, request: Request, fds: &[RawFd]) -> std::result::Result<Value, ClientError> {
        self.client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .request_with_fds(request, fds, REQUEST_TIMEOUT)
    }
}

/// The KVM hypervisor driver of `kvm:` hosts: one `wirt-vmm` per running domain.
pub struct KvmDriver {
    paths: KvmPaths,
    vms: Arc<Mutex<HashMap<String, Arc<Vm>>>>,
    /// VMMs found running at open and not connected to yet: a command
    /// that only reads the registry never pays for a connection (and a
    /// watcher thread) per guest. The first use of one attaches it.
    unwatched: Mutex<HashMap<String, Unwatched>>,
    /// The config of an unwatched VMM deferred without one
    /// (`defer_unread`), when attaching needs it.
    config_source: Mutex<Option<ConfigSource>>,
    /// Told before each VMM is spawned (`set_before_spawn`).
    before_spawn: Mutex<Option<BeforeSpawn>>,
    sink: StatusSink,
    /// What the host said about the next start's interfaces (`nic`).
    nic_plans: Mutex<HashMap<String, Vec<HostNic>>>,
    /// The taps of running VMs (`nic`).
    taps: Mutex<nic::Taps>,
}

impl std::fmt::Debug for KvmDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvmDriver")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

fn vmm_error(what: &str, e: ClientError) -> Error {
    let code = match &e {
        ClientError::Vmm(body) if body.kind == "invalid-state" => ErrorCode::OPERATION_INVALID,
        ClientError::Timeout => ErrorCode::OPERATION_TIMEOUT,
        _ => ErrorCode::OPERATION_FAILED,
    };
    let detail = match &e {
        ClientError::Vmm(body) => body.message.clone(),
        other => other.to_string(),
    };
    Error::driver(code, format!("{what}: {detail}"))
}

fn io_error(what: impl Into<String>, source: std::io::Error) -> Error {
    Error::Io {
        what: what.into(),
        source,
    }
}

/// Reads a VMM's status reply: every field must be there and known, and
/// the state and reason must be ones libvirt defines.
fn status_from(v: &Value) -> Result<DomainStatus> {
    let bad = |why: String| {
        Error::driver(
            ErrorCode::INTERNAL_ERROR,
            format!("malformed status from the VMM: {why}"),
        )
    };
    let s = StatusReply::deserialize(v).map_err(|e| bad(e.to_string()))?;
    let state =
        State::from_u32(s.state).ok_or_else(|| bad(format!("unknown state {}", s.state)))?;
    Reason::of(state, s.reason)
        .ok_or_else(|| bad(format!("unknown reason {} of state {}", s.reason, s.state)))?;
    Ok(DomainStatus {
        state: s.state,
        reason: s.reason,
        cpu_time_ns: s.cpu_time_ns,
        memory_kib: s.memory_kib,
        vcpus: s.vcpus,
    })
}

/// Reads the device counters of a VMM's status reply, as strictly as
/// [`status_from`].
fn stats_from(v: &Value) -> Result<GuestStats> {
    let s = StatusReply::deserialize(v).map_err(|e| {
        Error::driver(
            ErrorCode::INTERNAL_ERROR,
            format!("malformed status from the VMM: {e}"),
        )
    })?;
    let disks = s
        .disks
        .into_iter()
        .map(|d| BlockStats {
            rd_req: d.rd_req,
            rd_bytes: d.rd_bytes,
            rd_total_ns: d.rd_total_ns,
            wr_req: d.wr_req,
            wr_bytes: d.wr_bytes,
            wr_total_ns: d.wr_total_ns,
            flush_req: d.flush_req,
            flush_total_ns: d.flush_total_ns,
            errors: d.errors,
        })
        .collect();
    let counter = |n: &Value, key: &str| n.get(key).and_then(Value::as_u64).unwrap_or(0);
    let nics = s
        .nics
        .iter()
        .map(|n| InterfaceStats {
            name: n.get("tap").and_then(Value::as_str).unwrap_or("").into(),
            rx_bytes: counter(n, "rx_bytes"),
            rx_packets: counter(n, "rx_packets"),
            rx_errs: counter(n, "rx_errors"),
            rx_drop: counter(n, "rx_drops"),
            tx_bytes: counter(n, "tx_bytes"),
            tx_packets: counter(n, "tx_packets"),
            tx_errs: counter(n, "tx_errors"),
            tx_drop: counter(n, "tx_drops"),
        })
        .collect();
    Ok(GuestStats { disks, nics })
}

/// The host's RAM in KiB (`MemTotal`), 0 if unknown.
fn host_memory_kib() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Guest RAM is reserved lazily, so a guest larger than the host would
/// start and then be killed by the kernel once it touched enough of it:
/// refuse it at start instead.
fn check_memory_fits(config: &DomainConfig, host_kib: u64) -> Result<()> {
    if host_kib > 0 && config.memory_kib > host_kib {
        return Err(Error::driver(
            ErrorCode::CONFIG_UNSUPPORTED,
            format!(
                "domain '{}' needs {} KiB of memory, more than this host's {host_kib} KiB",
                config.name, config.memory_kib
            ),
        ));
    }
    Ok(())
}

fn shutoff(reason: u32) -> DomainStatus {
    DomainStatus {
        state: 5,
        reason,
        cpu_time_ns: 0,
        memory_kib: 0,
        vcpus: 0,
    }
}

fn action(name: &str) -> LifecycleAction {
    match name {
        "restart" | "rename-restart" | "coredump-restart" => LifecycleAction::Restart,
        "preserve" => LifecycleAction::Preserve,
        _ => LifecycleAction::Destroy,
    }
}

fn policies(config: &DomainConfig) -> Policies {
    Policies {
        on_poweroff: action(&config.on_poweroff),
        on_reboot: action(&config.on_reboot),
        on_crash: action(&config.on_crash),
    }
}

/// A disk's files among [`Opened::fds`].
/// The files a VM is started with, opened by the host.
struct Opened {
    kvm: File,
    fds: Vec<OwnedFd>,
    disks: Vec<OpenedDisk>,
    kernel: Option<usize>,
    initrd: Option<usize>,
    /// Taps, among `fds` (`nic`).
    nics: Vec<nic::OpenedNic>,
}

impl KvmDriver {
    /// The driver with its files where `paths` says, reporting the changes its
    /// guests make on their own to `sink`.
    pub fn new(paths: KvmPaths, sink: StatusSink) -> Self {
        KvmDriver {
            paths,
            vms: Arc::new(Mutex::new(HashMap::new())),
            unwatched: Mutex::default(),
            config_source: Mutex::default(),
            before_spawn: Mutex::default(),
            sink,
            nic_plans: Mutex::default(),
            taps: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Vm>>> {
        self.vms.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn vm(&self, uuid: &str) -> Result<Arc<Vm>> {
        self.attached(uuid)
            .ok_or_else(|| Error::driver(ErrorCode::OPERATION_INVALID, "domain is not running"))
    }

    /// Where a snapshot's machine state lives; names are the host's
    /// validated snapshot names, never a path.
    fn snapshot_path(&self, uuid: &str, name: &str) -> Result<PathBuf> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(Error::driver(
                ErrorCode::INVALID_ARG,
                format!("invalid snapshot name '{name}'"),
            ));
        }
        let dir = self.paths.snapshots.join(uuid);
        crate::registry::create_private_dir(&dir)
            .map_err(|e| io_error(format!("cannot create {}", dir.display()), e))?;
        Ok(dir.join(format!("{name}.state")))
    }

    fn socket_path(&self, uuid: &str) -> PathBuf {
        self.vmm_dir().join(format!("{uuid}.sock"))
    }

    fn request(&self, vm: &Vm, what: &str, request: Request) -> Result<Value> {
        vm.call(request, &[]).map_err(|e| vmm_error(what, e))
    }

    /// Opens `/dev/kvm`, the disks, kernel and initrd of `config`.
    fn open_files(config: &DomainConfig) -> Result<Opened> {
        let kvm = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .map_err(|e| io_error("cannot open /dev/kvm", e))?;
        let mut fds: Vec<OwnedFd> = Vec::new();
        let mut disks = Vec::new();
        for disk in &config.disks {
            disks.push(disks::open_disk(config, disk, &mut fds)?);
        }
        let mut open_ro = |path: &Option<String>, what: &str| -> Result<Option<usize>> {
            let Some(path) = path else {
                return Ok(None);
            };
            // A path of the definer's choosing: without O_NONBLOCK a FIFO
            // blocks start (and the registry with it); a device such as
            // /dev/zero has no end for the VMM to read to.
            let file = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
                .open(path)
                .map_err(|e| io_error(format!("cannot open {what} {path}"), e))?;
            let meta = file
                .metadata()
                .map_err(|e| io_error(format!("cannot open {what} {path}"), e))?;
            if !meta.is_file() {
                return Err(Error::driver(
                    ErrorCode::OPERATION_FAILED,
                    format!("{what} {path} is not a regular file"),
                ));
            }
            fds.push(file.into());
            Ok(Some(fds.len() - 1))
        };
        let kernel = open_ro(&config.os.kernel, "kernel")?;
        let initrd = open_ro(&config.os.initrd, "initrd")?;
        Ok(Opened {
            kvm,
            fds,
            disks,
            kernel,
            initrd,
            nics: Vec::new(),
        })
    }

    /// Spawns a VMM for `config` with `opened` files; returns the VM and
    /// the descriptor numbers the VMM sees.
    fn spawn(&self, config: &DomainConfig, opened: Opened) -> Result<(Arc<Vm>, Vec<i32>, Opened)> {
        check_memory_fits(config, host_memory_kib())?;
        if let Some(hook) = &*self.before_spawn.lock().unwrap_or_else(|p| p.into_inner()) {
            hook();
        }
        let vmm_dir = self.vmm_dir();
        crate::registry::create_private_dir(&vmm_dir)
            .map_err(|e| io_error(format!("cannot create {}", vmm_dir.display()), e))?;
        crate::registry::create_private_dir(&self.paths.logs)
            .map_err(|e| io_error(format!("cannot create {}", self.paths.logs.display()), e))?;
        let socket = self.socket_path(&config.uuid);
        let _ = std::fs::remove_file(&socket);
        let log_path = self.paths.logs.join(format!("{}.log", config.name));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log_path)
            .map_err(|e| io_error(format!("cannot open console log {}", log_path.display()), e))?;
        let kvm = opened
            .kvm
            .try_clone()
            .map_err(|e| io_error("cannot duplicate /dev/kvm", e))?;
        let mut launch = Launch::new(&self.paths.vmm, kvm);
        launch.console_log = Some(log);
        launch.listen_path = Some(socket.clone());
        launch.name = Some(config.name.clone());
        launch.run_as = wirt_kvm::launch::default_run_as();
        // Locked before the VMM exists, so no reader ever sees it unlocked
        // while the VMM lives; a live VMM of this domain refuses it.
        let state_path = self.state_file(&config.uuid);
        launch.state_file = Some(published::create(&state_path).map_err(|e| {
            io_error(
                format!("cannot create the state file {}", state_path.display()),
                e,
            )
        })?);
        let vmm_log = self.paths.logs.join(format!("{}.vmm.log", config.name));
        // Never the caller's stderr: a piped CLI would wait for the VMM to exit.
        launch.stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&vmm_log)
            .or_else(|_| OpenOptions::new().write(true).open("/dev/null"))
            .ok();
        launch.fds = opened
            .fds
            .iter()
            .map(|f| f.try_clone())
            .collect::<std::io::Result<_>>()
            .map_err(|e| io_error("cannot duplicate a descriptor", e))?;
        let launched = launch
            .spawn()
            .map_err(|e| io_error(format!("cannot start {}", self.paths.vmm.display()), e))?;
        let numbers = launched.fds.clone();
        let record = serde_json::json!({"pid": launched.child.id(), "name": config.name});
        let _ = std::fs::write(
            vmm_dir.join(format!("{}.json", config.uuid)),
            record.to_string(),
        );
        let vm = Arc::new(Vm {
            name: config.name.clone(),
            config: config.clone(),
            socket,
            client: Mutex::new(Client::new(launched.control)),
            stopping: Arc::new(AtomicBool::new(false)),
            child: Mutex::new(Some(launched.child)),
            resets: Arc::default(),
        });
        Ok((vm, numbers, opened))
    }

    fn stop(&self, uuid: &str, vm: &Arc<Vm>) {
        vm.stopping.store(true, Ordering::SeqCst);
        let _ = self.request(vm, "quit", Request::Quit);
        retire(&self.vms, uuid, vm);
        self.wait_taps_gone(uuid);
    }

    fn boot_request(
        config: &DomainConfig,
        opened: &Opened,
        numbers: &[i32],
        paused: bool,
    ) -> BootRequest {
        BootRequest {
            kernel: opened
                .kernel
                .map(|i| KernelRef::Fd(numbers[i]))
                .unwrap_or_default(),
            initrd: opened.initrd.map(|i| FdRef::Fd(numbers[i])),
            cmdline: config.os.cmdline.clone(),
            memory_mib: config.memory_kib.div_ceil(1024).max(1),
            vcpus: config.vcpus.clamp(1, 255) as u8,
            disks: opened.disks.iter().map(|d| d.disk_ref(numbers)).collect(),
            nics: nic::nic_refs(&opened.nics, numbers),
            paused,
            policies: policies(config),
        }
    }
}

impl HypervisorDriver for KvmDriver {
    fn open(&self, _uri: &str) -> Result<HypervisorInfo> {
        Ok(HypervisorInfo {
            type_name: "KVM".into(),
            version: 1_000,
            hostname: String::new(),
            max_vcpus: u32::from(wirt_kvm::machine::MAX_VCPUS),
        })
    }

    fn node_info(&self) -> Result<NodeInfo> {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        let memory_kib = host_memory_kib();
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let mhz = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("cpu MHz"))
            .and_then(|v| v.trim_start_matches([' ', '\t', ':']).parse::<f64>().ok())
            .unwrap_or(0.0) as u32;
        Ok(NodeInfo {
            cpu_model: std::env::consts::ARCH.into(),
            memory_kib,
            cpus,
            mhz,
            numa_nodes: 1,
            sockets: 1,
            cores: cpus,
            threads: 1,
        })
    }

    fn capabilities(&self) -> Result<Capabilities> {
        Ok(Capabilities {
            host_arch: std::env::consts::ARCH.into(),
            host_features: Vec::new(),
            page_sizes_kib: vec![4, 2048, 1_048_576],
            secmodel: Some("seccomp".into()),
            guests: vec![GuestCapability {
                os_type: "hvm".into(),
                arch: "x86_64".into(),
                wordsize: 64,
                emulator: Some(self.paths.vmm.display().to_string()),
                domain_types: vec!["kvm".into()],
                features: vec!["acpi".into(), "apic".into()],
            }],
        })
    }

    fn start(&self, config: &DomainConfig, flags: u32) -> Result<DomainStatus> {
        self.check_not_running(&config.uuid)?;
        let opened = self.open_with_nics(config)?;
        let (vm, numbers, opened) = self.spawn(config, opened)?;
        self.record_taps(&config.uuid, &opened);
        let boot = Self::boot_request(config, &opened, &numbers, flags & START_PAUSED != 0);
        // The VMM has its copies: the host's must go, or taps outlive it.
        drop(opened);
        match self.request(&vm, "boot", Request::Boot(boot)) {
            Ok(result) => {
                self.register(&config.uuid, vm)?;
                status_from(&result)
            }
            Err(e) => {
                self.stop(&config.uuid, &vm);
                Err(e)
            }
        }
    }

    fn adopt(&self, config: &DomainConfig, _status: &DomainStatus) -> Result<()> {
        self.unwatched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&config.uuid);
        self.connect_adopted(config)
    }

    fn watch_all(&self) {
        self.watch_every_unwatched();
    }

    fn has_unwatched(&self) -> bool {
        !self
            .unwatched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    fn unwatched_states(&self, only: Option<&str>) -> Vec<(String, DomainStatus)> {
        self.published_states(only)
    }

    fn release(&self, uuid: &str) {
        let vm = self.attached(uuid);
        if let Some(vm) = vm.filter(|vm| vm.stopping.load(Ordering::SeqCst)) {
            self.stop(uuid, &vm);
        }
    }

    fn status(&self, uuid: &str) -> Result<DomainStatus> {
        match self.attached(uuid) {
            Some(vm) => status_from(&self.request(&vm, "status", Request::Status)?),
            None => Ok(shutoff(0)),
        }
    }

    fn shutdown(&self, uuid: &str, _flags: u32) -> Result<DomainStatus> {
        let vm = self.vm(uuid)?;
        self.request(&vm, "shutdown", Request::Shutdown)?;
        // "In shutdown" until the guest obeys; its power-off arrives as an event.
        Ok(DomainStatus {
            state: 4,
            reason: 1,
            cpu_time_ns: 0,
            memory_kib: 0,
            vcpus: 0,
        })
    }

    fn destroy(&self, uuid: &str, _flags: u32) -> Result<DomainStatus> {
        let vm = self.vm(uuid)?;
        self.stop(uuid, &vm);
        Ok(shutoff(crate::lifecycle::reason::SHUTOFF_DESTROYED))
    }

    fn suspend(&self, uuid: &str) -> Result<DomainStatus> {
        let vm = self.vm(uuid)?;
        if self.status(uuid)?.state == 3 {
            return self.status(uuid);
        }
        status_from(&self.request(&vm, "pause", Request::Pause)?)
    }

    fn resume(&self, uuid: &str) -> Result<DomainStatus> {
        let vm = self.vm(uuid)?;
        status_from(&self.request(&vm, "resume", Request::Resume)?)
    }

    /// A guest that obeys the power-control port is waited for until it has
    /// reset: otherwise a save taken in between would carry the pending
    /// request, and the restored guest would reboot under the user. A guest
    /// sent Ctrl-Alt-Del may ignore it, as with libvirt's QEMU driver.
    fn reboot(&self, uuid: &str, _flags: u32) -> Result<DomainStatus> {
        let vm = self.vm(uuid)?;
        let (count, changed) = &*vm.resets;
        let before = *count.lock().unwrap_or_else(|p| p.into_inner());
        let answer = self.request(&vm, "reboot", Request::Reboot)?;
        if answer.get("method").and_then(Value::as_str) == Some("pvctl") {
            let deadline = Instant::now() + REBOOT_WAIT;
            let mut seen = count.lock().unwrap_or_else(|p| p.into_inner());
            while *seen == before {
                let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                    tracing::warn!(domain = %vm.name, "the guest has not reset after a reboot request");
                    break;
                };
                seen = changed
                    .wait_timeout(seen, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        self.status(uuid)
    }

    /// A reset pulls the reset line; it does not unpause: a paused guest
    /// stays paused, as with libvirt's QEMU driver.
    fn reset(&self, uuid: &str, _flags: u32) -> Result<DomainStatus> {
        let vm = self.vm(uuid)?;
        let was_paused = self.status(uuid)?.state == 3;
        let status = status_from(&self.request(&vm, "reset", Request::Reset)?)?;
        if was_paused && status.state == 1 {
            return status_from(&self.request(&vm, "pause", Request::Pause)?);
        }
        Ok(status)
    }

    fn save(&self, uuid: &str, _flags: u32, sink: &mut dyn Write) -> Result<u64> {
        self.save_stream(uuid, sink)
    }

    fn save_to_file(&self, uuid: &str, _flags: u32, file: &mut File) -> Result<u64> {
        self.save_into_file(uuid, file)
    }

    fn restore(
        &self,
        config: &DomainConfig,
        source: &mut dyn Read,
        size: u64,
        flags: u32,
    ) -> Result<DomainStatus> {
        self.restore_from(config, source, size, flags)
    }

    fn snapshot_create(&self, uuid: &str, name: &str, _flags: u32) -> Result<()> {
        self.snapshot_memory(uuid, name)
    }

    fn snapshot_revert(
        &self,
        config: &DomainConfig,
        name: &str,
        state: u32,
        _flags: u32,
    ) -> Result<DomainStatus> {
        self.revert_memory(config, name, state)
    }

    fn snapshot_delete(&self, uuid: &str, name: &str, _flags: u32) -> Result<()> {
        self.delete_memory(uuid, name)
    }

    fn external_snapshots(&self) -> bool {
        true
    }

    fn snapshot_internal(
        &self,
        config: &DomainConfig,
        name: &str,
        op: InternalOp,
        images: &[InternalImage],
        memory: bool,
    ) -> Result<()> {
        self.internal_snapshot(config, name, op, images, memory)
    }

    fn create_overlay(&self, overlay: &str, backing: &str, format: &str) -> Result<()> {
        snapshot::create_overlay(overlay, backing, format)
    }

    fn snapshot_external(
        &self,
        config: &DomainConfig,
        snap: &ExternalSnapshot<'_>,
    ) -> Result<Option<String>> {
        self.snapshot_live(config, snap)
    }

    fn commit_overlay(
        &self,
        config: &DomainConfig,
        layers: &[String],
        base: &str,
        base_format: &str,
    ) -> Result<()> {
        self.commit_offline(config, layers, base, base_format)
    }

    fn commit_active(&self, config: &DomainConfig, index: usize, top: &str) -> Result<()> {
        self.commit_live(config, index, top)
    }

    fn block_resize(&self, config: &DomainConfig, index: usize, bytes: u64) -> Result<()> {
        let vm = self.vm(&config.uuid)?;
        vm.call(Request::Resize { index, bytes }, &[])
            .map(|_| ())
            .map_err(|e| vmm_error("block resize", e))
    }

    fn create_image(&self, path: &str, format: &str, size: u64) -> Result<()> {
        snapshot::create_image(path, format, size)
    }

    fn block_copy(
        &self,
        config: &DomainConfig,
        index: usize,
        dest: &DomainConfig,
        shallow: bool,
        pivot: bool,
    ) -> Result<()> {
        self.copy_live(config, index, dest, shallow, pivot)
    }

    fn migrate_incoming(
        &self,
        config: &DomainConfig,
        listen: Option<&str>,
        mode: IncomingMode,
    ) -> Result<String> {
        self.migrate_prepare(config, listen, mode)
    }

    fn migrate_incoming_finish(&self, uuid: &str, cancelled: bool) -> Result<DomainStatus> {
        self.migrate_finish(uuid, cancelled)
    }

    fn migrate_out(&self, uuid: &str, out: &MigrateOut) -> Result<MigrationStats> {
        self.migrate_send(uuid, out)
    }

    fn migrate_incoming_tunnel(
        &self,
        config: &DomainConfig,
        tunnel: std::os::unix::net::UnixStream,
        mode: IncomingMode,
    ) -> Result<()> {
        self.migrate_prepare_tunnel(config, tunnel, mode)
    }

    fn migrate_out_tunnel(
        &self,
        uuid: &str,
        out: &MigrateOut,
        tunnel: std::os::unix::net::UnixStream,
    ) -> Result<MigrationStats> {
        self.migrate_send_on(uuid, out, migrate::Conn::Unix(tunnel))
    }

    fn migrate_abort(&self, uuid: &str) -> Result<()> {
        self.migrate_cancel(uuid)
    }

    fn migrate_converge(&self, uuid: &str) -> Result<()> {
        self.converge_now(uuid)
    }

    fn migrate_progress(&self, uuid: &str) -> Option<MigrateProgress> {
        self.progress_of(uuid)
    }

    fn guest_stats(&self, uuid: &str) -> Result<GuestStats> {
        let vm = self.vm(uuid)?;
        stats_from(&self.request(&vm, "status", Request::Status)?)
    }

    fn host_interfaces(&self) -> bool {
        true
    }

    fn hotplugs(&self) -> bool {
        true
    }

    fn set_lifecycle_actions(&self, config: &DomainConfig) -> Result<()> {
        let vm = self.vm(&config.uuid)?;
        let request = Request::SetPolicies(policies(config));
        self.request(&vm, "set-policies", request).map(drop)
    }

    fn mirrors(&self) -> bool {
        true
    }

    fn mirror_start(
        &self,
        config: &DomainConfig,
        index: usize,
        dest: &DomainConfig,
        top: Option<&str>,
        bandwidth: u64,
    ) -> Result<()> {
        self.mirror_begin(config, index, dest, top, bandwidth)
    }

    fn mirror_status(&self, uuid: &str, index: usize) -> Result<MirrorStatus> {
        self.mirror_progress(uuid, index)
    }

    fn mirror_finish(&self, uuid: &str, index: usize, pivot: bool) -> Result<()> {
        self.mirror_end(uuid, index, Some(pivot))
    }

    fn mirror_set_speed(&self, uuid: &str, index: usize, bandwidth: u64) -> Result<()> {
        let vm = self.vm(uuid)?;
        let request = Request::MirrorSetSpeed { index, bandwidth };
        self.request(&vm, "block job speed", request).map(drop)
    }

    fn mirror_cancel(&self, uuid: &str, index: usize) -> Result<()> {
        self.mirror_end(uuid, index, None)
    }

    fn attach_disk(&self, config: &DomainConfig, index: usize) -> Result<()> {
        self.plug_disk(config, index)
    }

    fn detach_disk(&self, uuid: &str, index: usize) -> Result<()> {
        let request = Request::DetachDisk { index };
        let vm = self.vm(uuid)?;
        self.request(&vm, "detach-disk", request).map(drop)
    }

    fn attach_interface(
        &self,
        config: &DomainConfig,
        index: usize,
        host: &HostNic,
    ) -> Result<String> {
        self.plug_interface(config, index, host)
    }

    fn detach_interface(&self, uuid: &str, index: usize, target: Option<&str>) -> Result<()> {
        self.unplug_interface(uuid, index, target)
    }

    fn refuses_device(&self, device: &crate::xml::Element) -> Option<String> {
        devices::refuses(device)
    }

    fn prepare_interfaces(&self, uuid: &str, nics: Vec<HostNic>) {
        self.prepare(uuid, nics);
    }

    fn interface_targets(&self, uuid: &str) -> Vec<String> {
        self.targets(uuid)
    }

    fn set_interface_link(&self, uuid: &str, index: usize, up: bool) -> Result<()> {
        self.set_link(uuid, index, up)
    }

    /// The pid recorded at spawn beside the socket, checked to still be
    /// that VMM (a re-attached VMM has no `Child` here).
    fn process_id(&self, uuid: &str) -> Result<u32> {
        let vm = self.vm(uuid)?;
        let pid = std::fs::read(vm.socket.with_extension("json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["pid"].as_u64())
            .and_then(|p| i32::try_from(p).ok())
            .filter(|&pid| is_vmm_serving(pid, &vm.socket))
            .ok_or_else(|| {
                Error::driver(ErrorCode::INTERNAL_ERROR, "cannot find the VMM process")
            })?;
        Ok(pid as u32)
    }

    fn open_console(&self, uuid: &str) -> Result<ConsoleStream> {
        let vm = self.vm(uuid)?;
        let mut client =
            Client::connect(&vm.socket).map_err(|e| vmm_error("cannot reach the console", e))?;
        client
            .request(Request::Console { replay: true })
            .map_err(|e| vmm_error("console", e))?;
        let (stream, buffered) = client.into_parts();
        stream
            .set_read_timeout(None)
            .map_err(|e| io_error("console", e))?;
        let writer = stream.try_clone().map_err(|e| io_error("console", e))?;
        Ok(ConsoleStream {
            reader: Box::new(std::io::Cursor::new(buffered).chain(stream)),
            writer: Box::new(ConsoleInput(writer)),
        })
    }
}

/// Typing into a VMM's console. Dropping it ends the connection's input:
/// the VMM then closes the connection, so the output side (read elsewhere,
/// perhaps blocked on another thread) sees its end instead of waiting for
/// the guest to print.
struct ConsoleInput(UnixStream);

impl Write for ConsoleInput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl Drop for ConsoleInput {
    fn drop(&mut self) {
        let _ = self.0.shutdown(std::net::Shutdown::Write);
    }
}

/// Copies everything from `reader` to `sink` in bounded chunks.
fn copy_all(reader: &mut impl Read, sink: &mut dyn Write) -> std::io::Result<u64> {
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sink.write_all(&buf[..n])?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply() -> Value {
        serde_json::json!({
            "state": 1, "reason": 1, "state_name": "running", "cpu_time_ns": 5,
            "memory_kib": 65536, "vcpus": 1, "shutdown_requested": false,
            "forced_cpuid": [], "console_clients": 0, "nics": [],
            "disks": [{"rd_req": 2, "rd_bytes": 1024, "rd_total_ns": 5, "wr_req": 1,
                       "wr_bytes": 512, "wr_total_ns": 6, "flush_req": 1,
                       "flush_total_ns": 7, "errors": 0}]
        })
    }

    #[test]
    fn a_status_reply_is_read_strictly() {
        let s = status_from(&reply()).unwrap();
        assert_eq!((s.state, s.reason, s.memory_kib), (1, 1, 65536));
        let mut missing = reply();
        missing.as_object_mut().unwrap().remove("vcpus");
        assert!(
            status_from(&missing).is_err(),
            "a missing field is not a zero"
        );
        let mut unknown = reply();
        unknown["surprise"] = serde_json::json!(1);
        assert!(
            status_from(&unknown).is_err(),
            "an unknown field is refused"
        );
        let mut state = reply();
        state["state"] = serde_json::json!(42);
        assert!(status_from(&state).is_err(), "an unknown state is refused");
        let mut reason = reply();
        reason["reason"] = serde_json::json!(99);
        assert!(
            status_from(&reason).is_err(),
            "an unknown reason is refused"
        );
    }

    #[test]
    fn disk_counters_are_read_from_the_status() {
        let s = stats_from(&reply()).unwrap();
        assert_eq!(s.disks.len(), 1);
        let d = &s.disks[0];
        assert_eq!((d.rd_req, d.rd_bytes, d.rd_total_ns), (2, 1024, 5));
        assert_eq!((d.wr_req, d.wr_bytes, d.wr_total_ns), (1, 512, 6));
        assert_eq!((d.flush_req, d.flush_total_ns, d.errors), (1, 7, 0));
        let mut missing = reply();
        missing["disks"][0]
            .as_object_mut()
            .unwrap()
            .remove("errors");
        assert!(
            stats_from(&missing).is_err(),
            "a missing counter is not a zero"
        );
    }
}
