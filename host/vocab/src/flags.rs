//! The flag sets of libvirt's calls, as `bitflags` types. The API and the
//! wire carry the bits as `u32`; [`check`] turns them into the call's type,
//! refusing bits the call does not define, as libvirt does.

use bitflags::bitflags;

/// Converts `bits` to `F`, or names the bits `F` does not define.
pub fn check<F: bitflags::Flags<Bits = u32>>(bits: u32) -> Result<F, u32> {
    F::from_bits(bits).ok_or(bits & !F::all().bits())
}

bitflags! {
    /// `virConnectListAllDomainsFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct ListDomains: u32 {
        /// Active domains.
        const ACTIVE = 1;
        /// Inactive domains.
        const INACTIVE = 2;
        /// Domains with a persistent definition.
        const PERSISTENT = 4;
        /// Domains without one.
        const TRANSIENT = 8;
        /// Running domains.
        const RUNNING = 16;
        /// Paused domains.
        const PAUSED = 32;
        /// Shut-off domains.
        const SHUTOFF = 64;
        /// Domains in any other state.
        const OTHER = 128;
        /// Domains with a managed-save image.
        const MANAGEDSAVE = 256;
        /// Domains without one.
        const NO_MANAGEDSAVE = 512;
        /// Domains that start with their host.
        const AUTOSTART = 1024;
        /// Domains that do not.
        const NO_AUTOSTART = 2048;
        /// Domains with snapshots.
        const HAS_SNAPSHOT = 4096;
        /// Domains without.
        const NO_SNAPSHOT = 8192;
        /// Domains with checkpoints.
        const HAS_CHECKPOINT = 16384;
        /// Domains without.
        const NO_CHECKPOINT = 32768;
    }

    /// `virDomainCreateFlags`, for starting a defined domain.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DomainStart: u32 {
        /// Start paused.
        const PAUSED = 1;
        /// Destroy the domain when the connection closes.
        const AUTODESTROY = 2;
        /// Bypass the host's page cache for the managed-save image.
        const BYPASS_CACHE = 4;
        /// Boot afresh, dropping a managed-save image.
        const FORCE_BOOT = 8;
        /// Validate the XML against the schema.
        const VALIDATE = 16;
    }

    /// `virDomainCreateXML`'s flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DomainCreateXml: u32 {
        /// Start paused.
        const PAUSED = 1;
        /// Destroy the domain when the connection closes.
        const AUTODESTROY = 2;
        /// Validate the XML against the schema.
        const VALIDATE = 4;
    }

    /// `virDomainDefineFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DomainDefine: u32 {
        /// Validate the XML against the schema.
        const VALIDATE = 1;
    }

    /// `virDomainUndefineFlagsValues`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DomainUndefine: u32 {
        /// Also remove the managed-save image.
        const MANAGED_SAVE = 1;
        /// Also remove snapshot metadata.
        const SNAPSHOTS_METADATA = 2;
        /// Also remove NVRAM.
        const NVRAM = 4;
        /// Keep NVRAM.
        const KEEP_NVRAM = 8;
        /// Also remove checkpoint metadata.
        const CHECKPOINTS_METADATA = 16;
    }

    /// `virDomainXMLFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DomainXml: u32 {
        /// Include secrets (passwords).
        const SECURE = 1;
        /// The next-boot definition.
        const INACTIVE = 2;
        /// Update the guest CPU from the host.
        const UPDATE_CPU = 4;
        /// A definition another host can take.
        const MIGRATABLE = 8;
    }

    /// `virDomainMigrateFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Migrate: u32 {
        /// Live: the guest keeps running while its memory is copied.
        const LIVE = 1;
        /// The source daemon drives the migration itself.
        const PEER2PEER = 2;
        /// Through the daemons' connection instead of a direct one.
        const TUNNELLED = 4;
        /// Make the domain persistent on the destination.
        const PERSIST_DEST = 8;
        /// Undefine the domain on the source once it succeeded.
        const UNDEFINE_SOURCE = 16;
        /// Leave the domain paused on the destination.
        const PAUSED = 32;
        /// Copy all disks.
        const NON_SHARED_DISK = 64;
        /// Copy disks incrementally.
        const NON_SHARED_INC = 128;
        /// Protect the domain's configuration against changes meanwhile.
        const CHANGE_PROTECTION = 256;
        /// Skip the safety checks.
        const UNSAFE = 512;
        /// Move the definition only.
        const OFFLINE = 1024;
        /// Compress the data.
        const COMPRESSED = 2048;
        /// Abort on an I/O error.
        const ABORT_ON_ERROR = 4096;
        /// Throttle the guest's vCPUs until the migration converges.
        const AUTO_CONVERGE = 8192;
        /// Pin all memory for RDMA.
        const RDMA_PIN_ALL = 16384;
        /// Allow post-copy.
        const POSTCOPY = 32768;
        /// Encrypt with TLS.
        const TLS = 65536;
        /// Several connections.
        const PARALLEL = 131072;
        /// Synchronous writes for the disk copy.
        const NON_SHARED_SYNCHRONOUS_WRITES = 262144;
        /// Resume a failed post-copy migration.
        const POSTCOPY_RESUME = 524288;
        /// Zero-copy sending.
        const ZEROCOPY = 1048576;
    }

    /// `virDomainModificationImpact`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Affect: u32 {
        /// The running domain.
        const LIVE = 1;
        /// The persistent definition.
        const CONFIG = 2;
    }

    /// `virDomainMemoryModFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DomainMemory: u32 {
        /// The running domain.
        const LIVE = 1;
        /// The persistent definition.
        const CONFIG = 2;
        /// The maximum, not the current amount.
        const MAXIMUM = 4;
    }

    /// `virDomainVcpuFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DomainVcpu: u32 {
        /// The running domain.
        const LIVE = 1;
        /// The persistent definition.
        const CONFIG = 2;
        /// The maximum, not the current count.
        const MAXIMUM = 4;
        /// As the guest agent sees it.
        const GUEST = 8;
    }

    /// `virDomainSaveRestoreFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct SaveRestore: u32 {
        /// Bypass the host's page cache.
        const BYPASS_CACHE = 1;
        /// Restore running.
        const RUNNING = 2;
        /// Restore paused.
        const PAUSED = 4;
    }

    /// `virDomainSnapshotCreateFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct SnapshotCreate: u32 {
        /// Redefine metadata of an existing snapshot.
        const REDEFINE = 1;
        /// Make it the current snapshot.
        const CURRENT = 2;
        /// Keep no metadata.
        const NO_METADATA = 4;
        /// Stop the domain afterwards.
        const HALT = 8;
        /// Disk state only.
        const DISK_ONLY = 16;
        /// Reuse existing external files.
        const REUSE_EXT = 32;
        /// Quiesce guest file systems.
        const QUIESCE = 64;
        /// All disks or none.
        const ATOMIC = 128;
        /// Keep the domain running while memory is saved.
        const LIVE = 256;
        /// Validate the XML against the schema.
        const VALIDATE = 512;
    }

    /// `virDomainSnapshotRevertFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct SnapshotRevert: u32 {
        /// Run after reverting.
        const RUNNING = 1;
        /// Pause after reverting.
        const PAUSED = 2;
        /// Allow risky reverts.
        const FORCE = 4;
    }

    /// `virDomainSnapshotDeleteFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct SnapshotDelete: u32 {
        /// With its children.
        const CHILDREN = 1;
        /// Metadata only.
        const METADATA_ONLY = 2;
        /// Its children only.
        const CHILDREN_ONLY = 4;
    }

    /// `virDomainSnapshotListFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct SnapshotList: u32 {
        /// Roots only (also: descendants, for a snapshot's children).
        const ROOTS = 1;
        /// Leaves only.
        const LEAVES = 4;
    }

    /// `virConnectListAllNetworksFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct ListNetworks: u32 {
        /// Inactive networks.
        const INACTIVE = 1;
        /// Active networks.
        const ACTIVE = 2;
        /// Persistent networks.
        const PERSISTENT = 4;
        /// Transient networks.
        const TRANSIENT = 8;
        /// Networks that start with their host.
        const AUTOSTART = 16;
        /// Networks that do not.
        const NO_AUTOSTART = 32;
    }

    /// `virConnectListAllSecretsFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct ListSecrets: u32 {
        /// Secrets kept only in memory.
        const EPHEMERAL = 1;
        /// Secrets also kept on disk.
        const NO_EPHEMERAL = 2;
        /// Secrets whose value is never revealed.
        const PRIVATE = 4;
        /// Secrets whose value may be read.
        const NO_PRIVATE = 8;
    }

    /// `virNetworkXMLFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct NetworkXml: u32 {
        /// The persistent definition.
        const INACTIVE = 1;
    }

    /// `virNetworkUpdateFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct NetworkUpdate: u32 {
        /// The running network.
        const LIVE = 1;
        /// The persistent definition.
        const CONFIG = 2;
    }

    /// `virConnectListAllStoragePoolsFlags`: states, then one bit per pool type.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct ListPools: u32 {
        /// Inactive pools.
        const INACTIVE = 1;
        /// Active pools.
        const ACTIVE = 2;
        /// Persistent pools.
        const PERSISTENT = 4;
        /// Transient pools.
        const TRANSIENT = 8;
        /// Pools that start with their host.
        const AUTOSTART = 16;
        /// Pools that do not.
        const NO_AUTOSTART = 32;
        /// The pool types (dir, fs, netfs, ...), one bit each.
        const TYPES = ((1 << 19) - 1) & !63;
    }

    /// `virStoragePoolBuildFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PoolBuild: u32 {
        /// Repair.
        const REPAIR = 1;
        /// Resize.
        const RESIZE = 2;
        /// Refuse to overwrite existing data.
        const NO_OVERWRITE = 4;
        /// Overwrite existing data.
        const OVERWRITE = 8;
    }

    /// `virStorageVolResizeFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct VolResize: u32 {
        /// Allocate the new capacity.
        const ALLOCATE = 1;
        /// The size is a change, not a total.
        const DELTA = 2;
        /// Allow shrinking.
        const SHRINK = 4;
    }
}

/// `virStorageVolWipeAlgorithm`: virsh's name of each, indexed by its number.
pub const WIPE_ALGORITHMS: &[&str] = &[
    "zero",
    "nnsa",
    "dod",
    "bsi",
    "gutmann",
    "schneier",
    "pfitzner7",
    "pfitzner33",
    "random",
    "trim",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_the_unknown_bits() {
        assert_eq!(
            check::<DomainStart>(1 | 8),
            Ok(DomainStart::PAUSED | DomainStart::FORCE_BOOT)
        );
        assert_eq!(check::<DomainStart>(1 | 64), Err(64));
        assert_eq!(ListPools::all().bits(), (1 << 19) - 1);
    }
}
