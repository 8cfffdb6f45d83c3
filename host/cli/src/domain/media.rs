//! `update-device` and `change-media` (virsh's shorthand for updating a
//! cdrom's or floppy's `<source>`): both end in
//! `virDomainUpdateDeviceFlags`.

use super::info::def_of;
use super::*;
use wirt::connect::domain_flags as df;
use wirt::xml::tree::{Element, Node};

const G: &str = "Domain Management";

/// `VIR_DOMAIN_DEVICE_MODIFY_FORCE`.
const MODIFY_FORCE: u32 = 4;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "update-device",
        group: G,
        help: "update device from an XML file",
        run: update_device,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("file", "XML file"),
            flag("persistent", "make live change persistent"),
            flag("config", "affect next boot"),
            flag("live", "affect running domain"),
            flag("current", "affect current domain"),
            flag("force", "force device update"),
        ],
    },
    Command {
        name: "change-media",
        group: G,
        help: "Change media of CD or floppy drive",
        run: change_media,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("path", "Fully-qualified path or target of disk device"),
            data_opt("source", "source of the media"),
            flag("eject", "Eject the media"),
            flag("insert", "Insert the media"),
            flag("update", "Update the media"),
            flag("current", "can be either or both of --live and --config"),
            flag("live", "alter live configuration of running domain"),
            flag(
                "config",
                "alter persistent configuration, effect observed on next boot",
            ),
            flag("force", "force media changing"),
            flag("print-xml", "print XML document rather than change media"),
            flag("block", "source media is a block device"),
        ],
    },
];

/// The device commands' flags, with `--force`.
fn affect(d: &Domain, args: &Args) -> Result<u32, CmdError> {
    let force = if args.has("force") { MODIFY_FORCE } else { 0 };
    Ok(super::devices::affect(d, args)? | force)
}

fn update_device(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = common::read_file(file)?;
    let d = dom(ctx, args)?;
    let flags = affect(&d, args)?;
    d.update_device(&xml, flags)
        .ctx(|| format!("Failed to update device from {file}"))?;
    Ok(Reply::text(
        "Device updated successfully\n",
        json!({"ok": true}),
    ))
}

fn change_media(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let path = args.req("path");
    let source = args.get("source");
    let action = match (args.has("eject"), args.has("insert"), args.has("update")) {
        (true, false, false) => "eject",
        (false, true, false) => "insert",
        (false, false, _) => "update",
        _ => {
            return Err(CmdError::msg(
                "Options --eject, --insert and --update are mutually exclusive",
            ));
        }
    };
    if action == "insert" && source.is_none() {
        return Err(CmdError::msg("No source is specified for inserting media"));
    }
    if action == "eject" && source.is_some() {
        return Err(CmdError::msg(
            "The --source option is not supported with --eject",
        ));
    }
    let d = dom(ctx, args)?;
    let flags = affect(&d, args)?;
    let inactive = flags & df::AFFECT_CONFIG != 0 && flags & df::AFFECT_LIVE == 0;
    let def = def_of(&d, inactive || !d.is_active().unwrap_or(false))?;
    let disk = def
        .devices
        .iter()
        .filter(|e| e.name == "disk")
        .find(|e| {
            let k = wirt::xml::devices::Disk::from_element(e);
            k.target_dev.as_deref() == Some(path) || k.source.as_deref() == Some(path)
        })
        .ok_or_else(|| {
            CmdError::msg(format!(
                "No disk found whose source path or target is {path}"
            ))
        })?;
    let target = disk
        .child("target")
        .and_then(|t| t.attr("dev"))
        .unwrap_or(path)
        .to_string();
    if !matches!(disk.attr("device"), Some("cdrom" | "floppy")) {
        return Err(CmdError::msg(format!(
            "The disk device '{target}' is not removable"
        )));
    }
    let has_media = disk.child("source").is_some();
    match action {
        "eject" if !has_media => {
            return Err(CmdError::msg(format!(
                "The disk device '{target}' doesn't have media"
            )));
        }
        "insert" if has_media => {
            return Err(CmdError::msg(format!(
                "The disk device '{target}' already has media"
            )));
        }
        _ => {}
    }
    let xml = with_media(disk, source, args.has("block")).to_xml();
    if args.has("print-xml") {
        return Ok(Reply::text(format!("{xml}\n"), json!({"xml": xml})));
    }
    d.update_device(&xml, flags)
        .ctx(|| format!("Failed to complete action {action} on media"))?;
    let done = match action {
        "eject" => "Successfully ejected media.",
        "insert" => "Successfully inserted media.",
        _ => "Successfully updated media.",
    };
    Ok(Reply::text(format!("{done}\n"), json!({"ok": true})))
}

/// `disk` with its `<source>` replaced by `source` (none: ejected).
fn with_media(disk: &Element, source: Option<&str>, block: bool) -> Element {
    let mut new = disk.clone();
    new.children
        .retain(|n| !matches!(n, Node::Element(c) if c.name == "source"));
    if let Some(path) = source {
        let (kind, attr) = if block {
            ("block", "dev")
        } else {
            ("file", "file")
        };
        new.set_attr("type", kind);
        // Where the old one was: libvirt puts <source> after <driver>.
        let at = new
            .children
            .iter()
            .position(|n| matches!(n, Node::Element(c) if c.name == "target"))
            .unwrap_or(new.children.len());
        new.children.insert(
            at,
            Node::Element(Element::new("source").with_attr(attr, path)),
        );
    }
    new
}
