//! The save file: a header, the machine state as JSON, then guest RAM.
//!
//! ```text
//! "WIRTSAV1" | u32 format | u32 reserved | u64 json length | JSON | zero pad to 4 KiB | RAM regions in order
//! ```
//! Written and read strictly sequentially, so a pipe works as well as a file.

use std::io::{Read, Write};

use kvm_bindings::{
    KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, kvm_clock_data, kvm_irqchip,
    kvm_pit_state2,
};
use kvm_ioctls::VmFd;
use serde::{Deserialize, Serialize};
use vm_memory::{Bytes, GuestAddress, ReadVolatile, WriteVolatile};

use crate::devices::i8042::I8042State;
use crate::devices::pvctl::PvCtlState;
use crate::devices::serial::SerialSnapshot;
use crate::devices::virtio::mmio::MmioSnapshot;
use crate::devices::virtio::net::NetStats;
use crate::memory::{self, GuestMemoryMmap};
use crate::vcpu::state::VcpuState;

/// File magic.
pub const MAGIC: &[u8; 8] = b"WIRTSAV1";
/// Current format version.
pub const FORMAT: u32 = 1;
const ALIGN: usize = 4096;
const MAX_JSON: u64 = 64 << 20;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading or writing the file failed.
    #[error("save file I/O failed")]
    Io(#[source] std::io::Error),
    /// The file is not a wirt save file or has another format version.
    #[error("not a wirt save file, or format {0} is not supported")]
    Format(u32),
    /// The state section could not be encoded or decoded.
    #[error("invalid machine state in save file")]
    Json(#[source] serde_json::Error),
    /// Copying guest memory failed.
    #[error("cannot copy guest memory")]
    Memory(#[source] vm_memory::GuestMemoryError),
    /// A VM-level ioctl failed.
    #[error("cannot {0}")]
    Ioctl(&'static str, #[source] kvm_ioctls::Error),
}

/// In-kernel devices and the clock.
#[derive(Clone, Serialize, Deserialize)]
pub struct VmState {
    /// Master PIC.
    pub pic_master: kvm_irqchip,
    /// Slave PIC.
    pub pic_slave: kvm_irqchip,
    /// IOAPIC.
    pub ioapic: kvm_irqchip,
    /// PIT.
    pub pit: kvm_pit_state2,
    /// kvmclock.
    pub clock: kvm_clock_data,
}

fn chip(vm: &VmFd, id: u32) -> Result<kvm_irqchip, SnapshotError> {
    let mut c = kvm_irqchip {
        chip_id: id,
        ..Default::default()
    };
    vm.get_irqchip(&mut c)
        .map_err(|e| SnapshotError::Ioctl("read irqchip", e))?;
    Ok(c)
}

impl VmState {
    /// Captures the state of `vm` (its vCPUs must be parked).
    pub fn capture(vm: &VmFd) -> Result<Self, SnapshotError> {
        Ok(VmState {
            pic_master: chip(vm, KVM_IRQCHIP_PIC_MASTER)?,
            pic_slave: chip(vm, KVM_IRQCHIP_PIC_SLAVE)?,
            ioapic: chip(vm, KVM_IRQCHIP_IOAPIC)?,
            pit: vm
                .get_pit2()
                .map_err(|e| SnapshotError::Ioctl("read PIT", e))?,
            clock: vm
                .get_clock()
                .map_err(|e| SnapshotError::Ioctl("read clock", e))?,
        })
    }

    /// Loads the state into a fresh VM that has an irqchip and a PIT.
    pub fn restore(&self, vm: &VmFd) -> Result<(), SnapshotError> {
        for c in [&self.pic_master, &self.pic_slave, &self.ioapic] {
            vm.set_irqchip(c)
                .map_err(|e| SnapshotError::Ioctl("set irqchip", e))?;
        }
        vm.set_pit2(&self.pit)
            .map_err(|e| SnapshotError::Ioctl("set PIT", e))?;
        // Flags describe the source host's clock; KVM_SET_CLOCK rejects most.
        let clock = kvm_clock_data {
            clock: self.clock.clock,
            ..Default::default()
        };
        vm.set_clock(&clock)
            .map_err(|e| SnapshotError::Ioctl("set clock", e))
    }
}

/// A disk as it was when saved (the new process gets the file again).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DiskInfo {
    /// Read-only.
    pub readonly: bool,
    /// Device id (serial).
    pub id: String,
    /// Capacity in sectors.
    pub sectors: u64,
}

/// A network card as it was when saved (the new process gets a new tap).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NicState {
    /// MAC address, `52:54:00:...`.
    pub mac: String,
    /// MTU offered to the guest.
    pub mtu: Option<u16>,
    /// Link state.
    pub link_up: bool,
    /// Counters, continued after the restore.
    pub stats: NetStats,
}

/// Everything about a paused machine except its RAM.
#[derive(Serialize, Deserialize)]
pub struct MachineState {
    /// RAM size in bytes.
    pub memory_bytes: u64,
    /// Disks, by virtio-mmio slot.
    pub disks: Vec<DiskInfo>,
    /// The kernel's origin, when it was built in (lets a restored VM reboot).
    pub builtin_kernel: Option<String>,
    /// Kernel command line as given.
    pub cmdline: String,
    /// In-kernel devices and clock.
    pub vm: VmState,
    /// Per vCPU.
    pub cpus: Vec<VcpuState>,
    /// COM1.
    pub serial: SerialSnapshot,
    /// i8042.
    pub i8042: I8042State,
    /// Power-control port.
    pub pvctl: PvCtlState,
    /// virtio-mmio transports, by slot (disks, then network cards).
    pub virtio: Vec<MmioSnapshot>,
    /// Network cards (absent from files of wirt before network support).
    #[serde(default)]
    pub nics: Vec<NicState>,
}

impl std::fmt::Debug for MachineState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineState")
            .field("memory_bytes", &self.memory_bytes)
            .field("cpus", &self.cpus.len())
            .field("disks", &self.disks)
            .finish_non_exhaustive()
    }
}

