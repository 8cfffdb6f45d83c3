//! The in-process backend: every call goes through the registry (names,
//! ids, configs), the lifecycle rules, and then a driver, which only
//! supplies mechanism. `test:` URIs run the test driver plugin; `kvm:` URIs
//! the local KVM host; other schemes an installed hypervisor plugin.

mod attach;
mod autostart;
mod backing;
mod blockjob;
mod convert;
mod dirs;
mod dom_monitor;
mod domain;
mod domain_config;
mod domcaps;
mod host;
mod host_devices;
mod iface;
mod ifaddr;
#[cfg(feature = "kvm")]
mod kvm;
mod media;
mod metadata;
mod migrate;
mod migrate_p2p;
mod monitor;
mod network;
mod nic;
mod nodedev;
mod on_demand;
mod outcome;
mod pool;
mod restack;
mod restore;
mod save_image;
mod secret;
mod seed;
mod snapshot;
mod snapshot_disks;
mod snapshot_internal;
mod stats;
mod volume;

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use uuid::Uuid;

use crate::connect::{Backend, Error, ParsedUri, Result};
use crate::driver::{
    self, Capabilities, HypervisorDriver, HypervisorInfo, NetworkDriver, NodeInfo, StorageDriver,
};
use crate::error::ErrorCode;
use crate::events::{DomainEvent, EventBus};
use crate::plugin;
use crate::registry::{Registry, StateLock};

pub use dirs::LocalDirs;

/// A connection served in this process: a handle on the state shared by
/// every connection to the same URI.
pub(crate) struct Local {
    state: Arc<ConnState>,
    /// Incoming migrations this connection prepared and has not finished.
    prepared: Mutex<Vec<Uuid>>,
    /// Outgoing migrations this connection performed and has not confirmed.
    performed: Mutex<Vec<Uuid>>,
}

impl Drop for Local {
    fn drop(&mut self) {
        self.abandon_prepared();
        self.abandon_performed();
    }
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local")
            .field("uri", &self.state.uri)
            .finish()
    }
}

impl Local {
    fn backend(state: Arc<ConnState>) -> Arc<dyn Backend> {
        Arc::new(Local {
            state,
            prepared: Mutex::new(Vec::new()),
            performed: Mutex::new(Vec::new()),
        })
    }
}

/// Opens a URI this process serves itself: `test:///default` is shared by
/// the connections open at the same time, as with libvirt, and starts
/// afresh when the last one closes; `test:///ABS/PATH.xml` gets a private
/// host seeded from that node file; `kvm:///system` and `kvm:///session`
/// the local KVM host; another scheme the installed plugin that claims it.
pub(crate) fn open(uri: &str, parsed: &ParsedUri) -> Result<Arc<dyn Backend>> {
    let scheme = parsed.scheme.as_str();
    let path = parsed.path.as_str();
    let state = if scheme == "test" && path == "/default" {
        shared("test:///default", true, || seed::open_test(uri, None))?
    } else if scheme == "test" && path.starts_with('/') && path.len() > 1 {
        seed::open_test(uri, Some(path))?
    } else if let Some(state) = open_kvm(scheme, path)? {
        state
    } else if crate::plugin::catalog::for_scheme(scheme).is_some() {
        // A third-party hypervisor plugin claims this scheme.
        shared(uri, false, || {
            seed::open_scheme(uri, scheme).unwrap_or_else(|| Err(unsupported_uri(uri)))
        })?
    } else {
        return Err(unsupported_uri(uri));
    };
    Ok(Local::backend(state))
}

#[cfg(feature = "kvm")]
fn open_kvm(scheme: &str, path: &str) -> Result<Option<Arc<ConnState>>> {
    let Some(system) = kvm::kvm_mode(scheme, path) else {
        return Ok(None);
    };
    let canonical = if system {
        "kvm:///system"
    } else {
        "kvm:///session"
    };
    shared(canonical, false, || kvm::open_kvm(canonical, system)).map(Some)
}

#[cfg(not(feature = "kvm"))]
fn open_kvm(_scheme: &str, _path: &str) -> Result<Option<Arc<ConnState>>> {
    Ok(None)
}

