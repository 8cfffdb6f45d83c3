//! Mirrors: block jobs that copy a disk while the guest runs. The first
//! pass goes on a thread of its own, beside the guest's I/O, with the
//! guest's writes to the disk tracked (in 64 KiB chunks); at the end the
//! guest is held only while the chunks it wrote since are copied again,
//! and then (a pivot) the disk is served from the copy. With `top` (the
//! disk's top image, read alone) only what that image holds is copied: an
//! active commit when the copy is the image below it, a shallow copy
//! otherwise.
//!
//! The first pass reads `top` through an instance of its own, whose
//! metadata may lag behind the guest's writes: any range it reads wrong is
//! a range the guest changed since the mirror began, and so is copied
//! again at the end from the disk the guest uses.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::{Value, json};

use super::{Vmm, VmmError};
use crate::control::protocol::{DiskRef, FdRef, state};
use crate::devices::virtio::block::written::CHUNK;
use crate::devices::virtio::block::{Disk, ReplaceError};

/// How far a mirror's first pass is.
#[derive(Debug, Default)]
struct Progress {
    done: AtomicU64,
    total: AtomicU64,
    /// Bytes per second at most, 0 for unlimited; changed while it runs.
    rate: AtomicU64,
    /// The first pass's end: `Some(Ok)` once it copied everything.
    outcome: Mutex<Option<Result<(), String>>>,
}

/// A running mirror of one disk.
#[derive(Debug)]
pub(super) struct Mirror {
    source: Arc<Disk>,
    /// Taken out at a pivot (the source then serves it).
    dest: Option<Arc<Disk>>,
    progress: Arc<Progress>,
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Mirror {
    /// Stops the first pass (if it still runs) and waits for its thread.
    fn stop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.source.stop_tracking_writes();
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The mirrors of a VMM, by disk index.
pub(super) type Mirrors = HashMap<usize, Mirror>;

impl Vmm {
    /// Whether disk `index` has a mirror: other disk requests must wait.
    pub(super) fn check_no_mirror(&self, index: usize) -> Result<(), VmmError> {
        if self.mirrors.contains_key(&index) {
            return Err(VmmError::InvalidRequest(format!(
                "disk {index} has a block job running"
            )));
        }
        Ok(())
    }

    pub(super) fn mirror_start(
        &mut self,
        index: usize,
        dest: &DiskRef,
        top: Option<FdRef>,
        bandwidth: Option<u64>,
        passed: &mut [Option<OwnedFd>],
    ) -> Result<Value, VmmError> {
        self.machine()?;
        self.check_no_mirror(index)?;
        if bandwidth == Some(0) {
            return Err(VmmError::InvalidRequest("bandwidth must not be 0".into()));
        }
        let source = self
            .setup
            .as_ref()
            .and_then(|s| s.disks.get(index))
            .map(|d| d.disk.clone())
            .ok_or_else(|| VmmError::InvalidRequest(format!("disk {index} is not served")))?;
        let top: Option<File> = top.map(|t| self.take_fd(t, passed)).transpose()?;
        let dest = self.open_disk(index, dest, passed)?;
        source
            .can_replace(&dest)
            .map_err(|source| VmmError::Replace { index, source })?;
        // What the first pass reads of the top image is on disk from here
        // on; what the guest writes later is tracked.
        source.track_writes();
        if let Err(e) = source.flush_metadata() {
            source.stop_tracking_writes();
            return Err(VmmError::Replace {
                index,
                source: ReplaceError::Flush(e),
            });
        }
        let dest = Arc::new(dest);
        let progress = Arc::new(Progress::default());
        progress
            .rate
            .store(bandwidth.unwrap_or(0), Ordering::Relaxed);
        let cancel = Arc::new(AtomicBool::new(false));
        let thread = {
            let (source, dest) = (source.clone(), dest.clone());
            let (progress, cancel) = (progress.clone(), cancel.clone());
            std::thread::Builder::new()
                .name(format!("mirror-{index}"))
                .spawn(move || {
                    // Throttled against the rate in force: a new rate
                    // counts from when it was seen.
                    let mut since = (std::time::Instant::now(), 0u64, 0u64);
                    let r = source
                        .copy_to_reporting(&dest, top, &mut |done, total| {
                            progress.done.store(done, Ordering::Relaxed);
                            progress.total.store(total, Ordering::Relaxed);
                            let rate = progress.rate.load(Ordering::Relaxed);
                            if rate != since.2 {
                                since = (std::time::Instant::now(), done, rate);
                            }
                            if rate > 0 {
                                let due = std::time::Duration::from_secs_f64(
                                    (done - since.1) as f64 / rate as f64,
                                );
                                if let Some(wait) = due.checked_sub(since.0.elapsed()) {
                                    std::thread::sleep(
                                        wait.min(std::time::Duration::from_millis(200)),
                                    );
                                }
                            }
                            !cancel.load(Ordering::Relaxed)
                        })
                        .and_then(|()| dest.flush())
                        .map_err(|e| crate::vmm::error_chain(&e));
                    *progress.outcome.lock().expect("mirror outcome") = Some(r);
                })
        };
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                source.stop_tracking_writes();
                return Err(VmmError::Machine(crate::machine::MachineError::Io(
                    "a mirror thread",
                    e,
                )));
            }
        };
        self.mirrors.insert(
            index,
            Mirror {
                source,
                dest: Some(dest),
                progress,
                cancel,
                thread: Some(thread),
            },
        );
        self.mirror_status(index)
    }

