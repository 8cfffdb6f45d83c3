//! Device changes: `attach-device`, `detach-device`, and virsh's
//! shorthands that build the device XML for a disk or an interface.

use super::info::def_of;
use super::*;
use wirt::xml::tree::escape_attr as xml_escape;

const G: &str = "Domain Management";

/// The options every device change takes.
macro_rules! affect_opts {
    ($($opt:expr),* $(,)?) => {
        &[
            $($opt,)*
            flag("persistent", "make live change persistent"),
            flag("config", "affect next boot"),
            flag("live", "affect running domain"),
            flag("current", "affect current domain"),
        ]
    };
}

pub static COMMANDS: &[Command] = &[
    Command {
        name: "attach-device",
        group: G,
        help: "attach device from an XML file",
        run: attach_device,
        opts: affect_opts![
            data("domain", "domain name, id or uuid"),
            data("file", "XML file"),
        ],
    },
    Command {
        name: "detach-device",
        group: G,
        help: "detach device from an XML file",
        run: detach_device,
        opts: affect_opts![
            data("domain", "domain name, id or uuid"),
            data("file", "XML file"),
        ],
    },
    Command {
        name: "attach-disk",
        group: G,
        help: "attach disk device",
        run: attach_disk,
        opts: affect_opts![
            data("domain", "domain name, id or uuid"),
            data("source", "source of disk device or name of network disk"),
            data("target", "target of disk device"),
            named("targetbus", "target bus of disk device"),
            named("driver", "driver of disk device"),
            named("subdriver", "subdriver of disk device"),
            named("type", "target device type"),
            named("mode", "mode of device reading and writing"),
            flag(
                "print-xml",
                "print XML document rather than attach the disk"
            ),
        ],
    },
    Command {
        name: "detach-device-alias",
        group: G,
        help: "detach device from an alias",
        run: detach_device_alias,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("alias", "device alias"),
            flag("config", "affect next boot"),
            flag("live", "affect running domain"),
            flag("current", "affect current domain"),
        ],
    },
    Command {
        name: "detach-disk",
        group: G,
        help: "detach disk device",
        run: detach_disk,
        opts: affect_opts![
            data("domain", "domain name, id or uuid"),
            data("target", "target of disk device"),
        ],
    },
    Command {
        name: "attach-interface",
        group: G,
        help: "attach network interface",
        run: attach_interface,
        opts: affect_opts![
            data("domain", "domain name, id or uuid"),
            data("type", "network interface type"),
            data("source", "source of network interface"),
            named("target", "target network name"),
            named("mac", "MAC address"),
            named("model", "model type"),
            flag(
                "print-xml",
                "print XML document rather than attach the interface"
            ),
        ],
    },
    Command {
        name: "detach-interface",
        group: G,
        help: "detach network interface",
        run: detach_interface,
        opts: affect_opts![
            data("domain", "domain name, id or uuid"),
            data("type", "network interface type"),
            named("mac", "MAC address"),
        ],
    },
];

/// virsh's flags: `--current` (or nothing) is 0; `--persistent` is the
/// definition, and the running domain too when it runs.
pub(super) fn affect(d: &Domain, args: &Args) -> Result<u32, CmdError> {
    if args.has("current") && (args.has("live") || args.has("config")) {
        return Err(CmdError::msg(
            "Options --current and --live are mutually exclusive",
        ));
    }
    let mut flags = 0;
    if args.has("config") || args.has("persistent") {
        flags |= df::AFFECT_CONFIG;
    }
    if args.has("live") || (args.has("persistent") && d.is_active().unwrap_or(false)) {
        flags |= df::AFFECT_LIVE;
    }
    Ok(flags)
}

fn change(
    ctx: &mut Ctx,
    args: &Args,
    xml: &str,
    attach: bool,
    failed: String,
    done: &str,
) -> CmdResult {
    let d = dom(ctx, args)?;
    let flags = affect(&d, args)?;
    let r = if attach {
        d.attach_device(xml, flags)
    } else {
        d.detach_device(xml, flags)
    };
    r.ctx(|| failed)?;
    Ok(Reply::text(format!("{done}\n"), json!({"ok": true})))
}

fn attach_device(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = common::read_file(file)?;
    let failed = format!("Failed to attach device from {file}");
    change(
        ctx,
        args,
        &xml,
        true,
        failed,
        "Device attached successfully",
    )
}

fn detach_device(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = common::read_file(file)?;
    let failed = format!("Failed to detach device from {file}");
    change(
        ctx,
        args,
        &xml,
        false,
        failed,
        "Device detached successfully",
    )
}

fn detach_device_alias(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let alias = args.req("alias");
    let d = dom(ctx, args)?;
    let flags = affect(&d, args)?;
    d.detach_device_alias(alias, flags)
        .ctx(|| format!("Failed to detach device with alias {alias}"))?;
    Ok(Reply::message("Device detach request sent successfully"))
}

