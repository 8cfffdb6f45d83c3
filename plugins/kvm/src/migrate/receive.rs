//! The destination side: RAM and state from the stream, into fresh memory.
//! The caller builds the machine around them and acknowledges.

use std::io::{BufReader, Read};

use kvm_ioctls::Kvm;
use vm_memory::{Bytes, GuestAddress, GuestMemory};

use super::MigrateError;
use super::stream::{
    Conn, Header, MAX_RUN, MAX_STATE, Record, TAG_DISK, TAG_DISK_ZERO, TAG_DISKS, TAG_END,
    TAG_PAGES, TAG_READY, TAG_ROUND, TAG_STATE, TAG_ZERO, write_mark,
};
use crate::control::protocol::IncomingStats;
use crate::devices::virtio::block::Disk;
use crate::machine::Prepared;
use crate::memory::{GuestMemoryMmap, PAGE};
use crate::snapshot::MachineState;
use std::sync::Arc;

/// The largest guest a stream may announce (as `boot` allows: 1 TiB).
const MAX_MEMORY: u64 = 1 << 40;

/// Counts what it reads.
struct Counting<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// Checks that `count` pages from page `first` lie in guest RAM; their address.
fn range(mem: &GuestMemoryMmap, first: u64, count: u32) -> Result<GuestAddress, MigrateError> {
    let addr = first
        .checked_mul(PAGE)
        .filter(|a| {
            mem.check_range(
                GuestAddress(*a),
                (u64::from(count) * PAGE) as usize,
                vm_memory::Permissions::Write,
            )
        })
        .ok_or_else(|| {
            MigrateError::Format(format!(
                "{count} pages at page {first:#x} are not guest RAM"
            ))
        })?;
    Ok(GuestAddress(addr))
}

/// Reads a whole stream: RAM into a VM prepared as soon as the header
/// says its size, then the machine state.
/// With `disks` (a storage migration) their contents come too: DISK
/// records are refused otherwise, so a destination on shared storage never
/// writes the source's images.
pub fn receive(
    kvm: &Kvm,
    conn: &Conn,
    disks: Option<&[Arc<Disk>]>,
    stats: &mut IncomingStats,
) -> Result<(MachineState, Prepared), MigrateError> {
    let mut input = Counting {
        inner: BufReader::with_capacity(1 << 20, conn),
        n: 0,
    };
    let result = read_all(kvm, &mut input, conn, disks, stats);
    if let (Ok(_), Some(disks)) = (&result, disks) {
        // What came is on stable storage before the guest may run here.
        for (index, d) in disks.iter().enumerate() {
            d.flush()
                .map_err(|source| MigrateError::Disk { index, source })?;
        }
    }
    stats.bytes_received = input.n;
    result
}

fn read_all(
    kvm: &Kvm,
    input: &mut impl Read,
    mut conn: &Conn,
    disks: Option<&[Arc<Disk>]>,
    stats: &mut IncomingStats,
) -> Result<(MachineState, Prepared), MigrateError> {
    let header = Header::read(input)?;
    if header.memory_bytes > MAX_MEMORY {
        return Err(MigrateError::Format(format!(
            "{} bytes of RAM",
            header.memory_bytes
        )));
    }
    let base = Prepared::new(kvm, header.memory_bytes)?;
    write_mark(&mut conn, TAG_READY).map_err(MigrateError::Send)?;
    let mem = base.mem();
    let mut buf = vec![0u8; (u64::from(MAX_RUN) * PAGE) as usize];
    let zeros = vec![0u8; buf.len()];
    let mut state = None;
    let mut announced = false;
    let storage =
        |what: &str| MigrateError::Format(format!("{what} in a migration without storage copy"));
    loop {
        let r = Record::read(input)?;
        match r.tag {
            TAG_DISKS => {
                let disks = disks.ok_or_else(|| storage("disks"))?;
                super::disks::check_announced(input, r.count, disks)?;
                announced = true;
            }
            TAG_DISK | TAG_DISK_ZERO => {
                let disks = disks
                    .filter(|_| announced)
                    .ok_or_else(|| storage("disk data"))?;
                stats.disk_bytes += super::disks::receive_chunk(input, r, disks, &mut buf)?;
            }
            TAG_PAGES => {
                if r.count == 0 || r.count > MAX_RUN {
                    return Err(MigrateError::Format(format!(
                        "{} pages in a record",
                        r.count
                    )));
                }
                let at = range(mem, r.arg, r.count)?;
                let data = &mut buf[..(u64::from(r.count) * PAGE) as usize];
                input.read_exact(data).map_err(MigrateError::Receive)?;
                mem.write_slice(data, at)
                    .map_err(MigrateError::GuestMemory)?;
                stats.pages += u64::from(r.count);
            }
            TAG_ZERO => {
                let mut at = range(mem, r.arg, r.count)?;
                let mut left = u64::from(r.count) * PAGE;
                while left > 0 {
                    let n = left.min(zeros.len() as u64);
                    mem.write_slice(&zeros[..n as usize], at)
                        .map_err(MigrateError::GuestMemory)?;
                    at = GuestAddress(at.0 + n);
                    left -= n;
                }
                stats.zero_pages += u64::from(r.count);
            }
            TAG_ROUND => stats.rounds = r.count,
            TAG_STATE => {
                if r.arg > MAX_STATE {
                    return Err(MigrateError::Format(format!(
                        "a state section of {} bytes",
                        r.arg
                    )));
                }
                let mut json = vec![0u8; r.arg as usize];
                input.read_exact(&mut json).map_err(MigrateError::Receive)?;
                state = Some(serde_json::from_slice(&json).map_err(MigrateError::Json)?);
            }
            TAG_END => {
                let state = state.ok_or_else(|| {
                    MigrateError::Format("the stream ended without the machine state".into())
                })?;
                if disks.is_some() && !announced {
                    return Err(MigrateError::Format(
                        "a storage migration without the disks' contents".into(),
                    ));
                }
                return Ok((state, base));
            }
            t => return Err(MigrateError::Format(format!("unknown record type {t}"))),
        }
    }
}
