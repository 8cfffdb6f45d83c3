//! A virtio-net device as a smoltcp `Device`: virtio-drivers' raw driver
//! with receive and transmit buffers allocated once, so no packet allocates.

use alloc::boxed::Box;

use smoltcp::phy::{self, Checksum, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::mmio::MmioTransport;

use crate::mem::GuestHal;

const QSIZE: usize = 16;
/// Header (12 bytes) + an Ethernet frame of 1514; virtio-drivers wants 1526.
const BUF: usize = 1536;
const TXN: usize = 8;
const NONE: u8 = u8::MAX;

type Raw = VirtIONetRaw<GuestHal, MmioTransport<'static>, QSIZE>;

pub struct Port {
    raw: Raw,
    rx: Box<[[u8; BUF]; QSIZE]>,
    /// Receive buffer of each in-flight token (token = descriptor index).
    rx_of_token: [u8; QSIZE],
    /// Receive buffers handed to smoltcp, to post again before the next
    /// receive (the RxToken cannot borrow the driver).
    repost: u32,
    tx: TxPool,
    pub rx_packets: u64,
}

struct TxPool {
    bufs: Box<[[u8; BUF]; TXN]>,
    len: [u16; TXN],
    free: u32,
    of_token: [u8; QSIZE],
    packets: u64,
}

impl Port {
    pub fn new(transport: MmioTransport<'static>) -> Option<Port> {
        let raw = Raw::new(transport).ok()?;
        let mut port = Port {
            raw,
            rx: zeroed()?,
            rx_of_token: [NONE; QSIZE],
            repost: (1 << QSIZE) - 1,
            tx: TxPool {
                bufs: zeroed()?,
                len: [0; TXN],
                free: (1 << TXN) - 1,
                of_token: [NONE; QSIZE],
                packets: 0,
            },
            rx_packets: 0,
        };
        port.refill();
        Some(port)
    }

    pub fn mac(&self) -> [u8; 6] {
        self.raw.mac_address()
    }

    pub fn tx_packets(&self) -> u64 {
        self.tx.packets
    }

    /// Acknowledges the device's interrupt; true if its config changed.
    pub fn ack(&mut self) -> bool {
        self.raw
            .ack_interrupt()
            .contains(virtio_drivers::transport::InterruptStatus::DEVICE_CONFIGURATION_INTERRUPT)
    }

    /// Posts the receive buffers smoltcp is done with.
    fn refill(&mut self) {
        while self.repost != 0 {
            let i = self.repost.trailing_zeros() as usize;
            self.repost &= !(1 << i);
            // SAFETY: buffer i is ours until its token comes back through
            // poll_receive; nothing else touches it meanwhile.
            match unsafe { self.raw.receive_begin(&mut self.rx[i]) } {
                Ok(token) => self.rx_of_token[token as usize] = i as u8,
                Err(_) => {
                    self.repost |= 1 << i;
                    break;
                }
            }
        }
    }
}

/// A zeroed boxed array built on the heap, not on the stack.
fn zeroed<const N: usize>() -> Option<Box<[[u8; BUF]; N]>> {
    alloc::vec![[0u8; BUF]; N]
        .into_boxed_slice()
        .try_into()
        .ok()
}

impl TxPool {
    /// Takes back the buffers the device has sent.
    fn reclaim(&mut self, raw: &mut Raw) {
        while let Some(token) = raw.poll_transmit() {
            let i = self.of_token[token as usize];
            if i == NONE {
                break;
            }
            let i = usize::from(i);
            self.of_token[token as usize] = NONE;
            // SAFETY: the same slice as given to transmit_begin for this token.
            let _ =
                unsafe { raw.transmit_complete(token, &self.bufs[i][..usize::from(self.len[i])]) };
            self.free |= 1 << i;
        }
    }
}

pub struct RxTok<'a>(&'a [u8]);

pub struct TxTok<'a> {
    raw: &'a mut Raw,
    pool: &'a mut TxPool,
}

impl phy::RxToken for RxTok<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for TxTok<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let i = self.pool.free.trailing_zeros() as usize;
        let buf = &mut self.pool.bufs[i];
        let hdr = self.raw.fill_buffer_header(buf).unwrap_or(0);
        let len = len.min(BUF - hdr);
        let r = f(&mut buf[hdr..hdr + len]);
        self.pool.len[i] = (hdr + len) as u16;
        // SAFETY: buffer i stays untouched until reclaim() sees its token.
        if let Ok(token) = unsafe { self.raw.transmit_begin(&buf[..hdr + len]) } {
            self.pool.free &= !(1 << i);
            self.pool.of_token[token as usize] = i as u8;
            self.pool.packets += 1;
        }
        r
    }
}

impl phy::Device for Port {
    type RxToken<'a> = RxTok<'a>;
    type TxToken<'a> = TxTok<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxTok<'_>, TxTok<'_>)> {
        self.refill();
        self.tx.reclaim(&mut self.raw);
        // A reply needs a transmit buffer: leave the packet queued until
        // one is free.
        if self.tx.free == 0 {
            return None;
        }
        let token = self.raw.poll_receive()?;
        let i = usize::from(self.rx_of_token[token as usize]);
        self.rx_of_token[token as usize] = NONE;
        // SAFETY: buffer i is the one posted with this token.
        let done = unsafe { self.raw.receive_complete(token, &mut self.rx[i]) };
        self.repost |= 1 << i;
        let (hdr, len) = done.ok()?;
        self.rx_packets += 1;
        Some((
            RxTok(&self.rx[i][hdr..hdr + len]),
            TxTok {
                raw: &mut self.raw,
                pool: &mut self.tx,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxTok<'_>> {
        self.tx.reclaim(&mut self.raw);
        (self.tx.free != 0).then_some(TxTok {
            raw: &mut self.raw,
            pool: &mut self.tx,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps.max_burst_size = Some(TXN);
        // Checksums are computed for what we send but not verified on what
        // we receive: the frames come from the host's virtio device, and
        // verifying costs emulated instructions on every packet.
        let mut cs = ChecksumCapabilities::default();
        cs.ipv4 = Checksum::Tx;
        cs.udp = Checksum::Tx;
        cs.tcp = Checksum::Tx;
        cs.icmpv4 = Checksum::Tx;
        caps.checksum = cs;
        caps
    }
}
