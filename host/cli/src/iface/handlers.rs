//! What the interface commands do.

use serde_json::json;
use wirt::connect::{Interface, iface_flags as inf};

use crate::parse::Args;
use crate::{CmdError, CmdResult, Context, Ctx, Reply, common};

/// Whether `s` reads as a MAC address (virsh's `virMacAddrParse`).
fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| (1..=2).contains(&p.len()) && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// virsh's `virshCommandOptInterfaceBy`: a MAC address by MAC (when
/// `by_mac`), anything else by name (when `by_name`); an argument of the
/// other kind is not looked up at all.
fn lookup(ctx: &mut Ctx, arg: &str, by_name: bool, by_mac: bool) -> Result<Interface, CmdError> {
    let conn = ctx.conn()?;
    let fail = || format!("failed to get interface '{arg}'");
    match is_mac(arg) {
        false if by_name => conn.lookup_interface_by_name(arg).ctx(fail),
        true if by_mac => conn.lookup_interface_by_mac(arg).ctx(fail),
        _ => Err(CmdError::msg(fail())),
    }
}

fn iface(ctx: &mut Ctx, args: &Args) -> Result<Interface, CmdError> {
    lookup(ctx, args.req("interface"), true, true)
}

pub(super) fn list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let flags = if args.has("all") {
        inf::LIST_ACTIVE | inf::LIST_INACTIVE
    } else if args.has("inactive") {
        inf::LIST_INACTIVE
    } else {
        inf::LIST_ACTIVE
    };
    let ifaces = ctx
        .conn()?
        .list_all_interfaces(flags)
        .ctx(|| "Failed to list interfaces".into())?;
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    for i in &ifaces {
        let Ok(active) = i.is_active() else { continue };
        let state = if active { "active" } else { "inactive" };
        rows.push(vec![
            i.name().to_string(),
            state.into(),
            i.mac().to_string(),
        ]);
        json_rows.push(json!({"name": i.name(), "active": active, "mac": i.mac()}));
    }
    Ok(Reply::table(
        &["Name", "State", "MAC Address"],
        &rows,
        json_rows,
    ))
}

pub(super) fn define(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = common::read_file(file)?;
    let flags = args.flags(&[("validate", inf::DEFINE_VALIDATE)]);
    let i = ctx
        .conn()?
        .define_interface_xml(&xml, flags)
        .ctx(|| format!("Failed to define interface from {file}"))?;
    Ok(Reply::message(format!(
        "Interface {} defined from {file}",
        i.name()
    )))
}

// virsh names the interface as the user did (a name or a MAC address).

pub(super) fn undefine(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (i, arg) = (iface(ctx, args)?, args.req("interface"));
    i.undefine()
        .ctx(|| format!("Failed to undefine interface {arg}"))?;
    Ok(Reply::message(format!("Interface {arg} undefined")))
}

pub(super) fn start(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (i, arg) = (iface(ctx, args)?, args.req("interface"));
    i.create(0)
        .ctx(|| format!("Failed to start interface {arg}"))?;
    Ok(Reply::message(format!("Interface {arg} started")))
}

pub(super) fn destroy(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (i, arg) = (iface(ctx, args)?, args.req("interface"));
    i.destroy(0)
        .ctx(|| format!("Failed to destroy interface {arg}"))?;
    Ok(Reply::message(format!("Interface {arg} destroyed")))
}

pub(super) fn dumpxml(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let i = iface(ctx, args)?;
    let flags = args.flags(&[("inactive", inf::XML_INACTIVE)]);
    let xml = i.xml_desc(flags).map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}

pub(super) fn mac(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let i = lookup(ctx, args.req("interface"), true, false)?;
    Ok(Reply::value("mac", i.mac()))
}

pub(super) fn name(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let i = lookup(ctx, args.req("interface"), false, true)?;
    Ok(Reply::value("name", i.name()))
}

/// virsh's `iface-begin`, `iface-commit` and `iface-rollback`: one
/// transaction over the host's interface configuration.
fn transaction(
    ctx: &mut Ctx,
    call: fn(&wirt::Connect, u32) -> wirt::connect::Result<()>,
    verb: &str,
    done: &str,
) -> CmdResult {
    call(ctx.conn()?, 0).ctx(|| format!("Failed to {verb} network config change transaction"))?;
    Ok(Reply::message(format!(
        "Network config change transaction {done}"
    )))
}

pub(super) fn begin(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    transaction(
        ctx,
        wirt::Connect::interface_change_begin,
        "begin",
        "started",
    )
}

pub(super) fn commit(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    transaction(
        ctx,
        wirt::Connect::interface_change_commit,
        "commit",
        "committed",
    )
}

pub(super) fn rollback(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    transaction(
        ctx,
        wirt::Connect::interface_change_rollback,
        "rollback",
        "rolled back",
    )
}
