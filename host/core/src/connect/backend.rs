//! What serves a [`Connect`](super::Connect): one trait per kind of object,
//! joined in [`Backend`]. A connection picks its backend once, at open: the
//! in-process one (`crate::local`) or a daemon's (the `wirt-remote` crate).
//! The public handles only check read-only access and delegate here, so a
//! call looks the same whatever serves it.
//!
//! Objects cross this boundary as plain references ([`DomainRef`],
//! [`NetworkRef`], ...): what libvirt's `remote_nonnull_*` structs carry.
//! A reference is never checked when it is made; the next call on it
//! reports a missing object, as libvirt's handles do.
//!
//! Operations a backend does not implement answer libvirt's "not supported"
//! (code 3) through the default methods, so a backend can grow one call at
//! a time and a client falls back as it does with an older libvirtd.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use uuid::Uuid;

use super::{
    Begun, BlockStats, DomainInfo, DomainStatsOf, Error, JobStats, MigrateParams, PoolInfo,
    Prepared, Result, SnapshotInfo, VolInfo,
};
use crate::driver::{Capabilities, ConsoleStream, NodeInfo, VolumeInfo};
use crate::error::ErrorCode;
use crate::events::EventStream;
use crate::lifecycle::State;

/// A domain as the API names it: name, UUID, and the id it had when the
/// reference was made (-1 inactive), which is what the wire sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainRef {
    /// The domain's name.
    pub name: String,
    /// The domain's UUID, which identifies it.
    pub uuid: Uuid,
    /// The id when the reference was made; -1 while inactive.
    pub id: i32,
}

/// A virtual network by name and UUID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkRef {
    /// The network's name.
    pub name: String,
    /// The network's UUID, which identifies it.
    pub uuid: Uuid,
}

/// A storage pool by name and UUID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolRef {
    /// The pool's name.
    pub name: String,
    /// The pool's UUID, which identifies it.
    pub uuid: Uuid,
}

/// A volume: its pool and its name within the pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolRef {
    /// The pool holding the volume.
    pub pool: PoolRef,
    /// The volume's name, unique within its pool.
    pub name: String,
}

/// A snapshot: its domain and its name within the domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotRef {
    /// The snapshot's domain.
    pub domain: DomainRef,
    /// The snapshot's name, unique within its domain.
    pub name: String,
}

/// Progress of a long transfer: (bytes done, bytes expected).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

fn unsupported<T>(function: &str) -> Result<T> {
    Err(Error::api(ErrorCode::NO_SUPPORT, function.to_string()))
}

/// Facts of the connection and its host, events, and save images.
pub trait HostBackend {
    /// The URI as opened (for a daemon, with its transport and socket).
    fn uri(&self) -> &str;
    /// The driver's name as `virsh version` prints it ("TEST", "QEMU").
    fn type_name(&self) -> &str;
    /// The hypervisor's version: major * 1,000,000 + minor * 1,000 + micro.
    fn version(&self) -> u64;
    /// The library version in libvirt's encoding (a daemon's, when remote).
    fn lib_version(&self) -> u64;
    /// The host's name.
    fn hostname(&self) -> String;
    /// The domain capabilities XML (`virConnectGetDomainCapabilities`).
    fn domain_capabilities(&self, _query: &super::DomcapsQuery<'_>, _flags: u32) -> Result<String> {
        unsupported("virConnectGetDomainCapabilities")
    }
    /// Starts every autostart network and domain that is not running.
    fn run_autostart(&self) -> Result<super::Autostarted>;
    /// The most vCPUs one domain may have.
    fn max_vcpus(&self) -> u32;
    /// The host's CPUs and memory.
    fn node_info(&self) -> NodeInfo;
    /// What the host can run, as a record.
    fn capabilities(&self) -> &Capabilities;
    /// What the host can run, as the document `virsh capabilities` prints.
    fn capabilities_xml(&self) -> String;
    /// A new subscription to the connection's lifecycle events.
    fn events(&self) -> EventStream;
    /// The domain XML stored in a save image.
    fn save_image_xml(&self, _path: &Path) -> Result<String> {
        unsupported("virDomainSaveImageGetXMLDesc")
    }
    /// Restores a domain from a save image.
    fn restore(&self, _path: &Path, _flags: u32) -> Result<DomainRef> {
        unsupported("virDomainRestoreFlags")
    }
}

