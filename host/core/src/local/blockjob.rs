//! Block jobs on a running domain's disks: active commit (`blockcommit
//! --active`) and copy (`blockcopy`), with libvirt's two-phase shape: the
//! job starts, is ready, and ends with a pivot onto the new image or
//! without one.
//!
//! The driver moves the data when the job ends, in one VMM request with the
//! guest held (vCPUs parked, device workers waiting), so a job is ready the
//! moment it starts and a write the guest makes meanwhile can never miss
//! the new image. A cancelled commit leaves the image below as it was; a
//! copy ended without a pivot (`--finish`) leaves a complete, consistent
//! copy. The guest's pause lasts as long as the copy, which suits the
//! overlays of external snapshots rather than whole large disks.

use std::path::Path;

use super::Local;
use super::domain::persist;
use super::snapshot_disks::resolved;
use crate::connect::{
    BlockJobBackend, BlockJobInfo, DomainRef, Error, Result, StatValue, block_flags,
    block_job_status, block_job_type, check_flags,
};
use crate::driver::DomainConfig;
use crate::error::ErrorCode;
use crate::events::{BlockJobEvent, EventStream};
use crate::registry::{BlockJob, DomainObj, Registry};
use crate::xml::tree::Element;

fn invalid(message: impl Into<String>) -> Error {
    Error::api(ErrorCode::OPERATION_INVALID, message.into())
}

/// The index and driver view of the disk a caller names by target or path.
fn find_disk(config: &DomainConfig, disk: &str) -> Result<usize> {
    config
        .disks
        .iter()
        .position(|d| d.target_dev == disk || d.source.as_deref() == Some(disk))
        .ok_or_else(|| {
            Error::api(
                ErrorCode::INVALID_ARG,
                format!("disk '{disk}' not found in domain"),
            )
        })
}

fn job_of<'a>(obj: &'a DomainObj, target: &str) -> Option<&'a BlockJob> {
    obj.block_jobs.iter().find(|j| j.target == target)
}

fn obj_has_job(obj: &DomainObj, target: &str) -> bool {
    job_of(obj, target).is_some()
}

/// The image `top`'s qcow2 header names below it, resolved.
fn backing_of(top: &str) -> Option<(String, Option<String>)> {
    super::backing::backing_file(top).map(|(path, format)| (path.display().to_string(), format))
}

impl Local {
    /// The running domain `dom`'s registry entry and driver view, for a
    /// block job call.
    fn running(&self, reg: &Registry, uuid: &uuid::Uuid) -> Result<DomainConfig> {
        let obj = reg.domain(uuid).expect("checked");
        if !obj.is_active() {
            return Err(invalid("domain is not running"));
        }
        self.driver_config(reg, obj.def(), obj.id)
    }

    fn emit_block_job(&self, obj: &DomainObj, uuid: &uuid::Uuid, job: &BlockJob, status: i32) {
        self.state.block_job_events.emit(BlockJobEvent {
            name: obj.name().to_string(),
            uuid: *uuid,
            id: obj.id_or_minus_one(),
            target: job.target.clone(),
            path: job.path.clone(),
            job_type: job.job_type,
            status,
        });
    }

    /// Records a job that starts and tells subscribers. A driver that
    /// copies beside the guest starts its copy now (ready once its first
    /// pass is over); otherwise the job is ready at once and the data
    /// moves when it ends.
    fn start_job(&self, reg: &mut Registry, uuid: &uuid::Uuid, mut job: BlockJob) -> Result<()> {
        let obj = reg.domain(uuid).expect("checked");
        if job_of(obj, &job.target).is_some() {
            return Err(invalid(format!(
                "disk '{}' already in active block job",
                job.target
            )));
        }
        let hv = self.hv();
        if hv.mirrors() {
            let config = self.running(reg, uuid)?;
            let index = find_disk(&config, &job.target)?;
            let dest = self.moved_config(reg, uuid, &job)?;
            let top = match job.job_type {
                block_job_type::ACTIVE_COMMIT => Some(job.path.as_str()),
                _ => job.shallow.then_some(job.path.as_str()),
            };
            hv.mirror_start(&config, index, &dest, top, job.bandwidth)?;
            job.mirrored = true;
        }
        let obj = reg.domain_mut(uuid).expect("checked");
        obj.block_jobs.push(job.clone());
        reg.record_runtime(uuid)?;
        if !job.mirrored {
            let obj = reg.domain(uuid).expect("checked");
            self.emit_block_job(obj, uuid, &job, block_job_status::READY);
        }
        Ok(())
    }

