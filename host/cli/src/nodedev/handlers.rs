//! What the node device commands do.

use serde_json::json;
use wirt::connect::NodeDevice;
use wirt::connect::nodedev_flags as nf;

use crate::parse::Args;
use crate::{CmdError, CmdResult, Context, Ctx, Reply, common};

/// libvirt's `virValidateWWN`: 16 hex digits, maybe after `0x`.
fn check_wwn(wwn: &str) -> Result<(), CmdError> {
    let digits = wwn.strip_prefix("0x").unwrap_or(wwn);
    if digits.len() == 16 && digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(());
    }
    Err(CmdError::msg(format!(
        "internal error: Malformed wwn: {wwn}"
    )))
}

/// virsh's `vshFindNodeDevice`: a `wwnn,wwpn` pair names a SCSI host by
/// its fibre channel port, anything else a device by name.
fn find(ctx: &mut Ctx, arg: &str) -> Result<NodeDevice, CmdError> {
    let conn = ctx.conn()?;
    let found = if arg.contains(',') {
        let pair: Vec<&str> = arg.split(',').collect();
        let [wwnn, wwpn] = pair[..] else {
            return Err(CmdError::msg(format!("Malformed device value '{arg}'")));
        };
        check_wwn(wwnn)?;
        check_wwn(wwpn)?;
        conn.lookup_scsi_host_by_wwn(wwnn, wwpn, 0)
    } else {
        conn.lookup_node_device_by_name(arg)
    };
    found.ctx(|| format!("Could not find matching device '{arg}'"))
}

pub(super) fn dumpxml(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let dev = find(ctx, args.req("device"))?;
    let xml = dev.xml_desc(0).map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}

pub(super) fn create(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = common::read_file(file)?;
    // wirt always validates what it reads; --validate asks for nothing more.
    let dev = ctx
        .conn()?
        .create_node_device_xml(&xml, 0)
        .ctx(|| format!("Failed to create node device from {file}"))?;
    Ok(Reply::message(format!(
        "Node device {} created from {file}",
        dev.name()
    )))
}

pub(super) fn destroy(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let arg = args.req("device");
    let dev = find(ctx, arg)?;
    dev.destroy()
        .ctx(|| format!("Failed to destroy node device '{arg}'"))?;
    Ok(Reply::message(format!("Destroyed node device '{arg}'")))
}

/// virsh's node device event types.
const EVENT_TYPES: [&str; 2] = ["lifecycle", "update"];

/// virsh 9.0's `nodedev-event`: one type per watcher, as `secret-event`.
pub(super) fn event(ctx: &mut Ctx, args: &Args) -> CmdResult {
    use wirt::events::NodeDeviceLifecycle;
    let kind = match crate::event_loop::one_type(args, &EVENT_TYPES) {
        Ok(kind) => kind,
        Err(done) => return done,
    };
    let filter = match args.get("device") {
        Some(arg) => Some(find(ctx, arg)?.name().to_string()),
        None => None,
    };
    let stream = ctx
        .conn()?
        .node_device_events()
        .ctx(|| "failed to register node device event callback".into())?;
    crate::event_loop::run(
        args,
        !ctx.json,
        stream,
        |e| {
            let update = e.event == NodeDeviceLifecycle::Updated;
            filter.as_ref().is_none_or(|n| *n == e.name) && (kind == "update") == update
        },
        |e| e.virsh_line(),
    )
}

/// virsh's `nodedev-list`: names, one a line, or `--tree` under their
/// parents (`vshTreePrint`).
pub(super) fn list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (tree, inactive, all) = (args.has("tree"), args.has("inactive"), args.has("all"));
    if tree && (args.get("cap").is_some() || inactive) {
        return Err(CmdError::msg(
            "Option --tree is incompatible with --cap and --inactive",
        ));
    }
    if all && inactive {
        return Err(CmdError::msg(
            "Option --all is incompatible with --inactive",
        ));
    }
    let mut flags = 0;
    for cap in args.get("cap").into_iter().flat_map(|c| c.split(',')) {
        flags |= wirt::xml::nodedev::cap_bit(cap.trim())
            .ok_or_else(|| CmdError::msg("Invalid capability type"))?;
    }
    if inactive {
        flags |= nf::INACTIVE;
    } else if !all {
        flags |= nf::ACTIVE;
    }
    let devices = ctx
        .conn()?
        .list_all_node_devices(flags)
        .ctx(|| "Failed to list node devices".into())?;
    let names: Vec<String> = devices.iter().map(|d| d.name().to_string()).collect();
    if !tree {
        let text: String = names.iter().map(|n| format!("{n}\n")).collect();
        return Ok(Reply::text(text, json!(names)));
    }
    // virsh asks every device but `computer` for its parent.
    let parents: Vec<Option<String>> = devices
        .iter()
        .map(|d| {
            if d.name() == "computer" {
                Ok(None)
            } else {
                d.parent()
            }
        })
        .collect::<Result<_, _>>()
        .map_err(|e| CmdError::bare(&e))?;
    let mut text = String::new();
    for root in (0..names.len()).filter(|&i| parents[i].is_none()) {
        tree_print(
            &names,
            &parents,
            root,
            root,
            true,
            &mut String::new(),
            &mut text,
        );
    }
    let rows: Vec<_> = names
        .iter()
        .zip(&parents)
        .map(|(n, p)| json!({"name": n, "parent": p}))
        .collect();
    Ok(Reply::text(text, json!(rows)))
}

/// virsh's `vshTreePrintInternal`, line for line: the device, a `|` line
/// before its children, and an empty-looking line after a last leaf.
fn tree_print(
    names: &[String],
    parents: &[Option<String>],
    dev: usize,
    last: usize,
    root: bool,
    indent: &mut String,
    out: &mut String,
) {
    out.push_str(&format!(
        "{indent}{}{}\n",
        if root { "" } else { "+- " },
        names[dev]
    ));
    if !root {
        indent.push(if dev == last { ' ' } else { '|' });
        indent.push(' ');
    }
    let children: Vec<usize> = (0..names.len())
        .filter(|&i| parents[i].as_deref() == Some(names[dev].as_str()))
        .collect();
    let next_last = children.last().copied();
    if next_last.is_some() {
        out.push_str(&format!("{indent}  |\n"));
    }
    indent.push_str("  ");
    for &child in &children {
        tree_print(
            names,
            parents,
            child,
            next_last.unwrap_or(child),
            false,
            indent,
            out,
        );
    }
    indent.truncate(indent.len() - 2);
    if next_last.is_none() && dev == last {
        out.push_str(&format!("{indent}\n"));
    }
    if !root {
        indent.truncate(indent.len() - 2);
    }
}
