//! The save file: a header, the machine state as JSON, then guest RAM.
//!
//! ```text
//! "WIRTSAV1" | u32 format | u32 reserved | u64 json length | JSON | zero pad to 4 KiB | RAM regions in order
//! ```
//! Written and read strictly sequentially, so a pipe works as well as a file.
//! Into a regular file, pages of zeros are skipped (left as holes, which
//! read back as zeros): a guest's untouched RAM costs no disk.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use kvm_bindings::{
    KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, kvm_clock_data, kvm_irqchip,
    kvm_pit_state2,
};
use kvm_ioctls::VmFd;
use serde::{Deserialize, Serialize};
use vm_memory::{Bytes, GuestAddress, ReadVolatile};

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
    /// virtio-mmio transports: the disks', then the network cards'.
    pub virtio: Vec<MmioSnapshot>,
    /// The slot of each of `virtio`; empty in files from before hotplug,
    /// whose devices sat in slots 0, 1, 2, ... in that order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slots: Vec<usize>,
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

/// Writes `state` and the RAM of `mem` to `out` from its current offset:
/// sparse into a regular file, in full into anything else (a pipe).
pub fn write(
    out: &mut File,
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
    let regular = out.metadata().map_err(SnapshotError::Io)?.is_file();
    if !regular {
        for (start, len) in memory::regions(mem) {
            mem.write_all_volatile_to(GuestAddress(start), out, len as usize)
                .map_err(SnapshotError::Memory)?;
        }
        return out.flush().map_err(SnapshotError::Io);
    }
    let mut sparse = SparseWriter::new(out);
    for (start, len) in memory::regions(mem) {
        sparse.copy(mem, start, len)?;
    }
    sparse.finish()
}

/// Copies guest RAM into a file a batch at a time, seeking over pages of
/// zeros instead of writing them.
struct SparseWriter<'a> {
    out: &'a mut File,
    buf: Vec<u8>,
    /// Bytes of zeros skipped and not yet accounted for in the offset.
    hole: u64,
}

/// Copied at once: big enough for few system calls, small enough to
/// keep the VMM's own memory flat whatever the guest's size.
const BATCH: usize = 1 << 20;

impl<'a> SparseWriter<'a> {
    fn new(out: &'a mut File) -> Self {
        SparseWriter {
            out,
            buf: vec![0; BATCH],
            hole: 0,
        }
    }

    fn copy(&mut self, mem: &GuestMemoryMmap, start: u64, len: u64) -> Result<(), SnapshotError> {
        let mut done = 0u64;
        while done < len {
            let n = BATCH.min((len - done) as usize);
            mem.read_slice(&mut self.buf[..n], GuestAddress(start + done))
                .map_err(SnapshotError::Memory)?;
            let mut at = 0;
            while at < n {
                let data_end = next_page(&self.buf[..n], at, true);
                if data_end > at {
                    self.seek_over_hole()?;
                    self.out
                        .write_all(&self.buf[at..data_end])
                        .map_err(SnapshotError::Io)?;
                }
                let zero_end = next_page(&self.buf[..n], data_end, false);
                self.hole += (zero_end - data_end) as u64;
                at = zero_end;
            }
            done += n as u64;
        }
        Ok(())
    }

    fn seek_over_hole(&mut self) -> Result<(), SnapshotError> {
        if self.hole > 0 {
            let hole = i64::try_from(self.hole).expect("a hole within guest RAM");
            self.out
                .seek(SeekFrom::Current(hole))
                .map_err(SnapshotError::Io)?;
            self.hole = 0;
        }
        Ok(())
    }

    /// A trailing hole still needs the file to reach its length: its last
    /// byte is written (no truncate: the VMM's filter does not allow it).
    fn finish(mut self) -> Result<(), SnapshotError> {
        if self.hole > 0 {
            self.hole -= 1;
            self.seek_over_hole()?;
            self.out.write_all(&[0]).map_err(SnapshotError::Io)?;
        }
        self.out.flush().map_err(SnapshotError::Io)
    }
}

/// Whether `page` holds only zeros.
pub(crate) fn page_is_zero(page: &[u8]) -> bool {
    let (words, rest) = page.as_chunks::<16>();
    words.iter().all(|w| u128::from_ne_bytes(*w) == 0) && rest.iter().all(|&b| b == 0)
}

/// The offset of the first page at or after `from` whose being all zeros
/// is `zero` (or the end).
fn next_page(buf: &[u8], from: usize, zero: bool) -> usize {
    let mut at = from;
    while at < buf.len() {
        let end = (at + ALIGN).min(buf.len());
        if page_is_zero(&buf[at..end]) == zero {
            return at;
        }
        at = end;
    }
    buf.len()
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn zero_pages_become_holes_and_read_back_as_zeros() {
        let size = 8u64 << 20;
        let mem = memory::create(size).unwrap();
        // Data in a few scattered pages (one ending a batch, one starting
        // the next, one mid-page byte), zeros everywhere else, a trailing hole.
        for (addr, byte) in [
            (0u64, 1u8),
            (BATCH as u64 - 1, 2),
            (BATCH as u64, 3),
            (5 << 20 | 100, 4),
        ] {
            mem.write_obj(byte, GuestAddress(addr)).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ram");
        let mut file = File::create(&path).unwrap();
        // A header before the RAM, as the host writes one.
        file.write_all(&[7u8; ALIGN]).unwrap();
        let mut w = SparseWriter::new(&mut file);
        for (start, len) in memory::regions(&mem) {
            w.copy(&mem, start, len).unwrap();
        }
        w.finish().unwrap();
        drop(file);

        let back = std::fs::read(&path).unwrap();
        assert_eq!(back.len() as u64, ALIGN as u64 + size);
        let mut expected = vec![0u8; size as usize];
        mem.read_slice(&mut expected, GuestAddress(0)).unwrap();
        assert!(back[..ALIGN].iter().all(|&b| b == 7));
        assert!(
            back[ALIGN..] == expected[..],
            "RAM differs after the round trip"
        );
        // Five data pages (the header, four with a byte) and the last byte:
        // far less than 8 MiB on any file system that makes holes.
        let allocated = std::fs::metadata(&path).unwrap().blocks() * 512;
        assert!(
            allocated < 1 << 20,
            "{allocated} bytes allocated for 8 MiB of mostly zeros"
        );
    }

    #[test]
    fn zero_page_scanning_finds_run_boundaries() {
        let mut buf = vec![0u8; 4 * ALIGN + 10];
        buf[ALIGN + 5] = 1;
        buf[4 * ALIGN + 9] = 1;
        assert_eq!(next_page(&buf, 0, true), 0);
        assert_eq!(next_page(&buf, 0, false), ALIGN);
        assert_eq!(next_page(&buf, ALIGN, true), 2 * ALIGN);
        assert_eq!(next_page(&buf, 2 * ALIGN, false), 4 * ALIGN);
        assert_eq!(next_page(&buf, 4 * ALIGN, true), buf.len());
    }
}
