//! Receive: frames from the tap straight into guest buffers (`readv`).
//!
//! Chains are taken from the available ring until the buffers held can take
//! the largest frame the negotiated features allow (one chain without
//! MRG_RXBUF), then the tap is read into all of them at once and the frame
//! uses as many chains as it filled. Unused chains stay held for the next
//! frame; they are always the last ones taken, so a snapshot can give them
//! back by moving `next_avail`.
//!
//! A tap silently cuts a frame that does not fit (recent kernels return the
//! bytes copied, older ones the frame's length), so every read ends with a
//! 64 KiB overflow buffer of our own: a frame that reaches it did not fit
//! the guest's buffers and is dropped.

use std::collections::VecDeque;

use virtio_bindings::virtio_net as vn;
use virtio_queue::{Queue, QueueOwnedT, QueueT};
use vm_memory::GuestMemory;

use super::backend::{IOV_MAX, IoVecs, NetBackend, iov_copy};
use super::{
    F_GUEST_CSUM, F_GUEST_TSO4, F_GUEST_TSO6, F_MRG_RXBUF, HDR_LEN, MAX_GSO_FRAME, Net, add, fatal,
    gather,
};
use crate::devices::virtio::{Processed, more_available, needs_interrupt};

/// Frames per pass: bounds how long the transport lock is held (vCPUs take
/// it to read the interrupt status) and lets transmit run in between; epoll
/// is level-triggered, so a busy tap brings the worker straight back.
pub const RX_BATCH: usize = 64;
/// Offset of `num_buffers` in the header.
const NUM_BUFFERS: usize = 10;

#[derive(Debug)]
struct Held {
    head: u16,
    iovs: usize,
    cap: u64,
    descs: usize,
}

/// Receive chains taken from the available ring and not used yet.
#[derive(Debug)]
pub(super) struct RxBuffers {
    chains: VecDeque<Held>,
    /// The held chains' iovecs, from `front` on, in chain order.
    iovs: IoVecs,
    front: usize,
    cap: u64,
    descs: usize,
    /// Out of buffers: the tap is not read until the next kick.
    stalled: bool,
    /// The driver is asked to kick the queue when it adds buffers.
    kicks: bool,
    /// Overflow detection (see above), and where frames go while the link
    /// is down.
    scratch: Vec<u8>,
}

impl Default for RxBuffers {
    fn default() -> Self {
        RxBuffers {
            chains: VecDeque::new(),
            iovs: IoVecs::default(),
            front: 0,
            cap: 0,
            descs: 0,
            stalled: false,
            // A fresh ring asks for kicks (no flags, avail_event 0).
            kicks: true,
            scratch: Vec::new(),
        }
    }
}

impl RxBuffers {
    /// Forgets every held chain (device reset or activation).
    pub fn clear(&mut self) {
        let scratch = std::mem::take(&mut self.scratch);
        *self = RxBuffers {
            scratch,
            ..RxBuffers::default()
        };
    }

    /// Chains held.
    pub fn held(&self) -> u16 {
        self.chains.len() as u16
    }

    /// Waiting for the driver to add buffers.
    pub fn stalled(&self) -> bool {
        self.stalled
    }

    fn enough(&self, need: u64, mrg: bool) -> bool {
        if mrg {
            self.cap >= need
        } else {
            !self.chains.is_empty()
        }
    }

    fn push<M: GuestMemory>(
        &mut self,
        mem: &M,
        chain: virtio_queue::DescriptorChain<&M>,
    ) -> Result<(), super::ChainError> {
        let head = chain.head_index();
        let start = self.iovs.0.len();
        let r = gather(mem, chain, true, &mut self.iovs.0).and_then(|(cap, descs)| {
            // With MRG_RXBUF every buffer must hold a header; without it the
            // chain must at least.
            if cap < HDR_LEN as u64 {
                Err(super::ChainError::Short)
            } else {
                Ok((cap, descs))
            }
        });
        match r {
            Ok((cap, descs)) => {
                self.chains.push_back(Held {
                    head,
                    iovs: self.iovs.0.len() - start,
                    cap,
                    descs,
                });
                self.cap += cap;
                self.descs += descs;
                Ok(())
            }
            Err(e) => {
                self.iovs.0.truncate(start);
                Err(e)
            }
        }
    }

