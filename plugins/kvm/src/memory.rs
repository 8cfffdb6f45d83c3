//! Guest RAM: anonymous mappings registered as KVM memory slots.

use kvm_ioctls::VmFd;
use vm_memory::{Address, GuestAddress, GuestMemoryBackend, GuestMemoryRegion};

use crate::layout;

/// Guest memory of a wirt VM. Each region carries a bitmap of the pages the
/// VMM itself wrote (virtio buffers, used rings): KVM's dirty log only sees
/// writes by the guest, and migration needs both.
pub type GuestMemoryMmap = vm_memory::GuestMemoryMmap<AtomicBitmap>;

/// The dirty-page bitmap of a region (one bit per 4 KiB page).
pub use vm_memory::bitmap::AtomicBitmap;

/// Page size of guest RAM as migration and dirty logging count it.
pub const PAGE: u64 = 4096;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The size is zero, not a multiple of 4 KiB, or too small to boot.
    #[error("invalid guest memory size {0} bytes (at least 2 MiB, a multiple of 4 KiB)")]
    InvalidSize(u64),
    /// mmap failed.
    #[error("cannot allocate guest memory")]
    Allocate(#[source] vm_memory::mmap::FromRangesError),
    /// KVM refused a memory slot.
    #[error("cannot register guest memory slot {0} with KVM")]
    SetSlot(u32, #[source] kvm_ioctls::Error),
    /// KVM could not report a slot's dirty pages.
    #[error("cannot read the dirty-page log of memory slot {0}")]
    DirtyLog(u32, #[source] kvm_ioctls::Error),
}

/// Allocates `size` bytes of zeroed guest RAM laid out by [`layout::ram_ranges`].
pub fn create(size: u64) -> Result<GuestMemoryMmap, MemoryError> {
    if size < (2 << 20) || !size.is_multiple_of(4096) {
        return Err(MemoryError::InvalidSize(size));
    }
    let ranges: Vec<(GuestAddress, usize)> = layout::ram_ranges(size)
        .into_iter()
        .map(|(start, len)| (GuestAddress(start), len as usize))
        .collect();
    let mem = GuestMemoryMmap::from_ranges(&ranges).map_err(MemoryError::Allocate)?;
    for region in mem.iter() {
        // Transparent huge pages where the host offers them on request (as
        // QEMU asks): fewer TLB misses for the guest, and pages it never
        // touched read as the huge zero page, one fault per 2 MiB instead
        // of 512 (a migration or save reads all of RAM). Refused (no THP
        // in this kernel) changes nothing.
        // SAFETY: the range is exactly one mapping this function just
        // made; MADV_HUGEPAGE only changes how it is backed, not its
        // contents.
        unsafe {
            libc::madvise(
                region.as_ptr().cast(),
                region.len() as usize,
                libc::MADV_HUGEPAGE,
            );
        }
    }
    Ok(mem)
}

/// Registers every region of `mem` as a KVM memory slot.
pub fn register(vm: &VmFd, mem: &GuestMemoryMmap) -> Result<(), MemoryError> {
    set_slots(vm, mem, 0)
}

/// Turns KVM's dirty-page logging on or off on every slot of `mem`
/// (re-registering a slot with the same range only changes its flags).
pub fn set_dirty_logging(vm: &VmFd, mem: &GuestMemoryMmap, on: bool) -> Result<(), MemoryError> {
    set_slots(
        vm,
        mem,
        if on {
            kvm_bindings::KVM_MEM_LOG_DIRTY_PAGES
        } else {
            0
        },
    )
}

/// Pages written since the last call, per region in order, as bitmaps (bit
/// `i` of word `w`: page `64 w + i` of the region): what the guest wrote
/// (KVM's log, which must be on) or'ed with what the VMM wrote. Both logs
/// are reset. Callers hold the virtio transports so no device is halfway
/// through a write it has marked but not finished.
pub fn take_dirty(vm: &VmFd, mem: &GuestMemoryMmap) -> Result<Vec<Vec<u64>>, MemoryError> {
    let mut out = Vec::new();
    for (slot, region) in mem.iter().enumerate() {
        let mut map = vm
            .get_dirty_log(slot as u32, region.len() as usize)
            .map_err(|e| MemoryError::DirtyLog(slot as u32, e))?;
        // The mapping's own bitmap (the trait method gives a slice view).
        let vmm = vm_memory::mmap::MmapRegion::bitmap(region).get_and_reset();
        for (w, v) in map.iter_mut().zip(vmm) {
            *w |= v;
        }
        out.push(map);
    }
    Ok(out)
}

fn set_slots(vm: &VmFd, mem: &GuestMemoryMmap, flags: u32) -> Result<(), MemoryError> {
    for (slot, region) in mem.iter().enumerate() {
        let slot = slot as u32;
        let host = mem
            .get_host_address(region.start_addr())
            .expect("a region's start is inside guest memory");
        let desc = kvm_bindings::kvm_userspace_memory_region {
            slot,
            flags,
            guest_phys_addr: region.start_addr().raw_value(),
            memory_size: region.len(),
            userspace_addr: host as u64,
        };
        // SAFETY: the mapping belongs to `mem`, which the VM keeps alive for as
        // long as the slot exists (the Machine owns both and drops the VM first).
        unsafe { vm.set_user_memory_region(desc) }.map_err(|e| MemoryError::SetSlot(slot, e))?;
    }
    Ok(())
}

/// Total RAM in bytes.
pub fn size(mem: &GuestMemoryMmap) -> u64 {
    mem.iter().map(|r| r.len()).sum()
}

/// `(start, len)` of every region, in order.
pub fn regions(mem: &GuestMemoryMmap) -> Vec<(u64, u64)> {
    mem.iter()
        .map(|r| (r.start_addr().raw_value(), r.len()))
        .collect()
}

/// The last address below the MMIO gap, for placing an initrd.
pub fn low_end(mem: &GuestMemoryMmap) -> u64 {
    let end = mem.last_addr().raw_value() + 1;
    end.min(layout::MMIO_GAP_START)
}

/// Whether the guest page at `addr` (4 KiB, in `mem`) holds only zeros,
/// read in place: a migration's first round looks at every page, and
/// copying each out first would double the memory traffic. The guest (or
/// a device worker) may write it meanwhile; what was read is then stale,
/// and the page is dirty and sent again in a later round.
pub fn guest_page_is_zero(mem: &GuestMemoryMmap, addr: GuestAddress) -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    let Ok(slice) = mem.get_slice(addr, PAGE as usize) else {
        return false;
    };
    let guard = slice.ptr_guard();
    let base = guard.as_ptr().cast::<u64>().cast_mut();
    (0..(PAGE / 8) as usize).all(|i| {
        // SAFETY: the slice is PAGE bytes of mapped guest RAM, page aligned
        // (so every u64 is aligned) and kept mapped by `guard`; other
        // threads may write it, which relaxed atomic loads allow (a plain
        // shared slice would not).
        let word = unsafe { AtomicU64::from_ptr(base.add(i)) };
        word.load(Ordering::Relaxed) == 0
    })
}