    /// `done` and `total` bytes of the first pass, `ready` once it is over
    /// (then `pending`: bytes the guest wrote since, copied at the end).
    pub(super) fn mirror_status(&self, index: usize) -> Result<Value, VmmError> {
        let m = self
            .mirrors
            .get(&index)
            .ok_or_else(|| VmmError::InvalidRequest(format!("disk {index} has no block job")))?;
        let outcome = m.progress.outcome.lock().expect("mirror outcome").clone();
        let total = m
            .progress
            .total
            .load(Ordering::Relaxed)
            .max(m.source.sectors() * 512);
        let ready = matches!(outcome, Some(Ok(())));
        Ok(json!({
            // libvirt's clients take `cur == end` for ready: not before.
            "done": if ready {
                total
            } else {
                m.progress.done.load(Ordering::Relaxed).min(total.saturating_sub(1))
            },
            "total": total,
            "ready": ready,
            "pending": m.source.written_pending() * CHUNK,
            "error": outcome.and_then(Result::err),
        }))
    }

    /// Ends the mirror of disk `index`: waits for the first pass, then,
    /// with the guest held, copies what it wrote since and (with `pivot`)
    /// serves the disk from the copy.
    pub(super) fn mirror_finish(&mut self, index: usize, pivot: bool) -> Result<Value, VmmError> {
        self.machine()?;
        let mut m = self
            .mirrors
            .remove(&index)
            .ok_or_else(|| VmmError::InvalidRequest(format!("disk {index} has no block job")))?;
        if let Some(t) = m.thread.take() {
            let _ = t.join();
        }
        let failed = |why: String| {
            VmmError::InvalidRequest(format!("disk {index}: the block job failed: {why}"))
        };
        match m.progress.outcome.lock().expect("mirror outcome").clone() {
            Some(Ok(())) => {}
            Some(Err(why)) => return Err(failed(why)),
            None => return Err(failed("it did not run".into())),
        }
        let machine = self.machine.as_ref().expect("checked");
        let running = self.state != state::PAUSED;
        machine.pause();
        let replace = |source| VmmError::Replace { index, source };
        let dest = m.dest.take().expect("a mirror has its copy until the end");
        let result = (|| {
            let _frozen = machine.freeze();
            let copy = |e| replace(ReplaceError::Commit(e));
            m.source
                .flush()
                .map_err(|e| replace(ReplaceError::Flush(e)))?;
            let size = m.source.sectors() * 512;
            let mut buf = vec![0u8; CHUNK as usize];
            for chunk in m.source.take_written() {
                let at = chunk * CHUNK;
                if at >= size {
                    continue;
                }
                let data = &mut buf[..CHUNK.min(size - at) as usize];
                m.source.read_bytes(data, at).map_err(copy)?;
                dest.write_bytes(data, at).map_err(copy)?;
            }
            dest.flush().map_err(copy)?;
            m.source.stop_tracking_writes();
            if pivot {
                // The first pass's thread is gone: the copy is ours alone.
                let Ok(dest) = Arc::try_unwrap(dest) else {
                    unreachable!("the mirror thread was joined")
                };
                m.source.replace(dest).map_err(replace)?;
            }
            Ok(())
        })();
        if running {
            machine.resume();
        }
        result.map(|()| self.status())
    }

    /// Changes disk `index`'s first-pass limit (0: unlimited).
    pub(super) fn mirror_set_speed(
        &mut self,
        index: usize,
        bandwidth: u64,
    ) -> Result<Value, VmmError> {
        let m = self
            .mirrors
            .get(&index)
            .ok_or_else(|| VmmError::InvalidRequest(format!("disk {index} has no block job")))?;
        m.progress.rate.store(bandwidth, Ordering::Relaxed);
        self.mirror_status(index)
    }

    /// Stops the mirror of disk `index`; its copy is left as far as it got.
    pub(super) fn mirror_cancel(&mut self, index: usize) -> Result<Value, VmmError> {
        let mut m = self
            .mirrors
            .remove(&index)
            .ok_or_else(|| VmmError::InvalidRequest(format!("disk {index} has no block job")))?;
        m.stop();
        Ok(self.status())
    }

    /// Stops every mirror (the machine stops).
    pub(super) fn stop_mirrors(&mut self) {
        for (_, mut m) in self.mirrors.drain() {
            m.stop();
        }
    }
}
