//! The domain index: what a listing shows of every domain (name, id,
//! state, the flags `list` filters on), in one file of the runtime dir.
//!
//! A cold `wirt list` on a host with a thousand guests would otherwise read
//! and parse two definitions and two records per domain. With the index it
//! reads one file, and a domain's definitions are read when a call first
//! needs them (`Registry::domain`).
//!
//! The index is derived data, never the truth: it is written by a process
//! that read the state dir in full, tagged with the state dir's generation
//! (`StateLock`), and used only while that generation holds. Every write to
//! the state dir bumps the generation first, so any change, or a writer
//! that died halfway, makes the next open read the files again and write a
//! fresh index. It lives in the runtime dir so that a reboot, which empties
//! that dir and with it the records of running guests, also drops it.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DomainObj, DomainSlot, Registry, RuntimeRecord, StateDir, load};
use crate::driver::DomainStatus;
use crate::lifecycle::State;

/// The index's file name in the runtime dir.
const FILE: &str = "domain-index.json";

/// What the format of the index is; another number is read as no index.
const FORMAT: u32 = 1;

/// What a listing shows of one domain, and what reading it in full needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainSummary {
    /// Its UUID.
    pub uuid: Uuid,
    /// Its name.
    pub name: String,
    /// Its id while active.
    pub id: Option<u32>,
    /// Its state.
    pub state: State,
    /// The reason for its state.
    pub reason: u32,
    /// It has a persistent definition.
    pub persistent: bool,
    /// It starts when the host does.
    pub autostart: bool,
    /// It has a managed save image.
    pub managed_save: bool,
    /// It has snapshot metadata.
    pub has_snapshots: bool,
}

