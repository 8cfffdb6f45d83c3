//! Reading a connection's objects back from its state directory, and the
//! records of domains that were running when the last host process exited.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::{DomainObj, NetworkObj, PoolObj, Registry, Result, SaveImage, StateDir};
use crate::xml::{DomainDef, NetworkDef, ParseOptions, PoolDef, SnapshotDef};

/// A domain that was running: its id and the definition it runs with.
#[derive(Debug)]
pub struct RuntimeRecord {
    /// The domain's UUID.
    pub uuid: Uuid,
    /// Its id.
    pub id: u32,
    /// The definition it runs with.
    pub live: DomainDef,
    /// State and reason as the host last recorded them: a driver may not
    /// know why its guest is in a state (a revert looks like a restore).
    pub state: u32,
    /// The reason for `state` (`virDomain*Reason`).
    pub reason: u32,
    /// Its block jobs.
    pub block_jobs: Vec<super::BlockJob>,
}

impl RuntimeRecord {
    /// The record of domain `uuid` in runtime dir `runtime`, if it has one.
    pub fn read(runtime: &std::path::Path, uuid: &Uuid) -> Option<RuntimeRecord> {
        let path = StateDir::new(runtime).object_path("domains", uuid, "json");
        runtime_record(*uuid, &std::fs::read(path).ok()?)
    }
}

fn meta(data: &[u8]) -> serde_json::Value {
    serde_json::from_slice(data).unwrap_or(serde_json::Value::Null)
}

impl Registry {
    /// Loads every stored object. A damaged file is skipped with a warning,
    /// never deleted: the rest of the host stays usable and the file stays
    /// for the operator to inspect.
    pub fn load(store: StateDir) -> Result<(Registry, Vec<RuntimeRecord>)> {
        let mut reg = Registry::new(Some(store.clone()));
        // Which domains have snapshots, from one listing: most have none,
        // and a failed open per domain adds up on a host with many.
        let with_snapshots: std::collections::HashSet<String> =
            std::fs::read_dir(store.snapshots_root())
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect();
        let metas: BTreeMap<Uuid, Vec<u8>> = store.list("domains", "json")?.into_iter().collect();
        for (uuid, data) in store.list("domains", "xml")? {
            let snapshots = with_snapshots.contains(&uuid.to_string());
            let meta = metas.get(&uuid).map(Vec::as_slice);
            if let Some(obj) = stored_domain(&store, uuid, &data, meta, snapshots) {
                reg.insert_domain(obj);
            }
        }
        networks_and_pools(&mut reg, &store)?;
        let mut running = Vec::new();
        if let Some(runtime) = store.runtime() {
            let records = StateDir::new(runtime);
            for (uuid, data) in records.list("domains", "json")? {
                running.extend(runtime_record(uuid, &data));
            }
            let next = std::fs::read_to_string(runtime.join("next-id"))
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                .unwrap_or(1);
            let above_running = running.iter().map(|r| r.id + 1).max().unwrap_or(1);
            reg.set_next_id(next.max(above_running));
        }
        Ok((reg, running))
    }

    /// Records (or forgets) a running domain in the runtime dir, so a later
    /// host process can re-attach to it.
    pub fn record_runtime(&self, uuid: &Uuid) -> Result<()> {
        let Some(store) = self.store() else {
            return Ok(());
        };
        let Some(records) = store.runtime_store() else {
            return Ok(());
        };
        match self.domain(uuid).filter(|d| d.is_active()) {
            Some(obj) => {
                let record = serde_json::json!({
                    "id": obj.id,
                    "state": obj.state as u32,
                    "reason": obj.reason,
                    "name": obj.name(),
                    "live": obj.def().to_xml(crate::xml::FormatOptions::default()),
                    "block_jobs": obj.block_jobs,
                });
                records.write("domains", uuid, "json", record.to_string().as_bytes())
            }
            None => records.remove("domains", uuid, "json"),
        }
    }

    /// Persists the id counter, so ids are not reused across host restarts.
    pub fn record_next_id(&self) -> Result<()> {
        if let Some(store) = self.store()
            && let Some(runtime) = store.runtime()
        {
            store.announce();
            super::store::write_atomic(
                &runtime.join("next-id"),
                self.next_id.to_string().as_bytes(),
            )?;
        }
        Ok(())
    }
}

