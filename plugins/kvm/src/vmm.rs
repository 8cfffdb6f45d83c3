//! The VMM controller: one domain's state machine on top of [`Machine`].
//! It executes control requests and turns guest events into lifecycle
//! actions (libvirt's on_poweroff / on_reboot / on_crash).

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use kvm_ioctls::Kvm;
use serde_json::{Value, json};

use crate::boot::BootImage;
use crate::control::protocol::{
    BUILTIN_TEST_GUEST, BootRequest, DiskRef, Event, FdRef, KernelRef, LifecycleAction, LinkState,
    NicKind, NicRef, Policies, Request, RestoreRequest, StatusReply, VERSION, reason, state,
    state_name,
};
use crate::devices::VmEvent;
use crate::devices::virtio::block::{Disk, DiskError};
use crate::devices::virtio::net::{self, NetConfig, NetShared, NetStats};
use crate::devices::virtio::net::{NicBackend, StreamBackend};
use crate::machine::{
    DiskSpec, Machine, MachineContext, MachineError, MachineSpec, NicSpec, Prepared,
};
use crate::snapshot::{self, MachineState, NicState, SnapshotError};
use crate::tap::Tap;

mod hotplug;
mod internal_snapshot;
pub(crate) mod migrate;
mod mirror;
mod snapshot_disks;