    /// Takes chains until a frame of `need` bytes fits (any chain without
    /// MRG_RXBUF). Returns whether a frame can be read now and whether
    /// malformed chains were given back to the driver.
    pub fn fill<M: GuestMemory>(
        &mut self,
        q: &mut Queue,
        mem: &M,
        need: u64,
        mrg: bool,
        errors: &std::sync::atomic::AtomicU64,
    ) -> (bool, bool) {
        let mut returned = false;
        // Never hold more than a ring's worth (a guest could make chains
        // overlap to grow the iovec list).
        let limit = usize::from(q.size());
        loop {
            let mut blocked = false;
            while !self.enough(need, mrg) && self.descs < limit {
                let Some(chain) = q.pop_descriptor_chain(mem) else {
                    break;
                };
                let head = chain.head_index();
                if self.push(mem, chain).is_ok() {
                    continue;
                }
                if self.chains.is_empty() {
                    add(errors, 1);
                    if q.add_used(mem, head, 0).is_err() {
                        return (false, returned);
                    }
                    returned = true;
                } else {
                    // Give it back once the chains before it are used, so
                    // the held chains stay the last ones taken.
                    q.go_to_previous_position();
                    blocked = true;
                    break;
                }
            }
            let full = self.descs >= limit;
            if !self.chains.is_empty() && (self.enough(need, mrg) || blocked || full) {
                if self.kicks {
                    let _ = q.disable_notification(mem);
                    self.kicks = false;
                }
                self.stalled = false;
                return (true, returned);
            }
            // Out of buffers: ask for a kick, then look again, for buffers
            // added before the driver could see the request.
            self.kicks = true;
            if !more_available(q, mem) {
                self.stalled = true;
                return (false, returned);
            }
        }
    }

    fn scratch_iov(&mut self) -> libc::iovec {
        if self.scratch.is_empty() {
            self.scratch = vec![0; HDR_LEN + MAX_GSO_FRAME];
        }
        libc::iovec {
            iov_base: self.scratch.as_mut_ptr().cast(),
            iov_len: self.scratch.len(),
        }
    }

    /// Reads a frame into the held buffers (all of them with MRG_RXBUF, the
    /// only one without), then the overflow buffer. Returns the frame's
    /// length and the guest buffers' capacity.
    fn read<B: NetBackend>(&mut self, backend: &mut B) -> std::io::Result<(u64, u64)> {
        let overflow = self.scratch_iov();
        // Without MRG_RXBUF only one chain is ever held.
        let all = self.iovs.0.len() - self.front;
        let n = all.min(IOV_MAX - 1);
        let cap = if n == all {
            self.cap
        } else {
            self.iovs.0[self.front..self.front + n]
                .iter()
                .map(|v| v.iov_len as u64)
                .sum()
        };
        let len = if n == all {
            self.iovs.0.push(overflow);
            let r = backend.read_frame(&self.iovs.0[self.front..]);
            self.iovs.0.pop();
            r?
        } else {
            // A pathological guest gave more pieces than one read takes.
            let mut v = self.iovs.0[self.front..self.front + n].to_vec();
            v.push(overflow);
            backend.read_frame(&v)?
        };
        Ok((len as u64, cap))
    }

    fn header(&self) -> &[libc::iovec] {
        &self.iovs.0[self.front..self.front + self.chains[0].iovs]
    }

