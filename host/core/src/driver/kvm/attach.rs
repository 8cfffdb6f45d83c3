//! Which VMMs this host process is attached to: the ones it started or
//! connected to (each with a watcher thread turning its events into status
//! reports), the ones it took over lazily from their state files, and the
//! orphans and retired ones it cleans up.

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use wirt_kvm::control::client::{Client, ClientError};
use wirt_kvm::control::protocol::Request;
use wirt_kvm::control::published::{self, Published};
use wirt_vocab::State;

use super::{
    DomainConfig, DomainStatus, Error, ErrorCode, KvmDriver, Result, Vm, io_error, shutoff,
    status_from, vmm_error,
};

/// A running VMM taken over without a connection (`KvmDriver::unwatched`).
pub(super) struct Unwatched {
    /// Its config; None until attaching asks the config source.
    pub(super) config: Option<DomainConfig>,
    /// When its state file was last read (never, if None), and what it
    /// said: the per-domain calls of one listing do not each read it again.
    pub(super) seen: (Option<Instant>, u32, u32),
}

/// Where the driver finds the config of a VMM deferred without one: the
/// host keeps it in the domain's runtime record.
pub type ConfigSource = Box<dyn Fn(&str) -> Option<DomainConfig> + Send + Sync>;

/// What the host does before a VMM is spawned: a host process that dies
/// before it records the new VMM leaves an orphan, which the next process
/// must look for (`reap_orphans`).
pub type BeforeSpawn = Box<dyn Fn() + Send + Sync>;

/// How long a state read from a VMM's state file is taken as current.
pub(super) const PUBLISHED_FRESH: Duration = Duration::from_millis(100);

impl KvmDriver {
    /// The VM of `uuid`, connecting to its VMM first if it was left
    /// unwatched at open. A VMM found gone, or whose guest stopped while
    /// nobody watched, is reported as a watcher would have reported it.
    pub(super) fn attached(&self, uuid: &str) -> Option<Arc<Vm>> {
        self.attach(uuid).ok()
    }

