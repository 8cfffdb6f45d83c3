//! Memory: the heap (sockets, buffers), a DMA arena for virtqueues, the
//! virtio-drivers HAL on the identity map, and the RAM size from the boot
//! information.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::NonNull;

use linked_list_allocator::Heap;
use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};

const HEAP_BYTES: usize = 1 << 20;

#[repr(C, align(4096))]
struct Arena<const N: usize>([u8; N]);

static mut HEAP_AREA: Arena<HEAP_BYTES> = Arena([0; HEAP_BYTES]);

/// The heap. Only the main loop allocates (interrupt stubs never do), and
/// there is one CPU, so a plain cell suffices.
pub struct GuestHeap(UnsafeCell<Heap>);

// SAFETY: single CPU, never used from interrupt context (see above).
unsafe impl Sync for GuestHeap {}

#[global_allocator]
pub static HEAP: GuestHeap = GuestHeap(UnsafeCell::new(Heap::empty()));

impl GuestHeap {
    /// Hands the heap its memory; once, before the first allocation.
    pub fn init(&self) {
        // SAFETY: called once at boot, before anything allocates; the area is
        // a static nothing else uses.
        unsafe { (*self.0.get()).init((&raw mut HEAP_AREA).cast(), HEAP_BYTES) }
    }
}

// SAFETY: delegates to linked_list_allocator, which returns blocks that fit
// `layout` or null; access is exclusive (see GuestHeap).
unsafe impl GlobalAlloc for GuestHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: exclusive access, see above.
        let heap = unsafe { &mut *self.0.get() };
        heap.allocate_first_fit(layout)
            .map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: exclusive access; the caller passes a block from alloc.
        unsafe { (*self.0.get()).deallocate(NonNull::new_unchecked(ptr), layout) }
    }
}

const DMA_PAGES: usize = 64;
static mut DMA_AREA: Arena<{ DMA_PAGES * PAGE_SIZE }> = Arena([0; DMA_PAGES * PAGE_SIZE]);
static mut DMA_USED: usize = 0;

/// virtio-drivers' platform layer. Guest-physical = virtual (identity map).
/// Virtqueue memory comes from a bump arena that is never reused, so it is
/// zero without a memset (RAM is zero at boot): a removed device's queues
/// are not recycled, which a test guest can afford.
pub struct GuestHal;

// SAFETY: dma_alloc returns zeroed, page-aligned, unshared memory that stays
// valid for the guest's life; addresses are identity-mapped.
unsafe impl Hal for GuestHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        // SAFETY: only the main loop calls this (see GuestHeap).
        unsafe {
            let used = DMA_USED;
            if used + pages > DMA_PAGES {
                return (0, NonNull::dangling());
            }
            DMA_USED = used + pages;
            let p = (&raw mut DMA_AREA).cast::<u8>().add(used * PAGE_SIZE);
            (p as PhysAddr, NonNull::new_unchecked(p))
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as *mut u8).expect("MMIO at address 0")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr().cast::<u8>() as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}

unsafe extern "C" {
    static __guest_end: u8;
}

/// First byte after the guest image (including .bss), page aligned.
pub fn image_end() -> u64 {
    (&raw const __guest_end) as u64
}

/// End of the RAM that starts below 4 GiB: from the zero page's E820 map
/// (wirt-vmm) or the PVH memory map (QEMU); 16 MiB if neither says.
pub fn ram_end(zero_page: u64, pvh_info: u64) -> u64 {
    let mut end = 0;
    let mut take = |addr: u64, size: u64, kind: u32| {
        if kind == 1 && addr <= image_end() && addr + size > end {
            end = addr + size;
        }
    };
    // SAFETY: the VMM or QEMU put these structures at these addresses, in
    // RAM the guest does not otherwise use; fields are read as documented in
    // Linux's boot_params and Xen's hvm_start_info.
    unsafe {
        if zero_page != 0 {
            let n = core::ptr::read_volatile((zero_page + 0x1e8) as *const u8);
            for i in 0..u64::from(n.min(128)) {
                let e = zero_page + 0x2d0 + i * 20;
                take(
                    core::ptr::read_unaligned(e as *const u64),
                    core::ptr::read_unaligned((e + 8) as *const u64),
                    core::ptr::read_unaligned((e + 16) as *const u32),
                );
            }
        } else if pvh_info != 0 && core::ptr::read((pvh_info + 4) as *const u32) >= 1 {
            let map = core::ptr::read((pvh_info + 0x28) as *const u64);
            let n = core::ptr::read((pvh_info + 0x30) as *const u32);
            for i in 0..u64::from(n.min(128)) {
                let e = map + i * 24;
                take(
                    core::ptr::read(e as *const u64),
                    core::ptr::read((e + 8) as *const u64),
                    core::ptr::read((e + 16) as *const u32),
                );
            }
        }
    }
    if end == 0 { 16 << 20 } else { end }
}
