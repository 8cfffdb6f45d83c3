//! Migration jobs as the API reports them: the last completed one
//! (`domjobinfo --completed`) and its job-completed event, the one under
//! way (`domjobinfo`, `domjobabort`), and the per-domain max-downtime and
//! speed settings.

use std::time::Instant;

use uuid::Uuid;

use super::{DEFAULT_MAX_DOWNTIME_MS, invalid};
use crate::connect::{
    DomainRef, Error, JobCompletedEvent, JobStats, Result, StatValue, check_flags, job_flags,
};
use crate::driver::{MigrateProgress, MigrationStats};
use crate::error::ErrorCode;
use crate::events::EventStream;
use crate::local::Local;

/// A finished migration, for `domjobinfo --completed`.
pub(super) struct Completed {
    pub(super) incoming: bool,
    pub(super) elapsed_ms: u64,
    /// The transfer's figures (none when simulated).
    pub(super) stats: Option<MigrationStats>,
}

/// `VIR_DOMAIN_JOB_*` types.
const JOB_NONE: i32 = 0;
const JOB_UNBOUNDED: i32 = 2;
const JOB_COMPLETED: i32 = 3;
/// `VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN` / `_OUT`.
const OPERATION_MIGRATION_IN: i32 = 4;
const OPERATION_MIGRATION_OUT: i32 = 5;

impl Completed {
    /// libvirt's job statistics for it.
    pub(super) fn params(&self) -> Vec<(String, StatValue)> {
        let operation = if self.incoming {
            OPERATION_MIGRATION_IN
        } else {
            OPERATION_MIGRATION_OUT
        };
        let mut p = vec![
            ("operation".to_string(), StatValue::Int(operation)),
            (
                "time_elapsed".to_string(),
                StatValue::ULLong(self.elapsed_ms),
            ),
        ];
        if let Some(s) = &self.stats {
            let ull = |k: &str, v: u64| (k.to_string(), StatValue::ULLong(v));
            p.extend([
                // libvirt counts whole milliseconds; a pause is never 0.
                ull("downtime", s.downtime_ms.ceil() as u64),
                ull("data_total", s.memory_bytes),
                ull("data_processed", s.bytes_sent),
                ull("data_remaining", 0),
                ull("memory_total", s.memory_bytes),
                ull("memory_processed", s.bytes_sent),
                ull("memory_remaining", 0),
                ull("memory_iteration", s.rounds),
            ]);
        }
        p
    }
}

/// libvirt's statistics of a migration under way.
fn progress_params(p: &MigrateProgress) -> Vec<(String, StatValue)> {
    let ull = |k: &str, v: u64| (k.to_string(), StatValue::ULLong(v));
    let processed = p.bytes_sent;
    vec![
        ull("data_total", p.memory_bytes),
        ull("data_processed", processed),
        ull("data_remaining", p.remaining_bytes),
        ull("memory_total", p.memory_bytes),
        ull("memory_processed", processed),
        ull("memory_remaining", p.remaining_bytes),
        ull("memory_dirty_rate", p.dirty_rate_pages_s),
        ull("memory_iteration", p.rounds),
        // Expected, while the job runs.
        ull("downtime", p.expected_downtime_ms),
    ]
}

impl Local {
    /// The source's migration out of `uuid` is over: its job-completed
    /// event, with the figures Perform recorded.
    pub(super) fn job_completed(&self, uuid: &Uuid, name: &str, id: i32) {
        let jobs = self.jobs();
        if let Some(c) = jobs.completed.get(uuid) {
            jobs.job_events.emit(JobCompletedEvent {
                name: name.to_string(),
                uuid: *uuid,
                id,
                params: c.params(),
            });
        }
    }

    pub(crate) fn job_completed_events(&self) -> EventStream<JobCompletedEvent> {
        self.jobs().job_events.subscribe()
    }

    pub(crate) fn migrate_max_downtime(&self, dom: &DomainRef) -> Result<u64> {
        self.with(dom, |_, uuid| {
            Ok(self
                .jobs()
                .max_downtime_ms
                .get(uuid)
                .copied()
                .unwrap_or(DEFAULT_MAX_DOWNTIME_MS))
        })
    }

    pub(crate) fn migrate_set_max_downtime(&self, dom: &DomainRef, ms: u64) -> Result<()> {
        if ms == 0 {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                "migration downtime must be greater than 0",
            ));
        }
        self.with(dom, |_, uuid| {
            self.jobs().max_downtime_ms.insert(*uuid, ms);
            Ok(())
        })
    }

    pub(crate) fn migrate_max_speed(&self, dom: &DomainRef) -> Result<u64> {
        self.with(dom, |_, uuid| {
            Ok(self.jobs().max_speed_mib_s.get(uuid).copied().unwrap_or(0))
        })
    }

    pub(crate) fn migrate_set_max_speed(&self, dom: &DomainRef, mib_s: u64) -> Result<()> {
        self.with(dom, |_, uuid| {
            self.jobs().max_speed_mib_s.insert(*uuid, mib_s);
            Ok(())
        })
    }

    /// A suspend while the domain migrates out (virsh's
    /// `--timeout-suspend`) pauses it at the end of the current round and
    /// sends the rest, as libvirt pauses vCPUs under a migration so it
    /// converges; the state becomes paused: migration then, as at any
    /// migration's end. False when no migration is under way.
    pub(crate) fn converge_migration(&self, dom: &DomainRef) -> bool {
        if self.simulated() || !self.jobs().outgoing.contains_key(&dom.uuid) {
            return false;
        }
        self.hv().migrate_converge(&dom.uuid.to_string()).is_ok()
    }

    pub(crate) fn abort_job(&self, dom: &DomainRef) -> Result<()> {
        self.with(dom, |_, uuid| {
            if !self.jobs().outgoing.contains_key(uuid) || self.simulated() {
                // A simulated migration has nothing under way to abort.
                return Err(invalid("no job is active on the domain"));
            }
            Ok(())
        })?;
        Ok(self.hv().migrate_abort(&dom.uuid.to_string())?)
    }

    pub(crate) fn job_stats(&self, dom: &DomainRef, flags: u32) -> Result<JobStats> {
        check_flags(
            flags,
            job_flags::COMPLETED | job_flags::KEEP_COMPLETED,
            "virDomainGetJobStats",
        )?;
        self.with(dom, |_, uuid| {
            let jobs = self.jobs();
            if flags & job_flags::COMPLETED != 0 {
                return Ok(match jobs.completed.get(uuid) {
                    Some(c) => JobStats {
                        job_type: JOB_COMPLETED,
                        params: c.params(),
                    },
                    None => JobStats::default(),
                });
            }
            let running = |op: i32, began: &Instant| JobStats {
                job_type: JOB_UNBOUNDED,
                params: vec![
                    ("operation".to_string(), StatValue::Int(op)),
                    (
                        "time_elapsed".to_string(),
                        StatValue::ULLong(began.elapsed().as_millis() as u64),
                    ),
                ],
            };
            if let Some(began) = jobs.outgoing.get(uuid) {
                let mut job = running(OPERATION_MIGRATION_OUT, began);
                if let Some(p) = self.hv().migrate_progress(&uuid.to_string()) {
                    job.params.extend(progress_params(&p));
                }
                return Ok(job);
            }
            if let Some(inc) = jobs.incoming.get(uuid) {
                return Ok(running(OPERATION_MIGRATION_IN, &inc.began));
            }
            Ok(JobStats {
                job_type: JOB_NONE,
                params: Vec::new(),
            })
        })
    }
}