/// Domains: lookups, definitions, the lifecycle, settings.
pub trait DomainBackend {
    /// The domain named `name`.
    fn lookup_domain_by_name(&self, name: &str) -> Result<DomainRef>;
    /// The domain with UUID `uuid`.
    fn lookup_domain_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef>;
    /// The active domain with id `id`.
    fn lookup_domain_by_id(&self, id: u32) -> Result<DomainRef>;
    /// Every domain matching libvirt's `VIR_CONNECT_LIST_DOMAINS_*` flags.
    fn list_all_domains(&self, flags: u32) -> Result<Vec<DomainRef>>;
    /// Defines or redefines a persistent domain.
    fn define_domain_xml(&self, xml: &str, flags: u32) -> Result<DomainRef>;
    /// Creates and starts a domain from XML.
    fn create_domain_xml(&self, xml: &str, flags: u32) -> Result<DomainRef>;

    /// The id while active, -1 otherwise.
    fn domain_id(&self, dom: &DomainRef) -> Result<i32>;
    /// The state and its reason.
    fn domain_state(&self, dom: &DomainRef) -> Result<(State, u32)>;
    /// Whether the domain is active.
    fn domain_is_active(&self, dom: &DomainRef) -> Result<bool>;
    /// Whether the domain has a persistent definition.
    fn domain_is_persistent(&self, dom: &DomainRef) -> Result<bool>;
    /// Whether the domain starts with its host.
    fn domain_autostart(&self, dom: &DomainRef) -> Result<bool>;
    /// Whether the domain has a managed-save image.
    fn domain_has_managed_save(&self, dom: &DomainRef) -> Result<bool>;
    /// libvirt's `virDomainInfo`.
    fn domain_info(&self, dom: &DomainRef) -> Result<DomainInfo>;
    /// The domain XML.
    fn domain_xml_desc(&self, dom: &DomainRef, flags: u32) -> Result<String>;

