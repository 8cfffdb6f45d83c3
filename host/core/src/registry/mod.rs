//! The objects of one connection: domains (names, UUIDs, ids, live and
//! next-boot configs, autostart, managed-save images, snapshot metadata),
//! networks and storage pools, with persistence in a state directory.
//!
//! The registry never talks to drivers; `connect` does, then records the
//! result here.

mod index;
mod load;
mod lock;
mod store;

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use uuid::Uuid;

pub use index::{DomainIndex, DomainSummary};
pub use load::RuntimeRecord;
pub use lock::{StateLock, clean_leftovers, clean_temporaries};
pub use store::{StateDir, create_private_dir, write_atomic};

use crate::driver::{DomainStatus, VolumeInfo};
use crate::error::ErrorCode;
use crate::lifecycle::State;
use crate::xml::{DomainDef, NetworkDef, PoolDef, SnapshotDef};

/// A failure of the registry's state directory.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing a stored object failed.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Reading a stored object failed.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Taking the state directory's lock failed.
    #[error("cannot lock {path}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A stored object does not parse.
    #[error("stored object {path} is damaged")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Why it does not parse.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// libvirt's code: `VIR_ERR_WRITE_FAILED`, `VIR_ERR_READ_FAILED`, or
    /// `VIR_ERR_SYSTEM_ERROR` for the lock.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Write { .. } => ErrorCode::WRITE_FAILED,
            Error::Lock { .. } => ErrorCode::SYSTEM_ERROR,
            Error::Read { .. } | Error::Damaged { .. } => ErrorCode(31),
        }
    }
}

/// A registry call's result.
pub type Result<T> = std::result::Result<T, Error>;

/// A saved domain state: kept in memory for in-process test connections, in
/// a file for connections with a state directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaveImage {
    /// The state's bytes.
    Memory(Vec<u8>),
    /// The file holding the state.
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

/// A domain the connection knows: its definitions and runtime state.
#[derive(Clone, Debug)]
pub struct DomainObj {
    /// The persistent (next-boot) definition; None for a transient domain.
    pub config: Option<DomainDef>,
    /// The running definition while active.
    pub live: Option<DomainDef>,
    /// Its state (`virDomainState`).
    pub state: State,
    /// The reason for its state (`virDomain*Reason` of `state`).
    pub reason: u32,
    /// Its id while active.
    pub id: Option<u32>,
    /// It starts when the host does.
    pub autostart: bool,
    /// Its managed save image, if it has one.
    pub managed_save: Option<SaveImage>,
    /// Snapshot metadata in creation order.
    pub snapshots: Vec<SnapshotDef>,
    /// The name of its current snapshot.
    pub current_snapshot: Option<String>,
    /// Overlay images wirt made for this domain's external snapshots (and
    /// reverts to them): removed once neither the domain nor a snapshot
    /// stands on them. Images of the user's are never on this list.
    pub overlays: Vec<String>,
    /// Block jobs on the running domain's disks.
    pub block_jobs: Vec<BlockJob>,
    /// The driver's last report (CPU time, balloon, online vCPUs).
    pub status: DomainStatus,
    /// Its definitions as formatted last, by format: formatting is most of
    /// what a `dumpxml` costs. Emptied by every change (`domain_mut`).
    pub xml_cache: XmlCache,
}

/// Formatted XML by a key of the caller's (its format flags).
#[derive(Default)]
pub struct XmlCache(std::sync::Mutex<Vec<(u32, String)>>);

impl XmlCache {
    /// The text cached under `key`, made by `make` if there is none.
    pub fn get_or(&self, key: u32, make: impl FnOnce() -> String) -> String {
        let mut cached = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, text)) = cached.iter().find(|(k, _)| *k == key) {
            return text.clone();
        }
        let text = make();
        cached.push((key, text.clone()));
        text
    }

    /// Forgets every cached text.
    pub fn clear(&mut self) {
        self.0.get_mut().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// A copy starts empty: it may be changed apart from the original.
impl Clone for XmlCache {
    fn clone(&self) -> Self {
        XmlCache::default()
    }
}

impl std::fmt::Debug for XmlCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XmlCache")
    }
}

impl DomainObj {
    /// A transient domain running with `live`, before its outcome is
    /// recorded (shut off until then).
    pub fn transient(live: DomainDef) -> Self {
        let mut obj = DomainObj::new_inactive(live);
        obj.live = obj.config.take();
        obj
    }

    /// A persistent, inactive domain with `config` as its definition.
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
            xml_cache: XmlCache::default(),
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

    /// The domain's name.
    pub fn name(&self) -> &str {
        &self.def().name
    }

    /// The domain's UUID.
    pub fn uuid(&self) -> Uuid {
        self.def().uuid
    }

    /// It has a persistent definition.
    pub fn persistent(&self) -> bool {
        self.config.is_some()
    }

    /// It is running, paused or in any other state but shut off.
    pub fn is_active(&self) -> bool {
        self.state.is_active()
    }

    /// libvirt's id: positive while active, -1 otherwise.
    pub fn id_or_minus_one(&self) -> i32 {
        self.id.map_or(-1, |i| i as i32)
    }
}