/// Opens a private connection served by the driver plugin in `wasm`, for
/// driver authors and the conformance suite.
pub(crate) fn open_plugin(wasm: &std::path::Path, uri: &str) -> Result<Arc<dyn Backend>> {
    let bytes = std::fs::read(wasm).map_err(|source| Error::Io {
        what: format!("cannot read plugin {}", wasm.display()),
        source,
    })?;
    let name = wasm
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin")
        .to_string();
    let plugin = plugin::Plugin::load(&name, "0.0.0", &bytes, plugin::Limits::default())?;
    let state = seed::open_with_plugin(uri, plugin, &crate::xml::node::NodeDef::default())?;
    Ok(Local::backend(state))
}

pub(crate) fn unsupported_uri(uri: &str) -> Error {
    Error::api(ErrorCode::NO_CONNECT, uri.to_string())
}

pub(crate) fn no_domain(detail: impl std::fmt::Display) -> Error {
    Error::api(ErrorCode::NO_DOMAIN, detail.to_string())
}

/// The drivers behind one connection state.
pub(crate) struct Drivers {
    pub hypervisor: Arc<dyn HypervisorDriver>,
    /// The hypervisor driver may take over guests without watching them
    /// (`HypervisorDriver::unwatched_states`); where it cannot, a call
    /// does not even ask.
    pub lazy_attach: bool,
    pub storage: Option<on_demand::OnDemand<dyn StorageDriver>>,
    pub network: Option<on_demand::OnDemand<dyn NetworkDriver>>,
}

/// Where drivers report status changes the guest made on its own.
pub(crate) type StatusQueue = std::sync::mpsc::Receiver<(String, driver::DomainStatus)>;

/// A sink for drivers and the queue it feeds.
pub(crate) fn status_channel() -> (plugin::StatusSink, StatusQueue) {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = Mutex::new(tx);
    let sink: plugin::StatusSink = Arc::new(move |uuid: &str, status: driver::DomainStatus| {
        let _ = tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send((uuid.to_string(), status));
    });
    (sink, rx)
}

/// Applies reported status changes as they come, on a thread of its own:
/// reports may arrive while an API call holds the registry, and events
/// must flow even when nobody calls the API. The thread ends when the
/// drivers (the senders) are gone.
pub(crate) fn spawn_status_applier(state: &Arc<ConnState>, queue: StatusQueue) {
    let weak = Arc::downgrade(state);
    let _ = std::thread::Builder::new()
        .name("wirt-status".into())
        .spawn(move || {
            while let Ok((uuid, status)) = queue.recv() {
                let Some(state) = weak.upgrade() else {
                    return;
                };
                let Ok(uuid) = Uuid::parse_str(&uuid) else {
                    continue;
                };
                let mut reg = state.lock();
                let stopped = status.state == crate::lifecycle::State::Shutoff as u32;
                let events = domain::apply_driver_status(&state, &mut reg, &uuid, status);
                drop(reg);
                if stopped {
                    state.drivers.hypervisor.release(&uuid.to_string());
                }
                state.emit(events);
            }
        });
}

/// The state shared by every connection to one URI.
pub(crate) struct ConnState {
    pub uri: String,
    pub drivers: Drivers,
    pub registry: Mutex<Registry>,
    pub events: EventBus,
    pub network_events: EventBus<crate::events::NetworkEvent>,
    pub block_job_events: EventBus<crate::events::BlockJobEvent>,
    /// Devices plugged in or out of running domains.
    pub device_events: EventBus<crate::events::DeviceEvent>,
    pub pool_events: EventBus<crate::events::PoolEvent>,
    /// The host's secrets (`local/secret.rs`), beside the registry.
    pub secrets: Mutex<secret::SecretStore>,
    pub secret_events: EventBus<crate::events::SecretEvent>,
    /// A test host's node devices; `None`: the local host's, from sysfs.
    pub node_devices: Option<Mutex<Vec<crate::xml::nodedev::NodeDeviceDef>>>,
    pub node_device_events: EventBus<crate::events::NodeDeviceEvent>,
    /// A test host's interfaces, in memory; `None`: the local host's.
    pub interfaces: Option<Mutex<Vec<iface::IfaceObj>>>,
    /// The interfaces as `virInterfaceChangeBegin` found them, while a
    /// transaction runs. Taken after `interfaces`' lock.
    pub iface_backup: Mutex<Option<Vec<iface::IfaceObj>>>,
    /// What test guests' agents answer: clocks and frozen filesystems.
    pub test_guests: Mutex<std::collections::HashMap<Uuid, metadata::TestGuest>>,
    pub info: HypervisorInfo,
    pub capabilities: Capabilities,
    pub node: NodeInfo,
    /// The plugin whose instance may be re-created after a failure; the
    /// host then tells the fresh instance what is active.
    pub lost_handle: Option<Arc<plugin::PluginHandle>>,
    /// A state dir other processes share, if the registry lives in one.
    pub disk: Option<Disk>,
    /// The host's identity, which tells a migration to this same host.
    pub host_uuid: Uuid,
    /// Migrations under way, and their settings.
    pub migrations: Mutex<migrate::Jobs>,
}

