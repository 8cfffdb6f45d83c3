//! External snapshots: the disk side of snapshots under a driver that
//! takes them (the KVM driver; qcow2 disks asked for `snapshot='internal'`
//! go to `snapshot_internal.rs` instead), and the plan that decides which.
//!
//! Taking one puts a new qcow2 overlay over each disk's image; the guest
//! writes into the overlay from then on, so the image below keeps the
//! disk as it was at the snapshot. The snapshot records the domain as it
//! was (its disks on the images below) and each overlay (`<disks>`).
//! Reverting puts a fresh overlay over those images (libvirt 9.0 cannot
//! revert external snapshots; wirt does); deleting merges the overlay's
//! data down when the domain runs on it, so nothing the guest wrote is
//! lost.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::Local;
use crate::connect::snapshot_flags as flags;
use crate::connect::{Error, Result};
use crate::driver::{self, DomainConfig, DomainStatus, ExternalSnapshot};
use crate::error::ErrorCode;
use crate::lifecycle::{State, reason};
use crate::registry::{DomainObj, Registry};
use crate::xml::tree::{Element, Node};
use crate::xml::{DomainDef, SnapshotDef};

/// What happens to the machine state in a snapshot.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Memory {
    /// Not kept (disk-only, or the domain is shut off).
    No,
    /// Kept by the driver alone (the snapshot has no disks to change).
    Internal,
    /// Written to a file: the one given, or the driver's place.
    External(Option<String>),
}

/// One disk moving onto a new overlay.
#[derive(Clone, Debug)]
pub(super) struct DiskMove {
    /// Index in the driver's view of the domain's disks.
    pub index: usize,
    pub target: String,
    /// The image served now (resolved), which the overlay covers.
    pub base: String,
    pub base_format: String,
    /// The new overlay.
    pub overlay: String,
}

/// One qcow2 disk keeping the snapshot inside its image.
#[derive(Clone, Debug)]
pub(super) struct InternalDisk {
    /// Index in the driver's view of the domain's disks.
    pub index: usize,
    pub target: String,
    /// The image served now (resolved), whose snapshot table takes it.
    pub image: String,
}

/// What a snapshot request asks of each disk and of memory.
#[derive(Debug)]
pub(super) struct Plan {
    pub memory: Memory,
    pub disks: Vec<DiskMove>,
    /// Disks snapshotted inside their qcow2 images (never mixed with
    /// `disks`, as libvirt does not mix them).
    pub internal: Vec<InternalDisk>,
    /// Targets of disks left alone (`snapshot='no'`).
    pub skipped: Vec<String>,
}

fn config_error(message: String) -> Error {
    Error::api(ErrorCode::CONFIG_UNSUPPORTED, message)
}

/// libvirt's default overlay name: the image's name with its extension
/// replaced by the snapshot's name (appended when it has none).
fn default_overlay(base: &str, snapshot: &str) -> String {
    let path = Path::new(base);
    let stem = match (path.extension(), path.file_stem()) {
        (Some(_), Some(stem)) => path.with_file_name(stem),
        _ => path.to_path_buf(),
    };
    format!("{}.{snapshot}", stem.display())
}

fn parent_dir(path: &str) -> Option<PathBuf> {
    let parent = Path::new(path).parent()?;
    std::fs::canonicalize(parent).ok()
}

/// `path` with symbolic links resolved (as given if it does not exist):
/// how images are compared.
pub(super) fn resolved(path: &str) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path))
}

/// The `<disks>` entries of a snapshot (request or record).
fn disk_entries(snap: &SnapshotDef) -> Vec<&Element> {
    snap.extra
        .iter()
        .filter(|e| e.name == "disks")
        .flat_map(|d| d.children_named("disk"))
        .collect()
}

/// The `<memory file>` of a snapshot.
pub(super) fn memory_file(snap: &SnapshotDef) -> Option<String> {
    snap.extra
        .iter()
        .find(|e| e.name == "memory")
        .and_then(|m| m.attr("file"))
        .map(String::from)
}

/// The external disks a snapshot recorded: (target, overlay).
pub(super) fn external_disks(snap: &SnapshotDef) -> Vec<(String, String)> {
    disk_entries(snap)
        .into_iter()
        .filter(|d| d.attr("snapshot") == Some("external"))
        .filter_map(|d| {
            let overlay = d.child("source").and_then(|s| s.attr("file"))?;
            Some((d.attr("name")?.to_string(), overlay.to_string()))
        })
        .collect()
}