impl DomainSummary {
    /// The summary of `obj`.
    pub fn of(obj: &DomainObj) -> DomainSummary {
        DomainSummary {
            uuid: obj.uuid(),
            name: obj.name().to_string(),
            id: obj.id,
            state: obj.state,
            reason: obj.reason,
            persistent: obj.persistent(),
            autostart: obj.autostart,
            managed_save: obj.managed_save.is_some(),
            has_snapshots: !obj.snapshots.is_empty(),
        }
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

/// The index as stored.
#[derive(Debug, Serialize, Deserialize)]
pub struct DomainIndex {
    format: u32,
    /// The state dir's generation the index was written at.
    generation: u64,
    /// When the directories of stored domains and of runtime records last
    /// changed, as the index saw them: a file added or removed by hand
    /// bumps no generation, but it changes these.
    dirs_changed: Vec<(i64, i64)>,
    /// The id the next started domain gets.
    next_id: u32,
    /// Every domain.
    pub domains: Vec<DomainSummary>,
}

fn path(runtime: &Path) -> PathBuf {
    runtime.join(FILE)
}

/// When the directories the index stands for last changed (0 for one that
/// is missing).
fn dirs_changed(store: &StateDir) -> Vec<(i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let runtime = store.runtime().map(|r| r.join("domains"));
    [Some(store.root().join("domains")), runtime]
        .into_iter()
        .flatten()
        .map(|dir| {
            std::fs::metadata(dir)
                .map(|m| (m.mtime(), m.mtime_nsec()))
                .unwrap_or((0, 0))
        })
        .collect()
}

impl DomainIndex {
    /// The index of `store`, if there is one written at `generation` and
    /// nothing changed its directories since.
    pub fn read(store: &StateDir, generation: u64) -> Option<DomainIndex> {
        let data = std::fs::read(path(store.runtime()?)).ok()?;
        let index: DomainIndex = match serde_json::from_slice(&data) {
            Ok(index) => index,
            Err(e) => {
                tracing::warn!(error = %e, "the domain index does not parse; reading the state dir");
                return None;
            }
        };
        (index.format == FORMAT
            && index.generation == generation
            && index.dirs_changed == dirs_changed(store))
        .then_some(index)
    }
}

impl Registry {
    /// Writes the index of this registry, which holds what the state dir
    /// holds at `generation`. Best effort: without it the next open reads
    /// the state dir in full.
    pub fn write_index(&self, generation: u64) {
        let Some(store) = self.store() else {
            return;
        };
        let Some(runtime) = store.runtime() else {
            return;
        };
        let index = DomainIndex {
            format: FORMAT,
            generation,
            dirs_changed: dirs_changed(store),
            next_id: self.next_id,
            domains: self.summaries().collect(),
        };
        let data = match serde_json::to_vec(&index) {
            Ok(data) => data,
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode the domain index");
                return;
            }
        };
        // Not `StateDir::write`: the index is derived, and announcing it
        // would make it out of date at once.
        if let Err(e) = super::write_atomic(&path(runtime), &data) {
            tracing::warn!(error = %e, "cannot write the domain index");
        }
    }

    /// A registry of the domains `index` stands for, their definitions
    /// read when first used, and of the networks and pools of `store`.
    pub fn from_index(store: StateDir, index: DomainIndex) -> super::Result<Registry> {
        let mut reg = Registry::new(Some(store.clone()));
        reg.domain_names = index
            .domains
            .iter()
            .map(|d| (d.name.clone(), d.uuid))
            .collect();
        // Collected in one pass from the index's UUID order: the map is
        // built without moving a slot twice.
        reg.domains = index
            .domains
            .into_iter()
            .map(|d| (d.uuid, DomainSlot::Indexed(d, OnceCell::new())))
            .collect();
        reg.set_next_id(index.next_id);
        load::networks_and_pools(&mut reg, &store)?;
        Ok(reg)
    }
}

/// Reads in full the domain `summary` stands for: its stored definition and
/// metadata and, while it runs, its runtime record. None (with a warning)
/// if they no longer parse, as `Registry::load` skips such a domain.
pub(super) fn read_domain(store: &StateDir, summary: &DomainSummary) -> Option<DomainObj> {
    let uuid = summary.uuid;
    let mut obj = match summary.persistent {
        true => {
            let path = store.object_path("domains", &uuid, "xml");
            let xml = std::fs::read(&path)
                .inspect_err(|e| {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read an indexed domain")
                })
                .ok()?;
            let meta = std::fs::read(store.object_path("domains", &uuid, "json")).ok();
            Some(load::stored_domain(
                store,
                uuid,
                &xml,
                meta.as_deref(),
                summary.has_snapshots,
            )?)
        }
        false => None,
    };
    if let Some(id) = summary.id {
        let Some(record) = RuntimeRecord::read(store.runtime()?, &uuid) else {
            // The record went with the run: what is stored is what there is.
            tracing::warn!(%uuid, "an indexed running domain has no runtime record");
            return obj;
        };
        let mut running = match obj.take() {
            Some(stored) => stored,
            None => DomainObj::transient(record.live.clone()),
        };
        running.live = Some(record.live);
        running.block_jobs = record.block_jobs;
        running.id = Some(id);
        running.state = summary.state;
        running.reason = summary.reason;
        running.status = DomainStatus {
            state: summary.state as u32,
            reason: summary.reason,
            ..DomainStatus::default()
        };
        obj = Some(running);
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{DomainDef, ParseOptions};

    fn def(name: &str) -> DomainDef {
        DomainDef::parse(
            &format!(
                "<domain type='kvm'><name>{name}</name><memory>1024</memory><os><type>hvm</type></os></domain>"
            ),
            ParseOptions::default(),
        )
        .unwrap()
    }

    /// A registry of two stored domains, one with autostart, written to
    /// `dir` with its index at generation 7.
    fn stored(dir: &Path) -> (StateDir, Vec<DomainSummary>) {
        let store = StateDir::new(dir.join("state")).with_runtime(dir.join("run"));
        std::fs::create_dir_all(dir.join("run/domains")).unwrap();
        let mut reg = Registry::new(Some(store.clone()));
        for name in ["a", "b"] {
            let mut obj = DomainObj::new_inactive(def(name));
            obj.autostart = name == "b";
            let uuid = obj.uuid();
            let xml = obj.def().to_xml(crate::xml::FormatOptions::default());
            store
                .write("domains", &uuid, "xml", xml.as_bytes())
                .unwrap();
            let meta = serde_json::json!({ "autostart": obj.autostart });
            store
                .write("domains", &uuid, "json", meta.to_string().as_bytes())
                .unwrap();
            reg.insert_domain(obj);
        }
        reg.write_index(7);
        let summaries = reg.summaries().collect();
        (store, summaries)
    }

    #[test]
    fn an_index_stands_for_the_generation_and_directories_it_saw() {
        let dir = tempfile::tempdir().unwrap();
        let (store, summaries) = stored(dir.path());
        assert_eq!(summaries.len(), 2);
        let index = DomainIndex::read(&store, 7).expect("current");
        assert_eq!(index.domains, summaries);
        assert!(DomainIndex::read(&store, 8).is_none(), "another generation");
        // A file added by hand, without a generation. Its directory's time
        // is set apart: a clock's tick may be coarser than the test.
        let domains = dir.path().join("state/domains");
        std::fs::write(domains.join("x"), "").unwrap();
        std::fs::File::open(&domains)
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1))
            .unwrap();
        assert!(
            DomainIndex::read(&store, 7).is_none(),
            "a changed directory"
        );
    }

    #[test]
    fn indexed_domains_are_read_when_first_used() {
        let dir = tempfile::tempdir().unwrap();
        let (store, summaries) = stored(dir.path());
        let index = DomainIndex::read(&store, 7).unwrap();
        let reg = Registry::from_index(store.clone(), index).unwrap();
        assert_eq!(reg.summaries().collect::<Vec<_>>(), summaries);
        let b = reg.domain_uuid_by_name("b").unwrap();
        // Damage one definition: listing still answers; reading it skips it.
        let a = reg.domain_uuid_by_name("a").unwrap();
        std::fs::write(store.object_path("domains", &a, "xml"), "<domain").unwrap();
        assert_eq!(reg.summaries().count(), 2);
        let obj = reg.domain(&b).expect("b reads");
        assert_eq!(obj.name(), "b");
        assert!(obj.autostart);
        assert!(reg.domain(&a).is_none(), "a damaged definition is skipped");
        assert_eq!(
            reg.summaries().map(|d| d.name).collect::<Vec<_>>(),
            vec!["b".to_string()]
        );
    }
}
