//! Block jobs through a daemon.

use wirt::connect::{BlockJobBackend, BlockJobInfo, DomainRef, Result, StatValue};

use super::RemoteConn;
use crate::protocol::*;
use crate::refs::wire_domain;

impl BlockJobBackend for RemoteConn {
    fn domain_block_commit(
        &self,
        dom: &DomainRef,
        disk: &str,
        base: Option<&str>,
        top: Option<&str>,
        bandwidth: u64,
        flags: u32,
    ) -> Result<()> {
        let args = DomainBlockCommitArgs {
            dom: wire_domain(dom),
            disk: disk.to_string(),
            base: base.map(String::from),
            top: top.map(String::from),
            bandwidth,
            flags,
        };
        self.call::<_, ()>(REMOTE_PROC_DOMAIN_BLOCK_COMMIT, &args)?;
        Ok(())
    }

    fn domain_block_copy(
        &self,
        dom: &DomainRef,
        disk: &str,
        dest_xml: &str,
        params: &[(String, StatValue)],
        flags: u32,
    ) -> Result<()> {
        let args = DomainBlockCopyArgs {
            dom: wire_domain(dom),
            path: disk.to_string(),
            destxml: dest_xml.to_string(),
            params: params
                .iter()
                .map(|(field, value)| TypedParam {
                    field: field.clone(),
                    value: match value {
                        StatValue::Int(v) => TypedParamValue::Int(*v),
                        StatValue::UInt(v) => TypedParamValue::Uint(*v),
                        StatValue::ULLong(v) => TypedParamValue::Ullong(*v),
                        StatValue::String(v) => TypedParamValue::String(v.clone()),
                    },
                })
                .collect(),
            flags,
        };
        self.call::<_, ()>(REMOTE_PROC_DOMAIN_BLOCK_COPY, &args)?;
        Ok(())
    }

    fn domain_block_rebase(
        &self,
        dom: &DomainRef,
        disk: &str,
        base: Option<&str>,
        bandwidth: u64,
        flags: u32,
    ) -> Result<()> {
        let args = DomainBlockRebaseArgs {
            dom: wire_domain(dom),
            path: disk.to_string(),
            base: base.map(String::from),
            bandwidth,
            flags,
        };
        self.call::<_, ()>(REMOTE_PROC_DOMAIN_BLOCK_REBASE, &args)?;
        Ok(())
    }

    fn domain_block_job_info(
        &self,
        dom: &DomainRef,
        disk: &str,
        flags: u32,
    ) -> Result<Option<BlockJobInfo>> {
        let args = DomainGetBlockJobInfoArgs {
            dom: wire_domain(dom),
            path: disk.to_string(),
            flags,
        };
        let r: DomainGetBlockJobInfoRet =
            self.call(REMOTE_PROC_DOMAIN_GET_BLOCK_JOB_INFO, &args)?;
        Ok((r.found != 0).then_some(BlockJobInfo {
            job_type: r.r#type,
            bandwidth: r.bandwidth,
            cur: r.cur,
            end: r.end,
        }))
    }

    fn domain_block_job_abort(&self, dom: &DomainRef, disk: &str, flags: u32) -> Result<()> {
        let args = DomainBlockJobAbortArgs {
            dom: wire_domain(dom),
            path: disk.to_string(),
            flags,
        };
        self.call::<_, ()>(REMOTE_PROC_DOMAIN_BLOCK_JOB_ABORT, &args)?;
        Ok(())
    }

    fn domain_block_job_set_speed(
        &self,
        dom: &DomainRef,
        disk: &str,
        bandwidth: u64,
        flags: u32,
    ) -> Result<()> {
        let args = DomainBlockJobSetSpeedArgs {
            dom: wire_domain(dom),
            path: disk.to_string(),
            bandwidth,
            flags,
        };
        self.call::<_, ()>(REMOTE_PROC_DOMAIN_BLOCK_JOB_SET_SPEED, &args)?;
        Ok(())
    }

    fn domain_block_resize(
        &self,
        dom: &DomainRef,
        disk: &str,
        size: u64,
        flags: u32,
    ) -> Result<()> {
        let args = DomainBlockResizeArgs {
            dom: wire_domain(dom),
            disk: disk.to_string(),
            size,
            flags,
        };
        self.call::<_, ()>(REMOTE_PROC_DOMAIN_BLOCK_RESIZE, &args)?;
        Ok(())
    }

    fn device_events(&self) -> Result<wirt::events::EventStream<wirt::events::DeviceEvent>> {
        Ok(self.subscribe_devices()?)
    }

    fn block_job_events(&self) -> Result<wirt::events::EventStream<wirt::events::BlockJobEvent>> {
        Ok(self.subscribe_block_jobs()?)
    }
}
