//! The driver contract on the host side: `HypervisorDriver`,
//! `StorageDriver` and `NetworkDriver`. The WASM adapter and the KVM adapter
//! both implement them; the host's `connect` module only sees these traits.
//!
//! Drivers supply mechanism. Names, ids, configs and the lifecycle rules are
//! the host's, so every driver gets libvirt's semantics for free. Optional
//! operations default to "not supported", answered with libvirt's code 3.

pub mod bridge;
pub mod dir;
#[cfg(feature = "kvm")]
pub mod kvm;
pub mod wasm;

use std::fs::File;
use std::io::{Read, Write};

use crate::error::ErrorCode;
use crate::plugin;

/// The data types of the contract, shared with the WIT bindings.
pub use crate::plugin::bindings::wirt::driver::types::{
    BackingStore, Capabilities, DhcpHost, DhcpLease, DiskConfig, DnsHost, DomainConfig,
    DomainStatus, GuestCapability, HypervisorInfo, InterfaceConfig, IpConfig, NetworkConfig,
    NodeInfo, OsConfig, PoolConfig, PoolUsage, VolumeConfig, VolumeInfo,
};

/// A guest's serial console: its output to read, keyboard input to write.
pub struct ConsoleStream {
    /// The console's output.
    pub reader: Box<dyn Read + Send>,
    /// Input for the console, as if typed.
    pub writer: Box<dyn Write + Send>,
}

impl std::fmt::Debug for ConsoleStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConsoleStream")
    }
}

/// A disk's I/O counters: libvirt's block statistics. Failed requests
/// count in `errors` only.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BlockStats {
    /// Reads done.
    pub rd_req: u64,
    /// Bytes read.
    pub rd_bytes: u64,
    /// Time spent on reads, ns.
    pub rd_total_ns: u64,
    /// Writes done.
    pub wr_req: u64,
    /// Bytes written.
    pub wr_bytes: u64,
    /// Time spent on writes, ns.
    pub wr_total_ns: u64,
    /// Flushes done.
    pub flush_req: u64,
    /// Time spent on flushes, ns.
    pub flush_total_ns: u64,
    /// Requests that failed.
    pub errors: u64,
}

/// A network card's counters, from the guest's side (`rx`: delivered to
/// it): libvirt's interface statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct InterfaceStats {
    /// The host device (tap) name.
    pub name: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errs: u64,
    /// Frames dropped on receive.
    pub rx_drop: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errs: u64,
    /// Frames dropped on send.
    pub tx_drop: u64,
}

/// What a running guest's devices counted, in definition order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestStats {
    /// One entry per `<disk>`.
    pub disks: Vec<BlockStats>,
    /// One entry per network card the driver runs.
    pub nics: Vec<InterfaceStats>,
}

/// What the host resolved for one `<interface>`, beyond the contract's
/// `interface-config` (a WIT record, which cannot grow within
/// `wirt:driver@0.1.0`): only drivers that make host devices for
/// interfaces ask for it ([`HypervisorDriver::host_interfaces`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostNic {
    /// The host bridge to put the interface's device on: `<source bridge>`
    /// for type `bridge`, the bridge of the `<source network>` the host
    /// resolved (active, `<bridge name>`) for type `network`.
    pub bridge: Option<String>,
    /// `<link state='down'/>`: false.
    pub link_up: bool,
    /// `<mtu size>`.
    pub mtu: Option<u32>,
    /// `<backend type>` (`passt`).
    pub backend: Option<String>,
}

/// How far a block job's copy is ([`HypervisorDriver::mirror_status`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MirrorStatus {
    /// Bytes of the first pass done.
    pub done: u64,
    /// Bytes in all.
    pub total: u64,
    /// The first pass is over: only the guest's writes since remain.
    pub ready: bool,
    /// Why the copy failed, if it did.
    pub error: Option<String>,
}

/// How a guest migrating in is received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IncomingMode {
    /// It stays paused once it is here.
    pub paused: bool,
    /// Its disks' contents come with it (libvirt's `--copy-storage-all`),
    /// into images of this host's own.
    pub copy_storage: bool,
}