    /// Starts a defined domain.
    fn domain_start(&self, dom: &DomainRef, flags: u32) -> Result<()>;
    /// Asks the guest to power off.
    fn domain_shutdown(&self, dom: &DomainRef) -> Result<()>;
    /// Asks the guest to reboot.
    fn domain_reboot(&self, dom: &DomainRef, flags: u32) -> Result<()>;
    /// Resets the guest at once.
    fn domain_reset(&self, dom: &DomainRef) -> Result<()>;
    /// Stops the domain now.
    fn domain_destroy(&self, dom: &DomainRef) -> Result<()>;
    /// Pauses the domain.
    fn domain_suspend(&self, dom: &DomainRef) -> Result<()>;
    /// Resumes a paused domain.
    fn domain_resume(&self, dom: &DomainRef) -> Result<()>;
    /// Removes the persistent definition.
    fn domain_undefine(&self, dom: &DomainRef, flags: u32) -> Result<()>;
    /// Saves the domain's state for its next start and stops it.
    fn domain_managed_save(&self, dom: &DomainRef, flags: u32) -> Result<()>;
    /// Drops the managed-save image.
    fn domain_managed_save_remove(&self, dom: &DomainRef) -> Result<()>;
    /// Saves the domain's state to a file and stops it.
    fn domain_save(&self, dom: &DomainRef, path: &Path, flags: u32) -> Result<()>;
    /// Sets whether the domain starts with its host.
    fn domain_set_autostart(&self, dom: &DomainRef, autostart: bool) -> Result<()>;
    /// Sets memory in KiB.
    fn domain_set_memory(&self, dom: &DomainRef, kib: u64, flags: u32) -> Result<()>;
    /// Sets the vCPU count.
    fn domain_set_vcpus(&self, dom: &DomainRef, count: u32, flags: u32) -> Result<()>;
    /// The vCPU count.
    fn domain_vcpus(&self, dom: &DomainRef, flags: u32) -> Result<u32>;
    /// The running domain's interface addresses from `source`.
    fn domain_interface_addresses(
        &self,
        _dom: &DomainRef,
        _source: u32,
    ) -> Result<Vec<super::DomainInterface>> {
        unsupported("virDomainInterfaceAddresses")
    }
    /// Attaches to the guest's serial console.
    fn domain_open_console(&self, _dom: &DomainRef) -> Result<ConsoleStream> {
        unsupported("virDomainOpenConsole")
    }
    /// Renames an inactive domain.
    fn domain_rename(&self, dom: &DomainRef, new_name: &str) -> Result<()>;
    /// I/O counters of a running domain's disk, by target or source path.
    fn domain_block_stats(&self, _dom: &DomainRef, _disk: &str) -> Result<BlockStats> {
        unsupported("virDomainBlockStats")
    }
    /// Adds a device (`virDomainAttachDeviceFlags`).
    fn domain_attach_device(&self, _dom: &DomainRef, _xml: &str, _flags: u32) -> Result<()> {
        unsupported("virDomainAttachDeviceFlags")
    }
    /// Removes a device (`virDomainDetachDeviceFlags`).
    fn domain_detach_device(&self, _dom: &DomainRef, _xml: &str, _flags: u32) -> Result<()> {
        unsupported("virDomainDetachDeviceFlags")
    }
    /// Changes a device in place.
    fn domain_update_device(&self, _dom: &DomainRef, _xml: &str, _flags: u32) -> Result<()> {
        unsupported("virDomainUpdateDeviceFlags")
    }
    /// The description, title or a `<metadata>` element.
    fn domain_get_metadata(
        &self,
        _dom: &DomainRef,
        _kind: i32,
        _uri: Option<&str>,
        _flags: u32,
    ) -> Result<String> {
        unsupported("virDomainGetMetadata")
    }
    /// Sets or removes the description, title or a `<metadata>` element.
    fn domain_set_metadata(
        &self,
        _dom: &DomainRef,
        _kind: i32,
        _value: Option<&str>,
        _key: Option<&str>,
        _uri: Option<&str>,
        _flags: u32,
    ) -> Result<()> {
        unsupported("virDomainSetMetadata")
    }
    /// Sets an `<on_*>` action.
    fn domain_set_lifecycle_action(
        &self,
        _dom: &DomainRef,
        _kind: u32,
        _action: u32,
        _flags: u32,
    ) -> Result<()> {
        unsupported("virDomainSetLifecycleAction")
    }
    /// Detaches the device with alias `alias` (`virDomainDetachDeviceAlias`).
    fn domain_detach_device_alias(
        &self,
        _dom: &DomainRef,
        _alias: &str,
        _flags: u32,
    ) -> Result<()> {
        unsupported("virDomainDetachDeviceAlias")
    }
    /// The state of the domain's control channel.
    fn domain_get_control_info(&self, _dom: &DomainRef) -> Result<super::ControlInfo> {
        unsupported("virDomainGetControlInfo")
    }
    /// The guest's host name.
    fn domain_get_hostname(&self, _dom: &DomainRef, _flags: u32) -> Result<String> {
        unsupported("virDomainGetHostname")
    }
    /// The guest's clock: seconds and nanoseconds since the epoch.
    fn domain_get_time(&self, _dom: &DomainRef, _flags: u32) -> Result<(i64, u32)> {
        unsupported("virDomainGetTime")
    }
    /// Freezes the guest's filesystems at `mountpoints` (all when empty);
    /// how many were frozen now.
    fn domain_fs_freeze(
        &self,
        _dom: &DomainRef,
        _mountpoints: &[String],
        _flags: u32,
    ) -> Result<i32> {
        unsupported("virDomainFSFreeze")
    }
    /// Thaws them; how many were thawed now.
    fn domain_fs_thaw(
        &self,
        _dom: &DomainRef,
        _mountpoints: &[String],
        _flags: u32,
    ) -> Result<i32> {
        unsupported("virDomainFSThaw")
    }
    /// Sets the guest's clock.
    fn domain_set_time(
        &self,
        _dom: &DomainRef,
        _seconds: i64,
        _nseconds: u32,
        _flags: u32,
    ) -> Result<()> {
        unsupported("virDomainSetTime")
    }
    /// Counters of a running domain's interface, by host device or MAC.
    fn domain_interface_stats(
        &self,
        _dom: &DomainRef,
        _device: &str,
    ) -> Result<super::InterfaceStats> {
        unsupported("virDomainInterfaceStats")
    }
    /// Statistics of `groups` for the domains the list filter bits of
    /// `flags` select, in any order.
    fn all_domain_stats(&self, _groups: u32, _flags: u32) -> Result<Vec<DomainStatsOf>> {
        unsupported("virConnectGetAllDomainStats")
    }
    /// Migration's Begin step, on the source.
    fn domain_migrate_begin(
        &self,
        _dom: &DomainRef,
        _params: &MigrateParams,
        _flags: u32,
    ) -> Result<Begun> {
        unsupported("virDomainMigrateBegin3Params")
    }
    /// Migration's Prepare step, on the destination.
    fn domain_migrate_prepare(
        &self,
        _params: &MigrateParams,
        _cookie: &[u8],
        _flags: u32,
    ) -> Result<Prepared> {
        unsupported("virDomainMigratePrepare3Params")
    }
    /// Prepare for a tunnelled migration: the data arrives through
    /// `tunnel` (one end of a stream socket pair the caller holds the other
    /// end of) instead of a connection the source makes.
    fn domain_migrate_prepare_tunnel(
        &self,
        _params: &MigrateParams,
        _cookie: &[u8],
        _flags: u32,
        _tunnel: UnixStream,
    ) -> Result<Prepared> {
        unsupported("virDomainMigratePrepareTunnel3Params")
    }
    /// Migration's Perform step, on the source; returns the cookie for Finish.
    fn domain_migrate_perform(
        &self,
        _dom: &DomainRef,
        _params: &MigrateParams,
        _cookie: &[u8],
        _flags: u32,
    ) -> Result<Vec<u8>> {
        unsupported("virDomainMigratePerform3Params")
    }
    /// Perform for a tunnelled migration: the data goes into `tunnel`.
    fn domain_migrate_perform_tunnel(
        &self,
        _dom: &DomainRef,
        _params: &MigrateParams,
        _cookie: &[u8],
        _flags: u32,
        _tunnel: UnixStream,
    ) -> Result<Vec<u8>> {
        unsupported("virDomainMigratePerform3Params")
    }
    /// A peer-to-peer migration: this backend's host connects to
    /// `dconnuri` and runs all five steps itself.
    fn domain_migrate_p2p(
        &self,
        _dom: &DomainRef,
        _dconnuri: &str,
        _params: &MigrateParams,
        _flags: u32,
    ) -> Result<()> {
        unsupported("virDomainMigrateToURI3")
    }
    /// Migration's Finish step, on the destination; returns the domain and
    /// the cookie for Confirm.
    fn domain_migrate_finish(
        &self,
        _params: &MigrateParams,
        _cookie: &[u8],
        _flags: u32,
        _cancelled: bool,
    ) -> Result<(DomainRef, Vec<u8>)> {
        unsupported("virDomainMigrateFinish3Params")
    }
    /// Migration's Confirm step, on the source.
    fn domain_migrate_confirm(
        &self,
        _dom: &DomainRef,
        _params: &MigrateParams,
        _cookie: &[u8],
        _flags: u32,
        _cancelled: bool,
    ) -> Result<()> {
        unsupported("virDomainMigrateConfirm3Params")
    }
    /// A subscription to job-completed events.
    fn job_completed_events(&self) -> Result<EventStream<super::JobCompletedEvent>> {
        unsupported("virConnectDomainEventRegisterAny")
    }
    /// Aborts the domain's current job (`virDomainAbortJob`).
    fn domain_abort_job(&self, _dom: &DomainRef) -> Result<()> {
        unsupported("virDomainAbortJob")
    }
    /// The domain's current or last completed job (`virDomainGetJobStats`).
    fn domain_job_stats(&self, _dom: &DomainRef, _flags: u32) -> Result<JobStats> {
        unsupported("virDomainGetJobStats")
    }
    /// The longest pause a live migration may cause, in milliseconds.
    fn domain_migrate_max_downtime(&self, _dom: &DomainRef) -> Result<u64> {
        unsupported("virDomainMigrateGetMaxDowntime")
    }
    /// Sets the longest pause a live migration may cause, in milliseconds.
    fn domain_migrate_set_max_downtime(&self, _dom: &DomainRef, _ms: u64) -> Result<()> {
        unsupported("virDomainMigrateSetMaxDowntime")
    }
    /// The migration bandwidth cap in MiB/s (0: none).
    fn domain_migrate_max_speed(&self, _dom: &DomainRef) -> Result<u64> {
        unsupported("virDomainMigrateGetMaxSpeed")
    }
    /// Sets the migration bandwidth cap in MiB/s (0: none).
    fn domain_migrate_set_max_speed(&self, _dom: &DomainRef, _mib_s: u64) -> Result<()> {
        unsupported("virDomainMigrateSetMaxSpeed")
    }
}