    /// `attached`, saying why there is no VM: Err(Some(status)) for a VMM
    /// found gone or stopped (the status also went to the sink), Err(None)
    /// for a domain the driver does not know.
    fn attach(&self, uuid: &str) -> std::result::Result<Arc<Vm>, Option<DomainStatus>> {
        if let Some(vm) = self.lock().get(uuid).cloned() {
            return Ok(vm);
        }
        let config = self
            .unwatched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uuid)
            .ok_or(None)?
            .config
            .or_else(|| {
                let source = self.config_source.lock().unwrap_or_else(|p| p.into_inner());
                source.as_ref().and_then(|source| source(uuid))
            });
        let attached = match &config {
            Some(config) => self.connect_adopted(config),
            None => Err(Error::driver(
                ErrorCode::INTERNAL_ERROR,
                format!("no config to attach to the VMM of {uuid}"),
            )),
        };
        if let Err(e) = attached {
            tracing::info!(uuid, error = %e, "a VMM left unwatched has gone");
            let crashed = shutoff(crate::lifecycle::reason::SHUTOFF_CRASHED);
            (self.sink)(uuid, crashed);
            return Err(Some(crashed));
        }
        let vm = self.lock().get(uuid).cloned().ok_or(None)?;
        match self
            .request(&vm, "status", Request::Status)
            .and_then(|v| status_from(&v))
        {
            Ok(status) if status.state == State::Shutoff as u32 => {
                // Stopped while unwatched: the VMM stays until the host has
                // recorded the stop, as after a watched power-off.
                vm.stopping.store(true, Ordering::SeqCst);
                (self.sink)(uuid, status);
                Err(Some(status))
            }
            _ => Ok(vm),
        }
    }

    /// Leaves the VMM of `config` unwatched until first used (see
    /// `unwatched`); the host has read its state from its state file.
    /// `state` and `reason` are what it published.
    pub(crate) fn defer(&self, config: DomainConfig, state: u32, reason: u32) {
        self.unwatched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                config.uuid.clone(),
                Unwatched {
                    config: Some(config),
                    seen: (Some(Instant::now()), state, reason),
                },
            );
    }

    /// Leaves the VMMs of `guests` (uuid, state, reason) unwatched until
    /// first used, as `defer`, without reading their state files or configs
    /// yet: the host recorded the state and reason, and the first listing
    /// reads what each VMM published. A VMM this process knows already is
    /// left as it is.
    pub(crate) fn defer_unread(&self, guests: impl ExactSizeIterator<Item = (String, u32, u32)>) {
        // Not both locks at once: `attached` takes them one after the other.
        let watched: std::collections::HashSet<String> = self.lock().keys().cloned().collect();
        let mut unwatched = self.unwatched.lock().unwrap_or_else(|p| p.into_inner());
        unwatched.reserve(guests.len());
        for (uuid, state, reason) in guests {
            if !watched.contains(&uuid) {
                unwatched.entry(uuid).or_insert(Unwatched {
                    config: None,
                    seen: (None, state, reason),
                });
            }
        }
    }

    /// Sets what happens before each VMM is spawned.
    pub(crate) fn set_before_spawn(&self, hook: BeforeSpawn) {
        *self.before_spawn.lock().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    /// Sets where the configs of VMMs deferred unread come from.
    pub(crate) fn set_config_source(&self, source: ConfigSource) {
        *self.config_source.lock().unwrap_or_else(|p| p.into_inner()) = Some(source);
    }

    /// Where the VMM of `uuid` publishes its state.
    pub(crate) fn state_file(&self, uuid: &str) -> PathBuf {
        self.vmm_dir().join(state_file_name(uuid))
    }

    /// Where VMMs keep their sockets, records and state files.
    pub(super) fn vmm_dir(&self) -> PathBuf {
        self.paths.runtime.join("vmm")
    }

    /// Reads what the VMM of `uuid` last published, without connecting.
    pub(crate) fn published(&self, uuid: &str) -> Option<Published> {
        published::read(&self.state_file(uuid)).ok().flatten()
    }

    /// Watches a VMM's events on a connection of its own and reports them.
    pub(super) fn watch(&self, uuid: &str, vm: &Arc<Vm>) -> Result<()> {
        let mut client = connect_retry(&vm.socket)?;
        let sink = self.sink.clone();
        let vms = self.vms.clone();
        let stopping = vm.stopping.clone();
        let resets = vm.resets.clone();
        let uuid = uuid.to_string();
        let weak = Arc::downgrade(vm);
        std::thread::Builder::new()
            .name(format!("wirt-watch-{}", vm.name))
            .spawn(move || {
                loop {
                    match client.next_event(Duration::from_secs(3600)) {
                        Ok(event) => {
                            // Before the report: `reboot` may be waiting
                            // for this with the host's locks held.
                            if event.event != "shutdown-requested" {
                                bump(&resets);
                            }
                            let status = DomainStatus {
                                state: event.state,
                                reason: event.reason,
                                cpu_time_ns: 0,
                                memory_kib: 0,
                                vcpus: 0,
                            };
                            if event.state == 5 {
                                // The guest is off. Its VMM stays, answering
                                // for it, until the host has recorded the
                                // stop and calls `release`.
                                stopping.store(true, Ordering::SeqCst);
                            }
                            sink(&uuid, status);
                            if event.state == 5 {
                                return;
                            }
                        }
                        Err(ClientError::Timeout) => {}
                        Err(_) => {
                            bump(&resets);
                            // The connection closed: a VMM that was not being
                            // stopped died under the guest.
                            // A VM already retired (stopped by another
                            // process, maybe started again since) reports
                            // nothing: its domain is not this VM's any more.
                            let current = weak.upgrade().filter(|vm| is_current(&vms, &uuid, vm));
                            if let (false, Some(vm)) = (stopping.load(Ordering::SeqCst), current) {
                                retire(&vms, &uuid, &vm);
                                sink(&uuid, shutoff(crate::lifecycle::reason::SHUTOFF_CRASHED));
                            }
                            return;
                        }
                    }
                }
            })
            .map_err(|e| io_error("cannot start a watcher thread", e))?;
        Ok(())
    }

    /// Connects to the running VMM of `config` and watches it.
    pub(super) fn connect_adopted(&self, config: &DomainConfig) -> Result<()> {
        if self.lock().contains_key(&config.uuid) {
            return Ok(());
        }
        let socket = self.socket_path(&config.uuid);
        let client =
            Client::connect(&socket).map_err(|e| vmm_error("cannot re-attach to the VMM", e))?;
        let vm = Arc::new(Vm {
            name: config.name.clone(),
            config: config.clone(),
            socket,
            client: Mutex::new(client),
            stopping: Arc::new(AtomicBool::new(false)),
            child: Mutex::new(None),
            resets: Arc::default(),
        });
        self.adopt_taps(config);
        self.register(&config.uuid, vm)
    }

    pub(super) fn register(&self, uuid: &str, vm: Arc<Vm>) -> Result<()> {
        self.watch(uuid, &vm)?;
        self.lock().insert(uuid.to_string(), vm);
        Ok(())
    }
}