/// libvirt's `VIR_DOMAIN_START_PAUSED`.
pub const START_PAUSED: u32 = 1;
/// libvirt's `VIR_DOMAIN_SAVE_PAUSED` (restore paused).
pub const SAVE_PAUSED: u32 = 4;

/// A driver's failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The driver refused the operation, with libvirt's code.
    #[error("{message}")]
    Driver {
        /// libvirt's error code.
        code: ErrorCode,
        /// The driver's message.
        message: String,
    },
    /// The driver does not implement the operation.
    #[error("{operation}")]
    Unsupported {
        /// libvirt's API the operation stands for (`virDomainReboot`).
        operation: &'static str,
    },
    /// The plugin itself failed (trap, timeout, memory cap, load failure).
    #[error(transparent)]
    Plugin(#[from] plugin::Error),
    /// Reading or writing a stream failed.
    #[error("cannot transfer data for {what}")]
    Io {
        /// What was being transferred.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// libvirt's error code: the driver's own, `VIR_ERR_NO_SUPPORT`,
    /// the plugin's, or `VIR_ERR_SYSTEM_ERROR` for I/O.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Driver { code, .. } => *code,
            Error::Unsupported { .. } => ErrorCode::NO_SUPPORT,
            Error::Plugin(e) => e.code(),
            Error::Io { .. } => ErrorCode::SYSTEM_ERROR,
        }
    }

    /// A refusal with libvirt's `code` and `message`.
    pub fn driver(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Driver {
            code,
            message: message.into(),
        }
    }
}

/// A driver call's result.
pub type Result<T> = std::result::Result<T, Error>;

fn unsupported<T>(operation: &'static str) -> Result<T> {
    Err(Error::Unsupported { operation })
}

/// An external snapshot of a running domain
/// What [`HypervisorDriver::snapshot_internal`] does to each image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InternalOp {
    /// Record each image's current state under the snapshot's name.
    Create,
    /// Bring each image back to the snapshot (the domain is not running).
    Revert,
    /// Drop the snapshot from each image.
    Delete,
}

/// A qcow2 image taking part in an internal snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InternalImage {
    /// The image file.
    pub path: String,
    /// The index of the disk serving it in the running domain's config, if
    /// the domain runs and serves it: then its VMM changes the image.
    pub serving: Option<usize>,
}

/// An external snapshot of a running domain's disks and machine state
/// ([`HypervisorDriver::snapshot_external`]).
#[derive(Debug)]
pub struct ExternalSnapshot<'a> {
    /// The snapshot's name.
    pub name: &'a str,
    /// Save the machine state: `Some(Some(path))` to that file (which must
    /// not exist), `Some(None)` where the driver keeps snapshot states.
    pub memory: Option<Option<&'a str>>,
    /// Indexes into the config's disks of those moving onto new overlays.
    pub disks: &'a [usize],
}

/// Runs domains: boot, pause, stop, report state.
pub trait HypervisorDriver: Send + Sync {
    /// Opens the hypervisor for the connection URI `uri`.
    fn open(&self, uri: &str) -> Result<HypervisorInfo>;
    /// The host's CPUs and memory (`virNodeGetInfo`).
    fn node_info(&self) -> Result<NodeInfo>;
    /// What the hypervisor runs (`virConnectGetCapabilities`).
    fn capabilities(&self) -> Result<Capabilities>;