/// A virtual network the connection knows.
#[derive(Clone, Debug)]
pub struct NetworkObj {
    /// The persistent definition; None for a transient network.
    pub config: Option<NetworkDef>,
    /// The running definition while active.
    pub live: Option<NetworkDef>,
    /// It starts when the host does.
    pub autostart: bool,
}

impl NetworkObj {
    /// The definition in effect: the live one while active.
    pub fn def(&self) -> &NetworkDef {
        self.live
            .as_ref()
            .or(self.config.as_ref())
            .expect("a network has a definition")
    }
    /// It is active.
    pub fn is_active(&self) -> bool {
        self.live.is_some()
    }
    /// It has a persistent definition.
    pub fn persistent(&self) -> bool {
        self.config.is_some()
    }
}

/// A storage pool the connection knows.
#[derive(Clone, Debug)]
pub struct PoolObj {
    /// Its definition.
    pub def: PoolDef,
    /// It has a persistent definition.
    pub persistent: bool,
    /// It is active.
    pub active: bool,
    /// It starts when the host does.
    pub autostart: bool,
    /// Volumes as of the last refresh; external changes appear only after
    /// a refresh, as in libvirt.
    pub volumes: BTreeMap<String, VolumeInfo>,
}

/// A domain of the registry: the object, or what the index says of it
/// until the object is first needed.
#[derive(Debug)]
// Deliberately unboxed: boxing the loaded object cost a lifecycle 0.3 µs
// (`benches/benches/api_lifecycle.rs`), and the map is built from the
// index in one pass, so its slots are not moved around.
#[allow(clippy::large_enum_variant)]
enum DomainSlot {
    /// Made or read in full. Inline: a define must not pay for a large
    /// allocation (glibc consolidates its free lists before each).
    Loaded(DomainObj),
    /// Known from the index; the object once read, None inside if its
    /// files no longer parse.
    Indexed(DomainSummary, OnceCell<Option<Box<DomainObj>>>),
}

/// What a slot knows of its domain, without reading anything.
enum Known<'a> {
    Object(&'a DomainObj),
    Summary(&'a DomainSummary),
    /// Read from the index, and its files no longer parse.
    Damaged,
}

impl DomainSlot {
    fn known(&self) -> Known<'_> {
        match self {
            DomainSlot::Loaded(obj) => Known::Object(obj),
            DomainSlot::Indexed(summary, obj) => match obj.get() {
                Some(Some(obj)) => Known::Object(obj),
                Some(None) => Known::Damaged,
                None => Known::Summary(summary),
            },
        }
    }

    fn summary(&self) -> Option<DomainSummary> {
        match self.known() {
            Known::Object(obj) => Some(DomainSummary::of(obj)),
            Known::Summary(summary) => Some(summary.clone()),
            Known::Damaged => None,
        }
    }

    /// The state and reason, as `summary` has them, without a copy.
    fn state(&self) -> Option<(State, u32)> {
        match self.known() {
            Known::Object(obj) => Some((obj.state, obj.reason)),
            Known::Summary(summary) => Some((summary.state, summary.reason)),
            Known::Damaged => None,
        }
    }

    /// The id, as `summary` has it, without a copy.
    fn id(&self) -> Option<u32> {
        match self.known() {
            Known::Object(obj) => obj.id,
            Known::Summary(summary) => summary.id,
            Known::Damaged => None,
        }
    }
}

/// Everything one connection state knows.
#[derive(Debug, Default)]
pub struct Registry {
    domains: BTreeMap<Uuid, DomainSlot>,
    domain_names: HashMap<String, Uuid>,
    /// Ids are never reused within a connection's lifetime.
    next_id: u32,
    /// The networks, by UUID.
    pub networks: BTreeMap<Uuid, NetworkObj>,
    /// The storage pools, by UUID.
    pub pools: BTreeMap<Uuid, PoolObj>,
    store: Option<StateDir>,
}

impl Registry {
    /// An empty registry, persisted in `store` if given.
    pub fn new(store: Option<StateDir>) -> Self {
        Registry {
            next_id: 1,
            store,
            ..Default::default()
        }
    }

    /// The state directory the registry persists in, if any.
    pub fn store(&self) -> Option<&StateDir> {
        self.store.as_ref()
    }

    /// Sets the id the next started domain gets (at least 1).
    pub fn set_next_id(&mut self, next: u32) {
        self.next_id = next.max(1);
    }

    /// Takes the next domain id.
    pub fn allocate_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Every domain, in UUID order. Reads the definitions of domains known
    /// only from the index: a listing uses `summaries`.
    pub fn domains(&self) -> impl Iterator<Item = &DomainObj> {
        self.domains.values().filter_map(|slot| self.object(slot))
    }