/// Connects to a VMM's socket, waiting briefly for it to appear.
pub(super) fn connect_retry(socket: &Path) -> Result<Client> {
    let mut last = None;
    for _ in 0..100 {
        match UnixStream::connect(socket) {
            Ok(s) => return Ok(Client::new(s)),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(io_error(
        format!("cannot reach the VMM at {}", socket.display()),
        last.unwrap_or_else(|| std::io::Error::other("timed out")),
    ))
}

/// Forgets a VM: reaps its process and removes its socket and record.
pub(super) fn bump(resets: &(Mutex<u64>, Condvar)) {
    *resets.0.lock().unwrap_or_else(|p| p.into_inner()) += 1;
    resets.1.notify_all();
}

impl KvmDriver {
    /// Refuses to start a domain whose VMM runs; a VMM whose guest is off
    /// and that only waits for `release` (the host recorded the stop, and
    /// the caller saw it) is let go now.
    pub(super) fn check_not_running(&self, uuid: &str) -> Result<()> {
        let Some(vm) = self.attached(uuid) else {
            return Ok(());
        };
        if vm.stopping.load(Ordering::SeqCst) {
            self.stop(uuid, &vm);
            return Ok(());
        }
        // Another process (a `wirt` beside this daemon) may have stopped it
        // and removed its socket before this one heard of the stop: a VMM
        // nobody can reach is not running here any more.
        if std::os::unix::net::UnixStream::connect(&vm.socket).is_err() {
            retire(&self.vms, uuid, &vm);
            return Ok(());
        }
        Err(Error::driver(
            ErrorCode::OPERATION_INVALID,
            "domain is already running",
        ))
    }

    /// Stops VMMs a host process started but did not live to record: one
    /// killed between spawning a VMM and storing the domain's runtime
    /// record leaves a VMM nobody will adopt. Called at open, under the
    /// state dir's lock and after re-attaching, so every VMM not adopted by
    /// then is such an orphan. Returns how many were stopped.
    pub(crate) fn reap_orphans(&self) -> usize {
        let dir = self.vmm_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return 0;
        };
        let mut adopted: std::collections::HashSet<String> = self.lock().keys().cloned().collect();
        adopted.extend(
            self.unwatched
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .keys()
                .cloned(),
        );
        let mut reaped = 0;
        for path in entries.flatten().map(|e| e.path()) {
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let Some(uuid) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if adopted.contains(uuid) {
                continue;
            }
            let socket = self.socket_path(uuid);
            let pid = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| v["pid"].as_u64())
                .and_then(|p| i32::try_from(p).ok());
            if let Some(pid) = pid.filter(|&pid| is_vmm_serving(pid, &socket)) {
                tracing::warn!(uuid, pid, "stopping a VMM no host recorded");
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                reaped += 1;
            }
            let _ = std::fs::remove_file(&socket);
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(path.with_extension("state"));
        }
        reaped
    }
}