fn load_snapshots(store: &StateDir, uuid: &Uuid) -> Vec<SnapshotDef> {
    let dir = store.snapshot_dir(uuid);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut snaps: Vec<SnapshotDef> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "xml"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|text| SnapshotDef::parse_stored(&text).ok())
        .collect();
    snaps.sort_by_key(|s| s.creation_time);
    snaps
}

/// A persistent domain from its stored definition `xml` and metadata
/// `meta`; None, with a warning, if the definition does not parse or names
/// another UUID. The file stays for the operator to inspect.
pub(super) fn stored_domain(
    store: &StateDir,
    uuid: Uuid,
    xml: &[u8],
    meta_data: Option<&[u8]>,
    with_snapshots: bool,
) -> Option<DomainObj> {
    let text = String::from_utf8_lossy(xml);
    let def = match DomainDef::parse(&text, ParseOptions::default()) {
        Ok(def) if def.uuid == uuid => def,
        Ok(_) => {
            tracing::warn!(%uuid, "stored domain config names another uuid; skipped");
            return None;
        }
        Err(e) => {
            tracing::warn!(%uuid, error = %e, "stored domain config is damaged; skipped");
            return None;
        }
    };
    let mut obj = DomainObj::new_inactive(def);
    if let Some(m) = meta_data.map(meta) {
        obj.autostart = m["autostart"].as_bool().unwrap_or(false);
        obj.reason = m["reason"].as_u64().unwrap_or(0) as u32;
        obj.current_snapshot = m["current_snapshot"].as_str().map(String::from);
        obj.overlays = m["overlays"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o.as_str().map(String::from))
            .collect();
        let image = store.object_path("domains", &uuid, "save");
        if m["managed_save"].as_bool().unwrap_or(false) && image.is_file() {
            obj.managed_save = Some(SaveImage::File(image));
            obj.reason = crate::lifecycle::reason::SHUTOFF_SAVED;
        }
    }
    if with_snapshots {
        obj.snapshots = load_snapshots(store, &uuid);
    }
    Some(obj)
}

/// The runtime record `data` of domain `uuid`; None if it is not one.
pub(super) fn runtime_record(uuid: Uuid, data: &[u8]) -> Option<RuntimeRecord> {
    let m = meta(data);
    let (Some(id), Some(xml)) = (m["id"].as_u64(), m["live"].as_str()) else {
        return None;
    };
    let live = DomainDef::parse(xml, ParseOptions::default()).ok()?;
    Some(RuntimeRecord {
        uuid,
        id: id as u32,
        live,
        state: m["state"].as_u64().unwrap_or(0) as u32,
        reason: m["reason"].as_u64().unwrap_or(0) as u32,
        block_jobs: serde_json::from_value(m["block_jobs"].clone()).unwrap_or_default(),
    })
}

/// Reads the stored networks and pools into `reg`.
pub(super) fn networks_and_pools(reg: &mut Registry, store: &StateDir) -> Result<()> {
    let metas = |kind: &str| -> Result<BTreeMap<Uuid, serde_json::Value>> {
        Ok(store
            .list(kind, "json")?
            .into_iter()
            .map(|(u, d)| (u, meta(&d)))
            .collect())
    };
    let autostart = |metas: &BTreeMap<Uuid, serde_json::Value>, uuid: &Uuid| {
        metas
            .get(uuid)
            .and_then(|m| m["autostart"].as_bool())
            .unwrap_or(false)
    };
    let network_metas = metas("networks")?;
    for (uuid, data) in store.list("networks", "xml")? {
        match NetworkDef::parse(&String::from_utf8_lossy(&data)) {
            Ok(def) => {
                reg.networks.insert(
                    uuid,
                    NetworkObj {
                        config: Some(def),
                        live: None,
                        autostart: autostart(&network_metas, &uuid),
                    },
                );
            }
            Err(e) => {
                tracing::warn!(%uuid, error = %e, "stored network config is damaged; skipped")
            }
        }
    }
    let pool_metas = metas("pools")?;
    for (uuid, data) in store.list("pools", "xml")? {
        match PoolDef::parse(&String::from_utf8_lossy(&data)) {
            Ok(def) => {
                reg.pools.insert(
                    uuid,
                    PoolObj {
                        def,
                        persistent: true,
                        active: false,
                        autostart: autostart(&pool_metas, &uuid),
                        volumes: BTreeMap::new(),
                    },
                );
            }
            Err(e) => {
                tracing::warn!(%uuid, error = %e, "stored pool config is damaged; skipped")
            }
        }
    }
    Ok(())
}