/// Decides, for a domain whose driver takes external snapshots, what a
/// request does with each disk and with memory. `config` is the driver's
/// view of the domain now (sources resolved).
pub(super) fn plan(
    request: &SnapshotDef,
    name: &str,
    config: &DomainConfig,
    active: bool,
    flags: u32,
) -> Result<Plan> {
    let entries = disk_entries(request);
    for entry in &entries {
        let named = entry.attr("name").unwrap_or_default();
        let known = config
            .disks
            .iter()
            .any(|d| d.target_dev == named || d.source.as_deref() == Some(named));
        if !known {
            return Err(config_error(format!("no disk named '{named}'")));
        }
    }
    let mut disks = Vec::new();
    let mut internal = Vec::new();
    let mut skipped = Vec::new();
    let asked = request.extra.iter().find(|e| e.name == "memory");
    let asked_mode = asked.and_then(|m| m.attr("snapshot"));
    let asked_file = asked.and_then(|m| m.attr("file")).map(String::from);
    // Memory kept internally takes the disks inside their images too, as
    // libvirt's qemu driver does; otherwise wirt's default is external.
    let default_mode = match asked_mode {
        Some("internal") if active && flags & flags::CREATE_DISK_ONLY == 0 => "internal",
        _ => "external",
    };
    for (index, disk) in config.disks.iter().enumerate() {
        let entry = entries.iter().find(|e| {
            let named = e.attr("name").unwrap_or_default();
            named == disk.target_dev || disk.source.as_deref() == Some(named)
        });
        let given_file = entry
            .and_then(|e| e.child("source"))
            .and_then(|s| s.attr("file"));
        let writable = !disk.read_only && disk.device == "disk" && disk.source.is_some();
        let mode = match entry.and_then(|e| e.attr("snapshot")) {
            Some(mode) => mode,
            None if given_file.is_some() => "external",
            // Read-only disks never change: nothing to keep.
            None if writable => default_mode,
            None => "no",
        };
        match mode {
            "no" => {
                skipped.push(disk.target_dev.clone());
                continue;
            }
            "external" => {}
            "internal" => {
                let format = disk.format.as_deref().unwrap_or("raw");
                let Some(image) = disk
                    .source
                    .clone()
                    .filter(|_| writable && format == "qcow2")
                else {
                    return Err(config_error(format!(
                        "internal snapshot for disk {} unsupported for storage type {format}",
                        disk.target_dev
                    )));
                };
                if given_file.is_some() {
                    return Err(config_error(format!(
                        "an internal snapshot of disk {} has no file",
                        disk.target_dev
                    )));
                }
                internal.push(InternalDisk {
                    index,
                    target: disk.target_dev.clone(),
                    image,
                });
                continue;
            }
            other => {
                return Err(config_error(format!(
                    "snapshot mode '{other}' for disk {} is not supported",
                    disk.target_dev
                )));
            }
        }
        if disk.read_only {
            return Err(config_error(format!(
                "disk {} is read-only: it needs no snapshot (snapshot='no')",
                disk.target_dev
            )));
        }
        let Some(base) = disk.source.clone() else {
            return Err(config_error(format!(
                "disk {} has no source to snapshot",
                disk.target_dev
            )));
        };
        let base_format = disk.format.clone().unwrap_or_else(|| "raw".into());
        // libvirt's name unless a file is in the way (a snapshot deleted
        // with --metadata keeps its overlay): then the first free `.N`.
        let overlay = match given_file {
            Some(file) => file.to_string(),
            None => {
                let name = default_overlay(&base, name);
                (0..)
                    .map(|n| match n {
                        0 => name.clone(),
                        n => format!("{name}.{n}"),
                    })
                    .find(|p| {
                        !Path::new(p).exists() && disks.iter().all(|d: &DiskMove| d.overlay != *p)
                    })
                    .expect("a free name")
            }
        };
        // The chain of a disk may reach only the directories of the
        // domain's disks: an overlay elsewhere would leave its own backing
        // file out of bounds at the next start.
        if parent_dir(&overlay).is_none() || parent_dir(&overlay) != parent_dir(&base) {
            return Err(config_error(format!(
                "external snapshot file {overlay} for disk {} must be in the directory of {base}",
                disk.target_dev
            )));
        }
        if resolved(&overlay) == resolved(&base)
            || disks.iter().any(|d: &DiskMove| d.overlay == overlay)
        {
            return Err(config_error(format!(
                "external snapshot file {overlay} for disk {} is used twice",
                disk.target_dev
            )));
        }
        if Path::new(&overlay).exists() && flags & flags::CREATE_REUSE_EXT == 0 {
            return Err(config_error(format!(
                "external snapshot file for disk {} already exists and is not a block device: {overlay}",
                disk.target_dev
            )));
        }
        disks.push(DiskMove {
            index,
            target: disk.target_dev.clone(),
            base,
            base_format,
            overlay,
        });
    }
    if !internal.is_empty() && !disks.is_empty() {
        return Err(config_error(
            "mixing internal and external targets for a snapshot is not yet supported".into(),
        ));
    }
    let memory = if flags & flags::CREATE_DISK_ONLY != 0 || !active {
        if matches!(asked_mode, Some("internal" | "external")) || asked_file.is_some() {
            return Err(config_error(if active {
                "a disk-only snapshot keeps no memory state".into()
            } else {
                "a snapshot of an inactive domain has no memory state".into()
            }));
        }
        Memory::No
    } else {
        match (asked_mode, &asked_file) {
            (Some("no"), _) => Memory::No,
            (Some("external"), _) | (_, Some(_)) if !internal.is_empty() => {
                return Err(config_error(
                    "mixing internal and external targets for a snapshot is not yet supported"
                        .into(),
                ));
            }
            (Some("internal"), _) if !disks.is_empty() => {
                return Err(config_error(
                    "mixing internal and external targets for a snapshot is not yet supported"
                        .into(),
                ));
            }
            (Some("internal"), _) => Memory::Internal,
            (_, Some(file)) => Memory::External(Some(file.clone())),
            (Some("external"), None) => Memory::External(None),
            _ if disks.is_empty() => Memory::Internal,
            _ => Memory::External(None),
        }
    };
    if memory == Memory::No && disks.is_empty() && internal.is_empty() {
        return Err(config_error(
            "nothing to snapshot: no disk takes part and no memory state is kept".into(),
        ));
    }
    Ok(Plan {
        memory,
        disks,
        internal,
        skipped,
    })
}

