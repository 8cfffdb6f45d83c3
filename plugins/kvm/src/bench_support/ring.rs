//! The driver's side of a split virtqueue in guest memory, for tests and
//! benchmarks: descriptors, the available ring (with wrap-around, unlike
//! virtio-queue's mock, which only fills a ring once) and the used ring.

use virtio_queue::desc::split::Descriptor;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Address, Bytes, GuestAddress};

use crate::devices::virtio::mmio::MmioTransport;
use crate::memory::GuestMemoryMmap;

/// VIRTQ_DESC_F_NEXT.
pub const NEXT: u16 = 1;
/// VIRTQ_DESC_F_WRITE: the device writes this buffer.
pub const WRITE: u16 = 2;

/// A buffer of a chain: guest address, length, whether the device writes it.
#[derive(Clone, Copy, Debug)]
pub struct Buf {
    /// Guest address.
    pub addr: u64,
    /// Length.
    pub len: u32,
    /// Device-writable.
    pub write: bool,
}

/// One virtqueue, driver side.
#[derive(Debug)]
pub struct Ring {
    size: u16,
    desc: GuestAddress,
    avail: GuestAddress,
    used: GuestAddress,
    next_desc: u16,
    avail_idx: u16,
    used_seen: u16,
}

impl Ring {
    /// Lays a ring of `size` entries out at `base` and zeroes it.
    pub fn new(mem: &GuestMemoryMmap, base: u64, size: u16) -> Ring {
        let desc = GuestAddress(base);
        let avail = desc.unchecked_add(16 * u64::from(size));
        let used_at = avail.unchecked_add(6 + 2 * u64::from(size));
        let used = GuestAddress((used_at.raw_value() + 3) & !3);
        let end = used.raw_value() + 6 + 8 * u64::from(size);
        mem.write_slice(&vec![0u8; (end - base) as usize], desc)
            .expect("ring inside guest memory");
        Ring {
            size,
            desc,
            avail,
            used,
            next_desc: 0,
            avail_idx: 0,
            used_seen: 0,
        }
    }

    /// Guest addresses of the descriptor table, available and used rings.
    pub fn addresses(&self) -> (u64, u64, u64) {
        (
            self.desc.raw_value(),
            self.avail.raw_value(),
            self.used.raw_value(),
        )
    }

    /// Queue size.
    pub fn size(&self) -> u16 {
        self.size
    }

    /// The descriptor the next chain starts at (chains take descriptors in
    /// turn, so with buffers used in order a slot per descriptor works).
    pub fn next_desc(&self) -> u16 {
        self.next_desc
    }

    /// The device's view, set up and ready (no EVENT_IDX unless `event_idx`).
    pub fn queue(&self, event_idx: bool) -> Queue {
        let mut q = Queue::new(self.size).expect("power-of-two size");
        q.set_size(self.size);
        q.set_desc_table_address(Some(self.desc.raw_value() as u32), Some(0));
        q.set_avail_ring_address(Some(self.avail.raw_value() as u32), Some(0));
        q.set_used_ring_address(Some(self.used.raw_value() as u32), Some(0));
        q.set_event_idx(event_idx);
        q.set_ready(true);
        q
    }

    /// Writes raw descriptor `index` (for malformed chains).
    pub fn write_desc(&self, mem: &GuestMemoryMmap, index: u16, d: Descriptor) {
        let at = self.desc.unchecked_add(16 * u64::from(index % self.size));
        mem.write_obj(d, at).expect("descriptor table");
    }

    /// Makes the chain starting at descriptor `head` available.
    pub fn publish(&mut self, mem: &GuestMemoryMmap, head: u16) {
        let slot = u64::from(self.avail_idx % self.size);
        mem.write_obj(head.to_le(), self.avail.unchecked_add(4 + 2 * slot))
            .expect("avail ring");
        self.avail_idx = self.avail_idx.wrapping_add(1);
        mem.write_obj(self.avail_idx.to_le(), self.avail.unchecked_add(2))
            .expect("avail idx");
    }

