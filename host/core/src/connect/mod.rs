//! The public API, shaped like libvirt's: a [`Connect`] to a URI, and
//! handles to its domains, networks, storage pools, volumes and snapshots.
//!
//! A handle checks read-only access and hands the call to the connection's
//! [`Backend`]: the in-process one (`crate::local`), which routes every call
//! through the registry, the lifecycle rules and a driver, or a daemon's.
//! Connections are opened in `crate::open`.

mod backend;
mod blockjob;
mod dom_monitor;
mod domain;
mod error;
mod iface;
mod ifaddr;
mod migrate;
mod monitor;
mod network;
mod nodedev;
mod pool;
mod secret;
mod settings;
mod snapshot;
mod stats;
mod uri;
mod volume;

use std::sync::Arc;

pub use backend::{
    Backend, DomainBackend, DomainRef, HostBackend, MonitorBackend, NetworkBackend, NetworkRef,
    PoolBackend, PoolRef, Progress, SnapshotBackend, SnapshotRef, VolRef, VolumeBackend,
};
pub use blockjob::{BlockJobBackend, BlockJobInfo, block_flags, block_job_status, block_job_type};
pub use dom_monitor::{BlockInfo, VcpuInfo};
pub use domain::{Domain, DomainInfo, domain_flags};
pub use error::{Error, Result};
pub use iface::{IfaceBackend, IfaceRef, Interface, iface_flags};
pub use ifaddr::{DomainInterface, IpAddress, ifaddr_source};
pub use network::{DhcpLease, Network, network_flags};
pub use nodedev::{NodeDevBackend, NodeDevice, nodedev_flags};

/// The arguments of `virsh domcapabilities` (each narrows the answer).
#[derive(Debug, Default)]
pub struct DomcapsQuery<'a> {
    /// `--emulator`: the emulator's path.
    pub emulator: Option<&'a str>,
    /// `--arch`: the guest architecture (`x86_64`).
    pub arch: Option<&'a str>,
    /// `--machine`: the machine type (`q35`).
    pub machine: Option<&'a str>,
    /// `--virttype`: the domain type (`kvm`).
    pub virttype: Option<&'a str>,
}

/// What [`Connect::run_autostart`] started, and what it could not.
#[derive(Debug, Default)]
pub struct Autostarted {
    /// The networks started, by name.
    pub networks: Vec<String>,
    /// The domains started, by name.
    pub domains: Vec<String>,
    /// ("network 'x'" or "domain 'y'", why).
    pub failed: Vec<(String, Error)>,
}
pub use migrate::{
    Begun, JobCompletedEvent, JobStats, MigrateParams, Prepared, cookie_figures, job_flags,
    migrate_flags, param_names, run_v3,
};
pub(crate) use monitor::invalid_arg;
pub use monitor::{
    CpuMap, NODE_CPU_STATS_ALL_CPUS, NODE_MEMORY_STATS_ALL_CELLS, NodeStat, cpu_models_of,
    format_cpu_list,
};
pub use pool::{PoolInfo, StoragePool, pool_flags};
pub use secret::{Secret, SecretBackend, SecretRef, SecretValue, secret_flags};
pub use settings::{ControlInfo, LIFECYCLE_ACTIONS, lifecycle_type, metadata_type};
pub use snapshot::{Snapshot, SnapshotInfo, snapshot_flags};
pub use stats::{
    BlockStats, DomainStats, DomainStatsOf, InterfaceStats, StatValue, stats_flags, stats_groups,
};
pub use uri::ParsedUri;
pub use volume::{StorageVol, VolInfo, read_full, volume_flags};
pub use wirt_vocab::monitor::{memory_stat, vcpu_state};

use crate::driver::{Capabilities, NodeInfo};
use crate::error::ErrorCode;
use crate::events::EventStream;

/// A connection to a hypervisor URI.
#[derive(Clone)]
pub struct Connect {
    backend: Arc<dyn Backend>,
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
    use wirt_vocab::flags::ListDomains;

    /// Active domains.
    pub const ACTIVE: u32 = ListDomains::ACTIVE.bits();
    /// Inactive domains.
    pub const INACTIVE: u32 = ListDomains::INACTIVE.bits();
    /// Domains with a persistent definition.
    pub const PERSISTENT: u32 = ListDomains::PERSISTENT.bits();
    /// Domains without one.
    pub const TRANSIENT: u32 = ListDomains::TRANSIENT.bits();
    /// Running domains.
    pub const RUNNING: u32 = ListDomains::RUNNING.bits();
    /// Paused domains.
    pub const PAUSED: u32 = ListDomains::PAUSED.bits();
    /// Shut-off domains.
    pub const SHUTOFF: u32 = ListDomains::SHUTOFF.bits();
    /// Domains in any other state.
    pub const OTHER: u32 = ListDomains::OTHER.bits();
    /// Domains with a managed-save image.
    pub const MANAGEDSAVE: u32 = ListDomains::MANAGEDSAVE.bits();
    /// Domains without one.
    pub const NO_MANAGEDSAVE: u32 = ListDomains::NO_MANAGEDSAVE.bits();
    /// Domains that start with their host.
    pub const AUTOSTART: u32 = ListDomains::AUTOSTART.bits();
    /// Domains that do not.
    pub const NO_AUTOSTART: u32 = ListDomains::NO_AUTOSTART.bits();
    /// Domains with snapshots.
    pub const HAS_SNAPSHOT: u32 = ListDomains::HAS_SNAPSHOT.bits();
    /// Domains without.
    pub const NO_SNAPSHOT: u32 = ListDomains::NO_SNAPSHOT.bits();
    /// Domains with checkpoints.
    pub const HAS_CHECKPOINT: u32 = ListDomains::HAS_CHECKPOINT.bits();
    /// Domains without.
    pub const NO_CHECKPOINT: u32 = ListDomains::NO_CHECKPOINT.bits();
    /// Every bit libvirt 9.0 defines.
    pub const ALL: u32 = ListDomains::all().bits();
}