/// Points disk `target` of `def` at the qcow2 image `path`.
pub(super) fn point_disk(def: &mut DomainDef, target: &str, path: &str) {
    point_disk_at(def, target, path, "qcow2");
}

/// Points disk `target` of `def` at the image `path` of `format`.
pub(super) fn point_disk_at(def: &mut DomainDef, target: &str, path: &str, format: &str) {
    for device in def.devices.iter_mut().filter(|d| d.name == "disk") {
        let dev = device
            .child("target")
            .and_then(|t| t.attr("dev"))
            .unwrap_or_default();
        if dev != target {
            continue;
        }
        device.set_attr("type", "file");
        let mut driver = device
            .child("driver")
            .cloned()
            .unwrap_or_else(|| Element::new("driver").with_attr("name", "qemu"));
        driver.set_attr("type", format);
        let source = Element::new("source").with_attr("file", path);
        let mut children = Vec::new();
        let (mut had_driver, mut had_source) = (false, false);
        for node in device.children.drain(..) {
            match node {
                Node::Element(e) if e.name == "driver" => {
                    had_driver = true;
                    children.push(Node::Element(driver.clone()));
                }
                Node::Element(e) if e.name == "source" => {
                    had_source = true;
                    children.push(Node::Element(source.clone()));
                }
                // The chain below is read from the images, not the XML.
                Node::Element(e) if e.name == "backingStore" => {}
                other => children.push(other),
            }
        }
        if !had_source {
            children.insert(0, Node::Element(source));
        }
        if !had_driver {
            children.insert(0, Node::Element(driver));
        }
        device.children = children;
    }
}

/// Puts disk `target` of `def` back on the image `from` names for it.
pub(super) fn disk_as_in(def: &mut DomainDef, target: &str, from: &DomainDef) {
    let find = |d: &Element| {
        d.name == "disk" && d.child("target").and_then(|t| t.attr("dev")) == Some(target)
    };
    let Some(was) = from.devices.iter().find(|d| find(d)).cloned() else {
        return;
    };
    for device in def.devices.iter_mut().filter(|d| find(d)) {
        *device = was.clone();
    }
}