    /// Boots the domain `config` describes (`virDomainCreateWithFlags`;
    /// `flags` may hold [`START_PAUSED`]).
    fn start(&self, config: &DomainConfig, flags: u32) -> Result<DomainStatus>;
    /// Take over a domain the host knows is active.
    fn adopt(&self, config: &DomainConfig, status: &DomainStatus) -> Result<()>;
    /// The host has recorded (and stored) that the domain stopped on its
    /// own: what still answered for it may go. Until then it must stay, so
    /// that a host process that ends before recording the stop finds out
    /// how it stopped the next time instead of seeing a crash.
    fn release(&self, _uuid: &str) {}
    /// Whether the driver took over domains without watching them (see
    /// `unwatched_states`); asked first so a call costs nothing more where
    /// there are none.
    fn has_unwatched(&self) -> bool {
        false
    }
    /// Running domains the driver took over without watching them yet
    /// (all, or the one of `only`; a listing reads their state without
    /// connecting to each), with the state each last published: those
    /// whose state was read again for this call, as one read a moment ago
    /// was returned then. Any found stopped or gone is reported through
    /// the status sink instead, as a watcher would.
    fn unwatched_states(&self, _only: Option<&str>) -> Vec<(String, DomainStatus)> {
        Vec::new()
    }
    /// Starts watching every running domain taken over lazily: whoever
    /// listens for events needs every guest's.
    fn watch_all(&self) {}
    /// The domain's current state (`virDomainGetState`).
    fn status(&self, uuid: &str) -> Result<DomainStatus>;
    /// Asks the guest to power off (`virDomainShutdownFlags`).
    fn shutdown(&self, uuid: &str, flags: u32) -> Result<DomainStatus>;
    /// Stops the domain at once (`virDomainDestroyFlags`).
    fn destroy(&self, uuid: &str, flags: u32) -> Result<DomainStatus>;
    /// Pauses the domain's vCPUs (`virDomainSuspend`).
    fn suspend(&self, uuid: &str) -> Result<DomainStatus>;
    /// Runs a paused domain again (`virDomainResume`).
    fn resume(&self, uuid: &str) -> Result<DomainStatus>;

