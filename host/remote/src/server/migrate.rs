//! Migration procedures: the v3 protocol with parameters (Begin, Prepare,
//! Perform, Finish, Confirm) as a client-managed migration drives them,
//! Perform with a destination URI (peer-to-peer: this daemon drives the
//! steps), and the max-downtime and max-speed settings. Prepare for a
//! tunnelled migration is a stream: `tunnel.rs`.

use super::handles::{domain, wire_domain};
use super::wire::Routed;
use crate::migrate_params::from_wire;
use crate::protocol::*;
use wirt::connect::{Connect, Result};

/// libvirt's `virConnectSupportsFeature` numbers for migration
/// (`libvirt_internal.h`).
pub(super) const FEATURE_MIGRATION_P2P: i32 = 4;
pub(super) const FEATURE_MIGRATION_V3: i32 = 6;
pub(super) const FEATURE_TYPED_PARAM_STRING: i32 = 9;
pub(super) const FEATURE_XML_MIGRATABLE: i32 = 11;
pub(super) const FEATURE_MIGRATION_OFFLINE: i32 = 12;
pub(super) const FEATURE_MIGRATION_PARAMS: i32 = 13;

pub(super) fn dispatch(conn: &Connect, call: Call) -> Routed {
    let result = match call {
        Call::DomainMigrateBegin3Params(a) => (|| {
            let params = from_wire(&a.params)?;
            let begun = domain(conn, a.dom).migrate_begin(&params, a.flags)?;
            Ok(Reply::DomainMigrateBegin3Params(
                DomainMigrateBegin3ParamsRet {
                    cookie_out: begun.cookie,
                    xml: begun.xml,
                },
            ))
        })(),
        Call::DomainMigratePrepare3Params(a) => (|| {
            let params = from_wire(&a.params)?;
            let prepared = conn.migrate_prepare(&params, &a.cookie_in, a.flags)?;
            Ok(Reply::DomainMigratePrepare3Params(
                DomainMigratePrepare3ParamsRet {
                    cookie_out: prepared.cookie,
                    uri_out: prepared.uri,
                },
            ))
        })(),
        Call::DomainMigratePerform3Params(a) => (|| {
            let params = from_wire(&a.params)?;
            let dom = domain(conn, a.dom);
            if let Some(dconnuri) = &a.dconnuri {
                // Peer-to-peer: this daemon drives the migration itself.
                dom.migrate_to_uri(dconnuri, &params, a.flags)?;
                return Ok(Reply::DomainMigratePerform3Params(
                    DomainMigratePerform3ParamsRet {
                        cookie_out: Vec::new(),
                    },
                ));
            }
            let cookie = dom.migrate_perform(&params, &a.cookie_in, a.flags)?;
            if let Some(f) = wirt::connect::cookie_figures(&cookie) {
                eprintln!(
                    "wirtd: domain '{}' migrated out: downtime {:.2} ms, total {:.0} ms, \
                     {} rounds, {} of {} bytes sent",
                    dom.name(),
                    f.downtime_ms,
                    f.total_ms,
                    f.rounds,
                    f.bytes_sent,
                    f.memory_bytes
                );
            }
            Ok(Reply::DomainMigratePerform3Params(
                DomainMigratePerform3ParamsRet { cookie_out: cookie },
            ))
        })(),
        Call::DomainMigrateFinish3Params(a) => (|| {
            let params = from_wire(&a.params)?;
            let (dom, cookie) =
                conn.migrate_finish(&params, &a.cookie_in, a.flags, a.cancelled != 0)?;
            Ok(Reply::DomainMigrateFinish3Params(
                DomainMigrateFinish3ParamsRet {
                    dom: wire_domain(&dom),
                    cookie_out: cookie,
                },
            ))
        })(),
        Call::DomainMigrateConfirm3Params(a) => (|| {
            let params = from_wire(&a.params)?;
            domain(conn, a.dom).migrate_confirm(
                &params,
                &a.cookie_in,
                a.flags,
                a.cancelled != 0,
            )?;
            Ok(Reply::DomainMigrateConfirm3Params(()))
        })(),
        Call::DomainAbortJob(a) => domain(conn, a.dom)
            .abort_job()
            .map(|()| Reply::DomainAbortJob(())),
        Call::DomainAbortJobFlags(a) => (|| {
            wirt::connect::check_flags(a.flags, 0, "virDomainAbortJobFlags")?;
            domain(conn, a.dom).abort_job()?;
            Ok(Reply::DomainAbortJobFlags(()))
        })(),
        Call::DomainGetJobStats(a) => domain(conn, a.dom).job_stats(a.flags).map(|j| {
            Reply::DomainGetJobStats(DomainGetJobStatsRet {
                r#type: j.job_type,
                params: j
                    .params
                    .into_iter()
                    .map(|(field, v)| TypedParam {
                        field,
                        value: super::stats::wire_value(v),
                    })
                    .collect(),
            })
        }),
        // virsh's `migrate --verbose` polls this older call for its bar.
        Call::DomainGetJobInfo(a) => domain(conn, a.dom).job_stats(0).map(|j| {
            let get = |name: &str| {
                j.params
                    .iter()
                    .find(|(field, _)| field == name)
                    .map_or(0, |(_, v)| match v {
                        wirt::connect::StatValue::ULLong(n) => *n,
                        wirt::connect::StatValue::UInt(n) => u64::from(*n),
                        wirt::connect::StatValue::Int(n) => u64::try_from(*n).unwrap_or(0),
                        wirt::connect::StatValue::String(_) => 0,
                    })
            };
            Reply::DomainGetJobInfo(DomainGetJobInfoRet {
                r#type: j.job_type,
                time_elapsed: get("time_elapsed"),
                time_remaining: get("time_remaining"),
                data_total: get("data_total"),
                data_processed: get("data_processed"),
                data_remaining: get("data_remaining"),
                mem_total: get("memory_total"),
                mem_processed: get("memory_processed"),
                mem_remaining: get("memory_remaining"),
                file_total: get("disk_total"),
                file_processed: get("disk_processed"),
                file_remaining: get("disk_remaining"),
            })
        }),
        Call::DomainMigrateGetMaxDowntime(a) => (|| {
            check(a.flags)?;
            let downtime = domain(conn, a.dom).migrate_max_downtime()?;
            Ok(Reply::DomainMigrateGetMaxDowntime(
                DomainMigrateGetMaxDowntimeRet { downtime },
            ))
        })(),
        Call::DomainMigrateSetMaxDowntime(a) => (|| {
            check(a.flags)?;
            domain(conn, a.dom).migrate_set_max_downtime(a.downtime)?;
            Ok(Reply::DomainMigrateSetMaxDowntime(()))
        })(),
        Call::DomainMigrateGetMaxSpeed(a) => (|| {
            check(a.flags)?;
            let bandwidth = domain(conn, a.dom).migrate_max_speed()?;
            Ok(Reply::DomainMigrateGetMaxSpeed(
                DomainMigrateGetMaxSpeedRet { bandwidth },
            ))
        })(),
        Call::DomainMigrateSetMaxSpeed(a) => (|| {
            check(a.flags)?;
            domain(conn, a.dom).migrate_set_max_speed(a.bandwidth)?;
            Ok(Reply::DomainMigrateSetMaxSpeed(()))
        })(),
        other => return Routed::Pass(other),
    };
    Routed::Done(result)
}

/// The post-copy variants of the settings are not supported.
fn check(flags: u32) -> Result<()> {
    wirt::connect::check_flags(flags, 0, "virDomainMigrateSetMaxSpeed")
}
