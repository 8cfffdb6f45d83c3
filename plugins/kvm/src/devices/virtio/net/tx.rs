//! Transmit: each chain (virtio-net header + frame) goes to the tap with one
//! `writev` straight from guest memory; one interrupt decision per batch.

use virtio_bindings::virtio_net as vn;
use virtio_queue::{Queue, QueueT};

use super::backend::{IoVecs, NetBackend, iov_copy};
use super::{
    ChainError, F_CSUM, F_HOST_TSO4, F_HOST_TSO6, F_HOST_UFO, HDR_LEN, MAX_GSO_FRAME, Net,
    NetConfig, NetShared, QUEUE_SIZE, add, fatal, gather,
};
use crate::devices::virtio::{Processed, more_available, needs_interrupt};
use crate::memory::GuestMemoryMmap;

/// Chains per pass; then the worker comes back after other ready work.
pub const TX_BATCH: usize = QUEUE_SIZE as usize;

/// Reused per chain, to avoid an allocation per frame.
#[derive(Debug, Default)]
pub(super) struct TxScratch {
    iovs: IoVecs,
}

/// Checks a guest's header against the negotiated features. The guest can
/// still change it after this check; the tap validates it again, this only
/// holds the guest to what it negotiated.
pub fn check_tx_header(hdr: &[u8; HDR_LEN], features: u64) -> Result<(), ChainError> {
    let needs_csum = u32::from(hdr[0]) & vn::VIRTIO_NET_HDR_F_NEEDS_CSUM != 0;
    if needs_csum && features & F_CSUM == 0 {
        return Err(ChainError::Header);
    }
    let allowed = match u32::from(hdr[1]) {
        vn::VIRTIO_NET_HDR_GSO_NONE => true,
        vn::VIRTIO_NET_HDR_GSO_TCPV4 => features & F_HOST_TSO4 != 0,
        vn::VIRTIO_NET_HDR_GSO_TCPV6 => features & F_HOST_TSO6 != 0,
        vn::VIRTIO_NET_HDR_GSO_UDP => features & F_HOST_UFO != 0,
        // ECN, UDP_L4 (USO) and unknown types were never offered.
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(ChainError::Header)
    }
}

/// What the transmit path needs of the device, borrowed apart from the
/// guest memory the chains borrow.
struct Sender<'a, B> {
    backend: &'a mut B,
    iovs: &'a mut IoVecs,
    shared: &'a NetShared,
    config: &'a NetConfig,
    failed: &'a mut bool,
    features: u64,
}

impl<B: NetBackend> Sender<'_, B> {
    fn parse(
        &mut self,
        mem: &GuestMemoryMmap,
        chain: virtio_queue::DescriptorChain<&GuestMemoryMmap>,
    ) -> Result<u64, ChainError> {
        self.iovs.0.clear();
        let (len, _) = gather(mem, chain, false, &mut self.iovs.0)?;
        if len < HDR_LEN as u64 {
            return Err(ChainError::Short);
        }
        if len > (HDR_LEN + MAX_GSO_FRAME) as u64 {
            return Err(ChainError::TooLong);
        }
        let mut hdr = [0u8; HDR_LEN];
        if !iov_copy(&self.iovs.0, 0, &mut hdr, false) {
            return Err(ChainError::Short);
        }
        check_tx_header(&hdr, self.features)?;
        Ok(len)
    }

    fn send(
        &mut self,
        mem: &GuestMemoryMmap,
        chain: virtio_queue::DescriptorChain<&GuestMemoryMmap>,
    ) {
        let c = &self.shared.c;
        let len = match self.parse(mem, chain) {
            Ok(len) => len,
            Err(_) => {
                add(&c.tx_errors, 1);
                return;
            }
        };
        if *self.failed {
            add(&c.tx_errors, 1);
            return;
        }
        if !self.shared.link_up() {
            add(&c.tx_drops, 1);
            return;
        }
        loop {
            match self.backend.write_frame(&self.iovs.0) {
                Ok(_) => {
                    add(&c.tx_packets, 1);
                    add(&c.tx_bytes, len - HDR_LEN as u64);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.raw_os_error() == Some(libc::ENOBUFS) =>
                {
                    add(&c.tx_drops, 1)
                }
                Err(e) => {
                    add(&c.tx_errors, 1);
                    if fatal(&e) {
                        super::fail(self.failed, self.shared, self.config, "write", &e);
                    }
                }
            }
            return;
        }
    }
}

impl<B: NetBackend> Net<B> {
    /// Sends what the driver made available, up to [`TX_BATCH`] chains.
    /// Every chain is used (length 0), sent or not.
    pub(super) fn process_tx(&mut self, q: &mut Queue) -> Processed {
        let Net {
            backend,
            mem,
            config,
            shared,
            features,
            failed,
            tx,
            ..
        } = self;
        let mut s = Sender {
            backend,
            iovs: &mut tx.iovs,
            shared,
            config,
            failed,
            features: *features,
        };
        let mut used = 0usize;
        loop {
            // No kicks while the queue is drained; they are asked for again
            // below, with a last look for chains that raced with that.
            let _ = q.disable_notification(mem);
            while let Some(chain) = q.pop_descriptor_chain(&*mem) {
                let head = chain.head_index();
                s.send(mem, chain);
                if q.add_used(mem, head, 0).is_err() {
                    // The used ring is unusable; nothing more can be done.
                    return Processed::default();
                }
                used += 1;
                if used == TX_BATCH {
                    return Processed {
                        interrupt: needs_interrupt(q, mem),
                        more: true,
                    };
                }
            }
            if !more_available(q, mem) {
                break;
            }
        }
        Processed {
            interrupt: used > 0 && needs_interrupt(q, mem),
            more: false,
        }
    }
}