    /// The running domain's driver view with `job`'s disk on its
    /// destination (the image below, for a commit).
    fn moved_config(
        &self,
        reg: &Registry,
        uuid: &uuid::Uuid,
        job: &BlockJob,
    ) -> Result<DomainConfig> {
        let obj = reg.domain(uuid).expect("checked");
        let mut dest = obj.live.clone().expect("active");
        super::snapshot_disks::point_disk_at(&mut dest, &job.target, &job.dest, &job.dest_format);
        self.driver_config(reg, &dest, obj.id)
    }

    /// A mirrored job's progress: `(cur, end)`, the ready event sent the
    /// first time it is seen ready. A copy that failed ends the job (the
    /// failed event) and `None` is returned.
    fn mirror_progress(
        &self,
        reg: &mut Registry,
        uuid: &uuid::Uuid,
        index: usize,
        job: &BlockJob,
    ) -> Result<Option<(u64, u64)>> {
        let hv = self.hv();
        let status = hv.mirror_status(&uuid.to_string(), index)?;
        if let Some(why) = &status.error {
            tracing::warn!(disk = %job.target, error = %why, "a block job failed");
            let _ = hv.mirror_cancel(&uuid.to_string(), index);
            let obj = reg.domain_mut(uuid).expect("checked");
            obj.block_jobs.retain(|j| j.target != job.target);
            reg.record_runtime(uuid)?;
            let obj = reg.domain(uuid).expect("checked");
            self.emit_block_job(obj, uuid, job, block_job_status::FAILED);
            return Ok(None);
        }
        if status.ready && !job.ready {
            let obj = reg.domain_mut(uuid).expect("checked");
            if let Some(j) = obj.block_jobs.iter_mut().find(|j| j.target == job.target) {
                j.ready = true;
            }
            reg.record_runtime(uuid)?;
            let obj = reg.domain(uuid).expect("checked");
            self.emit_block_job(obj, uuid, job, block_job_status::READY);
        }
        Ok(Some((status.done, status.total)))
    }
}

impl BlockJobBackend for Local {
    fn domain_block_commit(
        &self,
        dom: &DomainRef,
        disk: &str,
        base: Option<&str>,
        top: Option<&str>,
        bandwidth: u64,
        flags: u32,
    ) -> Result<()> {
        check_flags(
            flags,
            block_flags::COMMIT_ACTIVE
                | block_flags::COMMIT_DELETE
                | block_flags::COMMIT_SHALLOW
                | block_flags::COMMIT_BANDWIDTH_BYTES,
            "virDomainBlockCommit",
        )?;
        self.with(dom, |reg, uuid| {
            let config = self.running(reg, uuid)?;
            let index = find_disk(&config, disk)?;
            let d = &config.disks[index];
            let path = d.source.clone().unwrap_or_default();
            if let Some(top) = top.filter(|t| resolved(t) != resolved(&path)) {
                // Below the active layer: done when the call returns.
                if obj_has_job(reg.domain(uuid).expect("checked"), &d.target_dev) {
                    return Err(invalid(format!(
                        "disk '{}' already in active block job",
                        d.target_dev
                    )));
                }
                let commit = super::restack::CommitBelow {
                    top,
                    base,
                    delete: flags & block_flags::COMMIT_DELETE != 0,
                };
                let job = self.commit_below_active(reg, uuid, &config, index, commit)?;
                let obj = reg.domain(uuid).expect("checked");
                self.emit_block_job(obj, uuid, &job, block_job_status::COMPLETED);
                return Ok(());
            }
            if flags & block_flags::COMMIT_ACTIVE == 0 {
                return Err(Error::api(
                    ErrorCode::INVALID_ARG,
                    format!(
                        "commit of '{}' includes the active layer: --active is required",
                        d.target_dev
                    ),
                ));
            }
            let Some((below, format)) = backing_of(&path) else {
                return Err(Error::api(
                    ErrorCode::INVALID_ARG,
                    format!(
                        "top '{path}' in chain for '{}' has no backing file",
                        d.target_dev
                    ),
                ));
            };
            if base.is_some_and(|b| resolved(b) != resolved(&below)) {
                return Err(Error::api(
                    ErrorCode::OPERATION_UNSUPPORTED,
                    format!(
                        "only the image right below the active layer ({below}) can be the base \
                         of a commit of '{}'",
                        d.target_dev
                    ),
                ));
            }
            // libvirt would let the image under a snapshot change; its
            // snapshot would then no longer be what it recorded.
            let obj = reg.domain(uuid).expect("checked");
            if super::snapshot_disks::snapshot_images(self, reg, obj).contains(&resolved(&below)) {
                return Err(invalid(format!(
                    "{below} holds a snapshot of domain '{}': committing into it would change \
                     the snapshot; delete the snapshot instead (which merges its overlay)",
                    obj.name()
                )));
            }
            let size = super::backing::virtual_size(&path, Some("qcow2"));
            self.start_job(
                reg,
                uuid,
                BlockJob {
                    target: d.target_dev.clone(),
                    path,
                    job_type: block_job_type::ACTIVE_COMMIT,
                    dest: below,
                    dest_format: format.unwrap_or_else(|| "raw".into()),
                    shallow: false,
                    delete: flags & block_flags::COMMIT_DELETE != 0,
                    made: false,
                    // Recorded in bytes per second, as the job reports it.
                    bandwidth: if flags & block_flags::COMMIT_BANDWIDTH_BYTES != 0 {
                        bandwidth
                    } else {
                        bandwidth.saturating_mul(1 << 20)
                    },
                    size,
                    mirrored: false,
                    ready: false,
                },
            )
        })
    }

