//! The objects of one connection: domains (names, UUIDs, ids, live and
//! next-boot configs, autostart, managed-save images, snapshot metadata),
//! networks and storage pools, with persistence in a state directory.
//!
//! The registry never talks to drivers; `connect` does, then records the
//! result here.

mod load;
mod lock;
mod store;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use uuid::Uuid;

pub use load::RuntimeRecord;
pub use lock::{StateLock, clean_leftovers};
pub use store::{StateDir, create_private_dir, write_atomic};

use crate::driver::{DomainStatus, VolumeInfo};
use crate::error::ErrorCode;
use crate::lifecycle::State;
use crate::xml::{DomainDef, NetworkDef, PoolDef, SnapshotDef};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot lock {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("stored object {path} is damaged")]
    Damaged {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Write { .. } => ErrorCode::WRITE_FAILED,
            Error::Lock { .. } => ErrorCode::SYSTEM_ERROR,
            Error::Read { .. } | Error::Damaged { .. } => ErrorCode(31),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A saved domain state: kept in memory for in-process test connections, in
/// a file for connections with a state directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaveImage {
    Memory(Vec<u8>),
    File(PathBuf),
}

/// A block job on one disk of a running domain. Jobs are ready as soon
/// as they start (the copy happens when they finish): recorded with the
/// running domain, so a later process can finish them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockJob {
    /// The disk's target.
    pub target: String,
    /// Its image when the job began.
    pub path: String,
    /// `virDomainBlockJobType`.
    pub job_type: i32,
    /// Active commit: the image below `path` the data goes into. Copy: the
    /// new image.
    pub dest: String,
    /// The new image's format.
    pub dest_format: String,
    /// Copy the top image only.
    pub shallow: bool,
    /// Remove the committed image when done.
    pub delete: bool,
    /// The new image was made by the job (removed if it is cancelled).
    pub made: bool,
    /// Bytes per second, 0 for unlimited.
    pub bandwidth: u64,
    /// The disk's size: the job's `end`.
    pub size: u64,
    /// The driver copies beside the guest (a mirror): progress comes from
    /// it, and the job is ready once its first pass is over.
    #[serde(default)]
    pub mirrored: bool,
    /// The ready event went out.
    #[serde(default)]
    pub ready: bool,
}

#[derive(Clone, Debug)]
pub struct DomainObj {
    /// The persistent (next-boot) definition; None for a transient domain.
    pub config: Option<DomainDef>,
    /// The running definition while active.
    pub live: Option<DomainDef>,
    pub state: State,
    pub reason: u32,
    pub id: Option<u32>,
    pub autostart: bool,
    pub managed_save: Option<SaveImage>,
    /// Snapshot metadata in creation order.
    pub snapshots: Vec<SnapshotDef>,
    pub current_snapshot: Option<String>,
    /// Overlay images wirt made for this domain's external snapshots (and
    /// reverts to them): removed once neither the domain nor a snapshot
    /// stands on them. Images of the user's are never on this list.
    pub overlays: Vec<String>,
    /// Block jobs on the running domain's disks.
    pub block_jobs: Vec<BlockJob>,
    /// The driver's last report (CPU time, balloon, online vCPUs).
    pub status: DomainStatus,
}

impl DomainObj {
    pub fn new_inactive(config: DomainDef) -> Self {
        DomainObj {
            config: Some(config),
            live: None,
            state: State::Shutoff,
            reason: 0,
            id: None,
            autostart: false,
            managed_save: None,
            snapshots: Vec::new(),
            current_snapshot: None,
            overlays: Vec::new(),
            block_jobs: Vec::new(),
            status: DomainStatus {
                state: State::Shutoff as u32,
                reason: 0,
                cpu_time_ns: 0,
                memory_kib: 0,
                vcpus: 0,
            },
        }
    }

    /// The definition in effect: the live one while active.
    pub fn def(&self) -> &DomainDef {
        self.live
            .as_ref()
            .or(self.config.as_ref())
            .expect("a domain has a live or a persistent definition")
    }

    /// The next-boot definition (`dumpxml --inactive`).
    pub fn inactive_def(&self) -> &DomainDef {
        self.config
            .as_ref()
            .or(self.live.as_ref())
            .expect("a domain has a definition")
    }