fn attach_disk(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let source = args.req("source");
    let target = args.req("target");
    let device = args.get("type").unwrap_or("disk");
    let kind = if std::fs::metadata(source)
        .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_block_device(&m.file_type()))
    {
        ("block", "dev")
    } else {
        ("file", "file")
    };
    let mut xml = format!("<disk type='{}' device='{}'>\n", kind.0, xml_escape(device));
    if args.get("driver").is_some() || args.get("subdriver").is_some() {
        xml.push_str(&format!(
            "  <driver name='{}'{}/>\n",
            xml_escape(args.get("driver").unwrap_or("qemu")),
            args.get("subdriver")
                .map(|s| format!(" type='{}'", xml_escape(s)))
                .unwrap_or_default()
        ));
    }
    xml.push_str(&format!(
        "  <source {}='{}'/>\n  <target dev='{}'{}/>\n",
        kind.1,
        xml_escape(source),
        xml_escape(target),
        args.get("targetbus")
            .map(|b| format!(" bus='{}'", xml_escape(b)))
            .unwrap_or_default()
    ));
    match args.get("mode") {
        Some("readonly") => xml.push_str("  <readonly/>\n"),
        Some("shareable") => xml.push_str("  <shareable/>\n"),
        Some(other) => {
            return Err(CmdError::msg(format!(
                "No support for {other} in command 'attach-disk'"
            )));
        }
        None => {}
    }
    xml.push_str("</disk>\n");
    attach_built(ctx, args, &xml, "Disk", "disk")
}

/// The XML a shorthand built: printed with `--print-xml`, else attached.
fn attach_built(ctx: &mut Ctx, args: &Args, xml: &str, what: &str, lower: &str) -> CmdResult {
    if args.has("print-xml") {
        return Ok(Reply::text(xml.to_string(), json!({"xml": xml})));
    }
    change(
        ctx,
        args,
        xml,
        true,
        format!("Failed to attach {lower}"),
        &format!("{what} attached successfully"),
    )
}

fn detach_disk(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let target = args.req("target");
    let d = dom(ctx, args)?;
    let inactive = affect(&d, args)? == df::AFFECT_CONFIG;
    let def = def_of(&d, inactive)?;
    let disk = def
        .devices
        .iter()
        .filter(|e| e.name == "disk")
        .find(|e| {
            let k = wirt::xml::devices::Disk::from_element(e);
            k.target_dev.as_deref() == Some(target) || k.source.as_deref() == Some(target)
        })
        .ok_or_else(|| {
            CmdError::msg(format!(
                "No disk found whose source path or target is {target}"
            ))
        })?;
    let xml = disk.to_xml();
    change(
        ctx,
        args,
        &xml,
        false,
        "Failed to detach disk".into(),
        "Disk detached successfully",
    )
}

fn attach_interface(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let kind = args.req("type");
    let source = args.req("source");
    let attr = match kind {
        "network" => "network",
        "bridge" => "bridge",
        "direct" | "ethernet" => "dev",
        other => {
            return Err(CmdError::msg(format!(
                "No support for {other} in command 'attach-interface'"
            )));
        }
    };
    let mut xml = format!("<interface type='{}'>\n", xml_escape(kind));
    if let Some(mac) = args.get("mac") {
        xml.push_str(&format!("  <mac address='{}'/>\n", xml_escape(mac)));
    }
    xml.push_str(&format!("  <source {attr}='{}'/>\n", xml_escape(source)));
    if let Some(t) = args.get("target") {
        xml.push_str(&format!("  <target dev='{}'/>\n", xml_escape(t)));
    }
    if let Some(m) = args.get("model") {
        xml.push_str(&format!("  <model type='{}'/>\n", xml_escape(m)));
    }
    xml.push_str("</interface>\n");
    attach_built(ctx, args, &xml, "Interface", "interface")
}

fn detach_interface(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let kind = args.req("type");
    let d = dom(ctx, args)?;
    let inactive = affect(&d, args)? == df::AFFECT_CONFIG;
    let def = def_of(&d, inactive)?;
    let matching: Vec<_> = def
        .devices
        .iter()
        .filter(|e| e.name == "interface" && e.attr("type") == Some(kind))
        .filter(|e| {
            let i = wirt::xml::devices::Interface::from_element(e);
            args.get("mac")
                .is_none_or(|m| i.mac.is_some_and(|x| x.eq_ignore_ascii_case(m)))
        })
        .collect();
    let iface = match matching.as_slice() {
        [] => {
            return Err(CmdError::msg(match args.get("mac") {
                Some(mac) => {
                    format!("No interface found whose type is {kind} and MAC address is {mac}")
                }
                None => format!("No interface found whose type is {kind}"),
            }));
        }
        [one] => *one,
        many => {
            return Err(CmdError::msg(format!(
                "Domain has {} interfaces. Please specify which one to detach using --mac",
                many.len()
            )));
        }
    };
    let xml = iface.to_xml();
    change(
        ctx,
        args,
        &xml,
        false,
        "Failed to detach interface".into(),
        "Interface detached successfully",
    )
}