    fn domain_block_copy(
        &self,
        dom: &DomainRef,
        disk: &str,
        dest_xml: &str,
        params: &[(String, StatValue)],
        flags: u32,
    ) -> Result<()> {
        // VIR_DOMAIN_BLOCK_COPY_BANDWIDTH, bytes per second.
        let bandwidth = params
            .iter()
            .find(|(k, _)| k == "bandwidth")
            .map(|(_, v)| match v {
                StatValue::ULLong(b) => *b,
                StatValue::UInt(b) => u64::from(*b),
                StatValue::Int(b) => u64::try_from(*b).unwrap_or(0),
                StatValue::String(_) => 0,
            })
            .unwrap_or(0);
        check_flags(
            flags,
            block_flags::COPY_SHALLOW
                | block_flags::COPY_REUSE_EXT
                | block_flags::COPY_TRANSIENT_JOB
                | block_flags::COPY_SYNCHRONOUS_WRITES,
            "virDomainBlockCopy",
        )?;
        let dest = Element::parse(dest_xml, "disk")?;
        let dest_path = dest
            .child("source")
            .and_then(|s| s.attr("file").or_else(|| s.attr("dev")))
            .map(String::from)
            .ok_or_else(|| {
                Error::api(
                    ErrorCode::XML_ERROR,
                    "the destination <disk> has no <source file=...>",
                )
            })?;
        let hv = self.hv();
        self.with(dom, |reg, uuid| {
            let config = self.running(reg, uuid)?;
            let index = find_disk(&config, disk)?;
            let d = &config.disks[index];
            let path = d.source.clone().unwrap_or_default();
            let format = dest
                .child("driver")
                .and_then(|e| e.attr("type"))
                .map(String::from)
                .or_else(|| d.format.clone())
                .unwrap_or_else(|| "raw".into());
            let reuse = flags & block_flags::COPY_REUSE_EXT != 0;
            let below = backing_of(&path);
            let shallow = flags & block_flags::COPY_SHALLOW != 0 && below.is_some();
            if shallow && format != "qcow2" {
                return Err(Error::api(
                    ErrorCode::CONFIG_UNSUPPORTED,
                    "a shallow copy needs a qcow2 destination (an overlay over the same backing file)",
                ));
            }
            let size = super::backing::virtual_size(&path, d.format.as_deref());
            let exists = Path::new(&dest_path).exists();
            match (reuse, exists) {
                (false, true) => {
                    return Err(Error::api(
                        ErrorCode::CONFIG_UNSUPPORTED,
                        format!("destination file {dest_path} exists (use --reuse-external)"),
                    ));
                }
                (true, false) => {
                    return Err(Error::api(
                        ErrorCode::INVALID_ARG,
                        format!("missing destination file for disk {}: {dest_path}", d.target_dev),
                    ));
                }
                _ => {}
            }
            if !reuse {
                match (&below, shallow) {
                    (Some((backing, backing_format)), true) => hv.create_overlay(
                        &dest_path,
                        backing,
                        backing_format.as_deref().unwrap_or("raw"),
                    )?,
                    _ => hv.create_image(&dest_path, &format, size)?,
                }
            }
            let started = self.start_job(
                reg,
                uuid,
                BlockJob {
                    target: d.target_dev.clone(),
                    path,
                    job_type: block_job_type::COPY,
                    dest: dest_path.clone(),
                    dest_format: format,
                    shallow,
                    delete: false,
                    made: !reuse,
                    bandwidth,
                    size,
                    mirrored: false,
                    ready: false,
                },
            );
            if started.is_err() && !reuse {
                let _ = std::fs::remove_file(&dest_path);
            }
            started
        })
    }