/// The internal disks a snapshot recorded: their targets.
pub(super) fn internal_disks(snap: &SnapshotDef) -> Vec<String> {
    disk_entries(snap)
        .into_iter()
        .filter(|d| d.attr("snapshot") == Some("internal"))
        .filter_map(|d| d.attr("name").map(String::from))
        .collect()
}

/// The `<disks>` record of a snapshot taken by `plan`.
pub(super) fn disks_record(plan: &Plan) -> Element {
    let mut disks = Element::new("disks");
    for d in &plan.internal {
        disks = disks.with_child(
            Element::new("disk")
                .with_attr("name", &d.target)
                .with_attr("snapshot", "internal"),
        );
    }
    for d in &plan.disks {
        disks = disks.with_child(
            Element::new("disk")
                .with_attr("name", &d.target)
                .with_attr("snapshot", "external")
                .with_attr("type", "file")
                .with_child(Element::new("driver").with_attr("type", "qcow2"))
                .with_child(Element::new("source").with_attr("file", &d.overlay)),
        );
    }
    for target in &plan.skipped {
        disks = disks.with_child(
            Element::new("disk")
                .with_attr("name", target)
                .with_attr("snapshot", "no"),
        );
    }
    disks
}

/// The images `obj`'s snapshots stand on (their disks' chains), resolved.
pub(super) fn snapshot_images(local: &Local, reg: &Registry, obj: &DomainObj) -> BTreeSet<PathBuf> {
    let mut images = BTreeSet::new();
    for snap in &obj.snapshots {
        if let Some(def) = &snap.domain {
            chains(local, reg, def, &mut images);
        }
    }
    images
}

/// The images a definition's disks stand on: each disk's image and its
/// backing chain, resolved.
fn chains(local: &Local, reg: &Registry, def: &DomainDef, into: &mut BTreeSet<PathBuf>) {
    let Ok(config) = local.driver_config(reg, def, None) else {
        return;
    };
    for disk in config.disks {
        let Some(source) = &disk.source else {
            continue;
        };
        let format = disk.format.as_deref().unwrap_or("raw");
        for (image, _) in super::backing::chain(source, format) {
            into.insert(resolved(&image));
        }
    }
}

impl Local {
    /// Removes the overlays wirt made for domain `uuid` that nothing stands
    /// on any more: neither the domain's disks nor any of its snapshots.
    /// What a revert discards and what a merge emptied goes this way.
    pub(super) fn remove_unneeded_overlays(&self, reg: &mut Registry, uuid: &uuid::Uuid) {
        let Some(obj) = reg.domain(uuid) else {
            return;
        };
        let mut needed = BTreeSet::new();
        for def in obj.live.iter().chain(obj.config.iter()) {
            chains(self, reg, def, &mut needed);
        }
        for snap in &obj.snapshots {
            if let Some(def) = &snap.domain {
                chains(self, reg, def, &mut needed);
            }
        }
        let mut kept = Vec::new();
        for overlay in &obj.overlays {
            if needed.contains(&resolved(overlay)) {
                kept.push(overlay.clone());
            } else if std::fs::remove_file(overlay)
                .is_err_and(|e| e.kind() != std::io::ErrorKind::NotFound)
            {
                // Kept on the list: the next clean-up tries again.
                kept.push(overlay.clone());
            }
        }
        if let Some(obj) = reg.domain_mut(uuid) {
            obj.overlays = kept;
        }
    }
}