    /// Writes `bufs` as one chain in the next free descriptors and makes it
    /// available; returns its head.
    pub fn add_chain(&mut self, mem: &GuestMemoryMmap, bufs: &[Buf]) -> u16 {
        let head = self.next_desc;
        for (i, b) in bufs.iter().enumerate() {
            let index = self.next_desc;
            self.next_desc = (self.next_desc + 1) % self.size;
            let last = i + 1 == bufs.len();
            let flags = if b.write { WRITE } else { 0 } | if last { 0 } else { NEXT };
            let next = if last { 0 } else { self.next_desc };
            self.write_desc(mem, index, Descriptor::new(b.addr, b.len, flags, next));
        }
        self.publish(mem, head);
        head
    }

    /// Used elements `(id, len)` added since the last call.
    pub fn take_used(&mut self, mem: &GuestMemoryMmap) -> Vec<(u32, u32)> {
        let idx: u16 = mem.read_obj(self.used.unchecked_add(2)).expect("used idx");
        let mut out = Vec::new();
        while self.used_seen != idx {
            let at = self
                .used
                .unchecked_add(4 + 8 * u64::from(self.used_seen % self.size));
            let id: u32 = mem.read_obj(at).expect("used elem");
            let len: u32 = mem.read_obj(at.unchecked_add(4)).expect("used elem");
            out.push((id, len));
            self.used_seen = self.used_seen.wrapping_add(1);
        }
        out
    }

    /// EVENT_IDX: asks for an interrupt as soon as another buffer is used
    /// (what a driver does when it re-enables interrupts).
    pub fn want_interrupt(&self, mem: &GuestMemoryMmap) {
        self.set_used_event(mem, self.used_seen);
    }

    /// Sets `used_event` (EVENT_IDX: interrupt once this entry is used).
    pub fn set_used_event(&self, mem: &GuestMemoryMmap, v: u16) {
        let at = self.avail.unchecked_add(4 + 2 * u64::from(self.size));
        mem.write_obj(v, at).expect("used_event");
    }

    /// Sets the available ring's flags (1: no interrupts, please).
    pub fn set_avail_flags(&self, mem: &GuestMemoryMmap, v: u16) {
        mem.write_obj(v, self.avail).expect("avail flags");
    }

    /// The used ring's flags (1: the device wants no kicks).
    pub fn used_flags(&self, mem: &GuestMemoryMmap) -> u16 {
        mem.read_obj(self.used).expect("used flags")
    }

    /// `avail_event` (EVENT_IDX: kick when this entry is made available).
    pub fn avail_event(&self, mem: &GuestMemoryMmap) -> u16 {
        let at = self.used.unchecked_add(4 + 8 * u64::from(self.size));
        mem.read_obj(at).expect("avail_event")
    }
}

fn write_reg(t: &mut MmioTransport, offset: u64, v: u32) {
    t.write(offset, &v.to_le_bytes());
}

/// Reads a 32-bit transport register.
pub fn read_reg(t: &mut MmioTransport, offset: u64) -> u32 {
    let mut b = [0u8; 4];
    t.read(offset, &mut b);
    u32::from_le_bytes(b)
}

/// Brings a virtio-mmio transport up as a driver does: reset, ACKNOWLEDGE,
/// DRIVER, `features`, FEATURES_OK, `rings` as queues 0.., DRIVER_OK.
/// Returns the status register at the end (0xf when the device took it).
pub fn init_mmio(t: &mut MmioTransport, features: u64, rings: &[&Ring]) -> u32 {
    for s in [0, 1, 3] {
        write_reg(t, 0x70, s);
    }
    for (sel, half) in [(0, features as u32), (1, (features >> 32) as u32)] {
        write_reg(t, 0x24, sel);
        write_reg(t, 0x20, half);
    }
    write_reg(t, 0x70, 0xb);
    for (i, r) in rings.iter().enumerate() {
        let (desc, avail, used) = r.addresses();
        write_reg(t, 0x30, i as u32);
        write_reg(t, 0x38, u32::from(r.size()));
        for (lo, addr) in [(0x80, desc), (0x90, avail), (0xa0, used)] {
            write_reg(t, lo, addr as u32);
            write_reg(t, lo + 4, (addr >> 32) as u32);
        }
        write_reg(t, 0x44, 1);
    }
    write_reg(t, 0x70, 0xf);
    read_reg(t, 0x70)
}

/// Kicks queue `index` as a driver's QueueNotify write does.
pub fn notify(t: &mut MmioTransport, index: u16) {
    write_reg(
        t,
        crate::devices::virtio::mmio::QUEUE_NOTIFY,
        u32::from(index),
    );
}