    pub fn name(&self) -> &str {
        &self.def().name
    }

    pub fn uuid(&self) -> Uuid {
        self.def().uuid
    }

    pub fn persistent(&self) -> bool {
        self.config.is_some()
    }

    pub fn is_active(&self) -> bool {
        self.state.is_active()
    }

    /// libvirt's id: positive while active, -1 otherwise.
    pub fn id_or_minus_one(&self) -> i32 {
        self.id.map_or(-1, |i| i as i32)
    }
}

#[derive(Clone, Debug)]
pub struct NetworkObj {
    pub config: Option<NetworkDef>,
    pub live: Option<NetworkDef>,
    pub autostart: bool,
}

impl NetworkObj {
    pub fn def(&self) -> &NetworkDef {
        self.live
            .as_ref()
            .or(self.config.as_ref())
            .expect("a network has a definition")
    }
    pub fn is_active(&self) -> bool {
        self.live.is_some()
    }
    pub fn persistent(&self) -> bool {
        self.config.is_some()
    }
}

#[derive(Clone, Debug)]
pub struct PoolObj {
    pub def: PoolDef,
    pub persistent: bool,
    pub active: bool,
    pub autostart: bool,
    /// Volumes as of the last refresh; external changes appear only after
    /// a refresh, as in libvirt.
    pub volumes: BTreeMap<String, VolumeInfo>,
}

/// Everything one connection state knows.
#[derive(Debug, Default)]
pub struct Registry {
    domains: BTreeMap<Uuid, DomainObj>,
    domain_names: HashMap<String, Uuid>,
    /// Ids are never reused within a connection's lifetime.
    next_id: u32,
    pub networks: BTreeMap<Uuid, NetworkObj>,
    pub pools: BTreeMap<Uuid, PoolObj>,
    store: Option<StateDir>,
}

impl Registry {
    pub fn new(store: Option<StateDir>) -> Self {
        Registry {
            next_id: 1,
            store,
            ..Default::default()
        }
    }

    pub fn store(&self) -> Option<&StateDir> {
        self.store.as_ref()
    }

    pub fn set_next_id(&mut self, next: u32) {
        self.next_id = next.max(1);
    }

    pub fn allocate_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub fn domains(&self) -> impl Iterator<Item = &DomainObj> {
        self.domains.values()
    }

    pub fn domain(&self, uuid: &Uuid) -> Option<&DomainObj> {
        self.domains.get(uuid)
    }

    pub fn domain_mut(&mut self, uuid: &Uuid) -> Option<&mut DomainObj> {
        self.domains.get_mut(uuid)
    }

    pub fn domain_by_name(&self, name: &str) -> Option<&DomainObj> {
        self.domain_names
            .get(name)
            .and_then(|u| self.domains.get(u))
    }

    pub fn domain_by_id(&self, id: u32) -> Option<&DomainObj> {
        self.domains.values().find(|d| d.id == Some(id))
    }

    pub fn insert_domain(&mut self, obj: DomainObj) {
        let uuid = obj.uuid();
        if let Some(old) = self.domains.get(&uuid) {
            let old_name = old.name().to_string();
            self.domain_names.remove(&old_name);
        }
        self.domain_names.insert(obj.name().to_string(), uuid);
        self.domains.insert(uuid, obj);
    }

    /// Re-indexes a domain after its name changed.
    pub fn rename_domain(&mut self, uuid: &Uuid, old_name: &str) {
        self.domain_names.remove(old_name);
        if let Some(obj) = self.domains.get(uuid) {
            self.domain_names.insert(obj.name().to_string(), *uuid);
        }
    }

    /// Removes a domain; works even on an entry left with no definition
    /// (a transient domain that just stopped).
    pub fn remove_domain(&mut self, uuid: &Uuid) -> Option<DomainObj> {
        let obj = self.domains.remove(uuid)?;
        self.domain_names.retain(|_, u| u != uuid);
        Some(obj)
    }

    pub fn domain_count(&self) -> usize {
        self.domains.len()
    }

    pub fn network_by_name(&self, name: &str) -> Option<&NetworkObj> {
        self.networks.values().find(|n| n.def().name == name)
    }

    pub fn pool_by_name(&self, name: &str) -> Option<&PoolObj> {
        self.pools.values().find(|p| p.def.name == name)
    }
}
