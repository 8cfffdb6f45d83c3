//! The public API, shaped like libvirt's: a [`Connect`] to a URI, and
//! handles to its domains, networks, storage pools and volumes.
//!
//! Every call is routed through the registry (names, ids, configs), the
//! lifecycle rules, and then the driver; the driver only supplies mechanism.

mod convert;
pub mod domain;
mod domain_config;
pub mod local;
pub mod network;
pub mod save_image;
mod seed;
pub mod snapshot;
pub mod storage;

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use uuid::Uuid;

pub use domain::{Domain, DomainInfo};
pub use network::Network;
pub use snapshot::{Snapshot, SnapshotInfo};
pub use storage::{PoolInfo, StoragePool, StorageVol, VolInfo};

use crate::driver::{
    self, Capabilities, HypervisorDriver, HypervisorInfo, NetworkDriver, NodeInfo, StorageDriver,
};
use crate::error::{ErrorCode, ErrorDomain};
use crate::events::{DomainEvent, EventBus, EventStream};
use crate::registry::{self, Registry};
use crate::remote::client::RemoteConn;
use crate::{lifecycle, plugin, xml};

/// Any failure of the public API. [`Error::code`] is libvirt's number and
/// [`Error::message`] libvirt's wording.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Xml(#[from] xml::Error),
    #[error(transparent)]
    Denied(#[from] lifecycle::Denied),
    #[error(transparent)]
    Driver(#[from] driver::Error),
    #[error(transparent)]
    Plugin(#[from] plugin::Error),
    #[error(transparent)]
    Store(#[from] registry::Error),
    /// A refusal of the API itself (unknown object, conflict, bad argument).
    #[error("{message}")]
    Api { code: ErrorCode, message: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A call to a daemon failed: refused by it, or never answered.
    #[error(transparent)]
    Remote(#[from] crate::remote::client::ClientError),
}

impl Error {
    pub fn api(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Api {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Xml(e) => e.code(),
            Error::Denied(e) => e.code(),
            Error::Driver(e) => e.code(),
            Error::Plugin(e) => e.code(),
            Error::Store(e) => e.code(),
            Error::Api { code, .. } => *code,
            Error::Io { .. } => ErrorCode::SYSTEM_ERROR,
            Error::Remote(e) => e.code(),
        }
    }

    /// The subsystem that raised the error, for the wire.
    pub fn domain(&self) -> ErrorDomain {
        match self {
            Error::Xml(_) => ErrorDomain::DOMAIN,
            Error::Driver(_) | Error::Plugin(_) => ErrorDomain::TEST,
            Error::Remote(e) => e.domain(),
            _ => ErrorDomain::DOMAIN,
        }
    }

    /// libvirt's full message: the class's wording with this error's detail
    /// (`Requested operation is not valid: domain is not running`).
    pub fn message(&self) -> String {
        if let Error::Remote(e) = self {
            // A daemon sends its message whole; transport failures carry their cause.
            return e.message();
        }
        let mut detail = self.to_string();
        // The plugin errors carry their cause in the source chain; show it.
        let mut source = std::error::Error::source(self);
        if matches!(
            self,
            Error::Plugin(_) | Error::Driver(driver::Error::Plugin(_))
        ) {
            while let Some(s) = source {
                detail.push_str(": ");
                detail.push_str(&s.to_string());
                source = s.source();
            }
        }
        self.code().describe(&detail)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn no_domain(detail: impl std::fmt::Display) -> Error {
    Error::api(ErrorCode::NO_DOMAIN, detail.to_string())
}

/// The drivers behind one connection state.
pub(crate) struct Drivers {
    pub hypervisor: Arc<dyn HypervisorDriver>,
    pub storage: Option<Arc<dyn StorageDriver>>,
    pub network: Option<Arc<dyn NetworkDriver>>,
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
                let events = domain::apply_driver_status(&state, &mut reg, &uuid, status);
                drop(reg);
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
    pub info: HypervisorInfo,
    pub capabilities: Capabilities,
    pub node: NodeInfo,
    /// The plugin whose instance may be re-created after a failure; the
    /// host then tells the fresh instance what is active.
    pub lost_handle: Option<Arc<plugin::PluginHandle>>,
}

impl ConnState {
    pub fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn emit(&self, events: Vec<DomainEvent>) {
        for event in events {
            self.events.emit(event);
        }
    }
}

/// What a connection talks to: the state of a URI in this process, or a
/// daemon over libvirt's protocol.
#[derive(Clone)]
pub(crate) enum Inner {
    Local(Arc<ConnState>),
    Remote(Arc<RemoteConn>),
}

/// Picks the local state of a connection, or returns what the remote branch
/// gives: `let state = local_or!(self, r => r.call(..));`. Every public method
/// starts with it, so a method without a remote branch cannot reach the state.
macro_rules! local_or {
    ($conn:expr, $r:ident => $remote:expr) => {
        match &$conn.inner {
            $crate::connect::Inner::Local(state) => state,
            $crate::connect::Inner::Remote($r) => return $remote,
        }
    };
}
pub(crate) use local_or;

/// A connection to a hypervisor URI.
#[derive(Clone)]
pub struct Connect {
    pub(crate) inner: Inner,
    read_only: bool,
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("uri", &self.uri())
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// libvirt's `VIR_CONNECT_LIST_DOMAINS_*` filter bits.
pub mod list_flags {
    pub const ACTIVE: u32 = 1;
    pub const INACTIVE: u32 = 2;
    pub const PERSISTENT: u32 = 4;
    pub const TRANSIENT: u32 = 8;
    pub const RUNNING: u32 = 16;
    pub const PAUSED: u32 = 32;
    pub const SHUTOFF: u32 = 64;
    pub const OTHER: u32 = 128;
    pub const MANAGEDSAVE: u32 = 256;
    pub const NO_MANAGEDSAVE: u32 = 512;
    pub const AUTOSTART: u32 = 1024;
    pub const NO_AUTOSTART: u32 = 2048;
    pub const HAS_SNAPSHOT: u32 = 4096;
    pub const NO_SNAPSHOT: u32 = 8192;
    pub const HAS_CHECKPOINT: u32 = 16384;
    pub const NO_CHECKPOINT: u32 = 32768;
    pub const ALL: u32 = (NO_CHECKPOINT << 1) - 1;
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

impl Connect {
    /// Opens a connection. `test:///default` is shared by the connections
    /// open at the same time, as with libvirt, and starts afresh when the
    /// last one closes; `test:///ABS/PATH.xml` gets a private host seeded
    /// from that node file; a URI with a transport (`test+unix:///default`)
    /// reaches a daemon.
    pub fn open(uri: &str) -> Result<Connect> {
        Self::open_flags(uri, false)
    }

    pub fn open_read_only(uri: &str) -> Result<Connect> {
        Self::open_flags(uri, true)
    }

    fn open_flags(uri: &str, read_only: bool) -> Result<Connect> {
        let parsed = ParsedUri::parse(uri)?;
        let scheme = parsed.scheme.as_str();
        let path = parsed.path.as_str();
        let state = if parsed.transport.is_some() {
            let remote = RemoteConn::open(uri, &parsed, read_only)?;
            return Ok(Connect {
                inner: Inner::Remote(remote),
                read_only,
            });
        } else if scheme == "test" && path == "/default" {
            shared("test:///default", true, || seed::open_test(uri, None))?
        } else if scheme == "test" && path.starts_with('/') && path.len() > 1 {
            seed::open_test(uri, Some(path))?
        } else if let Some(system) = local::kvm_mode(scheme, path) {
            let canonical = if system {
                "kvm:///system"
            } else {
                "kvm:///session"
            };
            shared(canonical, false, || local::open_kvm(canonical, system))?
        } else if catalog_serves(scheme) {
            // A third-party hypervisor plugin claims this scheme.
            shared(uri, false, || {
                seed::open_scheme(uri, scheme).unwrap_or_else(|| Err(local::unsupported_uri(uri)))
            })?
        } else {
            return Err(local::unsupported_uri(uri));
        };
        Ok(Connect {
            inner: Inner::Local(state),
            read_only,
        })
    }

    /// Opens a private connection served by the driver plugin in `wasm`
    /// (a component implementing `wirt:driver@0.1.0`), for driver authors
    /// and the conformance suite. The plugin's `open` receives `uri`.
    pub fn open_plugin(wasm: &std::path::Path, uri: &str) -> Result<Connect> {
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
        Ok(Connect {
            inner: Inner::Local(state),
            read_only: false,
        })
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::api(
                ErrorCode::OPERATION_DENIED,
                "read-only access prevents this operation",
            ));
        }
        Ok(())
    }

    /// The URI as opened (for a daemon, with its transport and socket).
    pub fn uri(&self) -> &str {
        let state = local_or!(self, r => r.uri());
        &state.uri
    }

    /// The driver's name as `virsh version` prints it ("TEST").
    pub fn type_name(&self) -> &str {
        let state = local_or!(self, r => r.type_name());
        &state.info.type_name
    }

    /// The hypervisor's version: major * 1,000,000 + minor * 1,000 + micro.
    pub fn version(&self) -> u64 {
        let state = local_or!(self, r => r.version());
        state.info.version
    }

    /// wirt's own version in libvirt's encoding (a daemon's, when remote).
    pub fn lib_version(&self) -> u64 {
        let _state = local_or!(self, r => r.lib_version());
        LIB_VERSION
    }

    pub fn hostname(&self) -> String {
        let state = local_or!(self, r => r.hostname());
        if state.info.hostname.is_empty() {
            local_hostname()
        } else {
            state.info.hostname.clone()
        }
    }

    pub fn max_vcpus(&self) -> u32 {
        let state = local_or!(self, r => r.max_vcpus());
        state.info.max_vcpus
    }

    pub fn node_info(&self) -> NodeInfo {
        let state = local_or!(self, r => r.node_info());
        state.node.clone()
    }

    pub fn capabilities(&self) -> &Capabilities {
        let state = local_or!(self, r => r.capabilities());
        &state.capabilities
    }

    /// The capabilities document `virsh capabilities` prints.
    pub fn capabilities_xml(&self) -> String {
        let state = local_or!(self, r => r.capabilities_xml());
        convert::capabilities_xml(&state.capabilities, &state.node)
    }

    /// Subscribes to this connection's lifecycle events.
    pub fn events(&self) -> EventStream {
        let state = local_or!(self, r => r.events());
        state.events.subscribe()
    }
}

/// The libvirt version wirt speaks for (9.0.0), as `virConnectGetLibVersion` encodes it.
pub const LIB_VERSION: u64 = 9_000_000;

/// Whether an installed plugin serves URI scheme `scheme`.
fn catalog_serves(scheme: &str) -> bool {
    crate::plugin::catalog::for_scheme(scheme).is_some()
}

/// The machine's host name, as libvirt's test driver reports it.
pub fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

/// `scheme[+transport]://[host]/path[?query]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUri {
    pub scheme: String,
    pub transport: Option<String>,
    pub host: String,
    pub path: String,
    pub query: Vec<(String, String)>,
}

impl ParsedUri {
    pub fn parse(uri: &str) -> Result<ParsedUri> {
        let bad = || Error::api(ErrorCode::NO_CONNECT, uri.to_string());
        let (scheme, rest) = uri.split_once("://").ok_or_else(bad)?;
        let (scheme, transport) = match scheme.split_once('+') {
            Some((s, t)) => (s.to_string(), Some(t.to_string())),
            None => (scheme.to_string(), None),
        };
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(bad());
        }
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, q),
            None => (rest, ""),
        };
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let query = query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.to_string(), String::new()),
            })
            .collect();
        Ok(ParsedUri {
            scheme,
            transport,
            host: host.to_string(),
            path: path.to_string(),
            query,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris() {
        let u = ParsedUri::parse("test+unix:///default?socket=/tmp/s").unwrap();
        assert_eq!(u.scheme, "test");
        assert_eq!(u.transport.as_deref(), Some("unix"));
        assert_eq!(u.path, "/default");
        assert_eq!(u.query, vec![("socket".into(), "/tmp/s".into())]);
        assert!(ParsedUri::parse("nonsense").is_err());
    }
}
