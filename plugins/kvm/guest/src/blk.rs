//! virtio-blk: the boot self-test and the disk commands (fill, sum, flush).
//!
//! Data requests wait in `hlt` for the completion interrupt; flush and
//! GET_ID (rare) let virtio-drivers spin. After each request the device's
//! interrupt is acknowledged: QEMU's virtio-mmio line is level-triggered and
//! the PIC sees the next request's interrupt only once the line dropped.

use alloc::vec;
use alloc::vec::Vec;

use virtio_drivers::device::blk::{BlkReq, BlkResp, SECTOR_SIZE, VirtIOBlk};
use virtio_drivers::transport::mmio::MmioTransport;

use crate::console::{dec, hex, line, put_bytes, puts};
use crate::mem::GuestHal;
use crate::{arch, pattern};

pub type Blk = VirtIOBlk<GuestHal, MmioTransport<'static>>;

/// Most sectors per request of fill and sum (32 KiB buffers).
const CHUNK: usize = 64;

pub struct Disk {
    pub dev: Blk,
    /// The fill/sum buffer, allocated (and zeroed) on first use only: a
    /// 32 KiB memset costs milliseconds of emulated ring 0.
    buf: Vec<u8>,
}

/// `blk` for disk 0 (the asm guest's lines, which tests read), `blk<i>`
/// for the others.
pub fn prefix(index: usize) {
    puts("blk");
    if index > 0 {
        dec(index as u64);
    }
    puts(": ");
}

impl Disk {
    /// Brings the device up and prints its capacity and id.
    pub fn new(transport: MmioTransport<'static>, index: usize) -> Option<Disk> {
        let Ok(dev) = Blk::new(transport) else {
            prefix(index);
            line("unusable device");
            return None;
        };
        let mut disk = Disk {
            dev,
            buf: Vec::new(),
        };
        prefix(index);
        puts("capacity ");
        hex(disk.dev.capacity());
        puts("\n");
        let mut id = [0u8; 20];
        let r = disk.dev.device_id(&mut id);
        disk.dev.ack_interrupt();
        prefix(index);
        match r {
            Ok(n) => {
                puts("id ");
                put_bytes(&id[..n]);
                puts("\n");
            }
            Err(e) => {
                puts("request failed, status ");
                hex(status(e));
                puts("\n");
            }
        }
        Some(disk)
    }

    /// One read or write of whole sectors, waiting in `hlt`; the error is
    /// the virtio status (1 I/O error, 2 unsupported, 3 not ready) or 0xff
    /// if the queue refused the request.
    fn io(&mut self, write: bool, sector: u64, buf: &mut [u8]) -> Result<(), u64> {
        let mut req = BlkReq::default();
        let mut resp = BlkResp::default();
        // SAFETY: req, buf and resp stay untouched until the request
        // completes below (we wait for it before returning).
        let token = unsafe {
            if write {
                self.dev
                    .write_blocks_nb(sector as usize, &mut req, buf, &mut resp)
            } else {
                self.dev
                    .read_blocks_nb(sector as usize, &mut req, buf, &mut resp)
            }
        }
        .map_err(|_| 0xff_u64)?;
        while self.dev.peek_used() != Some(token) {
            arch::wait_for_interrupt();
            self.dev.ack_interrupt();
        }
        // SAFETY: the same req, buf and resp as passed to *_nb above.
        unsafe {
            if write {
                self.dev.complete_write_blocks(token, &req, buf, &mut resp)
            } else {
                self.dev.complete_read_blocks(token, &req, buf, &mut resp)
            }
        }
        .map_err(status)
    }

    /// Reads sector 0, writes its complement to sector 1, flushes, reads
    /// sector 1 back; prints both checksums (GUEST.md).
    pub fn self_test(&mut self) {
        let mut a = [0u8; SECTOR_SIZE];
        let mut b = [0u8; SECTOR_SIZE];
        if let Err(e) = self.io(false, 0, &mut a) {
            return failed(e);
        }
        puts("blk: sector 0 sum ");
        hex(pattern::checksum(0, &a));
        puts("\n");
        for x in a.iter_mut() {
            *x = !*x;
        }
        if let Err(e) = self
            .io(true, 1, &mut a)
            .and_then(|()| self.flush())
            .and_then(|()| self.io(false, 1, &mut b))
        {
            return failed(e);
        }
        puts("blk: sector 1 sum ");
        hex(pattern::checksum(0, &b));
        puts("\n");
    }