    /// What a listing shows of every domain, in UUID order, without
    /// reading definitions the index stands for.
    pub fn summaries(&self) -> impl Iterator<Item = DomainSummary> + '_ {
        self.domains.values().filter_map(|slot| slot.summary())
    }

    /// What a listing shows of the domain with this UUID.
    pub fn summary(&self, uuid: &Uuid) -> Option<DomainSummary> {
        self.domains.get(uuid)?.summary()
    }

    /// The state and reason of the domain with this UUID, as `summary`.
    pub fn domain_state(&self, uuid: &Uuid) -> Option<(State, u32)> {
        self.domains.get(uuid)?.state()
    }

    /// The domain with this UUID.
    pub fn domain(&self, uuid: &Uuid) -> Option<&DomainObj> {
        self.object(self.domains.get(uuid)?)
    }

    /// The domain with this UUID, to change.
    pub fn domain_mut(&mut self, uuid: &Uuid) -> Option<&mut DomainObj> {
        self.object(self.domains.get(uuid)?)?;
        let slot = self.domains.get_mut(uuid)?;
        if let DomainSlot::Indexed(_, obj) = slot {
            // Read once; from now on it is an object like any other.
            let obj = obj.take().flatten()?;
            *slot = DomainSlot::Loaded(*obj);
        }
        let DomainSlot::Loaded(obj) = slot else {
            unreachable!("made loaded above")
        };
        // Whatever the caller changes, the formatted XML may be out of date.
        obj.xml_cache.clear();
        Some(obj)
    }

    /// The slot's object, read from the state dir the first time if the
    /// index stands for it; None if its files no longer parse.
    fn object<'a>(&self, slot: &'a DomainSlot) -> Option<&'a DomainObj> {
        match slot {
            DomainSlot::Loaded(obj) => Some(obj),
            DomainSlot::Indexed(summary, obj) => obj
                .get_or_init(|| index::read_domain(self.store.as_ref()?, summary).map(Box::new))
                .as_deref(),
        }
    }

    /// The domain with this name.
    pub fn domain_by_name(&self, name: &str) -> Option<&DomainObj> {
        self.domain_names.get(name).and_then(|u| self.domain(u))
    }

    /// The UUID of the domain with this name.
    pub fn domain_uuid_by_name(&self, name: &str) -> Option<Uuid> {
        self.domain_names.get(name).copied()
    }

    /// The active domain with this id.
    pub fn domain_by_id(&self, id: u32) -> Option<&DomainObj> {
        let slot = self.domains.values().find(|slot| slot.id() == Some(id))?;
        self.object(slot)
    }

    /// Adds a domain, or replaces the one with its UUID.
    pub fn insert_domain(&mut self, obj: DomainObj) {
        let uuid = obj.uuid();
        if let Some(old) = self.domains.get(&uuid).and_then(|s| s.summary()) {
            self.domain_names.remove(&old.name);
        }
        self.domain_names.insert(obj.name().to_string(), uuid);
        self.domains.insert(uuid, DomainSlot::Loaded(obj));
    }

    /// Re-indexes a domain after its name changed.
    pub fn rename_domain(&mut self, uuid: &Uuid, old_name: &str) {
        self.domain_names.remove(old_name);
        if let Some(obj) = self.domain(uuid) {
            let name = obj.name().to_string();
            self.domain_names.insert(name, *uuid);
        }
    }

    /// Removes a domain; works even on an entry left with no definition
    /// (a transient domain that just stopped).
    pub fn remove_domain(&mut self, uuid: &Uuid) -> Option<DomainObj> {
        self.domain(uuid);
        let slot = self.domains.remove(uuid)?;
        self.domain_names.retain(|_, u| u != uuid);
        match slot {
            DomainSlot::Loaded(obj) => Some(obj),
            DomainSlot::Indexed(_, obj) => obj.into_inner().flatten().map(|obj| *obj),
        }
    }

    /// The number of domains.
    pub fn domain_count(&self) -> usize {
        self.domains.len()
    }

    /// The network with this name.
    pub fn network_by_name(&self, name: &str) -> Option<&NetworkObj> {
        self.networks.values().find(|n| n.def().name == name)
    }

    /// The storage pool with this name.
    pub fn pool_by_name(&self, name: &str) -> Option<&PoolObj> {
        self.pools.values().find(|p| p.def.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{DomainDef, ParseOptions};

    #[test]
    fn formatted_xml_is_forgotten_by_any_change() {
        let def = DomainDef::parse(
            "<domain type='test'><name>c</name><memory>1024</memory><os><type>hvm</type></os></domain>",
            ParseOptions::default(),
        )
        .unwrap();
        let uuid = def.uuid;
        let mut reg = Registry::new(None);
        reg.insert_domain(DomainObj::new_inactive(def));
        let format = |reg: &Registry| {
            let obj = reg.domain(&uuid).unwrap();
            obj.xml_cache
                .get_or(0, || obj.def().to_public_xml(Default::default()))
        };
        assert!(format(&reg).contains("<name>c</name>"));
        reg.domain_mut(&uuid).unwrap().config.as_mut().unwrap().name = "d".into();
        assert!(format(&reg).contains("<name>d</name>"));
        // A copy may change apart from the original: it starts empty.
        let copy = reg.domain(&uuid).unwrap().clone();
        assert!(copy.xml_cache.get_or(0, || "fresh".into()) == "fresh");
    }
}
