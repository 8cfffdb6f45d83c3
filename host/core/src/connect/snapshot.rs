//! Snapshot handles: taking and listing on [`Domain`], the rest on
//! [`Snapshot`].

use serde::Serialize;

use super::{Domain, Result, SnapshotRef};

/// libvirt's flag bits for snapshot calls.
pub mod snapshot_flags {
    use wirt_vocab::flags::{SnapshotCreate, SnapshotDelete, SnapshotList, SnapshotRevert};

    /// `VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE`.
    pub const CREATE_REDEFINE: u32 = SnapshotCreate::REDEFINE.bits();
    /// `VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT`.
    pub const CREATE_CURRENT: u32 = SnapshotCreate::CURRENT.bits();
    /// `VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA`.
    pub const CREATE_NO_METADATA: u32 = SnapshotCreate::NO_METADATA.bits();
    /// `VIR_DOMAIN_SNAPSHOT_CREATE_HALT`.
    pub const CREATE_HALT: u32 = SnapshotCreate::HALT.bits();
    /// `VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY`.
    pub const CREATE_DISK_ONLY: u32 = SnapshotCreate::DISK_ONLY.bits();
    /// `VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT`.
    pub const CREATE_REUSE_EXT: u32 = SnapshotCreate::REUSE_EXT.bits();
    /// `VIR_DOMAIN_SNAPSHOT_CREATE_LIVE`.
    pub const CREATE_LIVE: u32 = SnapshotCreate::LIVE.bits();
    /// `VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC`.
    pub const CREATE_ATOMIC: u32 = SnapshotCreate::ATOMIC.bits();
    /// `VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE`.
    pub const CREATE_VALIDATE: u32 = SnapshotCreate::VALIDATE.bits();
    /// `VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING`.
    pub const REVERT_RUNNING: u32 = SnapshotRevert::RUNNING.bits();
    /// `VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED`.
    pub const REVERT_PAUSED: u32 = SnapshotRevert::PAUSED.bits();
    /// `VIR_DOMAIN_SNAPSHOT_REVERT_FORCE`.
    pub const REVERT_FORCE: u32 = SnapshotRevert::FORCE.bits();
    /// `VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN`.
    pub const DELETE_CHILDREN: u32 = SnapshotDelete::CHILDREN.bits();
    /// `VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY`.
    pub const DELETE_METADATA_ONLY: u32 = SnapshotDelete::METADATA_ONLY.bits();
    /// `VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY`.
    pub const DELETE_CHILDREN_ONLY: u32 = SnapshotDelete::CHILDREN_ONLY.bits();
    /// `VIR_DOMAIN_SNAPSHOT_LIST_ROOTS`.
    pub const LIST_ROOTS: u32 = SnapshotList::ROOTS.bits();
    /// `VIR_DOMAIN_SNAPSHOT_LIST_LEAVES`.
    pub const LIST_LEAVES: u32 = SnapshotList::LEAVES.bits();
}

/// A handle to a snapshot of a domain.
#[derive(Clone, Debug)]
pub struct Snapshot {
    domain: Domain,
    r: SnapshotRef,
}

/// What `snapshot-info` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotInfo {
    /// The snapshot's name.
    pub name: String,
    /// Its domain's name.
    pub domain: String,
    /// Whether it is the domain's current snapshot.
    pub current: bool,
    /// The state it recorded ("running", "shutoff", ...).
    pub state: String,
    /// "internal" or "external".
    pub location: String,
    /// Its parent snapshot.
    pub parent: Option<String>,
    /// How many snapshots have it as parent.
    pub children: usize,
    /// How many descend from it.
    pub descendants: usize,
    /// When it was taken, seconds since the Unix epoch.
    pub creation_time: u64,
}

impl Domain {
    /// A handle to snapshot `name` of this domain, without a lookup.
    pub fn snapshot(&self, name: String) -> Snapshot {
        Snapshot {
            r: SnapshotRef {
                domain: self.reference().clone(),
                name,
            },
            domain: self.clone(),
        }
    }

    /// Takes a snapshot described by `xml` (`<domainsnapshot>`). flags: 8 halt.
    pub fn snapshot_create_xml(&self, xml: &str, flags: u32) -> Result<Snapshot> {
        self.connect().check_writable()?;
        let name = self
            .connect()
            .backend()
            .snapshot_create_xml(self.reference(), xml, flags)?;
        Ok(self.snapshot(name))
    }

    /// Snapshots in creation order. flags: 1 roots only, 4 leaves only.
    pub fn list_all_snapshots(&self, flags: u32) -> Result<Vec<Snapshot>> {
        let names = self
            .connect()
            .backend()
            .list_all_snapshots(self.reference(), flags)?;
        Ok(names.into_iter().map(|n| self.snapshot(n)).collect())
    }

    /// The snapshot named `name`.
    pub fn snapshot_lookup_by_name(&self, name: &str) -> Result<Snapshot> {
        self.connect()
            .backend()
            .snapshot_lookup_by_name(self.reference(), name)?;
        Ok(self.snapshot(name.to_string()))
    }

    /// Whether the domain has a current snapshot.
    pub fn has_current_snapshot(&self) -> Result<bool> {
        self.connect()
            .backend()
            .has_current_snapshot(self.reference())
    }

    /// The domain's current snapshot.
    pub fn snapshot_current(&self) -> Result<Snapshot> {
        let name = self
            .connect()
            .backend()
            .snapshot_current(self.reference())?;
        Ok(self.snapshot(name))
    }
}

impl Snapshot {
    /// The snapshot's name.
    pub fn name(&self) -> &str {
        &self.r.name
    }

    /// The snapshot's domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// What this handle names.
    pub fn reference(&self) -> &SnapshotRef {
        &self.r
    }

    /// The snapshot's XML.
    pub fn xml_desc(&self) -> Result<String> {
        self.domain.connect().backend().snapshot_xml_desc(&self.r)
    }

    /// What `snapshot-info` shows.
    pub fn info(&self) -> Result<SnapshotInfo> {
        self.domain.connect().backend().snapshot_info(&self.r)
    }

    /// The parent snapshot's name.
    pub fn parent(&self) -> Result<Option<String>> {
        Ok(self.info()?.parent)
    }

    /// Returns the domain to this snapshot. flags: 1 running, 2 paused.
    pub fn revert(&self, flags: u32) -> Result<()> {
        self.domain.connect().check_writable()?;
        self.domain
            .connect()
            .backend()
            .snapshot_revert(&self.r, flags)
    }

    /// Deletes the snapshot. flags: 1 with its children, 2 metadata only,
    /// 4 its children only.
    pub fn delete(&self, flags: u32) -> Result<()> {
        self.domain.connect().check_writable()?;
        self.domain
            .connect()
            .backend()
            .snapshot_delete(&self.r, flags)
    }

    /// The domain definition recorded with the snapshot.
    pub fn domain_xml(&self) -> Result<String> {
        self.domain.connect().backend().snapshot_domain_xml(&self.r)
    }
}