    pub fn flush(&mut self) -> Result<(), u64> {
        let r = self.dev.flush();
        self.dev.ack_interrupt();
        r.map_err(status)
    }

    fn check_range(&self, first: u64, count: u64) -> bool {
        first
            .checked_add(count)
            .is_some_and(|end| end <= self.dev.capacity())
    }

    /// Writes `count` sectors of the seed's pattern from `first`.
    pub fn fill(&mut self, first: u64, count: u64, seed: u64) -> Result<(), &'static str> {
        if !self.check_range(first, count) {
            return Err("out of range");
        }
        if self.dev.readonly() {
            return Err("read-only");
        }
        let mut buf = self.take_buf();
        let mut s = first;
        let mut result = Ok(());
        while s < first + count {
            let n = (first + count - s).min(CHUNK as u64) as usize;
            let part = &mut buf[..n * SECTOR_SIZE];
            for (i, sector) in part.chunks_exact_mut(SECTOR_SIZE).enumerate() {
                pattern::sector(seed, s + i as u64, sector);
            }
            if self.io(true, s, part).is_err() {
                result = Err("I/O error");
                break;
            }
            s += n as u64;
        }
        self.buf = buf;
        result
    }

    /// The checksum of `count` sectors from `first` (pattern::checksum).
    pub fn sum(&mut self, first: u64, count: u64) -> Result<u64, &'static str> {
        if !self.check_range(first, count) {
            return Err("out of range");
        }
        let mut buf = self.take_buf();
        let mut h = Ok(0);
        let mut s = first;
        while s < first + count {
            let n = (first + count - s).min(CHUNK as u64) as usize;
            let part = &mut buf[..n * SECTOR_SIZE];
            if self.io(false, s, part).is_err() {
                h = Err("I/O error");
                break;
            }
            h = h.map(|h| pattern::checksum(h, part));
            s += n as u64;
        }
        self.buf = buf;
        h
    }

    /// `count` 4 KiB requests (reads, or writes with `write`) at random
    /// 4 KiB-aligned offsets below `span` sectors (the whole disk for 0),
    /// from `seed`; returns the mean nanoseconds per request, as the guest's
    /// clock measures it (the benchmark's figure).
    pub fn random_io(
        &mut self,
        count: u64,
        span: u64,
        seed: u64,
        write: bool,
    ) -> Result<u64, &'static str> {
        const SECTORS: u64 = 8;
        let span = if span == 0 { self.dev.capacity() } else { span };
        let slots = span.min(self.dev.capacity()) / SECTORS;
        if slots == 0 || count == 0 {
            return Err("out of range");
        }
        if write && self.dev.readonly() {
            return Err("read-only");
        }
        let mut buf = self.take_buf();
        let part = &mut buf[..(SECTORS as usize) * SECTOR_SIZE];
        if write {
            for (i, sector) in part.chunks_exact_mut(SECTOR_SIZE).enumerate() {
                pattern::sector(seed, i as u64, sector);
            }
        }
        // xorshift64*: cheap, and the same offsets for the same seed.
        let mut x = seed | 1;
        crate::clock::init();
        let start = crate::clock::now_ns();
        let mut result = Ok(());
        for _ in 0..count {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let slot = x.wrapping_mul(0x2545_f491_4f6c_dd1d) % slots;
            if self.io(write, slot * SECTORS, part).is_err() {
                result = Err("I/O error");
                break;
            }
        }
        let elapsed = crate::clock::now_ns() - start;
        self.buf = buf;
        result.map(|()| elapsed / count)
    }

    /// The fill/sum buffer, taken out so that `io` can borrow the disk.
    fn take_buf(&mut self) -> Vec<u8> {
        if self.buf.is_empty() {
            self.buf = vec![0u8; CHUNK * SECTOR_SIZE];
        }
        core::mem::take(&mut self.buf)
    }
}

fn status(e: virtio_drivers::Error) -> u64 {
    match e {
        virtio_drivers::Error::IoError => 1,
        virtio_drivers::Error::Unsupported => 2,
        virtio_drivers::Error::NotReady => 3,
        _ => 0xff,
    }
}

fn failed(status: u64) {
    puts("blk: request failed, status ");
    hex(status);
    puts("\n");
}