    /// Reboots the guest (`virDomainReboot`).
    fn reboot(&self, _uuid: &str, _flags: u32) -> Result<DomainStatus> {
        unsupported("virDomainReboot")
    }
    /// Resets the guest at once, no guest cooperation (`virDomainReset`).
    fn reset(&self, _uuid: &str, _flags: u32) -> Result<DomainStatus> {
        unsupported("virDomainReset")
    }
    /// Sets the running guest's memory, KiB (`virDomainSetMemoryFlags`).
    fn set_memory(&self, _uuid: &str, _memory_kib: u64) -> Result<DomainStatus> {
        unsupported("virDomainSetMemoryFlags")
    }
    /// Sets the running guest's vCPU count (`virDomainSetVcpusFlags`).
    fn set_vcpus(&self, _uuid: &str, _vcpus: u32) -> Result<DomainStatus> {
        unsupported("virDomainSetVcpusFlags")
    }
    /// Stops the domain and writes its state to `sink`; returns the bytes written.
    fn save(&self, _uuid: &str, _flags: u32, _sink: &mut dyn Write) -> Result<u64> {
        unsupported("virDomainSaveFlags")
    }
    /// Stops the domain and writes its state into `file` from its current
    /// offset; returns the bytes written. A driver whose state lives in
    /// another process overrides this to hand that process the file, so
    /// guest memory never passes through the host (the default streams
    /// through [`save`](Self::save)).
    fn save_to_file(&self, uuid: &str, flags: u32, file: &mut std::fs::File) -> Result<u64> {
        self.save(uuid, flags, file)
    }
    /// Starts a domain from a state `save` wrote (`size` bytes from `source`).
    fn restore(
        &self,
        _config: &DomainConfig,
        _source: &mut dyn Read,
        _size: u64,
        _flags: u32,
    ) -> Result<DomainStatus> {
        unsupported("virDomainRestoreFlags")
    }
    /// Records the domain's state as snapshot `name` (`virDomainSnapshotCreateXML`).
    fn snapshot_create(&self, _uuid: &str, _name: &str, _flags: u32) -> Result<()> {
        unsupported("virDomainSnapshotCreateXML")
    }
    /// Brings the domain back to snapshot `name`, taken while it was in
    /// `state`, a `virDomainState` (`virDomainRevertToSnapshot`).
    fn snapshot_revert(
        &self,
        _config: &DomainConfig,
        _name: &str,
        _state: u32,
        _flags: u32,
    ) -> Result<DomainStatus> {
        unsupported("virDomainRevertToSnapshot")
    }
    /// Forgets what the driver keeps for snapshot `name` (`virDomainSnapshotDelete`).
    fn snapshot_delete(&self, _uuid: &str, _name: &str, _flags: u32) -> Result<()> {
        unsupported("virDomainSnapshotDelete")
    }
    /// Whether snapshots of this driver's domains keep their disks as
    /// external snapshots (overlays), the host planning them.
    fn external_snapshots(&self) -> bool {
        false
    }
    /// Snapshots kept inside qcow2 images (`snapshot='internal'` disks):
    /// `op` applied to each image of `images`, all or none for a create;
    /// `config` is the domain as it runs (or was defined), sources resolved.
    /// With `memory`, the running domain's machine state is kept too (as
    /// [`snapshot_create`](Self::snapshot_create) keeps it, and
    /// [`snapshot_revert`](Self::snapshot_revert) restores it), at the same
    /// instant as its disks.
    fn snapshot_internal(
        &self,
        _config: &DomainConfig,
        _name: &str,
        _op: InternalOp,
        _images: &[InternalImage],
        _memory: bool,
    ) -> Result<()> {
        unsupported("internal disk snapshots")
    }
    /// Makes an empty qcow2 overlay at `overlay` over the image `backing`
    /// (of `format`): the guest's view is unchanged until it writes.
    /// `overlay` must not exist.
    fn create_overlay(&self, _overlay: &str, _backing: &str, _format: &str) -> Result<()> {
        unsupported("external disk snapshots")
    }
    /// Makes an empty image of `size` bytes at `path` (which must not
    /// exist) in `format`.
    fn create_image(&self, _path: &str, _format: &str, _size: u64) -> Result<()> {
        unsupported("block copy")
    }
    /// Block copy on the running domain: disk `index` of `config` is
    /// copied into the image `dest` names for it (whole, or with `shallow`
    /// its top image only, `dest`'s being an overlay over the same backing
    /// files); with `pivot` the disk moves there.
    fn block_copy(
        &self,
        _config: &DomainConfig,
        _index: usize,
        _dest: &DomainConfig,
        _shallow: bool,
        _pivot: bool,
    ) -> Result<()> {
        unsupported("block copy")
    }
    /// Whether block jobs copy beside the running guest ([`mirror_start`](Self::mirror_start)
    /// and the rest); else the data moves when a job ends
    /// ([`commit_active`](Self::commit_active), [`block_copy`](Self::block_copy)).
    fn mirrors(&self) -> bool {
        false
    }
    /// Starts copying disk `index` of the running `config` into the image
    /// `dest` names for it while the guest runs: what the guest sees, or
    /// with `top` (the disk's top image) only what that image holds (an
    /// active commit into the image below it, or a shallow copy), at most
    /// `bandwidth` bytes per second (0: unlimited).
    fn mirror_start(
        &self,
        _config: &DomainConfig,
        _index: usize,
        _dest: &DomainConfig,
        _top: Option<&str>,
        _bandwidth: u64,
    ) -> Result<()> {
        unsupported("block jobs beside the guest")
    }
    /// How far disk `index`'s copy is.
    fn mirror_status(&self, _uuid: &str, _index: usize) -> Result<MirrorStatus> {
        unsupported("block jobs beside the guest")
    }
    /// Ends disk `index`'s copy: what the guest wrote since goes too, with
    /// the guest held; with `pivot` the disk is served from the copy.
    fn mirror_finish(&self, _uuid: &str, _index: usize, _pivot: bool) -> Result<()> {
        unsupported("block jobs beside the guest")
    }
    /// Changes how fast disk `index`'s copy may go, bytes per second (0:
    /// unlimited).
    fn mirror_set_speed(&self, _uuid: &str, _index: usize, _bandwidth: u64) -> Result<()> {
        unsupported("block jobs beside the guest")
    }
    /// Stops disk `index`'s copy where it is.
    fn mirror_cancel(&self, _uuid: &str, _index: usize) -> Result<()> {
        unsupported("block jobs beside the guest")
    }
    /// Grows disk `index` of the running domain to `bytes`.
    fn block_resize(&self, _config: &DomainConfig, _index: usize, _bytes: u64) -> Result<()> {
        unsupported("virDomainBlockResize")
    }
    /// Takes an external snapshot of the running domain: its machine state
    /// goes to a file (when `snap.memory` says so) and the disks listed in
    /// `snap.disks` move onto the images `config` names for them now
    /// (overlays made by [`create_overlay`](Self::create_overlay)), all at
    /// one instant. Returns the file the machine state went to.
    fn snapshot_external(
        &self,
        _config: &DomainConfig,
        _snap: &ExternalSnapshot<'_>,
    ) -> Result<Option<String>> {
        unsupported("external snapshots of a running domain")
    }
    /// Copies what the overlays `layers` hold (top first, each over the
    /// next) into `base` (of `base_format`): the image right below the
    /// last, so the layers can go without losing a write, or a fresh
    /// overlay over that image. `config` is the domain (its disks'
    /// directories confine `base`'s chain). No guest writes the layers.
    fn commit_overlay(
        &self,
        _config: &DomainConfig,
        _layers: &[String],
        _base: &str,
        _base_format: &str,
    ) -> Result<()> {
        unsupported("merging external snapshots")
    }
    /// The running domain's disk `index` moves from its overlay `top` down
    /// onto `base`, the image it covers (which `config` names for it now),
    /// after everything `top` holds is copied into `base`.
    fn commit_active(&self, _config: &DomainConfig, _index: usize, _top: &str) -> Result<()> {
        unsupported("merging the active layer of a running domain")
    }
    /// Attaches to the guest's serial console.
    fn open_console(&self, _uuid: &str) -> Result<ConsoleStream> {
        unsupported("virDomainOpenConsole")
    }
    /// The running guest's device counters.
    fn guest_stats(&self, _uuid: &str) -> Result<GuestStats> {
        unsupported("virDomainBlockStats")
    }
    /// Whether the driver makes host devices for `<interface>`s and so
    /// needs [`HostNic`]s: the host then resolves `<source network>` (a
    /// missing or inactive network fails the start) and calls
    /// [`prepare_interfaces`](Self::prepare_interfaces) before each
    /// `start`, `restore` and `snapshot_revert`.
    fn host_interfaces(&self) -> bool {
        false
    }
    /// Applies the `<on_poweroff>`, `<on_reboot>` and `<on_crash>` actions
    /// of `config` to its running guest.
    fn set_lifecycle_actions(&self, _config: &DomainConfig) -> Result<()> {
        unsupported("virDomainSetLifecycleAction")
    }
    /// Whether disks and interfaces can be plugged into and out of a
    /// running guest ([`attach_disk`](Self::attach_disk) and the others).
    fn hotplugs(&self) -> bool {
        false
    }
    /// Plugs disk `index` of `config` (the running domain's live
    /// definition, the new disk last) into the guest.
    fn attach_disk(&self, _config: &DomainConfig, _index: usize) -> Result<()> {
        unsupported("disk hotplug")
    }
    /// Pulls disk `index` (in `disk-config` order) out of the running
    /// guest; what it wrote is on the image when this returns.
    fn detach_disk(&self, _uuid: &str, _index: usize) -> Result<()> {
        unsupported("disk hotplug")
    }
    /// Plugs interface `index` of `config` (the live definition, the new
    /// interface last; `host` as [`prepare_interfaces`](Self::prepare_interfaces)
    /// gets it) into the guest. Returns the host device it got, "" if none.
    fn attach_interface(
        &self,
        _config: &DomainConfig,
        _index: usize,
        _host: &HostNic,
    ) -> Result<String> {
        unsupported("interface hotplug")
    }
    /// Pulls interface `index` out of the running guest; `target` is its
    /// host device, gone when this returns.
    fn detach_interface(&self, _uuid: &str, _index: usize, _target: Option<&str>) -> Result<()> {
        unsupported("interface hotplug")
    }
    /// Why the driver cannot give a guest this `<devices>` child, if it
    /// cannot: the start is then refused, never run without it. `None`
    /// (the default): the driver takes what the contract carries and
    /// ignores the rest, as the test driver does.
    fn refuses_device(&self, _device: &crate::xml::Element) -> Option<String> {
        None
    }
    /// The host's view of the next started domain's interfaces, one per
    /// `interface-config` in order. Called under the registry lock right
    /// before the start that uses them.
    fn prepare_interfaces(&self, _uuid: &str, _nics: Vec<HostNic>) {}
    /// Plugs (`up`) or unplugs the cable of the running domain's
    /// interface number `index` (in `interface-config` order).
    fn set_interface_link(&self, _uuid: &str, _index: usize, _up: bool) -> Result<()> {
        unsupported("virDomainUpdateDeviceFlags")
    }
    /// The host devices a running domain's interfaces got (`vnet0`...), in
    /// order, for the live definition's `<target dev>`; empty if none.
    fn interface_targets(&self, _uuid: &str) -> Vec<String> {
        Vec::new()
    }
    /// Makes ready to receive `config` migrating in: listens where
    /// `listen` says (`tcp://host[:port]`, or a default) and returns the
    /// URI the source should send to. The guest is not running yet.
    fn migrate_incoming(
        &self,
        _config: &DomainConfig,
        _listen: Option<&str>,
        _mode: IncomingMode,
    ) -> Result<String> {
        unsupported("virDomainMigratePrepare3Params")
    }
    /// Ends an incoming migration: the guest's status once it runs here,
    /// or, `cancelled`, everything `migrate_incoming` made is gone.
    fn migrate_incoming_finish(&self, _uuid: &str, _cancelled: bool) -> Result<DomainStatus> {
        unsupported("virDomainMigrateFinish3Params")
    }
    /// Sends the running guest to a destination made ready by
    /// `migrate_incoming`. On success the guest is stopped here; on
    /// failure it goes on as it was.
    fn migrate_out(&self, _uuid: &str, _out: &MigrateOut) -> Result<MigrationStats> {
        unsupported("virDomainMigratePerform3Params")
    }
    /// As `migrate_incoming`, with the data arriving through `tunnel` (one
    /// end of a stream socket pair) instead of a connection to a listener.
    fn migrate_incoming_tunnel(
        &self,
        _config: &DomainConfig,
        _tunnel: std::os::unix::net::UnixStream,
        _mode: IncomingMode,
    ) -> Result<()> {
        unsupported("virDomainMigratePrepareTunnel3Params")
    }
    /// As `migrate_out`, sending into `tunnel` instead of connecting to
    /// `out.uri`.
    fn migrate_out_tunnel(
        &self,
        _uuid: &str,
        _out: &MigrateOut,
        _tunnel: std::os::unix::net::UnixStream,
    ) -> Result<MigrationStats> {
        unsupported("virDomainMigratePerform3Params")
    }
    /// How far a `migrate_out` under way has come, if the driver knows.
    fn migrate_progress(&self, _uuid: &str) -> Option<MigrateProgress> {
        None
    }
    /// Makes a `migrate_out` under way pause the guest after its current
    /// round and send the rest: it converges whatever the guest writes.
    fn migrate_converge(&self, _uuid: &str) -> Result<()> {
        unsupported("virDomainSuspend")
    }
    /// Makes a `migrate_out` under way fail at once; the guest stays.
    fn migrate_abort(&self, _uuid: &str) -> Result<()> {
        unsupported("virDomainAbortJob")
    }
    /// The host process running the guest, for what the host measures and
    /// sets from outside it (memory, CPU time, vCPU thread affinity).
    fn process_id(&self, _uuid: &str) -> Result<u32> {
        unsupported("virDomainGetVcpus")
    }
}