/// Refuses `flags` bits outside `allowed`, as libvirt does ("unsupported
/// flags (0x...) in function ...").
pub fn check_flags(flags: u32, allowed: u32, function: &str) -> Result<()> {
    if flags & !allowed != 0 {
        return Err(Error::api(
            ErrorCode::INVALID_ARG,
            format!(
                "unsupported flags (0x{:x}) in function {function}",
                flags & !allowed
            ),
        ));
    }
    Ok(())
}

/// The libvirt version wirt speaks for (9.0.0), as `virConnectGetLibVersion` encodes it.
pub const LIB_VERSION: u64 = 9_000_000;

/// The machine's host name, as libvirt's test driver reports it.
pub fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

impl Connect {
    /// A connection served by `backend`. `read_only` connections refuse
    /// every call that changes something, whatever the backend allows.
    pub fn from_backend(backend: Arc<dyn Backend>, read_only: bool) -> Connect {
        Connect { backend, read_only }
    }

    /// What serves this connection.
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// Whether the connection was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Fails with libvirt's "operation forbidden" on a read-only connection.
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
        self.backend.uri()
    }

    /// The driver's name as `virsh version` prints it ("TEST").
    pub fn type_name(&self) -> &str {
        self.backend.type_name()
    }

    /// The hypervisor's version: major * 1,000,000 + minor * 1,000 + micro.
    pub fn version(&self) -> u64 {
        self.backend.version()
    }

    /// wirt's own version in libvirt's encoding (a daemon's, when remote).
    pub fn lib_version(&self) -> u64 {
        self.backend.lib_version()
    }

    /// The host's name.
    pub fn hostname(&self) -> String {
        self.backend.hostname()
    }

    /// The most vCPUs one domain may have.
    pub fn max_vcpus(&self) -> u32 {
        self.backend.max_vcpus()
    }

    /// The host's CPUs and memory.
    pub fn node_info(&self) -> NodeInfo {
        self.backend.node_info()
    }

    /// What the host can run.
    pub fn capabilities(&self) -> &Capabilities {
        self.backend.capabilities()
    }

    /// The capabilities document `virsh capabilities` prints.
    pub fn capabilities_xml(&self) -> String {
        self.backend.capabilities_xml()
    }

    /// Subscribes to this connection's lifecycle events.
    /// What a domain may have on this host, in libvirt's
    /// `domainCapabilities` XML: `emulator`, `arch`, `machine` and
    /// `virttype` narrow it as `virsh domcapabilities` does.
    pub fn domain_capabilities(
        &self,
        emulator: Option<&str>,
        arch: Option<&str>,
        machine: Option<&str>,
        virttype: Option<&str>,
        flags: u32,
    ) -> Result<String> {
        let query = DomcapsQuery {
            emulator,
            arch,
            machine,
            virttype,
        };
        self.backend.domain_capabilities(&query, flags)
    }

    /// Starts every autostart network, then every autostart domain, that is
    /// not running — what a daemon does when it starts. One that fails is
    /// in the report; the others still start.
    pub fn run_autostart(&self) -> Result<Autostarted> {
        self.check_writable()?;
        self.backend.run_autostart()
    }

    /// Network lifecycle events (defined, undefined, started, stopped) of
    /// this connection's host, from now on.
    pub fn network_events(&self) -> Result<EventStream<crate::events::NetworkEvent>> {
        self.backend.network_events()
    }

    /// Storage pool events (lifecycle and refresh) of this connection's
    /// host, from now on.
    pub fn pool_events(&self) -> Result<EventStream<crate::events::PoolEvent>> {
        self.backend.pool_events()
    }

    /// Domain lifecycle events of this connection's host
    /// (`VIR_DOMAIN_EVENT_ID_LIFECYCLE`), from now on.
    pub fn events(&self) -> EventStream {
        self.backend.events()
    }

    /// The domain XML stored in a save image (`save-image-dumpxml`).
    pub fn save_image_xml(&self, path: &std::path::Path) -> Result<String> {
        self.backend.save_image_xml(path)
    }

    /// Restores a domain saved to `path`. flags: 2 running, 4 paused
    /// (default: as it was when saved).
    pub fn restore(&self, path: &std::path::Path, flags: u32) -> Result<Domain> {
        self.check_writable()?;
        let dom = self.backend.restore(path, flags)?;
        Ok(self.domain(dom))
    }
}