/// Writes `state` and the RAM of `mem` to `out`.
pub fn write<W: Write + WriteVolatile>(
    out: &mut W,
    state: &MachineState,
    mem: &GuestMemoryMmap,
) -> Result<(), SnapshotError> {
    let json = serde_json::to_vec(state).map_err(SnapshotError::Json)?;
    let mut head = Vec::with_capacity(ALIGN);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&FORMAT.to_le_bytes());
    head.extend_from_slice(&0u32.to_le_bytes());
    head.extend_from_slice(&(json.len() as u64).to_le_bytes());
    head.extend_from_slice(&json);
    head.resize(head.len().div_ceil(ALIGN) * ALIGN, 0);
    out.write_all(&head).map_err(SnapshotError::Io)?;
    for (start, len) in memory::regions(mem) {
        mem.write_all_volatile_to(GuestAddress(start), out, len as usize)
            .map_err(SnapshotError::Memory)?;
    }
    out.flush().map_err(SnapshotError::Io)
}

/// Reads the state section; the RAM follows, for [`read_memory`].
pub fn read_state<R: Read>(input: &mut R) -> Result<MachineState, SnapshotError> {
    let mut fixed = [0u8; 24];
    input.read_exact(&mut fixed).map_err(SnapshotError::Io)?;
    let format = u32::from_le_bytes(fixed[8..12].try_into().expect("4 bytes"));
    if &fixed[..8] != MAGIC || format != FORMAT {
        return Err(SnapshotError::Format(format));
    }
    let json_len = u64::from_le_bytes(fixed[16..24].try_into().expect("8 bytes"));
    if json_len > MAX_JSON {
        return Err(SnapshotError::Format(format));
    }
    let mut json = vec![0u8; json_len as usize];
    input.read_exact(&mut json).map_err(SnapshotError::Io)?;
    let state = serde_json::from_slice(&json).map_err(SnapshotError::Json)?;
    let used = fixed.len() + json.len();
    let pad = used.div_ceil(ALIGN) * ALIGN - used;
    std::io::copy(&mut input.take(pad as u64), &mut std::io::sink()).map_err(SnapshotError::Io)?;
    Ok(state)
}

/// Reads the RAM that follows the state into `mem`.
pub fn read_memory<R: ReadVolatile>(
    input: &mut R,
    mem: &GuestMemoryMmap,
) -> Result<(), SnapshotError> {
    for (start, len) in memory::regions(mem) {
        // A pipe delivers at most a pipe-buffer's worth per read, and
        // vm-memory's "exact" read stops after one read per slice: loop.
        let mut done = 0u64;
        while done < len {
            let n = mem
                .read_volatile_from(GuestAddress(start + done), input, (len - done) as usize)
                .map_err(SnapshotError::Memory)?;
            if n == 0 {
                return Err(SnapshotError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            done += n as u64;
        }
    }
    Ok(())
}
