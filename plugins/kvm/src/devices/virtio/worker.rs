//! The virtio worker thread: waits on every queue's ioeventfd and runs the
//! device's request path, so a queue kick never becomes a userspace VM exit.

use std::os::fd::AsRawFd;
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

impl Worker {
    /// Starts a worker for `transports`; `setup` runs first inside the thread
    /// (it installs the thread's seccomp filter).
    pub fn spawn(
        transports: Vec<Arc<Mutex<MmioTransport>>>,
        setup: ThreadSetup,
    ) -> Result<Worker, WorkerError> {
        let stop = EventFd::new(EFD_NONBLOCK).map_err(WorkerError::Setup)?;
        let epoll = Epoll::new().map_err(WorkerError::Setup)?;
        epoll
            .ctl(
                ControlOperation::Add,
                stop.as_raw_fd(),
                EpollEvent::new(EventSet::IN, STOP),
            )
            .map_err(WorkerError::Setup)?;
        let mut kicks = Vec::new();
        for (t, transport) in transports.iter().enumerate() {
            let guard = transport.lock().expect("virtio transport");
            for (q, evt) in guard.queue_evts().iter().enumerate() {
                let evt = evt.try_clone().map_err(WorkerError::Setup)?;
                let key = kicks.len() as u64;
                epoll
                    .ctl(
                        ControlOperation::Add,
                        evt.as_raw_fd(),
                        EpollEvent::new(EventSet::IN, key),
                    )
                    .map_err(WorkerError::Setup)?;
                kicks.push((t, q, evt));
            }
        }
        let stop_thread = stop.try_clone().map_err(WorkerError::Setup)?;
        let thread = std::thread::Builder::new()
            .name("virtio".into())
            .spawn(move || {
                setup();
                run(epoll, &stop_thread, &transports, &kicks);
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

fn run(
    epoll: Epoll,
    stop: &EventFd,
    transports: &[Arc<Mutex<MmioTransport>>],
    kicks: &[(usize, usize, EventFd)],
) {
    let mut events = vec![EpollEvent::default(); kicks.len() + 1];
    loop {
        let n = match epoll.wait(-1, &mut events) {
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
            let (t, q, evt) = &kicks[key as usize];
            // Reading resets the counter; several kicks need one pass.
            let _ = evt.read();
            transports[*t]
                .lock()
                .expect("virtio transport")
                .process_queue(*q);
        }
    }
}