/// How to send a guest away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrateOut {
    /// The destination's URI, as its `migrate_incoming` returned it.
    pub uri: String,
    /// The longest pause allowed, ms.
    pub max_downtime_ms: u64,
    /// Bandwidth cap, MiB/s; none: unlimited.
    pub bandwidth_mib_s: Option<u64>,
    /// Send the disks' contents too (libvirt's `--copy-storage-all`).
    pub copy_storage: bool,
}

/// How far a migration out has come.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MigrateProgress {
    /// Guest memory, bytes.
    pub memory_bytes: u64,
    /// Bytes sent so far.
    pub bytes_sent: u64,
    /// Bytes of the current round not sent yet.
    pub remaining_bytes: u64,
    /// The current pre-copy round.
    pub rounds: u64,
    /// Pages the guest dirtied per second in the last round.
    pub dirty_rate_pages_s: u64,
    /// The pause the dirty pages would cause at the measured rate, ms.
    pub expected_downtime_ms: u64,
}

/// Figures of a finished migration, as the source measured them.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MigrationStats {
    /// From pause to the destination's go-ahead, ms.
    pub downtime_ms: f64,
    /// The whole migration, ms.
    pub total_ms: f64,
    /// Guest memory, bytes.
    pub memory_bytes: u64,
    /// Bytes of guest memory sent.
    pub bytes_sent: u64,
    /// Pre-copy rounds.
    pub rounds: u64,
}