    fn domain_block_rebase(
        &self,
        dom: &DomainRef,
        disk: &str,
        base: Option<&str>,
        _bandwidth: u64,
        flags: u32,
    ) -> Result<()> {
        // virDomainBlockRebase's COPY (virsh's blockcopy without --format
        // or --xml): the older spelling of a block copy to `base`.
        const SHALLOW: u32 = 1;
        const REUSE_EXT: u32 = 2;
        const COPY_RAW: u32 = 4;
        const COPY: u32 = 8;
        if flags & COPY != 0 {
            check_flags(
                flags,
                SHALLOW | REUSE_EXT | COPY_RAW | COPY,
                "virDomainBlockRebase",
            )?;
            let dest = base.ok_or_else(|| {
                Error::api(ErrorCode::INVALID_ARG, "a block copy needs a destination")
            })?;
            let format = if flags & COPY_RAW != 0 {
                Some("raw".to_string())
            } else {
                self.with(dom, |reg, uuid| {
                    let config = self.running(reg, uuid)?;
                    let index = find_disk(&config, disk)?;
                    Ok(config.disks[index].format.clone())
                })?
            };
            let driver = format.map_or(String::new(), |f| {
                format!("<driver type='{}'/>", crate::xml::tree::escape_attr(&f))
            });
            let xml = format!(
                "<disk type='file'>{driver}<source file='{}'/></disk>",
                crate::xml::tree::escape_attr(dest)
            );
            let mut copy_flags = 0;
            if flags & SHALLOW != 0 {
                copy_flags |= block_flags::COPY_SHALLOW;
            }
            if flags & REUSE_EXT != 0 {
                copy_flags |= block_flags::COPY_REUSE_EXT;
            }
            return self.domain_block_copy(dom, disk, &xml, &[], copy_flags);
        }
        check_flags(flags, 0, "virDomainBlockRebase")?;
        if let Some(base) = base {
            return self.with(dom, |reg, uuid| {
                let config = self.running(reg, uuid)?;
                let index = find_disk(&config, disk)?;
                let target = config.disks[index].target_dev.clone();
                if obj_has_job(reg.domain(uuid).expect("checked"), &target) {
                    return Err(invalid(format!(
                        "disk '{target}' already in active block job"
                    )));
                }
                let job = self.pull_to_base(reg, uuid, &config, index, base)?;
                let obj = reg.domain(uuid).expect("checked");
                self.emit_block_job(obj, uuid, &job, block_job_status::COMPLETED);
                Ok(())
            });
        }
        let hv = self.hv();
        self.with(dom, |reg, uuid| {
            let config = self.running(reg, uuid)?;
            let index = find_disk(&config, disk)?;
            let d = &config.disks[index];
            let target = d.target_dev.clone();
            if job_of(reg.domain(uuid).expect("checked"), &target).is_some() {
                return Err(invalid(format!(
                    "disk '{target}' already in active block job"
                )));
            }
            let path = d.source.clone().unwrap_or_default();
            if backing_of(&path).is_none() {
                // Nothing below the image: nothing to pull.
                return Ok(());
            }
            // The chain's data copied into a new image of its own, which
            // then takes the top image's place (same path, no backing
            // file): what a pull leaves, in one copy with the guest held.
            let size = super::backing::virtual_size(&path, Some("qcow2"));
            let staged = format!("{path}.pull-{}", std::process::id());
            hv.create_image(&staged, "qcow2", size)?;
            let obj = reg.domain(uuid).expect("checked");
            let mut dest = obj.live.clone().expect("active");
            super::snapshot_disks::point_disk_at(&mut dest, &target, &staged, "qcow2");
            let dest_config = self.driver_config(reg, &dest, obj.id)?;
            if let Err(e) = hv.block_copy(&config, index, &dest_config, false, true) {
                let _ = std::fs::remove_file(&staged);
                return Err(e.into());
            }
            // The guest runs on the staged image now; its name becomes the
            // top's, whose old image nothing reads any more.
            std::fs::rename(&staged, &path).map_err(|e| {
                Error::api(
                    ErrorCode::OPERATION_FAILED,
                    format!("cannot move {staged} to {path}: {e}"),
                )
            })?;
            let job = BlockJob {
                target,
                path,
                job_type: block_job_type::PULL,
                dest: String::new(),
                dest_format: "qcow2".into(),
                shallow: false,
                delete: false,
                made: false,
                bandwidth: 0,
                size,
                mirrored: false,
                ready: false,
            };
            let obj = reg.domain(uuid).expect("checked");
            self.emit_block_job(obj, uuid, &job, block_job_status::COMPLETED);
            Ok(())
        })
    }