/// Whether `pid` is a wirt-vmm listening on `socket` (not a recycled pid).
pub(super) fn is_vmm_serving(pid: i32, socket: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let mut args = cmdline.split(|&b| b == 0);
    let program = args.next().unwrap_or_default();
    let socket = socket.as_os_str().as_encoded_bytes();
    program.ends_with(b"wirt-vmm") && args.any(|a| a == socket)
}

pub(super) fn retire(vms: &Mutex<HashMap<String, Arc<Vm>>>, uuid: &str, vm: &Arc<Vm>) {
    if let Some(mut child) = vm.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
        // Reap it: the VMM exits right after `quit`.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
    }
    // A domain started again since has a VM of its own under the same
    // uuid, socket and record: those are not this one's to remove.
    let mut map = vms.lock().unwrap_or_else(|p| p.into_inner());
    if map
        .get(uuid)
        .is_some_and(|current| !Arc::ptr_eq(current, vm))
    {
        return;
    }
    map.remove(uuid);
    let _ = std::fs::remove_file(&vm.socket);
    let _ = std::fs::remove_file(vm.socket.with_extension("json"));
    let _ = std::fs::remove_file(vm.socket.with_extension("state"));
}

/// Whether `vm` is still the VM this driver runs for `uuid` (not one
/// retired and replaced by a new start).
pub(super) fn is_current(vms: &Mutex<HashMap<String, Arc<Vm>>>, uuid: &str, vm: &Arc<Vm>) -> bool {
    vms.lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(uuid)
        .is_some_and(|current| Arc::ptr_eq(current, vm))
}

impl KvmDriver {
    pub(super) fn watch_every_unwatched(&self) {
        let uuids: Vec<String> = self
            .unwatched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        for uuid in uuids {
            self.attached(&uuid);
        }
    }

    pub(super) fn published_states(&self, only: Option<&str>) -> Vec<(String, DomainStatus)> {
        let now = Instant::now();
        let status = |state, reason| DomainStatus {
            state,
            reason,
            ..DomainStatus::default()
        };
        let mut fresh = Vec::new();
        // A state read within PUBLISHED_FRESH went to the host then: only
        // older ones are read again. One domain's state is asked once per
        // domain of a listing: a lookup, not a walk.
        let is_stale = |vm: &Unwatched| {
            vm.seen
                .0
                .is_none_or(|at| now.duration_since(at) >= PUBLISHED_FRESH)
        };
        let stale: Vec<String> = {
            let unwatched = self.unwatched.lock().unwrap_or_else(|p| p.into_inner());
            match only {
                Some(uuid) => unwatched
                    .get_key_value(uuid)
                    .filter(|(_, vm)| is_stale(vm))
                    .map(|(uuid, _)| uuid.clone())
                    .into_iter()
                    .collect(),
                None => unwatched
                    .iter()
                    .filter(|(_, vm)| is_stale(vm))
                    .map(|(uuid, _)| uuid.clone())
                    .collect(),
            }
        };
        if stale.is_empty() {
            return fresh;
        }
        let dir = std::fs::File::open(self.vmm_dir()).ok();
        for uuid in stale {
            let published = match &dir {
                Some(dir) => published::read_in(dir, &state_file_name(&uuid))
                    .ok()
                    .flatten(),
                None => None,
            };
            match published {
                Some(Published::Alive { state, reason }) if state != State::Shutoff as u32 => {
                    if let Some(vm) = self
                        .unwatched
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_mut(&uuid)
                    {
                        vm.seen = (Some(now), state, reason);
                    }
                    fresh.push((uuid, status(state, reason)));
                }
                // Gone, stopped or unreadable: attaching reports what
                // happened, as a watcher would have, and this call returns
                // it too, so the listing that found it shows it.
                _ => {
                    if let Err(Some(status)) = self.attach(&uuid) {
                        fresh.push((uuid, status));
                    }
                }
            }
        }
        fresh
    }
}

/// The name of the file the VMM of `uuid` publishes its state in, in the
/// VMM directory.
fn state_file_name(uuid: &str) -> String {
    format!("{uuid}.state")
}