/// A state dir shared with other processes: its lock, and how to read the
/// registry again when another process changed it.
pub(crate) struct Disk {
    pub lock: Arc<StateLock>,
    pub reload: Box<dyn Fn(&mut Registry) + Send + Sync>,
}

/// The registry, locked in this process and, for a state dir, against
/// every other process using it; both are released on drop.
pub(crate) struct RegistryGuard<'a> {
    reg: MutexGuard<'a, Registry>,
    disk: Option<&'a StateLock>,
}

impl std::ops::Deref for RegistryGuard<'_> {
    type Target = Registry;
    fn deref(&self) -> &Registry {
        &self.reg
    }
}

impl std::ops::DerefMut for RegistryGuard<'_> {
    fn deref_mut(&mut self) -> &mut Registry {
        &mut self.reg
    }
}

impl Drop for RegistryGuard<'_> {
    fn drop(&mut self) {
        if let Some(lock) = self.disk {
            lock.unlock();
        }
    }
}

impl ConnState {
    /// The registry, as current as the state dir: what another process
    /// wrote since this one last looked is read again first, and nobody
    /// else writes until the guard is dropped.
    pub fn lock(&self) -> RegistryGuard<'_> {
        let mut reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let Some(disk) = &self.disk else {
            return RegistryGuard { reg, disk: None };
        };
        if let Err(e) = disk.lock.lock() {
            // Serving unlocked beats serving nothing; the warning says why
            // two processes may then disagree.
            tracing::warn!(error = %e, "cannot lock the state dir");
            return RegistryGuard { reg, disk: None };
        }
        if disk.lock.changed() {
            (disk.reload)(&mut reg);
        }
        RegistryGuard {
            reg,
            disk: Some(&disk.lock),
        }
    }

    pub fn emit(&self, events: Vec<DomainEvent>) {
        for event in events {
            self.events.emit(event);
        }
    }
}

/// A shared connection state, held for the whole process (a host with
/// files and VMMs behind it) or only while a connection to it is open:
/// libvirt's `test:///default` starts afresh once its last connection
/// closes, so a daemon's clients see what they would see with libvirtd.
enum Held {
    Process(Arc<ConnState>),
    WhileOpen(std::sync::Weak<ConnState>),
}

/// Connection states shared within the process, by URI (`test:///default`,
/// `kvm:///session`...), as libvirt shares them.
static SHARED: OnceLock<Mutex<std::collections::HashMap<String, Held>>> = OnceLock::new();

fn shared(
    key: &str,
    while_open: bool,
    open: impl FnOnce() -> Result<Arc<ConnState>>,
) -> Result<Arc<ConnState>> {
    let cell = SHARED.get_or_init(|| Mutex::new(std::collections::HashMap::new()));
    let mut map = cell.lock().unwrap_or_else(|p| p.into_inner());
    match map.get(key) {
        Some(Held::Process(state)) => return Ok(state.clone()),
        Some(Held::WhileOpen(weak)) => {
            if let Some(state) = weak.upgrade() {
                return Ok(state);
            }
        }
        None => {}
    }
    let state = open()?;
    let held = if while_open {
        Held::WhileOpen(Arc::downgrade(&state))
    } else {
        Held::Process(state.clone())
    };
    map.insert(key.to_string(), held);
    Ok(state)
}