/// Stands in for the hypervisor of a connection whose plugin has none
/// (a storage- or network-only plugin): every domain operation is
/// "not supported".
#[derive(Debug)]
pub struct NoHypervisor;

impl HypervisorDriver for NoHypervisor {
    fn open(&self, _uri: &str) -> Result<HypervisorInfo> {
        unsupported("virConnectOpen")
    }
    fn node_info(&self) -> Result<NodeInfo> {
        unsupported("virNodeGetInfo")
    }
    fn capabilities(&self) -> Result<Capabilities> {
        unsupported("virConnectGetCapabilities")
    }
    fn start(&self, _config: &DomainConfig, _flags: u32) -> Result<DomainStatus> {
        unsupported("virDomainCreate")
    }
    fn adopt(&self, _config: &DomainConfig, _status: &DomainStatus) -> Result<()> {
        unsupported("virDomainCreate")
    }
    fn status(&self, _uuid: &str) -> Result<DomainStatus> {
        unsupported("virDomainGetState")
    }
    fn shutdown(&self, _uuid: &str, _flags: u32) -> Result<DomainStatus> {
        unsupported("virDomainShutdown")
    }
    fn destroy(&self, _uuid: &str, _flags: u32) -> Result<DomainStatus> {
        unsupported("virDomainDestroy")
    }
    fn suspend(&self, _uuid: &str) -> Result<DomainStatus> {
        unsupported("virDomainSuspend")
    }
    fn resume(&self, _uuid: &str) -> Result<DomainStatus> {
        unsupported("virDomainResume")
    }
}