impl Local {
    /// Takes the external snapshot `plan` describes of domain `uuid` and
    /// fills in what `snap` records of it: the state file, the overlays.
    /// The domain runs on the overlays afterwards (live and persistent
    /// definitions both, as libvirt's do).
    pub(super) fn take_external(
        &self,
        reg: &mut Registry,
        uuid: &uuid::Uuid,
        snap: &mut SnapshotDef,
        plan: &Plan,
        flags: u32,
    ) -> Result<()> {
        let obj = reg.domain(uuid).expect("checked");
        let active = obj.is_active();
        let made = self.make_overlays(plan, flags)?;
        let (mut live, mut persistent) = (obj.live.clone(), obj.config.clone());
        for d in &plan.disks {
            for def in live.iter_mut().chain(persistent.iter_mut()) {
                point_disk(def, &d.target, &d.overlay);
            }
        }
        let memory = match live.as_ref().filter(|_| active) {
            Some(def) => {
                let switched = self
                    .driver_config(reg, def, None)
                    .and_then(|config| self.switch_live(&config, &snap.name, plan));
                match switched {
                    Ok(file) => file,
                    Err(e) => {
                        remove_files(&made);
                        return Err(e);
                    }
                }
            }
            None => None,
        };
        snap.extra
            .retain(|e| e.name != "memory" && e.name != "disks");
        match &memory {
            Some(file) => {
                snap.memory = "external".into();
                snap.extra.push(
                    Element::new("memory")
                        .with_attr("snapshot", "external")
                        .with_attr("file", file),
                );
            }
            None => snap.memory = "no".into(),
        }
        snap.extra.push(disks_record(plan));
        if active && memory.is_none() {
            // libvirt's state word for a disk-only snapshot of a live guest.
            snap.state = "disk-snapshot".into();
        }
        let obj = reg.domain_mut(uuid).expect("checked");
        obj.live = live;
        obj.config = persistent;
        obj.overlays.extend(made);
        reg.record_runtime(uuid)?;
        Ok(())
    }

    /// Makes the overlays of `plan`; on failure none is left.
    pub(super) fn make_overlays(&self, plan: &Plan, flags: u32) -> Result<Vec<String>> {
        let hv = self.hv();
        let mut made = Vec::new();
        for d in &plan.disks {
            if flags & flags::CREATE_REUSE_EXT != 0 && Path::new(&d.overlay).exists() {
                continue;
            }
            if let Err(e) = hv.create_overlay(&d.overlay, &d.base, &d.base_format) {
                remove_files(&made);
                return Err(e.into());
            }
            made.push(d.overlay.clone());
        }
        Ok(made)
    }

    /// The running domain moves onto the overlays of `plan` (with its
    /// machine state saved, if `plan` says so); returns the state file.
    pub(super) fn switch_live(
        &self,
        config: &DomainConfig,
        name: &str,
        plan: &Plan,
    ) -> Result<Option<String>> {
        let indexes: Vec<usize> = plan.disks.iter().map(|d| d.index).collect();
        let memory = match &plan.memory {
            Memory::External(file) => Some(file.as_deref()),
            _ => None,
        };
        let snap = ExternalSnapshot {
            name,
            memory,
            disks: &indexes,
        };
        Ok(self.hv().snapshot_external(config, &snap)?)
    }

    /// Fresh overlays over the images `snap` returns to, one per external
    /// disk (what the domain ran on before goes afterwards, with
    /// [`Local::remove_unneeded_overlays`]). Returns `def` (the snapshot's
    /// domain) pointed at the new overlays.
    pub(super) fn revert_overlays(
        &self,
        reg: &Registry,
        snap: &SnapshotDef,
        mut def: DomainDef,
    ) -> Result<(DomainDef, Vec<String>)> {
        let hv = self.hv();
        let then = self.driver_config(reg, &def, None)?;
        let mut made = Vec::new();
        for (target, recorded) in external_disks(snap) {
            let Some(base) = then.disks.iter().find(|d| d.target_dev == target) else {
                continue;
            };
            let Some(base_path) = base.source.clone() else {
                continue;
            };
            let overlay = (0..)
                .map(|n| match n {
                    0 => recorded.clone(),
                    n => format!("{recorded}.{n}"),
                })
                .find(|p| !Path::new(p).exists())
                .expect("a free name");
            if let Err(e) = hv.create_overlay(
                &overlay,
                &base_path,
                base.format.as_deref().unwrap_or("raw"),
            ) {
                remove_files(&made);
                return Err(e.into());
            }
            point_disk(&mut def, &target, &overlay);
            made.push(overlay);
        }
        Ok((def, made))
    }