    fn domain_block_job_info(
        &self,
        dom: &DomainRef,
        disk: &str,
        flags: u32,
    ) -> Result<Option<BlockJobInfo>> {
        check_flags(
            flags,
            block_flags::BANDWIDTH_BYTES,
            "virDomainGetBlockJobInfo",
        )?;
        self.with(dom, |reg, uuid| {
            let config = self.running(reg, uuid)?;
            let index = find_disk(&config, disk)?;
            let obj = reg.domain(uuid).expect("checked");
            let Some(j) = job_of(obj, &config.disks[index].target_dev).cloned() else {
                return Ok(None);
            };
            let (cur, end) = if j.mirrored {
                match self.mirror_progress(reg, uuid, index, &j)? {
                    Some(progress) => progress,
                    None => return Ok(None),
                }
            } else {
                // Ready: the data moves when the job ends.
                (j.size, j.size)
            };
            Ok(Some(BlockJobInfo {
                job_type: j.job_type,
                bandwidth: if flags & block_flags::BANDWIDTH_BYTES != 0 {
                    j.bandwidth
                } else {
                    j.bandwidth >> 20
                },
                cur,
                end,
            }))
        })
    }

    fn domain_block_job_abort(&self, dom: &DomainRef, disk: &str, flags: u32) -> Result<()> {
        check_flags(
            flags,
            block_flags::ABORT_ASYNC | block_flags::ABORT_PIVOT,
            "virDomainBlockJobAbort",
        )?;
        let hv = self.hv();
        let state = &self.state;
        self.with(dom, |reg, uuid| {
            let config = self.running(reg, uuid)?;
            let index = find_disk(&config, disk)?;
            let target = config.disks[index].target_dev.clone();
            let obj = reg.domain(uuid).expect("checked");
            let job = job_of(obj, &target)
                .cloned()
                .ok_or_else(|| invalid(format!("disk '{target}' has no active block job")))?;
            let pivot = flags & block_flags::ABORT_PIVOT != 0;
            let (mut live, mut persistent) = (obj.live.clone(), obj.config.clone());
            // A mirror ends by the driver: with the guest's last writes
            // (finish) once ready, or where it is (cancel) before.
            let mirror_ready = if job.mirrored {
                let ready = hv.mirror_status(&uuid.to_string(), index)?.ready;
                if pivot && !ready {
                    return Err(invalid(format!(
                        "block job on disk '{target}' is not ready yet: it cannot pivot"
                    )));
                }
                if ready {
                    hv.mirror_finish(&uuid.to_string(), index, pivot)?;
                } else {
                    hv.mirror_cancel(&uuid.to_string(), index)?;
                }
                Some(ready)
            } else {
                None
            };
            let obj = reg.domain(uuid).expect("checked");
            let status = match (job.job_type, pivot) {
                (block_job_type::ACTIVE_COMMIT, true) => {
                    let def = live.as_mut().expect("active");
                    super::snapshot_disks::point_disk_at(def, &target, &job.dest, &job.dest_format);
                    if mirror_ready.is_none() {
                        let moved = self.driver_config(reg, def, obj.id)?;
                        hv.commit_active(&moved, index, &job.path)?;
                    }
                    if let Some(def) = persistent.as_mut() {
                        super::snapshot_disks::point_disk_at(
                            def,
                            &target,
                            &job.dest,
                            &job.dest_format,
                        );
                    }
                    if job.delete {
                        let _ = std::fs::remove_file(&job.path);
                    }
                    block_job_status::COMPLETED
                }
                // Cancelled before its first pass was over.
                (block_job_type::COPY, _) if mirror_ready == Some(false) => {
                    if job.made {
                        let _ = std::fs::remove_file(&job.dest);
                    }
                    block_job_status::CANCELED
                }
                (block_job_type::COPY, _) => {
                    let mut dest = live.clone().expect("active");
                    super::snapshot_disks::point_disk_at(
                        &mut dest,
                        &target,
                        &job.dest,
                        &job.dest_format,
                    );
                    if mirror_ready.is_none() {
                        let dest_config = self.driver_config(reg, &dest, obj.id)?;
                        hv.block_copy(&config, index, &dest_config, job.shallow, pivot)?;
                    }
                    if pivot {
                        live = Some(dest);
                        // libvirt's copy jobs run on transient domains; a
                        // persistent one keeps its configured disk.
                    }
                    block_job_status::COMPLETED
                }
                _ => block_job_status::CANCELED,
            };
            let obj = reg.domain_mut(uuid).expect("checked");
            obj.block_jobs.retain(|j| j.target != target);
            obj.live = live;
            obj.config = persistent;
            reg.record_runtime(uuid)?;
            persist(state, reg, uuid)?;
            let obj = reg.domain(uuid).expect("checked");
            let status =
                if job.job_type == block_job_type::COPY && !pivot && mirror_ready != Some(false) {
                    // A copy ended without a pivot is complete: `--finish`.
                    block_job_status::COMPLETED
                } else {
                    status
                };
            self.emit_block_job(obj, uuid, &job, status);
            Ok(())
        })
    }