/// Errors of a request.
#[derive(Debug, thiserror::Error)]
pub enum VmmError {
    /// The request is malformed or inconsistent.
    #[error("{0}")]
    InvalidRequest(String),
    /// The request is not valid in the current state.
    #[error("operation not valid while the domain is {0}")]
    InvalidState(&'static str),
    /// A descriptor reference is unusable.
    #[error("bad descriptor {0}")]
    BadFd(String),
    /// Reading the kernel or initrd failed.
    #[error("cannot read the {0} image")]
    Image(&'static str, #[source] std::io::Error),
    /// Building or driving the machine failed.
    #[error("machine failure")]
    Machine(#[from] MachineError),
    /// A disk image (or its backing chain) cannot be served.
    #[error("disk {index} ({format})")]
    Disk {
        /// Its index in the request's `disks`.
        index: usize,
        /// The format it was given as.
        format: &'static str,
        /// Why.
        #[source]
        source: DiskError,
    },
    /// Reading or writing a save file failed.
    #[error("save file failure")]
    Snapshot(#[from] SnapshotError),
    /// A disk could not move onto its new image.
    #[error("disk {index} cannot move to its new image")]
    Replace {
        /// Its index in the boot's `disks`.
        index: usize,
        /// Why.
        #[source]
        source: crate::devices::virtio::block::ReplaceError,
    },
    /// A disk's internal snapshot could not be taken or dropped.
    #[error("internal snapshot '{name}' of disk {index}")]
    Internal {
        /// Its index in the boot's `disks`.
        index: usize,
        /// The snapshot.
        name: String,
        /// Why.
        #[source]
        source: crate::devices::virtio::block::internal::InternalSnapshotError,
    },
    /// A disk could not be resized.
    #[error("disk {index} cannot be resized")]
    Resize {
        /// Its index in the boot's `disks`.
        index: usize,
        /// Why.
        #[source]
        source: crate::devices::virtio::block::ResizeError,
    },
    /// A migration failed.
    #[error("migration failed")]
    Migrate(#[from] crate::migrate::MigrateError),
}

impl VmmError {
    /// The `kind` string of the protocol's error body.
    pub fn kind(&self) -> &'static str {
        match self {
            VmmError::InvalidRequest(_) => "invalid-request",
            VmmError::InvalidState(_) => "invalid-state",
            VmmError::BadFd(_) => "bad-fd",
            _ => "failed",
        }
    }
}

/// The error and all its causes, one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A network card as the domain has it, across the machines it builds.
#[derive(Debug)]
struct NicSetup {
    tap: NicBackend,
    config: NetConfig,
    shared: Arc<NetShared>,
}

impl NicSetup {
    fn spec(&self) -> Result<NicSpec, VmmError> {
        Ok(NicSpec {
            tap: self
                .tap
                .try_clone()
                .map_err(|e| VmmError::Machine(MachineError::Io("a tap", e)))?,
            config: self.config,
            shared: self.shared.clone(),
        })
    }
}

/// What a reboot rebuilds from.
#[derive(Debug)]
struct Setup {
    memory_bytes: u64,
    vcpus: u8,
    boot: Option<BootImage>,
    builtin: Option<String>,
    disks: Vec<DiskSpec>,
    nics: Vec<NicSetup>,
    policies: Policies,
}

impl Setup {
    fn spec(&self) -> Result<Option<MachineSpec>, VmmError> {
        let Some(boot) = self.boot.clone() else {
            return Ok(None);
        };
        let disks = self.disks.clone();
        Ok(Some(MachineSpec {
            memory_bytes: self.memory_bytes,
            vcpus: self.vcpus,
            boot,
            builtin_kernel: self.builtin.clone(),
            disks,
            nics: self
                .nics
                .iter()
                .map(NicSetup::spec)
                .collect::<Result<_, _>>()?,
        }))
    }
}

/// One domain's VMM.
pub struct Vmm {
    kvm: Kvm,
    ctx: MachineContext,
    machine: Option<Machine>,
    setup: Option<Setup>,
    state: u32,
    reason: u32,
    shutdown_requested: bool,
    finished_cpu_ns: u64,
    /// Inherited descriptors requests may still claim by number.
    claimable_fds: HashSet<RawFd>,
    quit: bool,
    /// Stopped machines whose VM and RAM are released after the answers and
    /// events about them are out: closing a VM costs ~10 ms on some hosts.
    retired: Vec<Machine>,
    /// Block jobs copying disks beside the guest.
    mirrors: mirror::Mirrors,
}

impl std::fmt::Debug for Vmm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vmm")
            .field("state", &self.state)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

fn builtin_kernel(name: &str) -> Result<Vec<u8>, VmmError> {
    match name {
        BUILTIN_TEST_GUEST => Ok(crate::guest::TEST_GUEST.to_vec()),
        other => Err(VmmError::InvalidRequest(format!(
            "unknown built-in kernel {other:?} (known: {BUILTIN_TEST_GUEST})"
        ))),
    }
}

impl Vmm {
    /// A VMM with no VM yet. `claimable_fds` are the descriptors it
    /// inherited for requests to name as `{"fd": n}` (disks, taps,
    /// kernel...), each usable once; no other number can be claimed, so a
    /// request cannot take over the VMM's own descriptors.
    pub fn new(
        kvm: Kvm,
        ctx: MachineContext,
        claimable_fds: impl IntoIterator<Item = RawFd>,
    ) -> Self {
        Vmm {
            kvm,
            ctx,
            machine: None,
            setup: None,
            state: state::SHUTOFF,
            reason: reason::SHUTOFF_UNKNOWN,
            shutdown_requested: false,
            finished_cpu_ns: 0,
            retired: Vec::new(),
            claimable_fds: claimable_fds.into_iter().collect(),
            quit: false,
            mirrors: Default::default(),
        }
    }

    /// The console (for attaching clients).
    pub fn console(&self) -> &Arc<crate::devices::console::Console> {
        &self.ctx.console
    }

    /// The guest event sink (its eventfd wakes the control loop).
    pub fn events(&self) -> &Arc<crate::devices::EventSink> {
        &self.ctx.events
    }

    /// Whether `quit` was requested.
    pub fn quitting(&self) -> bool {
        self.quit
    }

    /// Current (state, reason).
    pub fn state(&self) -> (u32, u32) {
        (self.state, self.reason)
    }

    fn set(&mut self, s: u32, r: u32) {
        self.state = s;
        self.reason = r;
    }

    fn take_fd(&mut self, r: FdRef, passed: &mut [Option<OwnedFd>]) -> Result<File, VmmError> {
        match r {
            FdRef::Passed(i) => passed
                .get_mut(i)
                .and_then(Option::take)
                .map(File::from)
                .ok_or_else(|| {
                    VmmError::BadFd(format!("passed #{i} (not sent with this request)"))
                }),
            FdRef::Fd(n) => {
                if !self.claimable_fds.remove(&n) {
                    return Err(VmmError::BadFd(format!(
                        "{n} (not inherited for requests, or already used)"
                    )));
                }
                // SAFETY: F_GETFD only inspects the descriptor table.
                if unsafe { libc::fcntl(n, libc::F_GETFD) } < 0 {
                    return Err(VmmError::BadFd(format!("{n} (not open)")));
                }
                // SAFETY: `n` is open, was inherited for this purpose, and is
                // now removed from the claimable set, so nothing else in the
                // VMM owns it.
                Ok(unsafe { File::from_raw_fd(n) })
            }
        }
    }

    fn read_image(
        &mut self,
        r: FdRef,
        what: &'static str,
        passed: &mut [Option<OwnedFd>],
    ) -> Result<Vec<u8>, VmmError> {
        let mut f = self.take_fd(r, passed)?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)
            .map_err(|e| VmmError::Image(what, e))?;
        Ok(buf)
    }

    fn kernel(
        &mut self,
        k: &KernelRef,
        passed: &mut [Option<OwnedFd>],
    ) -> Result<(Vec<u8>, Option<String>), VmmError> {
        match k {
            KernelRef::Builtin(name) => Ok((builtin_kernel(name)?, Some(name.clone()))),
            KernelRef::Fd(n) => Ok((self.read_image(FdRef::Fd(*n), "kernel", passed)?, None)),
            KernelRef::Passed(i) => {
                Ok((self.read_image(FdRef::Passed(*i), "kernel", passed)?, None))
            }
        }
    }

    fn disks(
        &mut self,
        refs: &[DiskRef],
        passed: &mut [Option<OwnedFd>],
    ) -> Result<Vec<DiskSpec>, VmmError> {
        let mut disks = Vec::with_capacity(refs.len());
        for (i, d) in refs.iter().enumerate() {
            disks.push(DiskSpec {
                disk: Arc::new(self.open_disk(i, d, passed)?),
                id: d.serial.clone(),
            });
        }
        Ok(disks)
    }

    /// Opens disk `index` of a request from its passed descriptors.
    fn open_disk(
        &mut self,
        index: usize,
        d: &DiskRef,
        passed: &mut [Option<OwnedFd>],
    ) -> Result<Disk, VmmError> {
        let file = self.take_fd(d.fd, passed)?;
        let backing = d
            .backing
            .iter()
            .map(|b| self.take_fd(*b, passed))
            .collect::<Result<Vec<_>, _>>()?;
        Disk::open(d.format, file, backing, d.readonly, &d.serial).map_err(|e| VmmError::Disk {
            index,
            format: d.format.name(),
            source: e,
        })
    }

    /// Takes the taps of `refs`; `saved` carries link and counters over a
    /// restore.
    fn nics(
        &mut self,
        refs: &[NicRef],
        passed: &mut [Option<OwnedFd>],
        saved: &[NicState],
    ) -> Result<Vec<NicSetup>, VmmError> {
        check_nics(refs)?;
        let files = refs
            .iter()
            .map(|r| self.take_fd(r.fd, passed))
            .collect::<Result<Vec<_>, _>>()?;
        build_nics(refs, files, saved)
    }

    /// Descriptors and images a restore or an incoming migration takes
    /// before the saved state is known.
    fn claim_incoming(
        &mut self,
        r: &RestoreRequest,
        passed: &mut [Option<OwnedFd>],
    ) -> Result<Incoming, VmmError> {
        let disks = self.disks(&r.disks, passed)?;
        check_nics(&r.nics)?;
        let nic_files = r
            .nics
            .iter()
            .map(|n| self.take_fd(n.fd, passed))
            .collect::<Result<Vec<_>, _>>()?;
        let kernel = match &r.kernel {
            Some(k) => Some(self.kernel(k, passed)?),
            None => None,
        };
        let initrd = match r.initrd {
            Some(f) => Some(Arc::new(self.read_image(f, "initrd", passed)?)),
            None => None,
        };
        Ok(Incoming {
            disks,
            nic_files,
            kernel,
            initrd,
        })
    }

    /// Builds the machine of a restore or incoming migration around `base`,
    /// whose RAM holds the saved pages, and records its setup.
    fn rebuild(
        &mut self,
        r: &RestoreRequest,
        inc: Incoming,
        saved: &MachineState,
        base: Prepared,
        paused: bool,
    ) -> Result<Machine, VmmError> {
        let nics = build_nics(&r.nics, inc.nic_files, &saved.nics)?;
        let (kernel, builtin) = match (inc.kernel, &saved.builtin_kernel) {
            (Some((bytes, b)), _) => (Some(bytes), b),
            (None, Some(name)) => (Some(builtin_kernel(name)?), Some(name.clone())),
            (None, None) => (None, None),
        };
        // The images are shared with the machines of later reboots.
        let keep = inc.disks.clone();
        let nic_specs = nics
            .iter()
            .map(NicSetup::spec)
            .collect::<Result<Vec<_>, _>>()?;
        let machine =
            Machine::restore_prepared(saved, base, inc.disks, nic_specs, &self.ctx, paused)?;
        // A link state given with the restore overrides the saved one; the
        // guest hears of it like of a `set-link`.
        for (i, n) in r.nics.iter().enumerate() {
            if let Some(link) = n.link {
                machine.set_link(i, link == LinkState::Up);
            }
        }
        self.setup = Some(Setup {
            memory_bytes: saved.memory_bytes,
            vcpus: saved.cpus.len() as u8,
            boot: kernel.map(|k| BootImage {
                kernel: Arc::new(k),
                initrd: inc.initrd,
                cmdline: saved.cmdline.clone(),
            }),
            builtin,
            disks: keep,
            nics,
            policies: r.policies,
        });
        self.shutdown_requested = false;
        Ok(machine)
    }
}

/// What [`Vmm::claim_incoming`] took.
struct Incoming {
    disks: Vec<DiskSpec>,
    nic_files: Vec<File>,
    kernel: Option<(Vec<u8>, Option<String>)>,
    initrd: Option<Arc<Vec<u8>>>,
}

/// Refuses malformed or duplicate MACs and MTUs below 68 before any tap is
/// claimed: a bad request must not use up inherited descriptors.
fn check_nics(refs: &[NicRef]) -> Result<(), VmmError> {
    let mut macs = Vec::new();
    for r in refs {
        let mac = net::parse_mac(&r.mac).map_err(VmmError::InvalidRequest)?;
        if macs.contains(&mac) {
            return Err(VmmError::InvalidRequest(format!(
                "MAC address {} is used twice",
                r.mac
            )));
        }
        macs.push(mac);
        if let Some(m) = r.mtu.filter(|m| *m < 68) {
            return Err(VmmError::InvalidRequest(format!("MTU {m} is below 68")));
        }
    }
    Ok(())
}

/// Network cards on the taps in `files` (one per entry of `refs`); `saved`
/// carries link and counters over a restore.
fn build_nics(
    refs: &[NicRef],
    files: Vec<File>,
    saved: &[NicState],
) -> Result<Vec<NicSetup>, VmmError> {
    let mut out: Vec<NicSetup> = Vec::new();
    for ((i, r), file) in refs.iter().enumerate().zip(files) {
        // Checked by check_nics.
        let mac = net::parse_mac(&r.mac).map_err(VmmError::InvalidRequest)?;
        let bad = |e: String| VmmError::BadFd(format!("for nic {}: {e}", r.mac));
        let tap = match r.backend {
            NicKind::Tap => {
                NicBackend::Tap(Tap::new(file.into()).map_err(|e| bad(error_chain(&e)))?)
            }
            NicKind::Stream => {
                NicBackend::Stream(StreamBackend::new(file.into()).map_err(|e| bad(e.to_string()))?)
            }
        };
        let (up, stats) = match saved.get(i) {
            Some(s) => (s.link_up, s.stats),
            None => (r.link != Some(LinkState::Down), NetStats::default()),
        };
        out.push(NicSetup {
            tap,
            config: NetConfig { mac, mtu: r.mtu },
            shared: NetShared::new(up, stats),
        });
    }
    Ok(out)
}

impl Vmm {
    fn require_off(&self) -> Result<(), VmmError> {
        match self.machine {
            Some(_) => Err(VmmError::InvalidState(state_name(self.state))),
            None => Ok(()),
        }
    }

    fn machine(&self) -> Result<&Machine, VmmError> {
        self.machine
            .as_ref()
            .ok_or(VmmError::InvalidState(state_name(self.state)))
    }

    fn stop_machine(&mut self) {
        self.stop_mirrors();
        if let Some(mut m) = self.machine.take() {
            // Its threads stop now: no guest code or disk I/O after this.
            self.finished_cpu_ns += m.halt();
            self.retired.push(m);
            // qcow2 metadata cached in the VMM goes to the image now, so the
            // host (or the next machine's reader) finds it consistent even
            // if this process is then killed rather than asked to quit.
            for (i, d) in self.setup.iter().flat_map(|s| s.disks.iter()).enumerate() {
                if let Err(e) = d.disk.flush_metadata() {
                    eprintln!("wirt-vmm: disk {i}: cannot write qcow2 metadata: {e:?}");
                }
            }
        }
        self.shutdown_requested = false;
        // Events raised by the machine just stopped are moot now.
        self.ctx.events.drain();
    }

    /// Executes a request; `passed` are the descriptors sent with it.
    pub fn handle(
        &mut self,
        req: Request,
        passed: &mut [Option<OwnedFd>],
    ) -> Result<Value, VmmError> {
        match req {
            Request::Hello => Ok(json!({
                "version": VERSION,
                "vmm": concat!("wirt-vmm ", env!("CARGO_PKG_VERSION")),
                "pid": std::process::id(),
                "state": self.state,
                "reason": self.reason,
            })),
            Request::Status => Ok(self.status()),
            Request::Boot(b) => self.boot(b, passed),
            Request::Restore(r) => self.restore(r, passed),
            Request::MigrateSend(m) => self.migrate_send(m, passed),
            Request::MigrateReceive(r) => self.migrate_receive(r, passed),
            Request::Pause => {
                if self.state != state::RUNNING && self.state != state::SHUTDOWN {
                    return Err(VmmError::InvalidState(state_name(self.state)));
                }
                self.machine()?.pause();
                self.set(state::PAUSED, reason::PAUSED_USER);
                Ok(self.status())
            }
            Request::Resume => {
                if self.state != state::PAUSED {
                    return Err(VmmError::InvalidState(state_name(self.state)));
                }
                self.machine()?.resume();
                if self.shutdown_requested {
                    self.set(state::SHUTDOWN, reason::SHUTDOWN_USER);
                } else {
                    self.set(state::RUNNING, reason::RUNNING_UNPAUSED);
                }
                Ok(self.status())
            }
            Request::Shutdown | Request::Reboot => {
                if self.state != state::RUNNING && self.state != state::SHUTDOWN {
                    return Err(VmmError::InvalidState(state_name(self.state)));
                }
                let reboot = matches!(req, Request::Reboot);
                let method = self.machine()?.request_shutdown(reboot);
                if !reboot {
                    self.shutdown_requested = true;
                    self.set(state::SHUTDOWN, reason::SHUTDOWN_USER);
                }
                Ok(json!({ "method": method }))
            }
            Request::Reset => {
                self.machine()?;
                self.restart(reason::RUNNING_BOOTED)?;
                Ok(self.status())
            }
            Request::Destroy => {
                if self.machine.is_some() {
                    self.stop_machine();
                    self.set(state::SHUTOFF, reason::SHUTOFF_DESTROYED);
                }
                Ok(self.status())
            }
            Request::Quit => {
                self.stop_machine();
                self.quit = true;
                Ok(json!({}))
            }
            Request::Save { to, stop } => self.save(to, stop, passed),
            // The server attaches the connection after answering.
            Request::Console { .. } => Ok(json!({})),
            Request::ConsoleInput { data } => {
                let n = self.machine()?.console_input(data.as_bytes());
                Ok(json!({ "accepted": n }))
            }
            Request::ConsoleHistory => Ok(json!({
                "data": String::from_utf8_lossy(&self.ctx.console.history()),
            })),
            Request::SandboxCheck => Ok(self.sandbox_check()),
            Request::InternalSnapshot {
                action,
                name,
                memory,
                disks,
            } => {
                for d in &disks {
                    self.check_no_mirror(d.index)?;
                }
                self.internal_snapshot(action, &name, memory, &disks, passed)
            }
            Request::Snapshot { memory, disks } => {
                for d in &disks {
                    self.check_no_mirror(d.index)?;
                }
                self.snapshot(memory, &disks, passed)
            }
            Request::Commit { index, top, base } => {
                self.check_no_mirror(index)?;
                self.commit(index, top, &base, passed)
            }
            Request::Resize { index, bytes } => {
                self.check_no_mirror(index)?;
                self.resize(index, bytes)
            }
            Request::Copy {
                index,
                dest,
                top,
                pivot,
            } => {
                self.check_no_mirror(index)?;
                self.copy(index, &dest, top, pivot, passed)
            }
            Request::SetLink { nic, mac, link } => self.set_link(nic, mac.as_deref(), link),
            Request::AttachDisk { disk } => self.attach_disk(&disk, passed),
            Request::DetachDisk { index } => self.detach_disk(index),
            Request::AttachNic { nic } => self.attach_nic(&nic, passed),
            Request::DetachNic { index } => self.detach_nic(index),
            Request::MirrorStart {
                index,
                dest,
                top,
                bandwidth,
            } => self.mirror_start(index, &dest, top, bandwidth, passed),
            Request::MirrorStatus { index } => self.mirror_status(index),
            Request::MirrorFinish { index, pivot } => self.mirror_finish(index, pivot),
            Request::MirrorCancel { index } => self.mirror_cancel(index),
            Request::MirrorSetSpeed { index, bandwidth } => self.mirror_set_speed(index, bandwidth),
            Request::SetPolicies(p) => {
                self.machine()?;
                if let Some(setup) = self.setup.as_mut() {
                    setup.policies = p;
                }
                Ok(self.status())
            }
        }
    }

    fn set_link(
        &mut self,
        nic: Option<usize>,
        mac: Option<&str>,
        link: LinkState,
    ) -> Result<Value, VmmError> {
        let machine = self.machine()?;
        let setup = self
            .setup
            .as_ref()
            .ok_or(VmmError::InvalidState(state_name(self.state)))?;
        let index = match (nic, mac) {
            (Some(i), None) => i,
            (None, Some(m)) => {
                let mac = net::parse_mac(m).map_err(VmmError::InvalidRequest)?;
                setup
                    .nics
                    .iter()
                    .position(|n| n.config.mac == mac)
                    .ok_or_else(|| VmmError::InvalidRequest(format!("no network card {m}")))?
            }
            _ => {
                return Err(VmmError::InvalidRequest(
                    "name the network card with exactly one of `nic` and `mac`".into(),
                ));
            }
        };
        let changed = machine
            .set_link(index, link == LinkState::Up)
            .ok_or_else(|| VmmError::InvalidRequest(format!("no network card #{index}")))?;
        Ok(json!({ "changed": changed, "nic": self.nic_status().get(index) }))
    }

    fn nic_status(&self) -> Vec<crate::machine::NicStatus> {
        if let Some(m) = &self.machine {
            return m.nic_status();
        }
        let Some(setup) = &self.setup else {
            return Vec::new();
        };
        setup
            .nics
            .iter()
            .enumerate()
            .map(|(i, n)| {
                // Not running: the slot it gets at the next boot.
                let slot = setup.disks.len() + i;
                crate::machine::nic_status(slot, &n.config, n.tap.name(), &n.shared)
            })
            .collect()
    }

    fn status(&self) -> Value {
        let (cpu, vcpus, mem, forced) = match &self.machine {
            Some(m) => (
                m.cpu_time_ns(),
                m.vcpu_count(),
                m.memory_bytes(),
                m.forced_cpuid().to_vec(),
            ),
            None => (0, 0, 0, Vec::new()),
        };
        let (set_vcpus, set_mem) = self
            .setup
            .as_ref()
            .map_or((0, 0), |s| (usize::from(s.vcpus), s.memory_bytes));
        let reply = StatusReply {
            state: self.state,
            reason: self.reason,
            state_name: state_name(self.state).to_string(),
            cpu_time_ns: self.finished_cpu_ns + cpu,
            memory_kib: if mem > 0 { mem } else { set_mem } / 1024,
            vcpus: u32::try_from(if vcpus > 0 { vcpus } else { set_vcpus }).unwrap_or(u32::MAX),
            shutdown_requested: self.shutdown_requested,
            forced_cpuid: forced.iter().map(|f| f.to_string()).collect(),
            console_clients: self.ctx.console.clients(),
            nics: self
                .nic_status()
                .iter()
                .map(|n| serde_json::to_value(n).expect("a NIC status is plain data"))
                .collect(),
            disks: self.setup.as_ref().map_or_else(Vec::new, |s| {
                s.disks.iter().map(|d| d.disk.stats().snapshot()).collect()
            }),
        };
        serde_json::to_value(reply).expect("a status is plain data")
    }

    fn boot(&mut self, b: BootRequest, passed: &mut [Option<OwnedFd>]) -> Result<Value, VmmError> {
        self.require_off()?;
        if b.memory_mib == 0 || b.memory_mib > (1 << 20) {
            return Err(VmmError::InvalidRequest(format!(
                "memory_mib {} out of range",
                b.memory_mib
            )));
        }
        let (kernel, builtin) = self.kernel(&b.kernel, passed)?;
        let initrd = match b.initrd {
            Some(r) => Some(Arc::new(self.read_image(r, "initrd", passed)?)),
            None => None,
        };
        let disks = self.disks(&b.disks, passed)?;
        let nics = self.nics(&b.nics, passed, &[])?;
        let cmdline = b.cmdline.clone().unwrap_or_else(|| {
            "console=ttyS0 reboot=k panic=1 i8042.noaux i8042.nomux i8042.nopnp".into()
        });
        self.setup = Some(Setup {
            memory_bytes: b.memory_mib << 20,
            vcpus: b.vcpus,
            boot: Some(BootImage {
                kernel: Arc::new(kernel),
                initrd,
                cmdline,
            }),
            builtin,
            disks,
            nics,
            policies: b.policies,
        });
        let spec = self
            .setup
            .as_ref()
            .and_then(|s| s.spec().transpose())
            .expect("boot image set")?;
        self.machine = Some(Machine::boot(&self.kvm, spec, &self.ctx, b.paused)?);
        self.shutdown_requested = false;
        if b.paused {
            self.set(state::PAUSED, reason::PAUSED_USER);
        } else {
            self.set(state::RUNNING, reason::RUNNING_BOOTED);
        }
        Ok(self.status())
    }

    fn restore(
        &mut self,
        r: RestoreRequest,
        passed: &mut [Option<OwnedFd>],
    ) -> Result<Value, VmmError> {
        self.require_off()?;
        let mut input = self.take_fd(r.from, passed)?;
        let saved = snapshot::read_state(&mut input)?;
        let inc = self.claim_incoming(&r, passed)?;
        let base = Prepared::new(&self.kvm, saved.memory_bytes)?;
        snapshot::read_memory(&mut input, base.mem())?;
        let machine = self.rebuild(&r, inc, &saved, base, r.paused)?;
        self.machine = Some(machine);
        if r.paused {
            self.set(state::PAUSED, reason::PAUSED_USER);
        } else {
            self.set(state::RUNNING, reason::RUNNING_RESTORED);
        }
        Ok(self.status())
    }

    fn save(
        &mut self,
        to: FdRef,
        stop: bool,
        passed: &mut [Option<OwnedFd>],
    ) -> Result<Value, VmmError> {
        let was = (self.state, self.reason);
        self.machine()?;
        let mut out = self.take_fd(to, passed)?;
        let machine = self.machine.as_ref().expect("checked above");
        machine.pause();
        let result = machine.save(&self.kvm, &mut out);
        self.set(state::PAUSED, reason::PAUSED_SAVE);
        if let Err(e) = result {
            // The VM is intact: put it back as it was.
            self.state = was.0;
            self.reason = was.1;
            if let Some(m) = self.machine.as_ref().filter(|_| was.0 != state::PAUSED) {
                m.resume();
            }
            return Err(e.into());
        }
        if stop {
            self.stop_machine();
            self.set(state::SHUTOFF, reason::SHUTOFF_SAVED);
        } else if was.0 == state::PAUSED {
            self.set(was.0, was.1);
        } else {
            self.machine()?.resume();
            self.set(
                was.0,
                if was.0 == state::RUNNING {
                    reason::RUNNING_SAVE_CANCELED
                } else {
                    was.1
                },
            );
        }
        Ok(self.status())
    }

    fn sandbox_check(&self) -> Value {
        fn probe() -> Value {
            match File::open("/dev/null") {
                Ok(_) => json!({ "refused": false }),
                Err(e) => {
                    json!({ "refused": true, "errno": e.raw_os_error(), "error": e.to_string() })
                }
            }
        }
        let vcpu = match &self.machine {
            Some(m) => m.on_vcpu0(|_| probe()).unwrap_or(Value::Null),
            None => Value::Null,
        };
        json!({ "control_thread": probe(), "vcpu_thread": vcpu })
    }

    /// Rebuilds the VM from its setup (reset or reboot); without a kernel to
    /// boot (restored from an external kernel that was not supplied) it stops.
    fn restart(&mut self, running_reason: u32) -> Result<(), VmmError> {
        self.stop_machine();
        // One machine's RAM at a time.
        self.release_stopped();
        let spec = match &self.setup {
            Some(s) => s.spec()?,
            None => None,
        };
        let Some(spec) = spec else {
            self.set(state::SHUTOFF, reason::SHUTOFF_SHUTDOWN);
            return Err(VmmError::InvalidRequest(
                "no kernel to reboot into (restore was given none)".into(),
            ));
        };
        match Machine::boot(&self.kvm, spec, &self.ctx, false) {
            Ok(m) => {
                self.machine = Some(m);
                self.set(state::RUNNING, running_reason);
                Ok(())
            }
            Err(e) => {
                self.set(state::SHUTOFF, reason::SHUTOFF_FAILED);
                Err(e.into())
            }
        }
    }

    fn policies(&self) -> Policies {
        self.setup.as_ref().map(|s| s.policies).unwrap_or_default()
    }

    fn event(&self, name: &str, detail: String) -> Event {
        Event {
            event: name.into(),
            state: self.state,
            reason: self.reason,
            detail,
        }
    }

    /// Acts on what the guest did; returns the event lines to broadcast.
    pub fn on_vm_events(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        // Only the first lifecycle event of a batch counts: it replaces the machine.
        let Some(ev) = self.ctx.events.drain().into_iter().next() else {
            return out;
        };
        if self.machine.is_none() {
            return out;
        }
        let p = self.policies();
        let ev = match ev {
            // A reset while a shutdown is pending is how Ctrl-Alt-Del ends.
            VmEvent::Reset if self.shutdown_requested => VmEvent::PowerOff,
            e => e,
        };
        match ev {
            VmEvent::PowerOff => {
                if p.on_poweroff == LifecycleAction::Restart {
                    let r = self.restart(reason::RUNNING_BOOTED);
                    out.push(self.event("poweroff", restart_detail(r)));
                } else {
                    self.stop_machine();
                    self.set(state::SHUTOFF, reason::SHUTOFF_SHUTDOWN);
                    out.push(self.event("poweroff", String::new()));
                }
            }
            VmEvent::Reset => {
                if p.on_reboot == LifecycleAction::Restart {
                    let r = self.restart(reason::RUNNING_BOOTED);
                    out.push(self.event("reboot", restart_detail(r)));
                } else {
                    self.stop_machine();
                    self.set(state::SHUTOFF, reason::SHUTOFF_SHUTDOWN);
                    out.push(self.event("poweroff", "guest rebooted; on_reboot is destroy".into()));
                }
            }
            VmEvent::Crash(detail) => match p.on_crash {
                LifecycleAction::Restart => {
                    let r = self.restart(reason::RUNNING_CRASHED);
                    let extra = restart_detail(r);
                    out.push(self.event("crashed", format!("{detail}{extra}")));
                }
                LifecycleAction::Preserve => {
                    if let Some(m) = &self.machine {
                        m.pause();
                    }
                    self.set(state::CRASHED, reason::CRASHED_PANICKED);
                    out.push(self.event("crashed", detail));
                }
                LifecycleAction::Destroy => {
                    self.stop_machine();
                    self.set(state::SHUTOFF, reason::SHUTOFF_CRASHED);
                    out.push(self.event("crashed", detail));
                }
            },
        }
        out
    }

    /// Releases the VMs and RAM of stopped machines; the control loop calls
    /// it once it has sent what it had to say.
    pub fn release_stopped(&mut self) {
        self.retired.clear();
    }

    /// Periodic housekeeping: flush partial console lines.
    pub fn tick(&self) {
        self.ctx.console.flush();
    }
}

fn restart_detail(r: Result<(), VmmError>) -> String {
    match r {
        Ok(()) => String::new(),
        Err(e) => format!("; restart failed: {}", error_chain(&e)),
    }
}