/// Domain snapshots.
pub trait SnapshotBackend {
    /// Takes a snapshot; returns its name.
    fn snapshot_create_xml(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<String>;
    /// The names of the domain's snapshots, in creation order.
    fn list_all_snapshots(&self, dom: &DomainRef, flags: u32) -> Result<Vec<String>>;
    /// Checks that snapshot `name` exists.
    fn snapshot_lookup_by_name(&self, dom: &DomainRef, name: &str) -> Result<()>;
    /// Whether the domain has a current snapshot.
    fn has_current_snapshot(&self, dom: &DomainRef) -> Result<bool>;
    /// The name of the current snapshot.
    fn snapshot_current(&self, dom: &DomainRef) -> Result<String>;
    /// The snapshot's XML.
    fn snapshot_xml_desc(&self, snap: &SnapshotRef) -> Result<String>;
    /// What `snapshot-info` shows.
    fn snapshot_info(&self, snap: &SnapshotRef) -> Result<SnapshotInfo>;
    /// Returns the domain to the snapshot.
    fn snapshot_revert(&self, snap: &SnapshotRef, flags: u32) -> Result<()>;
    /// Deletes the snapshot.
    fn snapshot_delete(&self, snap: &SnapshotRef, flags: u32) -> Result<()>;
    /// The domain definition recorded with the snapshot.
    fn snapshot_domain_xml(&self, snap: &SnapshotRef) -> Result<String>;
}

/// Virtual networks.
pub trait NetworkBackend {
    /// The network named `name`.
    fn lookup_network_by_name(&self, name: &str) -> Result<NetworkRef>;
    /// The network with UUID `uuid`.
    fn lookup_network_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef>;
    /// Networks matching `VIR_CONNECT_LIST_NETWORKS_*` flags.
    fn list_all_networks(&self, flags: u32) -> Result<Vec<NetworkRef>>;
    /// Defines or redefines a persistent network.
    fn define_network_xml(&self, xml: &str) -> Result<NetworkRef>;
    /// Creates and starts a transient network.
    fn create_network_xml(&self, xml: &str) -> Result<NetworkRef>;
    /// Whether the network is active.
    fn network_is_active(&self, net: &NetworkRef) -> Result<bool>;
    /// Whether the network has a persistent definition.
    fn network_is_persistent(&self, net: &NetworkRef) -> Result<bool>;
    /// Whether the network starts with its host.
    fn network_autostart(&self, net: &NetworkRef) -> Result<bool>;
    /// The network's bridge device, if it has one.
    fn network_bridge_name(&self, net: &NetworkRef) -> Result<Option<String>>;
    /// A subscription to network lifecycle events.
    fn network_events(&self) -> Result<EventStream<crate::events::NetworkEvent>>;
    /// The DHCP leases of an active network.
    fn network_dhcp_leases(&self, net: &NetworkRef) -> Result<Vec<super::DhcpLease>>;
    /// The network XML.
    fn network_xml_desc(&self, net: &NetworkRef, flags: u32) -> Result<String>;
    /// Starts a defined network.
    fn network_start(&self, net: &NetworkRef) -> Result<()>;
    /// Stops an active network.
    fn network_destroy(&self, net: &NetworkRef) -> Result<()>;
    /// Removes the persistent definition.
    fn network_undefine(&self, net: &NetworkRef) -> Result<()>;
    /// Sets whether the network starts with its host.
    fn network_set_autostart(&self, net: &NetworkRef, autostart: bool) -> Result<()>;
    /// `net-update`: one section of the definition.
    fn network_update(
        &self,
        net: &NetworkRef,
        command: &str,
        section: &str,
        parent_index: Option<usize>,
        xml: &str,
        flags: u32,
    ) -> Result<()>;
}

/// Storage pools, and the volumes made in them.
pub trait PoolBackend {
    /// The storage pool capabilities XML
    /// (`virConnectGetStoragePoolCapabilities`).
    fn storage_pool_capabilities(&self, _flags: u32) -> Result<String> {
        unsupported("virConnectGetStoragePoolCapabilities")
    }
    /// Storage pool events of this connection's host, from now on.
    fn pool_events(&self) -> Result<EventStream<crate::events::PoolEvent>> {
        unsupported("virConnectStoragePoolEventRegisterAny")
    }
    /// The pool named `name`.
    fn lookup_pool_by_name(&self, name: &str) -> Result<PoolRef>;
    /// The pool with UUID `uuid`.
    fn lookup_pool_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef>;
    /// Pools matching `VIR_CONNECT_LIST_STORAGE_POOLS_*` flags.
    fn list_all_pools(&self, flags: u32) -> Result<Vec<PoolRef>>;
    /// Defines or redefines a persistent pool.
    fn define_pool_xml(&self, xml: &str) -> Result<PoolRef>;
    /// Creates and starts a transient pool.
    fn create_pool_xml(&self, xml: &str) -> Result<PoolRef>;
    /// Whether the pool is active.
    fn pool_is_active(&self, pool: &PoolRef) -> Result<bool>;
    /// Whether the pool has a persistent definition.
    fn pool_is_persistent(&self, pool: &PoolRef) -> Result<bool>;
    /// Whether the pool starts with its host.
    fn pool_autostart(&self, pool: &PoolRef) -> Result<bool>;
    /// libvirt's `virStoragePoolInfo`.
    fn pool_info(&self, pool: &PoolRef) -> Result<PoolInfo>;
    /// The pool XML.
    fn pool_xml_desc(&self, pool: &PoolRef, flags: u32) -> Result<String>;
    /// Creates the pool's backing.
    fn pool_build(&self, pool: &PoolRef, flags: u32) -> Result<()>;
    /// Starts a defined pool.
    fn pool_create(&self, pool: &PoolRef, flags: u32) -> Result<()>;
    /// Stops an active pool.
    fn pool_destroy(&self, pool: &PoolRef) -> Result<()>;
    /// Removes the pool's backing.
    fn pool_delete(&self, pool: &PoolRef, flags: u32) -> Result<()>;
    /// Removes the persistent definition.
    fn pool_undefine(&self, pool: &PoolRef) -> Result<()>;
    /// Rescans the pool.
    fn pool_refresh(&self, pool: &PoolRef) -> Result<()>;
    /// Sets whether the pool starts with its host.
    fn pool_set_autostart(&self, pool: &PoolRef, autostart: bool) -> Result<()>;
    /// The pool's target directory, if it has one.
    fn pool_target_path(&self, pool: &PoolRef) -> Result<Option<String>>;
    /// The pool's type ("dir", ...).
    fn pool_type(&self, pool: &PoolRef) -> Result<String>;
    /// The pool's volumes, as of the last refresh.
    fn list_all_volumes(&self, pool: &PoolRef) -> Result<Vec<VolRef>>;
    /// The volume named `name` in the pool.
    fn lookup_vol_by_name(&self, pool: &PoolRef, name: &str) -> Result<VolRef>;
    /// Creates a volume from `<volume>` XML.
    fn create_volume_xml(&self, pool: &PoolRef, xml: &str, flags: u32) -> Result<VolRef>;
    /// Creates a volume with the content of `source`.
    fn create_volume_xml_from(
        &self,
        pool: &PoolRef,
        xml: &str,
        source: &VolRef,
        flags: u32,
    ) -> Result<VolRef>;
}

/// Storage volumes.
pub trait VolumeBackend {
    /// The volume with key or path `path`, in any active pool.
    fn lookup_vol_by_path(&self, path: &str) -> Result<VolRef>;
    /// libvirt's `virStorageVolInfo`.
    fn vol_info(&self, vol: &VolRef) -> Result<VolInfo>;
    /// The whole record, as last scanned.
    fn vol_cached_info(&self, vol: &VolRef) -> Result<VolumeInfo>;
    /// The whole record, as the driver reports it now.
    fn vol_refreshed_info(&self, vol: &VolRef) -> Result<VolumeInfo>;
    /// The volume's path on the host.
    fn vol_path(&self, vol: &VolRef) -> Result<String>;
    /// The volume's key.
    fn vol_key(&self, vol: &VolRef) -> Result<String>;
    /// The volume XML.
    fn vol_xml_desc(&self, vol: &VolRef, flags: u32) -> Result<String>;
    /// Deletes the volume.
    fn vol_delete(&self, vol: &VolRef, flags: u32) -> Result<()>;
    /// Overwrites the volume's content.
    fn vol_wipe(&self, vol: &VolRef, algorithm: u32, flags: u32) -> Result<()>;
    /// Changes the volume's capacity.
    fn vol_resize(&self, vol: &VolRef, capacity: u64, flags: u32) -> Result<()>;
    /// Copies the volume's content into `sink`; returns the bytes copied.
    fn vol_download(
        &self,
        vol: &VolRef,
        offset: u64,
        length: u64,
        sink: &mut dyn Write,
        progress: Progress<'_>,
    ) -> Result<u64>;
    /// Writes `source` into the volume; returns the bytes written.
    fn vol_upload(
        &self,
        vol: &VolRef,
        offset: u64,
        length: u64,
        source: &mut dyn Read,
        progress: Progress<'_>,
    ) -> Result<u64>;
}

/// Host and guest monitoring (`connect/monitor.rs`): every call defaults
/// to "not supported", so a backend serves what its host can measure.
pub trait MonitorBackend {
    /// CPU time counters (ns) of CPU `cpu`, or of all CPUs for -1.
    fn node_cpu_stats(&self, _cpu: i32, _flags: u32) -> Result<Vec<super::NodeStat>> {
        unsupported("virNodeGetCPUStats")
    }
    /// Memory counters (KiB) of NUMA cell `cell`, or of the host for -1.
    fn node_memory_stats(&self, _cell: i32, _flags: u32) -> Result<Vec<super::NodeStat>> {
        unsupported("virNodeGetMemoryStats")
    }
    /// Free bytes of up to `max` NUMA cells from `start`.
    fn node_cells_free_memory(&self, _start: i32, _max: i32) -> Result<Vec<u64>> {
        unsupported("virNodeGetCellsFreeMemory")
    }
    /// Free bytes of the host.
    fn node_free_memory(&self) -> Result<u64> {
        unsupported("virNodeGetFreeMemory")
    }
    /// Present and online CPUs.
    fn node_cpu_map(&self, _flags: u32) -> Result<super::CpuMap> {
        unsupported("virNodeGetCPUMap")
    }
    /// The CPU models of `arch`.
    fn cpu_model_names(&self, _arch: &str, _flags: u32) -> Result<Vec<String>> {
        unsupported("virConnectGetCPUModelNames")
    }
    /// The guest's memory figures as (tag, KiB).
    fn domain_memory_stats(&self, _dom: &DomainRef, _flags: u32) -> Result<Vec<(u32, u64)>> {
        unsupported("virDomainMemoryStats")
    }
    /// A disk's sizes.
    fn domain_block_info(
        &self,
        _dom: &DomainRef,
        _disk: &str,
        _flags: u32,
    ) -> Result<super::BlockInfo> {
        unsupported("virDomainGetBlockInfo")
    }
    /// The running domain's vCPUs.
    fn domain_vcpu_info(&self, _dom: &DomainRef) -> Result<Vec<super::VcpuInfo>> {
        unsupported("virDomainGetVcpus")
    }
    /// Each vCPU's allowed host CPUs.
    fn domain_vcpu_pin_info(&self, _dom: &DomainRef, _flags: u32) -> Result<Vec<Vec<bool>>> {
        unsupported("virDomainGetVcpuPinInfo")
    }
    /// Pins a vCPU.
    fn domain_pin_vcpu(
        &self,
        _dom: &DomainRef,
        _vcpu: u32,
        _cpus: &[bool],
        _flags: u32,
    ) -> Result<()> {
        unsupported("virDomainPinVcpuFlags")
    }
    /// The emulator threads' allowed host CPUs.
    fn domain_emulator_pin_info(&self, _dom: &DomainRef, _flags: u32) -> Result<Vec<bool>> {
        unsupported("virDomainGetEmulatorPinInfo")
    }
    /// Pins the emulator threads.
    fn domain_pin_emulator(&self, _dom: &DomainRef, _cpus: &[bool], _flags: u32) -> Result<()> {
        unsupported("virDomainPinEmulator")
    }
    /// How many host CPUs the per-CPU statistics cover.
    fn domain_cpu_count(&self, _dom: &DomainRef) -> Result<u32> {
        unsupported("virDomainGetCPUStats")
    }
    /// Per-CPU statistics from `start_cpu`, or the total for -1.
    fn domain_cpu_stats(
        &self,
        _dom: &DomainRef,
        _start_cpu: i32,
        _ncpus: u32,
    ) -> Result<Vec<Vec<(String, super::StatValue)>>> {
        unsupported("virDomainGetCPUStats")
    }
    /// The scheduler's name and parameter count.
    fn domain_scheduler_type(&self, _dom: &DomainRef) -> Result<(String, i32)> {
        unsupported("virDomainGetSchedulerType")
    }
    /// The scheduler's parameters; `flags` 0 is the call without flags.
    fn domain_scheduler_parameters(
        &self,
        _dom: &DomainRef,
        _flags: u32,
    ) -> Result<Vec<(String, super::StatValue)>> {
        unsupported("virDomainGetSchedulerParameters")
    }
    /// Sets scheduler parameters; None is the call without flags.
    fn domain_set_scheduler_parameters(
        &self,
        _dom: &DomainRef,
        _params: &[(String, super::StatValue)],
        _flags: Option<u32>,
    ) -> Result<()> {
        unsupported("virDomainSetSchedulerParameters")
    }
}

/// Everything a connection needs from what serves it.
pub trait Backend:
    HostBackend
    + DomainBackend
    + super::BlockJobBackend
    + SnapshotBackend
    + NetworkBackend
    + PoolBackend
    + VolumeBackend
    + MonitorBackend
    + super::SecretBackend
    + super::NodeDevBackend
    + super::IfaceBackend
    + Send
    + Sync
    + std::fmt::Debug
{
}

impl<T> Backend for T where
    T: HostBackend
        + DomainBackend
        + super::BlockJobBackend
        + SnapshotBackend
        + NetworkBackend
        + PoolBackend
        + VolumeBackend
        + MonitorBackend
        + super::SecretBackend
        + super::NodeDevBackend
        + super::IfaceBackend
        + Send
        + Sync
        + std::fmt::Debug
{
}
