//! A virtio worker thread: waits on its transports' queue ioeventfds,
//! service eventfds and backend descriptors (a tap), and runs the devices'
//! request paths, so a queue kick never becomes a userspace VM exit.
//!
//! A machine runs one worker for its disks and one per network card (see
//! DESIGN.md): a disk flush must not delay packets, and each worker gets the
//! seccomp filter of what its devices do. Disks plugged into a running
//! machine join its disk worker, and leave it when unplugged
//! ([`Worker::add`], [`Worker::remove`]).

use std::os::fd::{AsRawFd, RawFd};
use std::sync::mpsc;
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
    /// The worker thread is gone, so it cannot take or drop a device.
    #[error("the virtio worker thread has stopped")]
    Gone,
}

type Shared = Arc<Mutex<MmioTransport>>;

/// A device joining or leaving a running worker.
enum Change {
    Add(Prepared),
    Remove(Shared),
}

/// A change waiting for the worker, with where its outcome goes.
type Pending = (Change, mpsc::Sender<Result<(), WorkerError>>);

/// A transport with its eventfds duplicated for the epoll set: done by the
/// caller, since a worker's seccomp filter has no `fcntl`.
struct Prepared {
    shared: Shared,
    kinds: Vec<Kind>,
    backend_fd: Option<RawFd>,
}

impl Prepared {
    fn new(shared: Shared) -> Result<Prepared, WorkerError> {
        let guard = shared.lock().expect("virtio transport");
        let mut kinds = Vec::new();
        for (q, evt) in guard.queue_evts().iter().enumerate() {
            kinds.push(Kind::Kick(q, evt.try_clone().map_err(WorkerError::Setup)?));
        }
        kinds.push(Kind::Service(
            guard
                .service_evt()
                .try_clone()
                .map_err(WorkerError::Setup)?,
        ));
        let backend_fd = guard.backend_fd();
        drop(guard);
        Ok(Prepared {
            shared,
            kinds,
            backend_fd,
        })
    }
}

/// A running worker.
pub struct Worker {
    stop: EventFd,
    change: EventFd,
    changes: Arc<Mutex<Vec<Pending>>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("running", &self.thread.is_some())
            .finish_non_exhaustive()
    }
}

/// The seccomp filter to apply inside the worker thread, if any.
pub type ThreadSetup = Box<dyn FnOnce() + Send>;

const STOP: u64 = u64::MAX;
const CHANGE: u64 = u64::MAX - 1;

enum Kind {
    Kick(usize, EventFd),
    Service(EventFd),
    Backend(RawFd),
}

struct Source {
    transport: usize,
    kind: Kind,
}

impl Source {
    fn fd(&self) -> RawFd {
        match &self.kind {
            Kind::Kick(_, evt) | Kind::Service(evt) => evt.as_raw_fd(),
            Kind::Backend(fd) => *fd,
        }
    }
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
        transports: Vec<Shared>,
        setup: ThreadSetup,
    ) -> Result<Worker, WorkerError> {
        let stop = EventFd::new(EFD_NONBLOCK).map_err(WorkerError::Setup)?;
        let change = EventFd::new(EFD_NONBLOCK).map_err(WorkerError::Setup)?;
        let epoll = Epoll::new().map_err(WorkerError::Setup)?;
        for (fd, key) in [(stop.as_raw_fd(), STOP), (change.as_raw_fd(), CHANGE)] {
            epoll
                .ctl(
                    ControlOperation::Add,
                    fd,
                    EpollEvent::new(EventSet::IN, key),
                )
                .map_err(WorkerError::Setup)?;
        }
        let mut w = Loop {
            epoll,
            transports: Vec::new(),
            sources: Vec::new(),
            backends: Vec::new(),
        };
        for t in transports {
            w.add(Prepared::new(t)?)?;
        }
        let changes = Arc::new(Mutex::new(Vec::new()));
        let stop_thread = stop.try_clone().map_err(WorkerError::Setup)?;
        let change_thread = change.try_clone().map_err(WorkerError::Setup)?;
        let changes_thread = changes.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                setup();
                w.run(&stop_thread, &change_thread, &changes_thread);
            })
            .map_err(WorkerError::Spawn)?;
        Ok(Worker {
            stop,
            change,
            changes,
            thread: Some(thread),
        })
    }

    /// Serves `transport` from now on (a device plugged in).
    pub fn add(&self, transport: Shared) -> Result<(), WorkerError> {
        self.apply(Change::Add(Prepared::new(transport)?))
    }

    /// Stops serving `transport` and drops the worker's hold on it (a
    /// device unplugged): when this returns, the worker touches it no more.
    pub fn remove(&self, transport: Shared) -> Result<(), WorkerError> {
        self.apply(Change::Remove(transport))
    }

    fn apply(&self, change: Change) -> Result<(), WorkerError> {
        if self.thread.is_none() {
            return Err(WorkerError::Gone);
        }
        let (tx, rx) = mpsc::channel();
        self.changes
            .lock()
            .expect("worker changes")
            .push((change, tx));
        self.change.write(1).map_err(WorkerError::Setup)?;
        rx.recv().map_err(|_| WorkerError::Gone)?
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
    // The transports own the backend descriptors; holding them keeps those
    // open. A removed device leaves a hole, so indexes stay valid.
    transports: Vec<Option<Shared>>,
    sources: Vec<Option<Source>>,
    backends: Vec<Option<Backend>>,
}

