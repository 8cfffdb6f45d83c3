//! Block jobs that take layers out of the middle of a running disk's
//! chain: a commit below the active layer (`blockcommit --top T [--base
//! B]`) and a partial pull (`blockpull --base B`).
//!
//! imago cannot rewrite a qcow2 header's backing file name, so the active
//! image is never rebased in place: its data moves, with the guest held,
//! into a fresh overlay over the image that stays below (one VMM request,
//! a shallow copy with a pivot), which then takes the active image's name.
//! The layers that go are folded, with no guest writing them, by a
//! `wirt-vmm --commit` process: into the image below them (a commit) or
//! into the fresh overlay (a pull). The guest sees the same data
//! throughout; what it pays is the time to copy the active layer.

use super::Local;
use super::snapshot_disks::{point_disk_at, resolved, snapshot_images};
use crate::connect::{Error, Result, block_job_type};
use crate::driver::DomainConfig;
use crate::error::ErrorCode;
use crate::registry::{BlockJob, Registry};

fn position(chain: &[(String, String)], image: &str) -> Option<usize> {
    chain
        .iter()
        .position(|(p, _)| resolved(p) == resolved(image))
}

fn not_in_chain(image: &str, top: &str, target: &str) -> Error {
    Error::api(
        ErrorCode::INVALID_ARG,
        format!("could not find image '{image}' beneath '{top}' in chain for '{target}'"),
    )
}

/// What `blockcommit` names below the active layer.
pub(super) struct CommitBelow<'a> {
    /// The image to commit (`--top`).
    pub top: &'a str,
    /// The image it goes into (`--base`); the one right below by default.
    pub base: Option<&'a str>,
    /// Remove the committed images afterwards (`--delete`).
    pub delete: bool,
}

impl Local {
    /// Moves disk `index` of the running `config` onto a fresh overlay over
    /// `below` holding `fold` (layers, top first, with no guest writing
    /// them) and then the active layer's data; the overlay takes the
    /// active image's name.
    fn restack(
        &self,
        reg: &Registry,
        uuid: &uuid::Uuid,
        config: &DomainConfig,
        index: usize,
        below: &(String, String),
        fold: &[String],
    ) -> Result<()> {
        let hv = self.hv();
        let d = &config.disks[index];
        let active = d.source.clone().unwrap_or_default();
        let staged = format!("{active}.restack-{}", std::process::id());
        hv.create_overlay(&staged, &below.0, &below.1)?;
        let moved = (|| -> Result<()> {
            if !fold.is_empty() {
                hv.commit_overlay(config, fold, &staged, "qcow2")?;
            }
            let obj = reg.domain(uuid).expect("checked");
            let mut dest = obj.live.clone().expect("active");
            point_disk_at(&mut dest, &d.target_dev, &staged, "qcow2");
            let dest_config = self.driver_config(reg, &dest, obj.id)?;
            hv.block_copy(config, index, &dest_config, true, true)?;
            Ok(())
        })();
        if let Err(e) = moved {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
        // The guest runs on the staged image now; its name becomes the
        // active image's, whose old file nothing reads any more.
        std::fs::rename(&staged, &active).map_err(|e| {
            Error::api(
                ErrorCode::OPERATION_FAILED,
                format!("cannot move {staged} to {active}: {e}"),
            )
        })
    }

    /// `blockpull --base B`: the layers between the active image and `B`
    /// go into the active image, which then stands on `B`.
    pub(super) fn pull_to_base(
        &self,
        reg: &Registry,
        uuid: &uuid::Uuid,
        config: &DomainConfig,
        index: usize,
        base: &str,
    ) -> Result<BlockJob> {
        let d = &config.disks[index];
        let active = d.source.clone().unwrap_or_default();
        let layers = super::backing::chain(&active, d.format.as_deref().unwrap_or("raw"));
        let at = position(&layers, base)
            .filter(|&i| i > 0)
            .ok_or_else(|| not_in_chain(base, &active, &d.target_dev))?;
        if at > 1 {
            let fold: Vec<String> = layers[1..at].iter().map(|(p, _)| p.clone()).collect();
            self.restack(reg, uuid, config, index, &layers[at], &fold)?;
        }
        Ok(finished(d.target_dev.clone(), active, block_job_type::PULL))
    }

    /// `blockcommit --top T [--base B]` below the active layer: T (and the
    /// layers between it and B) go into B, and the active image then
    /// stands on B. T must be right below the active image: a layer above
    /// T would still name it, and its header cannot be rewritten.
    pub(super) fn commit_below_active(
        &self,
        reg: &Registry,
        uuid: &uuid::Uuid,
        config: &DomainConfig,
        index: usize,
        commit: CommitBelow<'_>,
    ) -> Result<BlockJob> {
        let CommitBelow { top, base, delete } = commit;
        let d = &config.disks[index];
        let active = d.source.clone().unwrap_or_default();
        let layers = super::backing::chain(&active, d.format.as_deref().unwrap_or("raw"));
        let t = position(&layers, top)
            .filter(|&i| i > 0)
            .ok_or_else(|| not_in_chain(top, &active, &d.target_dev))?;
        if t != 1 {
            return Err(Error::api(
                ErrorCode::OPERATION_UNSUPPORTED,
                format!(
                    "'{top}' is not right below the active image of '{}': only that image (or the \
                     active one, with --active) can be the top of a commit",
                    d.target_dev
                ),
            ));
        }
        let b = match base {
            Some(base) => position(&layers, base)
                .filter(|&i| i > t)
                .ok_or_else(|| not_in_chain(base, top, &d.target_dev))?,
            None if layers.len() > t + 1 => t + 1,
            None => {
                return Err(Error::api(
                    ErrorCode::INVALID_ARG,
                    format!(
                        "top '{top}' in chain for '{}' has no backing file",
                        d.target_dev
                    ),
                ));
            }
        };
        let committed: Vec<String> = layers[t..b].iter().map(|(p, _)| p.clone()).collect();
        // A snapshot standing on the base, or on a layer that goes, would
        // no longer be what it recorded.
        let obj = reg.domain(uuid).expect("checked");
        let held = snapshot_images(self, reg, obj);
        if let Some(image) = std::iter::once(&layers[b].0)
            .chain(&committed)
            .find(|p| held.contains(&resolved(p)))
        {
            return Err(Error::api(
                ErrorCode::OPERATION_INVALID,
                format!(
                    "{image} holds a snapshot of domain '{}': the commit would change it; delete the \
                     snapshot instead (which merges its overlay)",
                    obj.name()
                ),
            ));
        }
        let hv = self.hv();
        hv.commit_overlay(config, &committed, &layers[b].0, &layers[b].1)?;
        self.restack(reg, uuid, config, index, &layers[b], &[])?;
        if delete {
            for image in &committed {
                let _ = std::fs::remove_file(image);
            }
        }
        Ok(finished(
            d.target_dev.clone(),
            active,
            block_job_type::COMMIT,
        ))
    }
}

/// A job that is over when the call returns (what its event reports).
fn finished(target: String, path: String, job_type: i32) -> BlockJob {
    BlockJob {
        target,
        path,
        job_type,
        dest: String::new(),
        dest_format: "qcow2".into(),
        shallow: false,
        delete: false,
        made: false,
        bandwidth: 0,
        size: 0,
        mirrored: false,
        ready: false,
    }
}
