//! `migrate` and the migration settings, as virsh has them: the client
//! opens the destination itself and drives libvirt's v3 protocol
//! (`Domain::migrate`).

use super::dom;
use crate::parse::Args;
use crate::{CmdError, CmdResult, Ctx, Reply};
use wirt::connect::{MigrateParams, migrate_flags as mf};

pub(super) fn migrate(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let desturi = args.req("desturi");
    for unsupported in [
        "p2p",
        "direct",
        "tunnelled",
        "copy-storage-all",
        "copy-storage-inc",
    ] {
        if args.has(unsupported) {
            return Err(CmdError::msg(format!(
                "unsupported configuration: --{unsupported} is not supported yet"
            )));
        }
    }
    let flags = args.flags(&[
        ("live", mf::LIVE),
        ("offline", mf::OFFLINE),
        ("persistent", mf::PERSIST_DEST),
        ("undefinesource", mf::UNDEFINE_SOURCE),
        ("suspend", mf::PAUSED),
        ("unsafe", mf::UNSAFE),
        ("abort-on-error", mf::ABORT_ON_ERROR),
    ]);
    if args.has("live") && args.has("offline") {
        return Err(CmdError::msg(
            "Options --live and --offline are mutually exclusive",
        ));
    }
    let bandwidth = args.u64("bandwidth").map_err(CmdError::msg)?;
    let params = MigrateParams {
        uri: args.get("migrateuri").map(str::to_string),
        dest_name: args.get("dname").map(str::to_string),
        listen_address: args.get("listen-address").map(str::to_string),
        bandwidth_mib_s: bandwidth,
        ..Default::default()
    };
    let dest = wirt::Connect::open(desturi)
        .map_err(|e| CmdError::api("failed to connect to the hypervisor", &e))?;
    d.migrate(&dest, &params, flags)
        .map_err(|e| CmdError::bare(&e))?;
    if args.has("verbose") {
        // virsh draws its progress on stderr.
        eprintln!("\rMigration: [100 %]");
    }
    Ok(Reply::empty())
}

pub(super) fn migrate_setmaxdowntime(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let downtime = args
        .u64("downtime")
        .map_err(CmdError::msg)?
        .filter(|&n| n > 0)
        .ok_or_else(|| CmdError::msg("migrate: Invalid downtime"))?;
    d.migrate_set_max_downtime(downtime)
        .map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::empty())
}

pub(super) fn migrate_getmaxdowntime(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let ms = d.migrate_max_downtime().map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::value("downtime_ms", ms))
}

pub(super) fn migrate_setspeed(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let speed = args
        .u64("bandwidth")
        .map_err(CmdError::msg)?
        .ok_or_else(|| CmdError::msg("migrate: Invalid bandwidth"))?;
    d.migrate_set_max_speed(speed)
        .map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::empty())
}

pub(super) fn migrate_getspeed(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let speed = d.migrate_max_speed().map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::value("bandwidth_mib_s", speed))
}