    /// Checks the header the tap wrote against the negotiated features and
    /// clears what the guest did not ask for.
    fn fix_header(&mut self, features: u64) -> bool {
        let mut h = [0u8; 2];
        if !iov_copy(self.header(), 0, &mut h, false) {
            return false;
        }
        let gso_ok = match u32::from(h[1]) {
            vn::VIRTIO_NET_HDR_GSO_NONE => true,
            vn::VIRTIO_NET_HDR_GSO_TCPV4 => features & F_GUEST_TSO4 != 0,
            vn::VIRTIO_NET_HDR_GSO_TCPV6 => features & F_GUEST_TSO6 != 0,
            _ => false,
        };
        // virtio 1.2, 5.1.6.4.1: without GUEST_CSUM, flags must be zero (the
        // tap may still say DATA_VALID).
        if features & F_GUEST_CSUM == 0 && h[0] != 0 {
            return gso_ok && iov_copy(self.header(), 0, &mut [0], true);
        }
        gso_ok
    }

    /// Uses the chains a frame of `n` bytes filled: `num_buffers` in the
    /// first one's header, one used element per chain.
    fn complete<M: GuestMemory>(&mut self, q: &mut Queue, mem: &M, n: u64, mrg: bool) -> bool {
        let mut count = 0u16;
        let mut left = n;
        for c in &self.chains {
            count += 1;
            left = left.saturating_sub(c.cap);
            if left == 0 || !mrg {
                break;
            }
        }
        if !iov_copy(self.header(), NUM_BUFFERS, &mut count.to_le_bytes(), true) {
            return false;
        }
        let mut left = n;
        for _ in 0..count {
            let c = self.chains.pop_front().expect("counted above");
            let len = left.min(c.cap);
            left -= len;
            self.front += c.iovs;
            self.cap -= c.cap;
            self.descs -= c.descs;
            if q.add_used(mem, c.head, len as u32).is_err() {
                return false;
            }
        }
        if self.chains.is_empty() {
            self.iovs.0.clear();
            self.front = 0;
        } else if self.front >= IOV_MAX {
            self.iovs.0.drain(..self.front);
            self.front = 0;
        }
        true
    }
}

impl<B: NetBackend> Net<B> {
    /// Moves frames from the tap into the guest until the tap is empty, the
    /// guest is out of buffers or a batch is done.
    pub(super) fn process_rx(&mut self, q: &mut Queue) -> Processed {
        if self.failed {
            return Processed::default();
        }
        if !self.shared.link_up() {
            self.discard_rx();
            return Processed::default();
        }
        let mrg = self.has(F_MRG_RXBUF);
        let need = self.rx_need();
        let c = &self.shared.c;
        let mut used = false;
        for _ in 0..RX_BATCH {
            let (ready, returned) = self.rx.fill(q, &self.mem, need, mrg, &c.rx_errors);
            used |= returned;
            if !ready {
                break;
            }
            let (n, cap) = match self.rx.read(&mut self.backend) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    add(&c.rx_errors, 1);
                    if fatal(&e) {
                        super::fail(&mut self.failed, &self.shared, &self.config, "read", &e);
                        break;
                    }
                    // The kernel dropped that frame; the next one may be fine.
                    continue;
                }
            };
            // A frame larger than the buffers reached the overflow buffer:
            // drop it and keep the buffers for the next one.
            if n > cap {
                add(&c.rx_drops, 1);
                continue;
            }
            if n < HDR_LEN as u64 || !self.rx.fix_header(self.features) {
                add(&c.rx_errors, 1);
                continue;
            }
            if !self.rx.complete(q, &self.mem, n, mrg) {
                add(&c.rx_errors, 1);
                break;
            }
            used = true;
            add(&c.rx_packets, 1);
            add(&c.rx_bytes, n - HDR_LEN as u64);
        }
        Processed {
            interrupt: used && needs_interrupt(q, &self.mem),
            more: false,
        }
    }

    /// Link down: frames for an unplugged card are read and lost.
    fn discard_rx(&mut self) {
        let iov = [self.rx.scratch_iov()];
        for _ in 0..RX_BATCH {
            match self.backend.read_frame(&iov) {
                Ok(_) => add(&self.shared.c.rx_drops, 1),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    add(&self.shared.c.rx_errors, 1);
                    if fatal(&e) {
                        super::fail(&mut self.failed, &self.shared, &self.config, "read", &e);
                        break;
                    }
                }
            }
        }
    }
}
