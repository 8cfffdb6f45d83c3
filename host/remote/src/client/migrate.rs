//! Migration over the wire: the v3 procedures with parameters, one call
//! per step, and the downtime and speed settings.

use super::RemoteConn;
use crate::migrate_params::to_wire;
use crate::protocol::*;
use crate::refs::{self, wire_domain};
use wirt::connect::{Begun, DomainRef, JobStats, MigrateParams, Prepared, Result};

impl RemoteConn {
    pub(super) fn migrate_begin(
        &self,
        dom: &DomainRef,
        params: &MigrateParams,
        flags: u32,
    ) -> Result<Begun> {
        let args = DomainMigrateBegin3ParamsArgs {
            dom: wire_domain(dom),
            params: to_wire(params),
            flags,
        };
        let ret: DomainMigrateBegin3ParamsRet =
            self.call(REMOTE_PROC_DOMAIN_MIGRATE_BEGIN3_PARAMS, &args)?;
        Ok(Begun {
            cookie: ret.cookie_out,
            xml: ret.xml,
        })
    }

    pub(super) fn migrate_prepare(
        &self,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
    ) -> Result<Prepared> {
        let args = DomainMigratePrepare3ParamsArgs {
            params: to_wire(params),
            cookie_in: cookie.to_vec(),
            flags,
        };
        let ret: DomainMigratePrepare3ParamsRet =
            self.call(REMOTE_PROC_DOMAIN_MIGRATE_PREPARE3_PARAMS, &args)?;
        Ok(Prepared {
            cookie: ret.cookie_out,
            uri: ret.uri_out,
        })
    }

    pub(super) fn migrate_perform(
        &self,
        dom: &DomainRef,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
    ) -> Result<Vec<u8>> {
        let args = DomainMigratePerform3ParamsArgs {
            dom: wire_domain(dom),
            dconnuri: None,
            params: to_wire(params),
            cookie_in: cookie.to_vec(),
            flags,
        };
        let ret: DomainMigratePerform3ParamsRet =
            self.call(REMOTE_PROC_DOMAIN_MIGRATE_PERFORM3_PARAMS, &args)?;
        Ok(ret.cookie_out)
    }

    /// A peer-to-peer migration: one Perform naming the destination; the
    /// daemon drives the rest itself.
    pub(super) fn migrate_p2p(
        &self,
        dom: &DomainRef,
        dconnuri: &str,
        params: &MigrateParams,
        flags: u32,
    ) -> Result<()> {
        let args = DomainMigratePerform3ParamsArgs {
            dom: wire_domain(dom),
            dconnuri: Some(dconnuri.to_string()),
            params: to_wire(params),
            cookie_in: Vec::new(),
            flags,
        };
        let _: DomainMigratePerform3ParamsRet =
            self.call(REMOTE_PROC_DOMAIN_MIGRATE_PERFORM3_PARAMS, &args)?;
        Ok(())
    }

    pub(super) fn migrate_finish(
        &self,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
        cancelled: bool,
    ) -> Result<(DomainRef, Vec<u8>)> {
        let args = DomainMigrateFinish3ParamsArgs {
            params: to_wire(params),
            cookie_in: cookie.to_vec(),
            flags,
            cancelled: i32::from(cancelled),
        };
        let ret: DomainMigrateFinish3ParamsRet =
            self.call(REMOTE_PROC_DOMAIN_MIGRATE_FINISH3_PARAMS, &args)?;
        Ok((refs::domain(ret.dom), ret.cookie_out))
    }

    pub(super) fn migrate_confirm(
        &self,
        dom: &DomainRef,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
        cancelled: bool,
    ) -> Result<()> {
        let args = DomainMigrateConfirm3ParamsArgs {
            dom: wire_domain(dom),
            params: to_wire(params),
            cookie_in: cookie.to_vec(),
            flags,
            cancelled: i32::from(cancelled),
        };
        Ok(self.call::<_, ()>(REMOTE_PROC_DOMAIN_MIGRATE_CONFIRM3_PARAMS, &args)?)
    }

    pub(super) fn migrate_max_downtime(&self, dom: &DomainRef) -> Result<u64> {
        let args = DomainMigrateGetMaxDowntimeArgs {
            dom: wire_domain(dom),
            flags: 0,
        };
        let ret: DomainMigrateGetMaxDowntimeRet =
            self.call(REMOTE_PROC_DOMAIN_MIGRATE_GET_MAX_DOWNTIME, &args)?;
        Ok(ret.downtime)
    }

    pub(super) fn migrate_set_max_downtime(&self, dom: &DomainRef, ms: u64) -> Result<()> {
        let args = DomainMigrateSetMaxDowntimeArgs {
            dom: wire_domain(dom),
            downtime: ms,
            flags: 0,
        };
        Ok(self.call::<_, ()>(REMOTE_PROC_DOMAIN_MIGRATE_SET_MAX_DOWNTIME, &args)?)
    }

    pub(super) fn migrate_max_speed(&self, dom: &DomainRef) -> Result<u64> {
        let args = DomainMigrateGetMaxSpeedArgs {
            dom: wire_domain(dom),
            flags: 0,
        };
        let ret: DomainMigrateGetMaxSpeedRet =
            self.call(REMOTE_PROC_DOMAIN_MIGRATE_GET_MAX_SPEED, &args)?;
        Ok(ret.bandwidth)
    }

    pub(super) fn migrate_set_max_speed(&self, dom: &DomainRef, mib_s: u64) -> Result<()> {
        let args = DomainMigrateSetMaxSpeedArgs {
            dom: wire_domain(dom),
            bandwidth: mib_s,
            flags: 0,
        };
        Ok(self.call::<_, ()>(REMOTE_PROC_DOMAIN_MIGRATE_SET_MAX_SPEED, &args)?)
    }

    pub(super) fn job_stats(&self, dom: &DomainRef, flags: u32) -> Result<JobStats> {
        let args = DomainGetJobStatsArgs {
            dom: wire_domain(dom),
            flags,
        };
        let ret: DomainGetJobStatsRet = self.call(REMOTE_PROC_DOMAIN_GET_JOB_STATS, &args)?;
        Ok(JobStats {
            job_type: ret.r#type,
            params: super::stats::values(ret.params),
        })
    }

    pub(super) fn abort_job(&self, dom: &DomainRef) -> Result<()> {
        let args = DomainAbortJobArgs {
            dom: wire_domain(dom),
        };
        Ok(self.call::<_, ()>(REMOTE_PROC_DOMAIN_ABORT_JOB, &args)?)
    }
}
