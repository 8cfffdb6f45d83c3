//! virsh's object lookups: the argument is tried as each of the ways an
//! object can be named, in virsh's order.

use wirt::{Domain, Network, StoragePool, StorageVol};

use crate::parse::Args;
use crate::{CmdError, Context, Ctx};

/// virsh's lookup: an id, then a UUID, then a name.
pub fn domain(ctx: &mut Ctx, arg: &str) -> Result<Domain, CmdError> {
    let conn = ctx.conn()?;
    let found = arg
        .parse::<u32>()
        .ok()
        .and_then(|id| conn.lookup_domain_by_id(id).ok())
        .or_else(|| conn.lookup_domain_by_uuid_string(arg).ok());
    match found {
        Some(d) => Ok(d),
        // virsh prints only this line for a domain it cannot find (the code
        // stays, for --json).
        None => conn.lookup_domain_by_name(arg).map_err(|e| CmdError {
            lines: vec![format!("failed to get domain '{arg}'")],
            code: Some(e.code()),
        }),
    }
}

/// A network by UUID, then name.
pub fn network(ctx: &mut Ctx, arg: &str) -> Result<Network, CmdError> {
    let conn = ctx.conn()?;
    if let Ok(uuid) = wirt::xml::domain::parse_uuid(arg)
        && let Ok(n) = conn.lookup_network_by_uuid(&uuid)
    {
        return Ok(n);
    }
    conn.lookup_network_by_name(arg)
        .ctx(|| format!("failed to get network '{arg}'"))
}

/// A pool by UUID, then name.
pub fn pool(ctx: &mut Ctx, arg: &str) -> Result<StoragePool, CmdError> {
    let conn = ctx.conn()?;
    if let Ok(uuid) = wirt::xml::domain::parse_uuid(arg)
        && let Ok(p) = conn.lookup_pool_by_uuid(&uuid)
    {
        return Ok(p);
    }
    conn.lookup_pool_by_name(arg)
        .ctx(|| format!("failed to get pool '{arg}'"))
}

/// virsh's volume lookup: by name in `--pool` when given, else by key, else by path.
pub fn volume(ctx: &mut Ctx, args: &Args) -> Result<StorageVol, CmdError> {
    let arg = args.req("vol");
    if let Some(p) = args.get("pool") {
        let pool = self::pool(ctx, p)?;
        if let Ok(v) = pool.lookup_vol_by_name(arg) {
            return Ok(v);
        }
        if !pool.is_active().unwrap_or(false) {
            let err = pool.lookup_vol_by_name(arg).expect_err("checked above");
            return Err(CmdError::api(format!("failed to get vol '{arg}'"), &err));
        }
    }
    ctx.conn()?
        .lookup_vol_by_path(arg)
        .ctx(|| format!("failed to get vol '{arg}'"))
}
