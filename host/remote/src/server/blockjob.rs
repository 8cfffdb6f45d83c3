//! Block job procedures: commit, copy, rebase/pull, job info, abort,
//! speed, resize.

use super::handles::domain;
use super::wire::Routed;
use crate::protocol::*;
use wirt::connect::{Connect, StatValue};

fn stat(value: &TypedParamValue) -> Option<StatValue> {
    Some(match value {
        TypedParamValue::Int(v) => StatValue::Int(*v),
        TypedParamValue::Uint(v) => StatValue::UInt(*v),
        TypedParamValue::Ullong(v) => StatValue::ULLong(*v),
        TypedParamValue::Llong(v) => StatValue::ULLong(u64::try_from(*v).ok()?),
        TypedParamValue::String(v) => StatValue::String(v.clone()),
        _ => return None,
    })
}

pub(super) fn dispatch(conn: &Connect, call: Call) -> Routed {
    let result =
        match call {
            Call::DomainBlockCommit(a) => domain(conn, a.dom)
                .block_commit(
                    &a.disk,
                    a.base.as_deref(),
                    a.top.as_deref(),
                    a.bandwidth,
                    a.flags,
                )
                .map(|()| Reply::DomainBlockCommit(())),
            Call::DomainBlockCopy(a) => {
                let params: Vec<(String, StatValue)> = a
                    .params
                    .iter()
                    .filter_map(|p| Some((p.field.clone(), stat(&p.value)?)))
                    .collect();
                domain(conn, a.dom)
                    .block_copy(&a.path, &a.destxml, &params, a.flags)
                    .map(|()| Reply::DomainBlockCopy(()))
            }
            Call::DomainBlockRebase(a) => domain(conn, a.dom)
                .block_rebase(&a.path, a.base.as_deref(), a.bandwidth, a.flags)
                .map(|()| Reply::DomainBlockRebase(())),
            Call::DomainBlockPull(a) => domain(conn, a.dom)
                .block_rebase(&a.path, None, a.bandwidth, a.flags)
                .map(|()| Reply::DomainBlockPull(())),
            Call::DomainGetBlockJobInfo(a) => domain(conn, a.dom)
                .block_job_info(&a.path, a.flags)
                .map(|info| {
                    Reply::DomainGetBlockJobInfo(match info {
                        Some(i) => DomainGetBlockJobInfoRet {
                            found: 1,
                            r#type: i.job_type,
                            bandwidth: i.bandwidth,
                            cur: i.cur,
                            end: i.end,
                        },
                        None => DomainGetBlockJobInfoRet::default(),
                    })
                }),
            Call::DomainBlockJobAbort(a) => domain(conn, a.dom)
                .block_job_abort(&a.path, a.flags)
                .map(|()| Reply::DomainBlockJobAbort(())),
            Call::DomainBlockJobSetSpeed(a) => domain(conn, a.dom)
                .block_job_set_speed(&a.path, a.bandwidth, a.flags)
                .map(|()| Reply::DomainBlockJobSetSpeed(())),
            Call::DomainBlockResize(a) => domain(conn, a.dom)
                .block_resize(&a.disk, a.size, a.flags)
                .map(|()| Reply::DomainBlockResize(())),
            other => return Routed::Pass(other),
        };
    Routed::Done(result)
}
