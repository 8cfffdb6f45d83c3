//! Domain snapshots: metadata kept by the host, state kept by the driver.

use super::Local;
use super::domain::{apply_outcome, facts, persist};
use super::snapshot_disks as disks;
use crate::connect::snapshot_flags as flags;
use crate::connect::{
    DomainRef, Error, Result, SnapshotBackend, SnapshotInfo, SnapshotRef, check_flags,
};
use crate::error::ErrorCode;
use crate::lifecycle::{self, Op, State};
use crate::registry::{DomainObj, Registry};
use crate::xml::{FormatOptions, SnapshotDef};

fn find<'a>(obj: &'a DomainObj, name: &str) -> Result<&'a SnapshotDef> {
    obj.snapshots
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| {
            Error::api(
                ErrorCode::NO_DOMAIN_SNAPSHOT,
                format!("no domain snapshot with matching name '{name}'"),
            )
        })
}

fn children<'a>(obj: &'a DomainObj, name: &'a str) -> impl Iterator<Item = &'a SnapshotDef> + 'a {
    obj.snapshots
        .iter()
        .filter(move |s| s.parent.as_deref() == Some(name))
}

fn descendants(obj: &DomainObj, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut queue = vec![name.to_string()];
    while let Some(n) = queue.pop() {
        for c in children(obj, &n) {
            out.push(c.name.clone());
            queue.push(c.name.clone());
        }
    }
    out
}

/// libvirt's word for the state a snapshot records.
fn state_word(state: State) -> &'static str {
    match state {
        State::Running => "running",
        State::Blocked => "blocked",
        State::Paused => "paused",
        State::Shutdown => "shutdown",
        State::Shutoff => "shutoff",
        State::Crashed => "crashed",
        State::PmSuspended => "pmsuspended",
        State::NoState => "nostate",
    }
}

fn state_from_word(word: &str) -> State {
    match word {
        "running" | "blocked" => State::Running,
        "paused" => State::Paused,
        "pmsuspended" => State::PmSuspended,
        _ => State::Shutoff,
    }
}

fn persist_snapshots(reg: &Registry, uuid: &uuid::Uuid) -> Result<()> {
    let (Some(store), Some(obj)) = (reg.store(), reg.domain(uuid)) else {
        return Ok(());
    };
    // Other processes (and the domain index) learn of the change.
    store.announce();
    let dir = store.snapshot_dir(uuid);
    let _ = std::fs::remove_dir_all(&dir);
    for snap in &obj.snapshots {
        crate::registry::StateDir::write_file(
            &dir.join(format!("{}.xml", snap.name)),
            snap.to_xml().as_bytes(),
        )?;
    }
    Ok(())
}

