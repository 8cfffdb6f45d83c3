//! A virtio worker thread: waits on its transports' queue ioeventfds,
//! service eventfds and backend descriptors (a tap), and runs the devices'
//! request paths, so a queue kick never becomes a userspace VM exit.
//!
//! A machine runs one worker for its disks and one per network card (see
//! DESIGN.md): a disk flush must not delay packets, and each worker gets the
//! seccomp filter of what its devices do.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

use super::mmio::MmioTransport;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Setting up the epoll set or eventfds failed.
    #[error("cannot set up the virtio worker's event loop")]
    Setup(#[source] std::io::Error),
    /// Spawning the thread failed.
    #[error("cannot spawn the virtio worker thread")]
    Spawn(#[source] std::io::Error),
}

/// A running worker.
#[derive(Debug)]
pub struct Worker {
    stop: EventFd,
    thread: Option<JoinHandle<()>>,
}

/// The seccomp filter to apply inside the worker thread, if any.
pub type ThreadSetup = Box<dyn FnOnce() + Send>;

const STOP: u64 = u64::MAX;

enum Kind {
    Kick(usize, EventFd),
    Service(EventFd),
    Backend,
}

struct Source {
    transport: usize,
    kind: Kind,
}

/// Whether a backend descriptor is in the epoll set, and for what.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Interest {
    Readable,
    Nothing,
    /// It failed; it stays out of the set (level-triggered errors would spin).
    Removed,
}

struct Backend {
    fd: RawFd,
    key: u64,
    interest: Interest,
}

impl Worker {
    /// Starts a worker named `name` for `transports`; `setup` runs first
    /// inside the thread (it installs the thread's seccomp filter).
    pub fn spawn(
        name: &str,
        transports: Vec<Arc<Mutex<MmioTransport>>>,
        setup: ThreadSetup,
    ) -> Result<Worker, WorkerError> {
        let stop = EventFd::new(EFD_NONBLOCK).map_err(WorkerError::Setup)?;
        let epoll = Epoll::new().map_err(WorkerError::Setup)?;
        let add = |fd: RawFd, events: EventSet, key: u64| {
            epoll
                .ctl(ControlOperation::Add, fd, EpollEvent::new(events, key))
                .map_err(WorkerError::Setup)
        };
        add(stop.as_raw_fd(), EventSet::IN, STOP)?;
        let mut sources = Vec::new();
        let mut backends = Vec::new();
        for (t, transport) in transports.iter().enumerate() {
            let guard = transport.lock().expect("virtio transport");
            for (q, evt) in guard.queue_evts().iter().enumerate() {
                let evt = evt.try_clone().map_err(WorkerError::Setup)?;
                add(evt.as_raw_fd(), EventSet::IN, sources.len() as u64)?;
                sources.push(Source {
                    transport: t,
                    kind: Kind::Kick(q, evt),
                });
            }
            let evt = guard
                .service_evt()
                .try_clone()
                .map_err(WorkerError::Setup)?;
            add(evt.as_raw_fd(), EventSet::IN, sources.len() as u64)?;
            sources.push(Source {
                transport: t,
                kind: Kind::Service(evt),
            });
            backends.push(match guard.backend_fd() {
                Some(fd) => {
                    let key = sources.len() as u64;
                    // Not wanted until the driver is up and has given buffers.
                    add(fd, EventSet::empty(), key)?;
                    sources.push(Source {
                        transport: t,
                        kind: Kind::Backend,
                    });
                    Some(Backend {
                        fd,
                        key,
                        interest: Interest::Nothing,
                    })
                }
                None => None,
            });
        }
        let stop_thread = stop.try_clone().map_err(WorkerError::Setup)?;
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                setup();
                let mut w = Loop {
                    epoll,
                    transports,
                    sources,
                    backends,
                };
                w.run(&stop_thread);
            })
            .map_err(WorkerError::Spawn)?;
        Ok(Worker {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops and joins the worker.
    pub fn stop(&mut self) {
        let _ = self.stop.write(1);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Loop {
    epoll: Epoll,
    // The transports own the backend descriptors; holding them keeps those open.
    transports: Vec<Arc<Mutex<MmioTransport>>>,
    sources: Vec<Source>,
    backends: Vec<Option<Backend>>,
}

impl Loop {
    fn run(&mut self, stop: &EventFd) {
        let mut events = vec![EpollEvent::default(); self.sources.len() + 1];
        loop {
            let n = match self.epoll.wait(-1, &mut events) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("wirt-vmm: virtio worker stopped: {e}");
                    return;
                }
            };
            for ev in &events[..n] {
                let key = ev.data();
                if key == STOP {
                    let _ = stop.read();
                    return;
                }
                let src = &self.sources[key as usize];
                let t = src.transport;
                let mut transport = self.transports[t].lock().expect("virtio transport");
                match &src.kind {
                    Kind::Kick(q, evt) => {
                        // Reading resets the counter; several kicks need one pass.
                        let _ = evt.read();
                        transport.process_queue(*q);
                    }
                    Kind::Service(evt) => {
                        let _ = evt.read();
                        transport.service();
                    }
                    Kind::Backend => {
                        let bad = ev
                            .event_set()
                            .intersects(EventSet::ERROR | EventSet::HANG_UP);
                        transport.process_backend(bad);
                    }
                }
                let wanted = transport.backend_wanted();
                let gone = transport.backend_fd().is_none();
                drop(transport);
                self.reconcile(t, wanted, gone);
            }
        }
    }

    /// Waits for the backend only while the device wants it: a network card
    /// with no guest buffers leaves frames queued in the kernel instead of
    /// spinning on a readable tap.
    fn reconcile(&mut self, t: usize, wanted: bool, gone: bool) {
        let Some(b) = self.backends[t].as_mut() else {
            return;
        };
        let target = match (gone, wanted) {
            (true, _) => Interest::Removed,
            (false, true) => Interest::Readable,
            (false, false) => Interest::Nothing,
        };
        if b.interest == target || b.interest == Interest::Removed {
            return;
        }
        let r = match target {
            Interest::Removed => self.epoll.ctl(
                ControlOperation::Delete,
                b.fd,
                EpollEvent::new(EventSet::empty(), b.key),
            ),
            Interest::Readable => self.epoll.ctl(
                ControlOperation::Modify,
                b.fd,
                EpollEvent::new(EventSet::IN, b.key),
            ),
            Interest::Nothing => self.epoll.ctl(
                ControlOperation::Modify,
                b.fd,
                EpollEvent::new(EventSet::empty(), b.key),
            ),
        };
        match r {
            Ok(()) => b.interest = target,
            Err(e) => eprintln!("wirt-vmm: cannot change the epoll interest of a backend: {e}"),
        }
    }
}