impl Loop {
    fn run(&mut self, stop: &EventFd, change: &EventFd, changes: &Mutex<Vec<Pending>>) {
        let mut events = vec![EpollEvent::default(); 64];
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
                match ev.data() {
                    STOP => {
                        let _ = stop.read();
                        return;
                    }
                    CHANGE => {
                        let _ = change.read();
                        let pending = std::mem::take(&mut *changes.lock().expect("worker changes"));
                        for (c, reply) in pending {
                            let r = match c {
                                Change::Add(t) => self.add(t),
                                Change::Remove(t) => {
                                    self.remove(&t);
                                    Ok(())
                                }
                            };
                            let _ = reply.send(r);
                        }
                    }
                    key => self.dispatch(key as usize, ev.event_set()),
                }
            }
        }
    }

    fn dispatch(&mut self, key: usize, events: EventSet) {
        // A source removed earlier in the same batch.
        let Some(src) = self.sources.get(key).and_then(Option::as_ref) else {
            return;
        };
        let t = src.transport;
        let Some(shared) = self.transports[t].as_ref() else {
            return;
        };
        let mut transport = shared.lock().expect("virtio transport");
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
            Kind::Backend(_) => {
                let bad = events.intersects(EventSet::ERROR | EventSet::HANG_UP);
                transport.process_backend(bad);
            }
        }
        let wanted = transport.backend_wanted();
        let gone = transport.backend_fd().is_none();
        drop(transport);
        self.reconcile(t, wanted, gone);
    }

    fn watch(&mut self, fd: RawFd, events: EventSet, source: Source) -> Result<u64, WorkerError> {
        let key = self.sources.len() as u64;
        self.epoll
            .ctl(ControlOperation::Add, fd, EpollEvent::new(events, key))
            .map_err(WorkerError::Setup)?;
        self.sources.push(Some(source));
        Ok(key)
    }

    fn add(&mut self, p: Prepared) -> Result<(), WorkerError> {
        let Prepared {
            shared,
            kinds,
            backend_fd,
        } = p;
        let t = self.transports.len();
        let first = self.sources.len();
        let mut backend = None;
        let mut r = Ok(());
        for kind in kinds {
            let source = Source { transport: t, kind };
            if let Err(e) = self.watch(source.fd(), EventSet::IN, source) {
                r = Err(e);
                break;
            }
        }
        if r.is_ok()
            && let Some(fd) = backend_fd
        {
            // Not wanted until the driver is up and has given buffers.
            let source = Source {
                transport: t,
                kind: Kind::Backend(fd),
            };
            match self.watch(fd, EventSet::empty(), source) {
                Ok(key) => {
                    backend = Some(Backend {
                        fd,
                        key,
                        interest: Interest::Nothing,
                    })
                }
                Err(e) => r = Err(e),
            }
        }
        self.transports.push(Some(shared));
        self.backends.push(backend);
        if r.is_err() {
            // Half-registered: take back what was added.
            self.unwatch(t, first);
            self.transports[t] = None;
            self.backends[t] = None;
        }
        r
    }

    fn remove(&mut self, shared: &Shared) {
        let Some(t) = self
            .transports
            .iter()
            .position(|x| x.as_ref().is_some_and(|x| Arc::ptr_eq(x, shared)))
        else {
            return;
        };
        self.unwatch(t, 0);
        self.transports[t] = None;
        self.backends[t] = None;
    }

    /// Takes transport `t`'s descriptors (from source `first` on) out of
    /// the epoll set.
    fn unwatch(&mut self, t: usize, first: usize) {
        for (key, slot) in self.sources.iter_mut().enumerate().skip(first) {
            if slot.as_ref().is_some_and(|s| s.transport == t) {
                let src = slot.take().expect("checked");
                // A failed backend is out of the set already.
                let _ = self.epoll.ctl(
                    ControlOperation::Delete,
                    src.fd(),
                    EpollEvent::new(EventSet::empty(), key as u64),
                );
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