/// Whether a snapshot keeps its state outside the driver: overlays, or a
/// machine state file of its own.
fn is_external(snap: &SnapshotDef) -> bool {
    !disks::external_disks(snap).is_empty() || disks::memory_file(snap).is_some()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl SnapshotBackend for Local {
    /// Takes a snapshot described by `xml` (`<domainsnapshot>`). flags: 8 halt.
    fn snapshot_create_xml(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<String> {
        let state = &self.state;
        let hv = state.drivers.hypervisor.clone();
        let external = hv.external_snapshots();
        let mut allowed = flags::CREATE_HALT | flags::CREATE_ATOMIC | flags::CREATE_VALIDATE;
        if external {
            allowed |= flags::CREATE_DISK_ONLY
                | flags::CREATE_REUSE_EXT
                | flags::CREATE_LIVE
                | flags::CREATE_NO_METADATA;
        }
        check_flags(flags, allowed, "virDomainSnapshotCreateXML")?;
        let request = SnapshotDef::parse_request(xml)?;
        let (name, events) = self.with(dom, |reg, uuid| {
            self.restore_driver_state(reg)?;
            let obj = reg.domain(uuid).expect("checked");
            lifecycle::check(obj.name(), &facts(obj), Op::SnapshotCreate)?;
            let creation_time = now_secs();
            let name = if request.name.is_empty() {
                creation_time.to_string()
            } else {
                request.name.clone()
            };
            if obj.snapshots.iter().any(|s| s.name == name) {
                return Err(Error::api(
                    ErrorCode::INVALID_DOMAIN_SNAPSHOT,
                    format!("domain snapshot '{name}' already exists"),
                ));
            }
            let active = obj.is_active();
            let mut snap = SnapshotDef {
                name: name.clone(),
                description: request.description.clone(),
                state: state_word(obj.state).to_string(),
                creation_time,
                parent: obj.current_snapshot.clone(),
                memory: if active {
                    "internal".into()
                } else {
                    "no".into()
                },
                domain: Some(obj.def().clone()),
                extra: request.extra.clone(),
            };
            let planned = if external {
                let config = self.driver_config(reg, obj.def(), None)?;
                let plan = disks::plan(&request, &name, &config, active, flags)?;
                Some((config, plan))
            } else {
                None
            };
            match planned {
                Some((config, plan)) if !plan.internal.is_empty() => {
                    if flags & flags::CREATE_NO_METADATA != 0 {
                        return Err(Error::api(
                            ErrorCode::CONFIG_UNSUPPORTED,
                            "an internal snapshot needs its metadata: it is deleted through it",
                        ));
                    }
                    self.take_internal(reg, uuid, &config, &mut snap, &plan)?;
                }
                Some((_, plan))
                    if !plan.disks.is_empty() || plan.memory != disks::Memory::Internal =>
                {
                    if flags & flags::CREATE_NO_METADATA != 0 && plan.memory != disks::Memory::No {
                        return Err(Error::api(
                            ErrorCode::CONFIG_UNSUPPORTED,
                            "a snapshot without metadata keeps no memory state: use --disk-only",
                        ));
                    }
                    self.take_external(reg, uuid, &mut snap, &plan, flags)?;
                    if flags & flags::CREATE_NO_METADATA != 0 {
                        // The overlays are the user's now: nothing records
                        // them, so wirt never removes them.
                        let obj = reg.domain_mut(uuid).expect("checked");
                        obj.overlays
                            .retain(|o| !plan.disks.iter().any(|d| d.overlay == *o));
                        persist(state, reg, uuid)?;
                        return Ok((name, Vec::new()));
                    }
                }
                _ => hv.snapshot_create(&uuid.to_string(), &name, 0)?,
            }
            let obj = reg.domain_mut(uuid).expect("checked");
            obj.snapshots.push(snap);
            obj.current_snapshot = Some(name.clone());
            persist_snapshots(reg, uuid)?;
            persist(state, reg, uuid)?;
            let mut events = Vec::new();
            if flags & flags::CREATE_HALT != 0 && active {
                let obj = reg.domain(uuid).expect("checked");
                let before = facts(obj);
                let status = hv.destroy(&uuid.to_string(), 0)?;
                let out =
                    lifecycle::outcome(&before, Op::Destroy, Some((State::Shutoff, status.reason)));
                events = apply_outcome(state, reg, uuid, &out, Some(status))?;
            }
            Ok((name, events))
        })?;
        state.emit(events);
        Ok(name)
    }

    /// Snapshots in creation order. flags: 1 roots only, 4 leaves only.
    fn list_all_snapshots(&self, dom: &DomainRef, flags: u32) -> Result<Vec<String>> {
        check_flags(
            flags,
            flags::LIST_ROOTS | flags::LIST_LEAVES,
            "virDomainListAllSnapshots",
        )?;
        self.with(dom, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            Ok(obj
                .snapshots
                .iter()
                .filter(|s| flags & flags::LIST_ROOTS == 0 || s.parent.is_none())
                .filter(|s| {
                    flags & flags::LIST_LEAVES == 0 || children(obj, &s.name).next().is_none()
                })
                .map(|s| s.name.clone())
                .collect())
        })
    }

    fn snapshot_lookup_by_name(&self, dom: &DomainRef, name: &str) -> Result<()> {
        self.with(dom, |reg, uuid| {
            find(reg.domain(uuid).expect("checked"), name)?;
            Ok(())
        })
    }

    fn has_current_snapshot(&self, dom: &DomainRef) -> Result<bool> {
        self.with(dom, |reg, uuid| {
            Ok(reg
                .domain(uuid)
                .expect("checked")
                .current_snapshot
                .is_some())
        })
    }

    fn snapshot_current(&self, dom: &DomainRef) -> Result<String> {
        self.with(dom, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            let name = obj.current_snapshot.clone().ok_or_else(|| {
                Error::api(
                    ErrorCode::NO_DOMAIN_SNAPSHOT,
                    "the domain does not have a current snapshot",
                )
            })?;
            Ok(name)
        })
    }

    fn snapshot_xml_desc(&self, snap: &SnapshotRef) -> Result<String> {
        self.with(&snap.domain, |reg, uuid| {
            Ok(find(reg.domain(uuid).expect("checked"), &snap.name)?.to_public_xml())
        })
    }

    fn snapshot_info(&self, snap: &SnapshotRef) -> Result<SnapshotInfo> {
        self.with(&snap.domain, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            let snap = find(obj, &snap.name)?;
            Ok(SnapshotInfo {
                name: snap.name.clone(),
                domain: obj.name().to_string(),
                current: obj.current_snapshot.as_deref() == Some(snap.name.as_str()),
                state: snap.state.clone(),
                location: if snap.memory == "external" {
                    "external".into()
                } else {
                    "internal".into()
                },
                parent: snap.parent.clone(),
                children: children(obj, &snap.name).count(),
                descendants: descendants(obj, &snap.name).len(),
                creation_time: snap.creation_time,
            })
        })
    }

    /// Returns the domain to this snapshot. flags: 1 running, 2 paused.
    fn snapshot_revert(&self, snap: &SnapshotRef, flags: u32) -> Result<()> {
        let state = &self.state;
        check_flags(
            flags,
            flags::REVERT_RUNNING | flags::REVERT_PAUSED | flags::REVERT_FORCE,
            "virDomainRevertToSnapshot",
        )?;
        let hv = state.drivers.hypervisor.clone();
        let events = self.with(&snap.domain, |reg, uuid| {
            self.restore_driver_state(reg)?;
            let obj = reg.domain(uuid).expect("checked");
            let snap = find(obj, &snap.name)?.clone();
            let before = facts(obj);
            lifecycle::check(obj.name(), &before, Op::SnapshotRevert)?;
            let target = match flags & (flags::REVERT_RUNNING | flags::REVERT_PAUSED) {
                flags::REVERT_RUNNING => State::Running,
                flags::REVERT_PAUSED => State::Paused,
                _ => state_from_word(&snap.state),
            };
            // The snapshot's configuration, under the name the domain has
            // now: a revert restores state, not an old name.
            let mut def = snap.domain.clone().unwrap_or_else(|| obj.def().clone());
            def.name = obj.name().to_string();
            let status = if is_external(&snap) {
                // The guest stops before the disks it ran on can go.
                if obj.is_active() {
                    hv.destroy(&uuid.to_string(), 0)?;
                }
                let (moved, made) = self.revert_overlays(reg, &snap, def)?;
                def = moved;
                reg.domain_mut(uuid).expect("checked").overlays.extend(made);
                let config = self.start_config(reg, &def, None)?;
                self.revert_external(&config, &snap, target)?
            } else if !disks::internal_disks(&snap).is_empty() {
                // The images change under no VMM: the guest stops first.
                if obj.is_active() {
                    hv.destroy(&uuid.to_string(), 0)?;
                }
                let (config, images) = self.internal_images(reg, uuid, &snap)?;
                hv.snapshot_internal(
                    &config,
                    &snap.name,
                    crate::driver::InternalOp::Revert,
                    &images,
                    false,
                )?;
                let config = self.start_config(reg, &def, None)?;
                if snap.memory == "internal" {
                    hv.snapshot_revert(&config, &snap.name, target as u32, 0)?
                } else {
                    // Disks only: a fresh boot, or stay off.
                    self.revert_external(&config, &snap, target)?
                }
            } else {
                let config = self.start_config(reg, &def, None)?;
                hv.snapshot_revert(&config, &snap.name, target as u32, 0)?
            };
            let obj = reg.domain_mut(uuid).expect("checked");
            if obj.config.is_some() {
                obj.config = Some(def.clone());
            }
            obj.live = None;
            obj.current_snapshot = Some(snap.name.clone());
            let out = lifecycle::outcome(
                &before,
                Op::SnapshotRevert,
                Some((
                    State::from_u32(status.state).unwrap_or(State::Shutoff),
                    status.reason,
                )),
            );
            if out.state.is_active() {
                reg.domain_mut(uuid).expect("checked").live = Some(def);
            }
            if is_external(&snap) {
                self.remove_unneeded_overlays(reg, uuid);
            }
            apply_outcome(state, reg, uuid, &out, Some(status))
        })?;
        state.emit(events);
        Ok(())
    }

    /// Deletes the snapshot. flags: 1 with its children, 2 metadata only,
    /// 4 its children only.
    fn snapshot_delete(&self, snap: &SnapshotRef, flags: u32) -> Result<()> {
        let state = &self.state;
        check_flags(
            flags,
            flags::DELETE_CHILDREN | flags::DELETE_METADATA_ONLY | flags::DELETE_CHILDREN_ONLY,
            "virDomainSnapshotDelete",
        )?;
        let hv = state.drivers.hypervisor.clone();
        self.with(&snap.domain, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            let snap = find(obj, &snap.name)?.clone();
            let mut doomed = Vec::new();
            if flags & (flags::DELETE_CHILDREN | flags::DELETE_CHILDREN_ONLY) != 0 {
                doomed.extend(descendants(obj, &snap.name));
            }
            if flags & flags::DELETE_CHILDREN_ONLY == 0 {
                doomed.push(snap.name.clone());
            }
            if flags & flags::DELETE_METADATA_ONLY == 0 {
                // Children before their parents: each merge leaves the
                // domain on the image its parent's merge expects.
                let mut order = doomed.clone();
                order.reverse();
                if let Some(i) = order.iter().position(|n| *n == snap.name) {
                    let own = order.remove(i);
                    order.push(own);
                }
                for name in &order {
                    let obj = reg.domain(uuid).expect("checked");
                    let doomed_snap = find(obj, name)?.clone();
                    if is_external(&doomed_snap) {
                        if let Some(child) = children(obj, name).find(|c| !doomed.contains(&c.name)) {
                            return Err(Error::api(
                                ErrorCode::OPERATION_UNSUPPORTED,
                                format!(
                                    "deletion of external snapshot '{name}' with children ('{}') is not supported; delete them first or use --children",
                                    child.name
                                ),
                            ));
                        }
                        let (live, persistent) =
                            self.merge_overlays(reg, obj, &doomed_snap, &doomed)?;
                        let obj = reg.domain_mut(uuid).expect("checked");
                        obj.live = live;
                        obj.config = persistent;
                        reg.record_runtime(uuid)?;
                        if let Some(file) = disks::memory_file(&doomed_snap) {
                            let _ = std::fs::remove_file(file);
                        }
                    }
                    if !disks::internal_disks(&doomed_snap).is_empty() {
                        let (config, images) = self.internal_images(reg, uuid, &doomed_snap)?;
                        hv.snapshot_internal(
                            &config,
                            name,
                            crate::driver::InternalOp::Delete,
                            &images,
                            false,
                        )?;
                    }
                    hv.snapshot_delete(&uuid.to_string(), name, 0)?;
                }
            }
            let obj = reg.domain_mut(uuid).expect("checked");
            obj.snapshots.retain(|s| !doomed.contains(&s.name));
            // Children of a deleted snapshot move up to its parent.
            for s in obj.snapshots.iter_mut() {
                if s.parent.as_ref().is_some_and(|p| doomed.contains(p)) {
                    s.parent = snap.parent.clone();
                }
            }
            if obj
                .current_snapshot
                .as_ref()
                .is_some_and(|c| doomed.contains(c))
            {
                obj.current_snapshot = if doomed.contains(&snap.name) {
                    snap.parent.clone()
                } else {
                    Some(snap.name.clone())
                };
            }
            if flags & flags::DELETE_METADATA_ONLY == 0 {
                self.remove_unneeded_overlays(reg, uuid);
            }
            persist_snapshots(reg, uuid)?;
            persist(state, reg, uuid)
        })
    }

    /// The domain definition recorded with the snapshot.
    fn snapshot_domain_xml(&self, snap: &SnapshotRef) -> Result<String> {
        self.with(&snap.domain, |reg, uuid| {
            let snap = find(reg.domain(uuid).expect("checked"), &snap.name)?;
            Ok(snap
                .domain
                .as_ref()
                .map(|d| d.to_public_xml(FormatOptions::default()))
                .unwrap_or_default())
        })
    }
}