    fn domain_block_job_set_speed(
        &self,
        dom: &DomainRef,
        disk: &str,
        bandwidth: u64,
        flags: u32,
    ) -> Result<()> {
        check_flags(
            flags,
            block_flags::BANDWIDTH_BYTES,
            "virDomainBlockJobSetSpeed",
        )?;
        self.with(dom, |reg, uuid| {
            let config = self.running(reg, uuid)?;
            let index = find_disk(&config, disk)?;
            let target = config.disks[index].target_dev.clone();
            let obj = reg.domain_mut(uuid).expect("checked");
            let job = obj
                .block_jobs
                .iter_mut()
                .find(|j| j.target == target)
                .ok_or_else(|| invalid(format!("disk '{target}' has no active block job")))?;
            job.bandwidth = if flags & block_flags::BANDWIDTH_BYTES != 0 {
                bandwidth
            } else {
                bandwidth << 20
            };
            if job.mirrored {
                // The copy under way slows down or speeds up now.
                self.hv()
                    .mirror_set_speed(&uuid.to_string(), index, job.bandwidth)?;
            }
            reg.record_runtime(uuid)?;
            Ok(())
        })
    }

    fn domain_block_resize(
        &self,
        dom: &DomainRef,
        disk: &str,
        size: u64,
        flags: u32,
    ) -> Result<()> {
        check_flags(flags, block_flags::RESIZE_BYTES, "virDomainBlockResize")?;
        let bytes = if flags & block_flags::RESIZE_BYTES != 0 {
            size
        } else {
            size.checked_mul(1024).ok_or_else(|| {
                Error::api(
                    ErrorCode::INVALID_ARG,
                    format!("size {size} KiB is too large"),
                )
            })?
        };
        // As libvirt's qemu driver does, a size in bytes is rounded up to
        // whole sectors.
        let bytes = bytes.div_ceil(512) * 512;
        let hv = self.hv();
        self.with(dom, |reg, uuid| {
            let config = self.running(reg, uuid)?;
            let index = find_disk(&config, disk)?;
            let d = &config.disks[index];
            let path = d.source.clone().unwrap_or_default();
            let now = super::backing::virtual_size(&path, d.format.as_deref());
            if bytes < now {
                return Err(Error::api(
                    ErrorCode::INVALID_ARG,
                    format!(
                        "invalid argument: can't shrink disk '{}' from {now} to {bytes} bytes",
                        d.target_dev
                    ),
                ));
            }
            if obj_has_job(reg.domain(uuid).expect("checked"), &d.target_dev) {
                return Err(invalid(format!(
                    "disk '{}' already in active block job",
                    d.target_dev
                )));
            }
            hv.block_resize(&config, index, bytes)?;
            Ok(())
        })
    }

    fn block_job_events(&self) -> Result<EventStream<BlockJobEvent>> {
        Ok(self.state.block_job_events.subscribe())
    }

    fn device_events(&self) -> Result<EventStream<crate::events::DeviceEvent>> {
        Ok(self.state.device_events.subscribe())
    }
}