/// Pools of volumes.
pub trait StorageDriver: Send + Sync {
    /// The pool types the driver serves (`dir`).
    fn pool_types(&self) -> Result<Vec<String>>;
    /// Makes the pool's storage (`virStoragePoolBuild`).
    fn pool_build(&self, _pool: &PoolConfig, _flags: u32) -> Result<()> {
        unsupported("virStoragePoolBuild")
    }
    /// Activates the pool (`virStoragePoolCreate`).
    fn pool_start(&self, pool: &PoolConfig) -> Result<()>;
    /// Deactivates the pool (`virStoragePoolDestroy`).
    fn pool_stop(&self, uuid: &str) -> Result<()>;
    /// Removes the pool's storage (`virStoragePoolDelete`).
    fn pool_delete(&self, _pool: &PoolConfig, _flags: u32) -> Result<()> {
        unsupported("virStoragePoolDelete")
    }
    /// The pool's capacity, allocation and free space (`virStoragePoolGetInfo`).
    fn pool_usage(&self, uuid: &str) -> Result<PoolUsage>;
    /// The volumes the pool holds now (`virStoragePoolRefresh`).
    fn pool_refresh(&self, uuid: &str) -> Result<Vec<VolumeInfo>>;
    /// Makes a volume in `pool` (`virStorageVolCreateXML`).
    fn volume_create(&self, pool: &str, config: &VolumeConfig, flags: u32) -> Result<VolumeInfo>;
    /// Makes a volume in `pool` with the contents of `source` in
    /// `source_pool` (`virStorageVolCreateXMLFrom`).
    fn volume_clone(
        &self,
        _pool: &str,
        _config: &VolumeConfig,
        _source_pool: &str,
        _source: &str,
        _flags: u32,
    ) -> Result<VolumeInfo> {
        unsupported("virStorageVolCreateXMLFrom")
    }
    /// Deletes volume `name` of `pool` (`virStorageVolDelete`).
    fn volume_delete(&self, pool: &str, name: &str, flags: u32) -> Result<()>;
    /// Volume `name` of `pool` as it is now (`virStorageVolGetInfo`).
    fn volume_info(&self, pool: &str, name: &str) -> Result<VolumeInfo>;
    /// Changes the volume's capacity to `capacity` bytes (`virStorageVolResize`).
    fn volume_resize(
        &self,
        _pool: &str,
        _name: &str,
        _capacity: u64,
        _flags: u32,
    ) -> Result<VolumeInfo> {
        unsupported("virStorageVolResize")
    }
    /// Overwrites the volume's data with `algorithm`'s pattern
    /// (`virStorageVolWipePattern`).
    fn volume_wipe(&self, _pool: &str, _name: &str, _algorithm: u32, _flags: u32) -> Result<()> {
        unsupported("virStorageVolWipe")
    }
    /// Up to `max_len` bytes of the volume from `offset` (`virStorageVolDownload`).
    fn volume_read(
        &self,
        _pool: &str,
        _name: &str,
        _offset: u64,
        _max_len: u32,
    ) -> Result<Vec<u8>> {
        unsupported("virStorageVolDownload")
    }
    /// Writes `data` into the volume at `offset` (`virStorageVolUpload`).
    fn volume_write(&self, _pool: &str, _name: &str, _offset: u64, _data: &[u8]) -> Result<()> {
        unsupported("virStorageVolUpload")
    }
    /// The file holding the bytes of volume `info` (just read from this
    /// driver) one to one, opened (for writing too if `write`) so the host
    /// moves a transfer's data itself:
    /// no byte then crosses a plugin's memory. `None` where the driver has
    /// no such file (a format with structure, a plugin's own storage); the
    /// data then goes through [`volume_read`](Self::volume_read) and
    /// [`volume_write`](Self::volume_write).
    fn volume_file(&self, _pool: &str, _info: &VolumeInfo, _write: bool) -> Result<Option<File>> {
        Ok(None)
    }
}

/// Virtual networks.
pub trait NetworkDriver: Send + Sync {
    /// Activates the network (`virNetworkCreate`).
    fn network_start(&self, config: &NetworkConfig, flags: u32) -> Result<()>;
    /// Deactivates the network (`virNetworkDestroy`).
    fn network_stop(&self, uuid: &str) -> Result<()>;
    /// Applies a changed definition to the active network (`virNetworkUpdate`).
    fn network_update(&self, _config: &NetworkConfig, _flags: u32) -> Result<()> {
        unsupported("virNetworkUpdate")
    }
    /// The leases the network's DHCP server gave (`virNetworkGetDHCPLeases`).
    fn network_dhcp_leases(&self, _uuid: &str) -> Result<Vec<DhcpLease>> {
        unsupported("virNetworkGetDHCPLeases")
    }
    /// Whether networks get a bridge name (`virbrN`) and a MAC at define
    /// when they name none, as libvirt's bridge network driver gives them.
    fn assigns_bridges(&self) -> bool {
        false
    }
}
