//! Internal snapshots: kept inside the domain's qcow2 images (their
//! snapshot tables), with the machine state of a running domain kept by
//! the driver. Taking one changes no definition: the domain goes on
//! writing into the same images, whose shared clusters are copied on
//! write; reverting brings each image back inside itself.

use super::Local;
use super::snapshot_disks::{Plan, disks_record, internal_disks, resolved};
use crate::connect::Result;
use crate::driver::{DomainConfig, InternalImage, InternalOp};
use crate::registry::Registry;
use crate::xml::SnapshotDef;

impl Local {
    /// Takes the internal snapshot `plan` describes of domain `uuid`
    /// (`config`: the driver's view of it, which `plan` was made from) and
    /// records in `snap` which disks hold it and whether memory is kept.
    pub(super) fn take_internal(
        &self,
        reg: &Registry,
        uuid: &uuid::Uuid,
        config: &DomainConfig,
        snap: &mut SnapshotDef,
        plan: &Plan,
    ) -> Result<()> {
        let active = reg.domain(uuid).expect("checked").is_active();
        let images: Vec<InternalImage> = plan
            .internal
            .iter()
            .map(|d| InternalImage {
                path: d.image.clone(),
                serving: active.then_some(d.index),
            })
            .collect();
        let memory = plan.memory == super::snapshot_disks::Memory::Internal;
        self.hv()
            .snapshot_internal(config, &snap.name, InternalOp::Create, &images, memory)?;
        snap.memory = if memory { "internal" } else { "no" }.into();
        snap.extra
            .retain(|e| e.name != "memory" && e.name != "disks");
        snap.extra.push(disks_record(plan));
        if active && !memory {
            snap.state = "disk-snapshot".into();
        }
        Ok(())
    }

    /// The images holding internal snapshot `snap` (its disks' images as
    /// the snapshot recorded them), each with the index of the disk that
    /// serves it if the domain runs on it now; and the domain's config for
    /// the driver (as it runs, else as the snapshot recorded it).
    pub(super) fn internal_images(
        &self,
        reg: &Registry,
        uuid: &uuid::Uuid,
        snap: &SnapshotDef,
    ) -> Result<(DomainConfig, Vec<InternalImage>)> {
        let obj = reg.domain(uuid).expect("checked");
        let then = snap.domain.as_ref().unwrap_or(obj.def());
        let then = self.driver_config(reg, then, None)?;
        let now = match obj.live.as_ref().filter(|_| obj.is_active()) {
            Some(def) => Some(self.driver_config(reg, def, None)?),
            None => None,
        };
        let mut images = Vec::new();
        for target in internal_disks(snap) {
            let Some(path) = then
                .disks
                .iter()
                .find(|d| d.target_dev == target)
                .and_then(|d| d.source.clone())
            else {
                continue;
            };
            let serving = now.as_ref().and_then(|now| {
                now.disks.iter().position(|d| {
                    d.target_dev == target
                        && d.source
                            .as_deref()
                            .is_some_and(|s| resolved(s) == resolved(&path))
                })
            });
            images.push(InternalImage { path, serving });
        }
        Ok((now.unwrap_or(then), images))
    }
}
