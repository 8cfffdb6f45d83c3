//! A running VM: KVM VM + in-kernel irqchip and PIT, RAM, devices, the
//! virtio workers and the vCPU threads. Built fresh for a boot, a reset or a
//! restore; stopping it joins every thread it started.
//!
//! virtio-mmio slots: at boot the disks first, in request order, then the
//! network cards, in request order. Devices plugged in later take the
//! lowest free slot; a save records each device's slot, so a restored or
//! migrated guest finds its devices where it left them.

use std::sync::{Arc, Mutex};

use kvm_ioctls::{Cap, IoEventAddress, Kvm, VcpuFd, VmFd};

use crate::arch::{cpuid, mptable, regs};
use crate::boot::{self, BootImage, MmioAnnounce};
use crate::devices::console::{Console, ConsoleWriter};
use crate::devices::i8042::{I8042, I8042State};
use crate::devices::pvctl::{self, PvCtl, PvCtlState};
use crate::devices::serial::SerialDevice;
use crate::devices::virtio::block::{Block, Disk};
use crate::devices::virtio::mmio::{self, MmioTransport};
use crate::devices::virtio::net::NicBackend;
use crate::devices::virtio::net::{self, Net, NetConfig, NetShared, NetStats};
use crate::devices::virtio::worker::{Worker, WorkerError};
use crate::devices::{Bus, EventSink, IrqLine, SharedTransport, VirtioSlots};
use crate::layout::{self, irq};
use crate::memory::{self, GuestMemoryMmap};
use crate::snapshot::{self, DiskInfo, MachineState, NicState, VmState};
use crate::vcpu::{VcpuContext, VcpuHandle, state};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// A VM-level KVM call failed.
    #[error("cannot {0}")]
    Kvm(&'static str, #[source] kvm_ioctls::Error),
    /// Creating an eventfd or a device failed.
    #[error("cannot set up {0}")]
    Io(&'static str, #[source] std::io::Error),
    /// Guest memory.
    #[error(transparent)]
    Memory(#[from] memory::MemoryError),
    /// CPUID.
    #[error(transparent)]
    Cpuid(#[from] cpuid::CpuidError),
    /// Boot CPU state.
    #[error(transparent)]
    Regs(#[from] regs::RegsError),
    /// MP table.
    #[error(transparent)]
    Mptable(#[from] mptable::MptableError),
    /// Kernel loading.
    #[error(transparent)]
    Boot(#[from] boot::BootError),
    /// virtio transport.
    #[error(transparent)]
    Mmio(#[from] mmio::MmioError),
    /// Worker thread.
    #[error(transparent)]
    Worker(#[from] crate::devices::virtio::worker::WorkerError),
    /// vCPU thread.
    #[error(transparent)]
    Vcpu(#[from] crate::vcpu::VcpuError),
    /// vCPU state.
    #[error(transparent)]
    State(#[from] state::StateError),
    /// Save file.
    #[error(transparent)]
    Snapshot(#[from] snapshot::SnapshotError),
    /// UART state.
    #[error(transparent)]
    Serial(#[from] crate::devices::serial::SerialError),
    /// The saved machine does not match what was supplied for the restore.
    #[error("save file does not match: {0}")]
    Mismatch(String),
    /// Too many devices or vCPUs.
    #[error("unsupported configuration: {0}")]
    Unsupported(String),
}

/// A disk to attach.
#[derive(Clone, Debug)]
pub struct DiskSpec {
    /// The image, opened once: the machines of successive reboots share it
    /// (and its qcow2 metadata cache).
    pub disk: Arc<Disk>,
    /// Device id the guest reads with GET_ID (at most 20 bytes).
    pub id: String,
}

/// A network card to attach.
#[derive(Debug)]
pub struct NicSpec {
    /// The tap (or passt stream), opened by the host.
    pub tap: NicBackend,
    /// MAC and MTU the guest sees.
    pub config: NetConfig,
    /// Link and counters, kept across the machines of one domain.
    pub shared: Arc<NetShared>,
}

/// What the controller reports about a network card.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NicStatus {
    /// virtio-mmio slot.
    pub slot: usize,
    /// MAC address.
    pub mac: String,
    /// Host name of the tap.
    pub tap: String,
    /// `up` or `down`.
    pub link: &'static str,
    /// Whether the guest driver runs the card.
    pub active: bool,
    /// Features the driver negotiated (0 if it does not run the card).
    pub features: u64,
    /// The tap failed (detached under us); the card no longer moves frames.
    pub tap_failed: bool,
    /// Counters.
    #[serde(flatten)]
    pub stats: NetStats,
}

/// What to build.
#[derive(Debug)]
pub struct MachineSpec {
    /// RAM in bytes.
    pub memory_bytes: u64,
    /// Number of vCPUs.
    pub vcpus: u8,
    /// Kernel, initrd, command line.
    pub boot: BootImage,
    /// Name of the built-in kernel, if `boot.kernel` is one.
    pub builtin_kernel: Option<String>,
    /// Disks, in virtio-mmio slot order.
    pub disks: Vec<DiskSpec>,
    /// Network cards, in slot order after the disks.
    pub nics: Vec<NicSpec>,
}

/// Hooks that run first in each thread a machine starts (seccomp filters).
#[derive(Clone)]
pub struct ThreadHooks {
    /// For vCPU threads.
    pub vcpu: Arc<dyn Fn() + Send + Sync>,
    /// For the disks' virtio worker.
    pub worker: Arc<dyn Fn() + Send + Sync>,
    /// For each network card's worker.
    pub net: Arc<dyn Fn() + Send + Sync>,
}

impl Default for ThreadHooks {
    fn default() -> Self {
        ThreadHooks {
            vcpu: Arc::new(|| {}),
            worker: Arc::new(|| {}),
            net: Arc::new(|| {}),
        }
    }
}

/// Shared by every machine a VMM builds.
#[derive(Clone)]
pub struct MachineContext {
    /// Serial console output.
    pub console: Arc<Console>,
    /// Where guest-raised events go.
    pub events: Arc<EventSink>,
    /// Per-thread setup.
    pub hooks: ThreadHooks,
}

/// A built VM with its threads.
pub struct Machine {
    // Field order is drop order: threads stop before the VM and RAM go.
    vcpus: Vec<VcpuHandle>,
    disk_worker: Option<Worker>,
    /// One per network card, in `nics` order.
    nic_workers: Vec<Worker>,
    bus: Arc<Bus>,
    disks: Vec<DiskDevice>,
    nics: Vec<Nic>,
    vm: VmFd,
    mem: GuestMemoryMmap,
    hooks: ThreadHooks,
    builtin_kernel: Option<String>,
    cmdline: String,
    forced_cpuid: Vec<&'static str>,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("vcpus", &self.vcpus.len())
            .field("disks", &self.disks)
            .finish_non_exhaustive()
    }
}

/// A disk of a built machine.
#[derive(Debug)]
struct DiskDevice {
    info: DiskInfo,
    slot: usize,
    transport: SharedTransport,
}

/// Every virtio transport of a machine, locked (see [`Machine::freeze`]).
pub struct Frozen<'a>(Vec<std::sync::MutexGuard<'a, MmioTransport>>);

/// A network card of a built machine.
#[derive(Debug)]
struct Nic {
    slot: usize,
    config: NetConfig,
    tap: String,
    shared: Arc<NetShared>,
    transport: SharedTransport,
}

struct Parts {
    vm: VmFd,
    mem: GuestMemoryMmap,
    bus: Arc<Bus>,
    disks: Vec<DiskDevice>,
    nics: Vec<Nic>,
}

/// A VM with an in-kernel irqchip and PIT.
pub(crate) fn create_vm(kvm: &Kvm) -> Result<VmFd, MachineError> {
    let vm = kvm
        .create_vm()
        .map_err(|e| MachineError::Kvm("create a VM", e))?;
    vm.set_tss_address(layout::KVM_TSS as usize)
        .map_err(|e| MachineError::Kvm("set the TSS address", e))?;
    vm.create_irq_chip()
        .map_err(|e| MachineError::Kvm("create the in-kernel irqchip", e))?;
    let pit = kvm_bindings::kvm_pit_config {
        flags: kvm_bindings::KVM_PIT_SPEAKER_DUMMY,
        ..Default::default()
    };
    vm.create_pit2(pit)
        .map_err(|e| MachineError::Kvm("create the in-kernel PIT", e))?;
    Ok(vm)
}

fn irq_line(vm: &VmFd, gsi: u32) -> Result<IrqLine, MachineError> {
    let line = IrqLine::new().map_err(|e| MachineError::Io("an interrupt eventfd", e))?;
    vm.register_irqfd(line.eventfd(), gsi)
        .map_err(|e| MachineError::Kvm("register an irqfd", e))?;
    Ok(line)
}

/// A VM with its RAM registered and nothing else yet. An incoming
/// migration builds it while the RAM arrives: creating a VM is most of what
/// building a machine costs, and the guest is paused meanwhile otherwise.
pub struct Prepared {
    // Field order is drop order: the VM (and its memory slots) first.
    vm: VmFd,
    mem: GuestMemoryMmap,
}

impl Prepared {
    /// A new VM with `memory_bytes` of zeroed RAM.
    pub fn new(kvm: &Kvm, memory_bytes: u64) -> Result<Prepared, MachineError> {
        let mem = memory::create(memory_bytes)?;
        let vm = create_vm(kvm)?;
        memory::register(&vm, &mem)?;
        Ok(Prepared { vm, mem })
    }

    /// Its RAM, to fill.
    pub fn mem(&self) -> &GuestMemoryMmap {
        &self.mem
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("memory_bytes", &memory::size(&self.mem))
            .finish_non_exhaustive()
    }
}

/// VM, RAM and devices; `saved` restores device registers.
fn build_parts(
    base: Prepared,
    disks: Vec<DiskSpec>,
    nics: Vec<NicSpec>,
    ctx: &MachineContext,
    saved: Option<&MachineState>,
) -> Result<Parts, MachineError> {
    if disks.len() + nics.len() > layout::VIRTIO_MMIO_SLOTS {
        return Err(MachineError::Unsupported(format!(
            "{} disks and {} network cards (at most {} virtio devices)",
            disks.len(),
            nics.len(),
            layout::VIRTIO_MMIO_SLOTS
        )));
    }
    if let Some(s) = saved
        && s.virtio.len() != disks.len() + nics.len()
    {
        return Err(MachineError::Mismatch(format!(
            "{} virtio devices saved, {} given",
            s.virtio.len(),
            disks.len() + nics.len()
        )));
    }
    let slots = device_slots(saved, disks.len() + nics.len())?;
    let Prepared { vm, mem } = base;

    let writer = ConsoleWriter(ctx.console.clone());
    let serial_irq = irq_line(&vm, irq::SERIAL)?;
    let serial = match saved {
        Some(s) => SerialDevice::restore(serial_irq, writer, &s.serial)?,
        None => SerialDevice::new(serial_irq, writer),
    };
    let i8042 = I8042::new(
        irq_line(&vm, irq::I8042)?,
        saved.map_or_else(I8042State::default, |s| s.i8042.clone()),
    );
    let pvctl = PvCtl::new(
        irq_line(&vm, irq::PVCTL)?,
        saved.map_or_else(PvCtlState::default, |s| s.pvctl),
    );

    let virtio = VirtioSlots::default();
    let mut device_states = saved.map(|s| s.virtio.iter());
    let mut slots = slots.into_iter();
    let mut next = |vm: &VmFd, device: Box<dyn crate::devices::virtio::VirtioDevice>| {
        let slot = slots.next().expect("one slot per device");
        let state = device_states.as_mut().and_then(Iterator::next);
        let t = transport(vm, &mem, slot, device, state)?;
        virtio.set(slot, Some(t.clone()));
        Ok::<_, MachineError>((slot, t))
    };
    let mut disk_parts = Vec::new();
    for d in disks {
        let info = DiskInfo {
            readonly: d.disk.readonly(),
            id: d.id,
            sectors: d.disk.sectors(),
        };
        let (slot, transport) = next(&vm, Box::new(Block::new(d.disk)))?;
        disk_parts.push(DiskDevice {
            info,
            slot,
            transport,
        });
    }
    let mut nic_parts = Vec::new();
    for n in nics {
        let tap = n.tap.name().to_string();
        let dev = Net::new(n.tap, mem.clone(), n.config, n.shared.clone());
        let (slot, transport) = next(&vm, Box::new(dev))?;
        nic_parts.push(Nic {
            slot,
            config: n.config,
            tap,
            shared: n.shared,
            transport,
        });
    }
    let bus = Arc::new(Bus {
        serial: Mutex::new(serial),
        i8042: Mutex::new(i8042),
        pvctl: Mutex::new(pvctl),
        virtio,
        events: ctx.events.clone(),
    });
    Ok(Parts {
        vm,
        mem,
        bus,
        disks: disk_parts,
        nics: nic_parts,
    })
}

/// The slot of each device (disks, then network cards): as saved, or, for
/// a boot and for files from before hotplug, one after the other.
fn device_slots(saved: Option<&MachineState>, count: usize) -> Result<Vec<usize>, MachineError> {
    let Some(slots) = saved.map(|s| &s.slots).filter(|s| !s.is_empty()) else {
        return Ok((0..count).collect());
    };
    let mut seen = [false; layout::VIRTIO_MMIO_SLOTS];
    if slots.len() != count {
        return Err(MachineError::Mismatch(format!(
            "{} virtio slots saved for {count} devices",
            slots.len()
        )));
    }
    for &slot in slots {
        if slot >= layout::VIRTIO_MMIO_SLOTS || std::mem::replace(&mut seen[slot], true) {
            return Err(MachineError::Mismatch(format!(
                "virtio slot {slot} saved twice or out of range"
            )));
        }
    }
    Ok(slots.clone())
}

/// A transport for `device` in `slot`, with its queue ioeventfds registered.
fn transport(
    vm: &VmFd,
    mem: &GuestMemoryMmap,
    slot: usize,
    device: Box<dyn crate::devices::virtio::VirtioDevice>,
    saved: Option<&crate::devices::virtio::mmio::MmioSnapshot>,
) -> Result<SharedTransport, MachineError> {
    let irq = irq_line(vm, layout::virtio_irq(slot))?;
    let mut t = MmioTransport::new(device, mem.clone(), irq)?;
    if let Some(s) = saved {
        t.restore(s)?;
    }
    let notify = IoEventAddress::Mmio(layout::virtio_mmio_addr(slot) + mmio::QUEUE_NOTIFY);
    for (q, evt) in t.queue_evts().iter().enumerate() {
        vm.register_ioevent(evt, &notify, q as u32)
            .map_err(|e| MachineError::Kvm("register a queue ioeventfd", e))?;
    }
    Ok(Arc::new(Mutex::new(t)))
}

/// Takes an unplugged transport's interrupt and queue eventfds back from
/// KVM, so the slot can take another device.
fn release_transport(vm: &VmFd, slot: usize, t: &MmioTransport) -> Result<(), MachineError> {
    let notify = IoEventAddress::Mmio(layout::virtio_mmio_addr(slot) + mmio::QUEUE_NOTIFY);
    for (q, evt) in t.queue_evts().iter().enumerate() {
        vm.unregister_ioevent(evt, &notify, q as u32)
            .map_err(|e| MachineError::Kvm("unregister a queue ioeventfd", e))?;
    }
    vm.unregister_irqfd(t.irq().eventfd(), layout::virtio_irq(slot))
        .map_err(|e| MachineError::Kvm("unregister an irqfd", e))
}

/// The most vCPUs a machine boots with (its MP table's limit); the host
/// reports it as the connection's maximum, so define refuses more.
pub const MAX_VCPUS: u8 = 32;

impl Machine {
    /// Boots `spec` from its kernel.
    pub fn boot(
        kvm: &Kvm,
        spec: MachineSpec,
        ctx: &MachineContext,
        paused: bool,
    ) -> Result<Machine, MachineError> {
        if spec.vcpus == 0 || spec.vcpus > MAX_VCPUS {
            return Err(MachineError::Unsupported(format!("{} vCPUs", spec.vcpus)));
        }
        let announce: Vec<MmioAnnounce> = (0..spec.disks.len() + spec.nics.len())
            .map(|slot| MmioAnnounce {
                addr: layout::virtio_mmio_addr(slot),
                irq: layout::virtio_irq(slot),
            })
            .collect();
        let base = Prepared::new(kvm, spec.memory_bytes)?;
        let parts = build_parts(base, spec.disks, spec.nics, ctx, None)?;
        regs::write_boot_tables(&parts.mem)?;
        mptable::write(&parts.mem, spec.vcpus)?;
        let entry = boot::load(&parts.mem, &spec.boot, &announce)?;

        let base = cpuid::supported(kvm)?;
        let mut fds = Vec::new();
        let mut forced = Vec::new();
        for id in 0..spec.vcpus {
            let vcpu = parts
                .vm
                .create_vcpu(u64::from(id))
                .map_err(|e| MachineError::Kvm("create a vCPU", e))?;
            forced = cpuid::apply(&vcpu, &cpuid::for_vcpu(&base, id, spec.vcpus))?;
            regs::setup_boot_msrs(&vcpu)?;
            regs::setup_lint(&vcpu)?;
            // Application processors wait for INIT/SIPI; only the BSP starts at the entry.
            if id == 0 {
                regs::setup_boot_cpu(&vcpu, entry)?;
            }
            fds.push(vcpu);
        }
        static WARNED: std::sync::Once = std::sync::Once::new();
        if !forced.is_empty() {
            WARNED.call_once(|| {
                eprintln!(
                    "wirt-vmm: host KVM keeps these masked CPUID features visible: {}",
                    forced.join(",")
                )
            });
        }
        Self::start(
            parts,
            fds,
            ctx,
            paused,
            spec.builtin_kernel,
            spec.boot.cmdline,
            forced,
        )
    }

    /// Rebuilds a machine from a save file whose state section was read into
    /// `saved`; its RAM is read from `input`. The network cards must have the
    /// saved MACs and MTUs (the guest knows them); their taps may be new.
    pub fn restore<R: vm_memory::ReadVolatile>(
        kvm: &Kvm,
        saved: &MachineState,
        input: &mut R,
        disks: Vec<DiskSpec>,
        nics: Vec<NicSpec>,
        ctx: &MachineContext,
        paused: bool,
    ) -> Result<Machine, MachineError> {
        let base = Prepared::new(kvm, saved.memory_bytes)?;
        snapshot::read_memory(input, base.mem())?;
        Self::restore_prepared(saved, base, disks, nics, ctx, paused)
    }

    /// Rebuilds a machine from `saved` around a VM whose RAM already holds
    /// its contents (a save file's, or what a migration stream delivered).
    pub fn restore_prepared(
        saved: &MachineState,
        base: Prepared,
        disks: Vec<DiskSpec>,
        nics: Vec<NicSpec>,
        ctx: &MachineContext,
        paused: bool,
    ) -> Result<Machine, MachineError> {
        if memory::size(&base.mem) != saved.memory_bytes {
            return Err(MachineError::Mismatch(format!(
                "{} bytes of RAM given, {} saved",
                memory::size(&base.mem),
                saved.memory_bytes
            )));
        }
        if nics.len() != saved.nics.len() {
            return Err(MachineError::Mismatch(format!(
                "{} network cards saved, {} given",
                saved.nics.len(),
                nics.len()
            )));
        }
        for (given, was) in nics.iter().zip(&saved.nics) {
            let mac = net::format_mac(&given.config.mac);
            if mac != was.mac || given.config.mtu != was.mtu {
                return Err(MachineError::Mismatch(format!(
                    "network card {mac} (MTU {:?}) was {} (MTU {:?}) when saved",
                    given.config.mtu, was.mac, was.mtu
                )));
            }
        }
        if disks.len() != saved.disks.len() {
            return Err(MachineError::Mismatch(format!(
                "{} disks saved, {} given",
                saved.disks.len(),
                disks.len()
            )));
        }
        if saved.cpus.is_empty() || saved.cpus.len() > 32 {
            return Err(MachineError::Mismatch(format!(
                "{} vCPUs",
                saved.cpus.len()
            )));
        }
        let parts = build_parts(base, disks, nics, ctx, Some(saved))?;
        for (given, was) in parts.disks.iter().zip(&saved.disks) {
            if given.info.sectors != was.sectors {
                return Err(MachineError::Mismatch(format!(
                    "disk {:?} has {} sectors, {} when saved",
                    was.id, given.info.sectors, was.sectors
                )));
            }
        }
        saved.vm.restore(&parts.vm)?;
        let mut fds = Vec::new();
        for (id, s) in saved.cpus.iter().enumerate() {
            let vcpu = parts
                .vm
                .create_vcpu(id as u64)
                .map_err(|e| MachineError::Kvm("create a vCPU", e))?;
            let refused = state::restore(&vcpu, s)?;
            if refused > 0 {
                eprintln!("wirt-vmm: vCPU {id}: KVM refused {refused} saved MSRs");
            }
            fds.push(vcpu);
        }
        let forced = match saved.cpus.first() {
            Some(c) => cpuid::forced(&cpuid::from_entries(&c.cpuid)?),
            None => Vec::new(),
        };
        let machine = Self::start(
            parts,
            fds,
            ctx,
            paused,
            saved.builtin_kernel.clone(),
            saved.cmdline.clone(),
            forced,
        )?;
        // Kicks made before the save went to the old process's ioeventfds,
        // and restored cards must configure their new taps: the workers do
        // both when asked for service.
        for t in machine.transports() {
            t.lock().expect("virtio transport").request_service();
        }
        Ok(machine)
    }

    fn start(
        parts: Parts,
        fds: Vec<VcpuFd>,
        ctx: &MachineContext,
        paused: bool,
        builtin_kernel: Option<String>,
        cmdline: String,
        forced_cpuid: Vec<&'static str>,
    ) -> Result<Machine, MachineError> {
        // One worker for the disks, one per network card: a disk flush must
        // not hold up packets, and only network workers may touch a tap.
        let hook = ctx.hooks.worker.clone();
        let disks = parts.disks.iter().map(|d| d.transport.clone()).collect();
        let disk_worker = Worker::spawn("virtio-blk", disks, Box::new(move || hook()))?;
        let nic_workers = parts
            .nics
            .iter()
            .map(|n| nic_worker(&ctx.hooks, n))
            .collect::<Result<_, _>>()?;
        let mut machine = Machine {
            vcpus: Vec::new(),
            disk_worker: Some(disk_worker),
            nic_workers,
            bus: parts.bus,
            disks: parts.disks,
            nics: parts.nics,
            vm: parts.vm,
            mem: parts.mem,
            hooks: ctx.hooks.clone(),
            builtin_kernel,
            cmdline,
            forced_cpuid,
        };
        let vctx = VcpuContext {
            bus: machine.bus.clone(),
            mem: machine.mem.clone(),
            setup: ctx.hooks.vcpu.clone(),
        };
        for (id, fd) in fds.into_iter().enumerate() {
            machine
                .vcpus
                .push(VcpuHandle::spawn(id as u8, fd, vctx.clone(), paused)?);
        }
        Ok(machine)
    }

    /// Parks every vCPU and waits until they are out of guest code.
    pub fn pause(&self) {
        for v in &self.vcpus {
            v.request_pause();
        }
        for v in &self.vcpus {
            v.wait_parked();
        }
    }

    /// Lets parked vCPUs run.
    pub fn resume(&self) {
        for v in &self.vcpus {
            v.resume();
        }
    }

    /// Asks the guest to power off (`reboot` false) or reboot: through the
    /// power-control port if the guest said it obeys it, else Ctrl-Alt-Del.
    pub fn request_shutdown(&self, reboot: bool) -> &'static str {
        let mut pv = self.bus.pvctl.lock().expect("pvctl");
        if pv.guest_obeys() {
            pv.request(if reboot {
                pvctl::REQ_REBOOT
            } else {
                pvctl::REQ_POWEROFF
            });
            "pvctl"
        } else {
            // Linux obeys Ctrl-Alt-Del; a guest that says hello later gets
            // a power-off then. A reboot is not kept: the guest is booting
            // already, and a late reset would surprise whoever saved it since.
            if !reboot {
                pv.latch(pvctl::REQ_POWEROFF);
            }
            self.bus.i8042.lock().expect("i8042").ctrl_alt_del();
            "ctrl-alt-del"
        }
    }

    /// Queues console input; returns how many bytes the UART took.
    pub fn console_input(&self, bytes: &[u8]) -> usize {
        self.bus.serial.lock().expect("serial").enqueue_input(bytes)
    }

    /// CPU time of the vCPU threads, in nanoseconds.
    pub fn cpu_time_ns(&self) -> u64 {
        self.vcpus.iter().map(VcpuHandle::cpu_time_ns).sum()
    }

    /// Number of vCPUs.
    pub fn vcpu_count(&self) -> usize {
        self.vcpus.len()
    }

    /// RAM in bytes.
    pub fn memory_bytes(&self) -> u64 {
        memory::size(&self.mem)
    }

    /// The network cards, in slot order.
    pub fn nic_status(&self) -> Vec<NicStatus> {
        self.nics
            .iter()
            .map(|n| nic_status(n.slot, &n.config, &n.tap, &n.shared))
            .collect()
    }

    /// Every virtio transport: the disks', then the network cards'.
    fn transports(&self) -> impl Iterator<Item = &SharedTransport> {
        let disks = self.disks.iter().map(|d| &d.transport);
        disks.chain(self.nics.iter().map(|n| &n.transport))
    }

    fn free_slot(&self) -> Result<usize, MachineError> {
        self.bus.virtio.free().ok_or_else(|| {
            MachineError::Unsupported(format!(
                "all {} virtio slots are in use",
                layout::VIRTIO_MMIO_SLOTS
            ))
        })
    }

    /// Plugs a disk into the lowest free slot of the running machine; it
    /// becomes the last of its disks. A guest that speaks the power-control
    /// protocol is asked to rescan. Returns the slot.
    pub fn plug_disk(&mut self, d: DiskSpec) -> Result<usize, MachineError> {
        let slot = self.free_slot()?;
        let info = DiskInfo {
            readonly: d.disk.readonly(),
            id: d.id,
            sectors: d.disk.sectors(),
        };
        let t = transport(
            &self.vm,
            &self.mem,
            slot,
            Box::new(Block::new(d.disk)),
            None,
        )?;
        let worker = self.disk_worker.as_ref().ok_or(WorkerError::Gone)?;
        if let Err(e) = worker.add(t.clone()) {
            let _ = release_transport(&self.vm, slot, &t.lock().expect("virtio transport"));
            return Err(e.into());
        }
        self.bus.virtio.set(slot, Some(t.clone()));
        self.disks.push(DiskDevice {
            info,
            slot,
            transport: t,
        });
        self.bus.pvctl.lock().expect("pvctl").request_rescan();
        Ok(slot)
    }

    /// Unplugs disk `index` at once (as a surprise removal): the guest's
    /// accesses to the slot read zeros from then on, and the image is no
    /// longer touched when this returns. Later disks move down one index.
    pub fn unplug_disk(&mut self, index: usize) -> Result<(), MachineError> {
        if index >= self.disks.len() {
            return Err(MachineError::Unsupported(format!("no disk {index}")));
        }
        let d = self.disks.remove(index);
        self.bus.virtio.set(d.slot, None);
        if let Some(w) = &self.disk_worker {
            w.remove(d.transport.clone())?;
        }
        release_transport(
            &self.vm,
            d.slot,
            &d.transport.lock().expect("virtio transport"),
        )?;
        self.bus.pvctl.lock().expect("pvctl").request_rescan();
        Ok(())
    }

    /// Plugs a network card into the lowest free slot, with a worker of its
    /// own; it becomes the last card. Returns the slot.
    pub fn plug_nic(&mut self, n: NicSpec) -> Result<usize, MachineError> {
        let slot = self.free_slot()?;
        let tap = n.tap.name().to_string();
        let dev = Net::new(n.tap, self.mem.clone(), n.config, n.shared.clone());
        let t = transport(&self.vm, &self.mem, slot, Box::new(dev), None)?;
        let nic = Nic {
            slot,
            config: n.config,
            tap,
            shared: n.shared,
            transport: t.clone(),
        };
        let worker = match nic_worker(&self.hooks, &nic) {
            Ok(w) => w,
            Err(e) => {
                let _ = release_transport(&self.vm, slot, &t.lock().expect("virtio transport"));
                return Err(e);
            }
        };
        self.bus.virtio.set(slot, Some(t));
        self.nics.push(nic);
        self.nic_workers.push(worker);
        self.bus.pvctl.lock().expect("pvctl").request_rescan();
        Ok(slot)
    }

    /// Unplugs network card `index`: its worker stops and the tap closes.
    /// Later cards move down one index.
    pub fn unplug_nic(&mut self, index: usize) -> Result<(), MachineError> {
        if index >= self.nics.len() {
            return Err(MachineError::Unsupported(format!(
                "no network card {index}"
            )));
        }
        let n = self.nics.remove(index);
        self.bus.virtio.set(n.slot, None);
        self.nic_workers.remove(index).stop();
        release_transport(
            &self.vm,
            n.slot,
            &n.transport.lock().expect("virtio transport"),
        )?;
        self.bus.pvctl.lock().expect("pvctl").request_rescan();
        Ok(())
    }

    /// Plugs (`up`) or unplugs network card `index`: the guest sees the
    /// status change with a configuration interrupt. Returns whether it
    /// changed.
    pub fn set_link(&self, index: usize, up: bool) -> Option<bool> {
        let n = self.nics.get(index)?;
        let changed = n.shared.set_link(up);
        if changed {
            let mut t = n.transport.lock().expect("virtio transport");
            t.config_changed();
            // The worker starts or stops reading the tap.
            t.request_service();
        }
        Some(changed)
    }

    /// Disk `index`'s configuration (its capacity) changed: the guest gets
    /// a configuration interrupt.
    pub fn disk_config_changed(&self, index: usize) {
        if let Some(d) = self.disks.get(index) {
            d.transport
                .lock()
                .expect("virtio transport")
                .config_changed();
        }
    }

    /// Masked CPUID features the host turned back on.
    pub fn forced_cpuid(&self) -> &[&'static str] {
        &self.forced_cpuid
    }

    /// Runs `f` on vCPU 0's thread.
    pub fn on_vcpu0<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut VcpuFd) -> R + Send + 'static,
    ) -> Result<R, MachineError> {
        let v = self.vcpus.first().ok_or(crate::vcpu::VcpuError::Gone(0))?;
        Ok(v.run_job(f)?)
    }

    /// Writes a save file. The vCPUs must be parked ([`Machine::pause`]).
    pub fn save(&self, kvm: &Kvm, out: &mut std::fs::File) -> Result<(), MachineError> {
        // Holding the transports keeps the workers from touching queues or RAM.
        let frozen = self.freeze();
        self.save_frozen(kvm, &frozen, out)
    }

    /// [`Machine::save`] under a hold the caller keeps for more (an external
    /// snapshot moves the disks before the devices run again).
    pub fn save_frozen(
        &self,
        kvm: &Kvm,
        frozen: &Frozen<'_>,
        out: &mut std::fs::File,
    ) -> Result<(), MachineError> {
        let state = self.capture(kvm, frozen)?;
        snapshot::write(out, &state, &self.mem)?;
        Ok(())
    }

    /// Locks every virtio transport: while the guard lives no device worker
    /// processes a queue, so neither queues nor RAM change under a capture.
    pub fn freeze(&self) -> Frozen<'_> {
        Frozen(
            self.transports()
                .map(|t| t.lock().expect("virtio transport"))
                .collect(),
        )
    }

    /// Everything but RAM. The vCPUs must be parked and `frozen` held.
    pub fn capture(&self, kvm: &Kvm, frozen: &Frozen<'_>) -> Result<MachineState, MachineError> {
        let msrs: Arc<Vec<u32>> = Arc::new(
            kvm.get_msr_index_list()
                .map_err(|e| MachineError::Kvm("read the MSR index list", e))?
                .as_slice()
                .to_vec(),
        );
        let xsave = kvm.check_extension(Cap::Xsave);
        let mut cpus = Vec::new();
        for v in &self.vcpus {
            let list = msrs.clone();
            cpus.push(v.run_job(move |fd| state::save(fd, &list, xsave))??);
        }
        Ok(MachineState {
            memory_bytes: memory::size(&self.mem),
            disks: self.disks.iter().map(|d| d.info.clone()).collect(),
            builtin_kernel: self.builtin_kernel.clone(),
            cmdline: self.cmdline.clone(),
            vm: VmState::capture(&self.vm)?,
            cpus,
            serial: self.bus.serial.lock().expect("serial").snapshot(),
            i8042: self.bus.i8042.lock().expect("i8042").state(),
            pvctl: self.bus.pvctl.lock().expect("pvctl").state(),
            virtio: frozen.0.iter().map(|g| g.snapshot()).collect(),
            slots: self
                .disks
                .iter()
                .map(|d| d.slot)
                .chain(self.nics.iter().map(|n| n.slot))
                .collect(),
            nics: self
                .nics
                .iter()
                .map(|n| NicState {
                    mac: net::format_mac(&n.config.mac),
                    mtu: n.config.mtu,
                    link_up: n.shared.link_up(),
                    stats: n.shared.stats(),
                })
                .collect(),
        })
    }

    /// The KVM VM (dirty logging).
    pub fn vm(&self) -> &VmFd {
        &self.vm
    }

    /// Guest RAM.
    pub fn mem(&self) -> &GuestMemoryMmap {
        &self.mem
    }

    /// Stops the vCPU and worker threads, keeping the VM and its RAM until
    /// the machine is dropped; returns the vCPU threads' total CPU time.
    pub fn halt(&mut self) -> u64 {
        self.stop_threads()
    }

    fn stop_threads(&mut self) -> u64 {
        let ns = self.vcpus.iter_mut().map(VcpuHandle::stop).sum();
        self.vcpus.clear();
        for mut w in self
            .disk_worker
            .take()
            .into_iter()
            .chain(self.nic_workers.drain(..))
        {
            w.stop();
        }
        ns
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

/// The worker of network card `n`.
fn nic_worker(hooks: &ThreadHooks, n: &Nic) -> Result<Worker, MachineError> {
    let hook = hooks.net.clone();
    let name = format!("virtio-net{}", n.slot);
    Ok(Worker::spawn(
        &name,
        vec![n.transport.clone()],
        Box::new(move || hook()),
    )?)
}

/// The status of a network card.
pub fn nic_status(slot: usize, config: &NetConfig, tap: &str, shared: &NetShared) -> NicStatus {
    let features = shared.driver_features();
    NicStatus {
        slot,
        mac: net::format_mac(&config.mac),
        tap: tap.to_string(),
        link: if shared.link_up() { "up" } else { "down" },
        active: features != 0,
        features,
        tap_failed: shared.backend_failed(),
        stats: shared.stats(),
    }
}