    /// Merges away what the external snapshot `snap` (a leaf, once the
    /// other snapshots in `doomed` are gone) put between
    /// the domain and the images it recorded: where a disk runs on an
    /// overlay wirt made directly over the snapshot's image (the snapshot's
    /// own, or a revert's), that overlay's data is copied down into the
    /// image and the disk moves there, so nothing written is lost and the
    /// chain is as short as before the snapshot. An image another snapshot
    /// stands on is left as it is (its chain stays). Returns the
    /// definitions (live, persistent) the domain has afterwards; the
    /// emptied overlays go with [`Local::remove_unneeded_overlays`].
    pub(super) fn merge_overlays(
        &self,
        reg: &Registry,
        obj: &DomainObj,
        snap: &SnapshotDef,
        doomed: &[String],
    ) -> Result<(Option<DomainDef>, Option<DomainDef>)> {
        let hv = self.hv();
        let (mut live, mut persistent) = (obj.live.clone(), obj.config.clone());
        let Some(then) = snap.domain.as_ref() else {
            return Ok((live, persistent));
        };
        let then_config = self.driver_config(reg, then, None)?;
        // What the snapshots that stay stand on must not change under them.
        let mut others = BTreeSet::new();
        for other in obj.snapshots.iter().filter(|s| !doomed.contains(&s.name)) {
            if let Some(def) = &other.domain {
                chains(self, reg, def, &mut others);
            }
        }
        let made: BTreeSet<PathBuf> = obj.overlays.iter().map(|o| resolved(o)).collect();
        for (target, _) in external_disks(snap) {
            let Some(base) = then_config.disks.iter().find(|d| d.target_dev == target) else {
                continue;
            };
            let Some(base_path) = base.source.clone() else {
                continue;
            };
            if others.contains(&resolved(&base_path)) {
                continue;
            }
            let base_format = base.format.clone().unwrap_or_else(|| "raw".into());
            let current_def = live.as_ref().or(persistent.as_ref()).expect("a definition");
            let now = self.driver_config(reg, current_def, None)?;
            let Some((index, top)) = now.disks.iter().enumerate().find_map(|(i, d)| {
                let top = d.source.as_deref().filter(|_| d.target_dev == target)?;
                Some((i, top.to_string()))
            }) else {
                continue;
            };
            let over_base = super::backing::backing_file(&top)
                .is_some_and(|(b, _)| resolved(&b.to_string_lossy()) == resolved(&base_path));
            if !over_base || !made.contains(&resolved(&top)) {
                continue;
            }
            if let Some(def) = live.as_mut() {
                disk_as_in(def, &target, then);
                let moved = self.driver_config(reg, def, None)?;
                hv.commit_active(&moved, index, &top)?;
            } else {
                hv.commit_overlay(&now, std::slice::from_ref(&top), &base_path, &base_format)?;
            }
            if let Some(def) = persistent.as_mut() {
                disk_as_in(def, &target, then);
            }
        }
        Ok((live, persistent))
    }
}

impl Local {
    /// Brings the domain to `target` from an external snapshot, on the
    /// fresh overlays `config` names: the saved machine state restored, a
    /// fresh boot (a disk-only snapshot asked to run), or shut off.
    pub(super) fn revert_external(
        &self,
        config: &DomainConfig,
        snap: &SnapshotDef,
        target: State,
    ) -> Result<DomainStatus> {
        let hv = self.hv();
        let paused = target == State::Paused;
        let mut status = match (memory_file(snap), target) {
            (_, State::Shutoff) => {
                return Ok(DomainStatus {
                    state: State::Shutoff as u32,
                    reason: reason::SHUTOFF_FROM_SNAPSHOT,
                    ..Default::default()
                });
            }
            (Some(file), _) => {
                let mut image = std::fs::File::open(&file).map_err(|e| {
                    Error::api(
                        ErrorCode::OPERATION_FAILED,
                        format!("cannot read snapshot state {file}: {e}"),
                    )
                })?;
                let size = image.metadata().map(|m| m.len()).unwrap_or(0);
                let flags = if paused { driver::SAVE_PAUSED } else { 0 };
                hv.restore(config, &mut image, size, flags)?
            }
            (None, _) => hv.start(config, if paused { driver::START_PAUSED } else { 0 })?,
        };
        status.reason = if status.state == State::Paused as u32 {
            reason::PAUSED_FROM_SNAPSHOT
        } else {
            reason::RUNNING_FROM_SNAPSHOT
        };
        Ok(status)
    }
}

pub(super) fn remove_files(paths: &[String]) {
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlays_are_named_as_libvirt_names_them() {
        assert_eq!(default_overlay("/i/vm.qcow2", "s1"), "/i/vm.s1");
        assert_eq!(default_overlay("/i/vm", "s1"), "/i/vm.s1");
        assert_eq!(default_overlay("/i/vm.a.raw", "s1"), "/i/vm.a.s1");
    }
}
