//! `desc`, `metadata`, `set-lifecycle-action` and `domcontrol`, as virsh
//! has them.

use super::*;
use wirt::connect::{LIFECYCLE_ACTIONS, domain_flags as df, lifecycle_type, metadata_type};

const G: &str = "Domain Management";

pub static COMMANDS: &[Command] = &[
    Command {
        name: "desc",
        group: G,
        help: "show or set domain's description or title",
        run: desc,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("live", "modify/get running state"),
            flag("config", "modify/get persistent configuration"),
            flag("current", "modify/get current state configuration"),
            flag("title", "modify/get the title instead of description"),
            flag("edit", "open an editor to modify the description"),
            named("new-desc", "message"),
        ],
    },
    Command {
        name: "metadata",
        group: G,
        help: "show or set domain's custom XML metadata",
        run: metadata,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("uri", "URI of the namespace"),
            flag("live", "modify/get running state"),
            flag("config", "modify/get persistent configuration"),
            flag("current", "modify/get current state configuration"),
            flag("edit", "use an editor to change the metadata"),
            named("key", "key to be used as a namespace identifier"),
            named("set", "new metadata to set"),
            flag("remove", "remove the metadata corresponding to an uri"),
        ],
    },
    Command {
        name: "set-lifecycle-action",
        group: G,
        help: "change lifecycle actions",
        run: set_lifecycle_action,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("type", "lifecycle type to modify"),
            data("action", "lifecycle action to set"),
            flag("config", "affect next boot"),
            flag("live", "affect running domain"),
            flag("current", "affect current domain"),
        ],
    },
    Command {
        name: "domcontrol",
        group: "Domain Monitoring",
        help: "domain control interface state",
        run: domcontrol,
        opts: &[data("domain", "domain name, id or uuid")],
    },
];

/// virsh's `desc` prints no empty line after its answer.
fn bare(mut reply: Reply) -> Reply {
    reply.bare = true;
    reply
}

/// `--live`, `--config`, `--current` as virsh combines them.
fn affect(args: &Args) -> Result<u32, CmdError> {
    if args.has("current") && (args.has("live") || args.has("config")) {
        return Err(CmdError::msg(
            "Options --current and --live are mutually exclusive",
        ));
    }
    let mut flags = 0;
    if args.has("live") {
        flags |= df::AFFECT_LIVE;
    }
    if args.has("config") {
        flags |= df::AFFECT_CONFIG;
    }
    Ok(flags)
}

fn no_editor() -> CmdError {
    CmdError::msg("--edit is not supported: give the new text with --new-desc or --set")
}

fn desc(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let flags = affect(args)?;
    if args.has("edit") {
        return Err(no_editor());
    }
    let title = args.has("title");
    let kind = if title {
        metadata_type::TITLE
    } else {
        metadata_type::DESCRIPTION
    };
    let what = if title { "title" } else { "description" };
    if let Some(text) = args.get("new-desc") {
        let value = (!text.is_empty()).then_some(text);
        d.set_metadata(kind, value, None, None, flags)
            .ctx(|| format!("Failed to set new domain {what}"))?;
        let done = if title {
            "Domain title updated successfully"
        } else {
            "Domain description updated successfully"
        };
        return Ok(bare(Reply::message(done)));
    }
    match d.metadata(kind, None, flags) {
        Ok(text) => Ok(bare(Reply::text(
            format!("{text}\n"),
            json!({ what: text }),
        ))),
        Err(e) if e.code() == wirt::ErrorCode(80) => {
            let none = if title {
                format!("No title for domain: {}", d.name())
            } else {
                format!("No description for domain: {}", d.name())
            };
            Ok(bare(Reply::text(
                format!("{none}\n"),
                json!({ what: null }),
            )))
        }
        Err(e) => Err(CmdError::api(format!("Failed to get domain {what}"), &e)),
    }
}

fn metadata(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let flags = affect(args)?;
    let uri = args.req("uri");
    if args.has("edit") {
        return Err(no_editor());
    }
    if let Some(xml) = args.get("set") {
        let key = args
            .get("key")
            .ok_or_else(|| CmdError::msg("namespace key is required when modifying metadata"))?;
        d.set_metadata(
            metadata_type::ELEMENT,
            Some(xml),
            Some(key),
            Some(uri),
            flags,
        )
        .map_err(|e| CmdError::bare(&e))?;
        return Ok(Reply::message("Metadata modified"));
    }
    if args.has("remove") {
        d.set_metadata(metadata_type::ELEMENT, None, None, Some(uri), flags)
            .map_err(|e| CmdError::bare(&e))?;
        return Ok(Reply::message("Metadata removed"));
    }
    let xml = d
        .metadata(metadata_type::ELEMENT, Some(uri), flags)
        .map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::text(xml.trim_end(), json!({ "metadata": xml })))
}

fn set_lifecycle_action(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let flags = affect(args)?;
    let kind = match args.req("type") {
        "poweroff" => lifecycle_type::POWEROFF,
        "reboot" => lifecycle_type::REBOOT,
        "crash" => lifecycle_type::CRASH,
        other => return Err(CmdError::msg(format!("Invalid lifecycle type '{other}'."))),
    };
    let name = args.req("action");
    let action = LIFECYCLE_ACTIONS
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(a, _)| *a)
        .ok_or_else(|| CmdError::msg(format!("Invalid lifecycle action '{name}'.")))?;
    d.set_lifecycle_action(kind, action, flags)
        .ctx(|| "Unable to change lifecycle action.".into())?;
    Ok(Reply::empty())
}

fn domcontrol(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let info = d.control_info().map_err(|e| CmdError::bare(&e))?;
    let state = match info.state {
        0 => "ok".to_string(),
        1 => "background job".to_string(),
        2 => format!("occupied ({:.3}s)", info.state_time_ms as f64 / 1000.0),
        _ => format!("error: {}", info.details),
    };
    Ok(Reply::text(
        format!("{state}\n"),
        json!({"state": info.state, "details": info.details, "state_time_ms": info.state_time_ms}),
    ))
}
