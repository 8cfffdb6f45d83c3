//! Domain commands.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use super::parse::{Args, data, data_opt, flag, named};
use super::{CmdError, CmdResult, Command, Context, Ctx, Reply};
use wirt::connect::domain_flags as df;
use wirt::connect::list_flags as lf;
use wirt::lifecycle::State;
use wirt::xml::units;
use wirt::{Domain, Error};

const G: &str = "Domain Management";
const M: &str = "Domain Monitoring";

pub static COMMANDS: &[Command] = &[
    Command {
        name: "list",
        group: M,
        help: "list domains",
        run: list,
        opts: &[
            flag("all", "list inactive & active domains"),
            flag("inactive", "list inactive domains"),
            flag("transient", "list transient domains"),
            flag("persistent", "list persistent domains"),
            flag("with-snapshot", "list domains with existing snapshot"),
            flag("without-snapshot", "list domains without a snapshot"),
            flag("state-running", "list domains in running state"),
            flag("state-paused", "list domains in paused state"),
            flag("state-shutoff", "list domains in shutoff state"),
            flag("state-other", "list domains in other states"),
            flag("autostart", "list domains with autostart enabled"),
            flag("no-autostart", "list domains with autostart disabled"),
            flag("with-managed-save", "list domains with managed save state"),
            flag("without-managed-save", "list domains without managed save"),
            flag("uuid", "list uuid's only"),
            flag("name", "list domain names only"),
            flag("id", "list domain IDs only"),
            flag("table", "list table (default)"),
            flag(
                "managed-save",
                "mark inactive domains with managed save state",
            ),
            flag("title", "show domain title"),
        ],
    },
    Command {
        name: "define",
        group: G,
        help: "define (but don't start) a domain from an XML file",
        run: define,
        opts: &[
            data("file", "file containing an XML domain description"),
            flag("validate", "validate the XML against the schema"),
        ],
    },
    Command {
        name: "create",
        group: G,
        help: "create a domain from an XML file",
        run: create,
        opts: &[
            data("file", "file containing an XML domain description"),
            flag("paused", "leave the guest paused after creation"),
            flag(
                "autodestroy",
                "automatically destroy the guest when virsh disconnects",
            ),
            flag("validate", "validate the XML against the schema"),
        ],
    },
    Command {
        name: "undefine",
        group: G,
        help: "undefine a domain",
        run: undefine,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("managed-save", "remove domain managed state file"),
            flag(
                "snapshots-metadata",
                "remove all domain snapshot metadata, if inactive",
            ),
            flag("nvram", "remove nvram file"),
            flag("keep-nvram", "keep nvram file"),
            flag(
                "checkpoints-metadata",
                "remove all domain checkpoint metadata",
            ),
        ],
    },
    Command {
        name: "start",
        group: G,
        help: "start a (previously defined) inactive domain",
        run: start,
        opts: &[
            data("domain", "name of the inactive domain"),
            flag("paused", "leave the guest paused after start"),
            flag(
                "autodestroy",
                "automatically destroy the guest when virsh disconnects",
            ),
            flag("bypass-cache", "avoid file system cache when loading"),
            flag(
                "force-boot",
                "force fresh boot by discarding any managed save",
            ),
        ],
    },
    Command {
        name: "shutdown",
        group: G,
        help: "gracefully shutdown a domain",
        run: shutdown,
        opts: &[
            data("domain", "domain name, id or uuid"),
            named("mode", "shutdown mode"),
        ],
    },
    Command {
        name: "reboot",
        group: G,
        help: "reboot a domain",
        run: reboot,
        opts: &[
            data("domain", "domain name, id or uuid"),
            named("mode", "shutdown mode"),
        ],
    },
    Command {
        name: "reset",
        group: G,
        help: "reset a domain",
        run: reset,
        opts: &[data("domain", "domain name, id or uuid")],
    },
    Command {
        name: "destroy",
        group: G,
        help: "destroy (stop) a domain",
        run: destroy,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("graceful", "terminate gracefully"),
        ],
    },
    Command {
        name: "suspend",
        group: G,
        help: "suspend a domain",
        run: suspend,
        opts: &[data("domain", "domain name, id or uuid")],
    },
    Command {
        name: "resume",
        group: G,
        help: "resume a domain",
        run: resume,
        opts: &[data("domain", "domain name, id or uuid")],
    },
    Command {
        name: "dominfo",
        group: M,
        help: "domain information",
        run: dominfo,
        opts: &[data("domain", "domain name, id or uuid")],
    },
    Command {
        name: "domstate",
        group: M,
        help: "domain state",
        run: domstate,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("reason", "also print reason for the state"),
        ],
    },
    Command {
        name: "domid",
        group: G,
        help: "convert a domain name or UUID to domain id",
        run: domid,
        opts: &[data("domain", "domain name or uuid")],
    },
    Command {
        name: "domname",
        group: G,
        help: "convert a domain id or UUID to domain name",
        run: domname,
        opts: &[data("domain", "domain id or uuid")],
    },
    Command {
        name: "domuuid",
        group: G,
        help: "convert a domain name or id to domain UUID",
        run: domuuid,
        opts: &[data("domain", "domain id or name")],
    },
    Command {
        name: "dumpxml",
        group: G,
        help: "domain information in XML",
        run: dumpxml,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("inactive", "show inactive defined XML"),
            flag(
                "security-info",
                "include security sensitive information in XML dump",
            ),
            flag("update-cpu", "update guest CPU according to host CPU"),
            flag("migratable", "provide XML suitable for migrations"),
        ],
    },
    Command {
        name: "autostart",
        group: G,
        help: "autostart a domain",
        run: autostart,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("disable", "disable autostarting"),
        ],
    },
    Command {
        name: "domrename",
        group: G,
        help: "rename a domain",
        run: domrename,
        opts: &[
            data("domain", "domain name or uuid"),
            data("new-name", "new domain name"),
        ],
    },
    Command {
        name: "setmem",
        group: G,
        help: "change memory allocation",
        run: setmem,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("size", "new memory size, as scaled integer (default KiB)"),
            flag("config", "affect next boot"),
            flag("live", "affect running domain"),
            flag("current", "affect current domain"),
        ],
    },
    Command {
        name: "setmaxmem",
        group: G,
        help: "change maximum memory limit",
        run: setmaxmem,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data(
                "size",
                "new maximum memory size, as scaled integer (default KiB)",
            ),
            flag("config", "affect next boot"),
            flag("live", "affect running domain"),
            flag("current", "affect current domain"),
        ],
    },
    Command {
        name: "setvcpus",
        group: G,
        help: "change number of virtual CPUs",
        run: setvcpus,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("count", "number of virtual CPUs"),
            flag("maximum", "set maximum limit on next boot"),
            flag("config", "affect next boot"),
            flag("live", "affect running domain"),
            flag("current", "affect current domain"),
            flag("guest", "modify cpu state in the guest"),
        ],
    },
    Command {
        name: "vcpucount",
        group: M,
        help: "domain vcpu counts",
        run: vcpucount,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("maximum", "get maximum count of vcpus"),
            flag("active", "get number of currently active vcpus"),
            flag("live", "get value from running domain"),
            flag("config", "get value to be used on next boot"),
            flag("current", "get value according to current domain state"),
            flag("guest", "retrieve vcpu count from the guest"),
        ],
    },
    Command {
        name: "save",
        group: G,
        help: "save a domain state to a file",
        run: save,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("file", "where to save the data"),
            flag("bypass-cache", "avoid file system cache when saving"),
            named("xml", "filename containing updated XML for the target"),
            flag("running", "set domain to be running on restore"),
            flag("paused", "set domain to be paused on restore"),
            flag("verbose", "display the progress of save"),
        ],
    },
    Command {
        name: "restore",
        group: G,
        help: "restore a domain from a saved state in a file",
        run: restore,
        opts: &[
            data("file", "the state to restore"),
            flag("bypass-cache", "avoid file system cache when restoring"),
            named("xml", "filename containing updated XML for the target"),
            flag("running", "restore domain into running state"),
            flag("paused", "restore domain into paused state"),
        ],
    },
    Command {
        name: "save-image-dumpxml",
        group: G,
        help: "saved state domain information in XML",
        run: save_image_dumpxml,
        opts: &[
            data("file", "saved state file to read"),
            flag(
                "security-info",
                "include security sensitive information in XML dump",
            ),
        ],
    },
    Command {
        name: "managedsave",
        group: G,
        help: "managed save of a domain state",
        run: managedsave,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("bypass-cache", "avoid file system cache when saving"),
            flag("running", "set domain to be running on next start"),
            flag("paused", "set domain to be paused on next start"),
            flag("verbose", "display the progress of save"),
        ],
    },
    Command {
        name: "managedsave-remove",
        group: G,
        help: "Remove managed save of a domain",
        run: managedsave_remove,
        opts: &[data("domain", "domain name, id or uuid")],
    },
    Command {
        name: "domblklist",
        group: M,
        help: "list all domain blocks",
        run: domblklist,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("inactive", "get inactive rather than running configuration"),
            flag("details", "additionally display the type and device value"),
        ],
    },
    Command {
        name: "domiflist",
        group: M,
        help: "list all domain virtual interfaces",
        run: domiflist,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("inactive", "get inactive rather than running configuration"),
        ],
    },
    Command {
        name: "console",
        group: G,
        help: "connect to the guest console",
        run: console,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("devname", "character device name"),
            flag("force", "force console connection"),
            flag("safe", "only connect if safe console handling is supported"),
        ],
    },
    Command {
        name: "event",
        group: G,
        help: "Domain Events",
        run: event,
        opts: &[
            data_opt("domain", "filter by domain name, id or uuid"),
            named("event", "which event type to wait for"),
            flag("all", "wait for all events instead of just one type"),
            flag(
                "loop",
                "loop until timeout or interrupt, rather than one-shot",
            ),
            named("timeout", "timeout seconds"),
            flag("list", "list valid event types"),
            flag("timestamp", "show timestamp for each printed event"),
        ],
    },
];

/// virsh's lookup: an id, then a UUID, then a name.
pub fn lookup(ctx: &mut Ctx, arg: &str) -> Result<Domain, CmdError> {
    let conn = ctx.conn()?;
    let found = arg
        .parse::<u32>()
        .ok()
        .and_then(|id| conn.lookup_domain_by_id(id).ok())
        .or_else(|| conn.lookup_domain_by_uuid_string(arg).ok());
    match found {
        Some(d) => Ok(d),
        None => conn
            .lookup_domain_by_name(arg)
            .ctx(|| format!("failed to get domain '{arg}'")),
    }
}

fn dom(ctx: &mut Ctx, args: &Args) -> Result<Domain, CmdError> {
    lookup(ctx, args.req("domain"))
}

fn read_file(path: &str) -> Result<String, CmdError> {
    std::fs::read_to_string(path)
        .map_err(|e| CmdError::msg(format!("Failed to open file '{path}': {}", io_reason(&e))))
}

/// The errno text virsh prints ("No such file or directory").
pub fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn state_label(d: &Domain, managed_save_mark: bool) -> Result<String, Error> {
    let (state, _) = d.state()?;
    if managed_save_mark && state == State::Shutoff && d.has_managed_save_image()? {
        return Ok("saved".into());
    }
    Ok(state.virsh_name().to_string())
}

fn list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut flags = 0;
    if args.has("inactive") {
        flags |= lf::INACTIVE;
    }
    if args.has("all") {
        flags |= lf::ACTIVE | lf::INACTIVE;
    }
    for (opt, bit) in [
        ("transient", lf::TRANSIENT),
        ("persistent", lf::PERSISTENT),
        ("with-snapshot", lf::HAS_SNAPSHOT),
        ("without-snapshot", lf::NO_SNAPSHOT),
        ("state-running", lf::RUNNING),
        ("state-paused", lf::PAUSED),
        ("state-shutoff", lf::SHUTOFF),
        ("state-other", lf::OTHER),
        ("autostart", lf::AUTOSTART),
        ("no-autostart", lf::NO_AUTOSTART),
        ("with-managed-save", lf::MANAGEDSAVE),
        ("without-managed-save", lf::NO_MANAGEDSAVE),
    ] {
        if args.has(opt) {
            flags |= bit;
        }
    }
    let state_filter = lf::RUNNING | lf::PAUSED | lf::SHUTOFF | lf::OTHER;
    if flags & (lf::ACTIVE | lf::INACTIVE) == 0 && flags & state_filter == 0 {
        flags |= lf::ACTIVE;
    }
    if flags & (lf::ACTIVE | lf::INACTIVE) == lf::ACTIVE | lf::INACTIVE {
        flags &= !(lf::ACTIVE | lf::INACTIVE);
    }
    let doms = ctx
        .conn()?
        .list_all_domains(flags)
        .ctx(|| "Failed to list domains".to_string())?;
    let mark = args.has("managed-save");
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    for d in &doms {
        // A domain that vanished between listing and asking is skipped.
        let (Ok(id), Ok(label), Ok((state, reason))) = (d.id(), state_label(d, mark), d.state())
        else {
            continue;
        };
        let id_text = if id < 0 {
            "-".to_string()
        } else {
            id.to_string()
        };
        let mut row = vec![id_text, d.name().to_string(), label.clone()];
        let title = if args.has("title") {
            let xml = d.xml_desc(0).unwrap_or_default();
            wirt::xml::DomainDef::parse(&xml, Default::default())
                .ok()
                .and_then(|def| def.title)
                .unwrap_or_default()
        } else {
            String::new()
        };
        if args.has("title") {
            row.push(title.clone());
        }
        rows.push(row);
        json_rows.push(json!({
            "id": if id < 0 { serde_json::Value::Null } else { json!(id) },
            "name": d.name(), "uuid": d.uuid_string(), "state": state, "state_text": label,
            "reason": state.reason_name(reason), "persistent": d.is_persistent().unwrap_or(false),
            "autostart": d.autostart().unwrap_or(false), "managed_save": d.has_managed_save_image().unwrap_or(false),
        }));
    }
    if !args.has("table") && (args.has("name") || args.has("uuid") || args.has("id")) {
        let mut text = String::new();
        for (d, row) in doms.iter().zip(&rows) {
            let mut fields = Vec::new();
            if args.has("id") {
                fields.push(row[0].clone());
            }
            if args.has("name") {
                fields.push(d.name().to_string());
            }
            if args.has("uuid") {
                fields.push(d.uuid_string());
            }
            if args.has("id") && row[0] == "-" && !args.has("name") && !args.has("uuid") {
                continue;
            }
            text.push_str(&fields.join(" "));
            text.push('\n');
        }
        return Ok(Reply::text(text, json!(json_rows)));
    }
    let headers: &[&str] = if args.has("title") {
        &["Id", "Name", "State", "Title"]
    } else {
        &["Id", "Name", "State"]
    };
    Ok(Reply::table(headers, &rows, json_rows))
}

fn define(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = read_file(file)?;
    let flags = if args.has("validate") {
        df::DEFINE_VALIDATE
    } else {
        0
    };
    let d = ctx
        .conn()?
        .define_domain_xml(&xml, flags)
        .ctx(|| format!("Failed to define domain from {file}"))?;
    Ok(Reply::message(format!(
        "Domain '{}' defined from {file}",
        d.name()
    )))
}

fn create(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = read_file(file)?;
    let mut flags = 0;
    if args.has("paused") {
        flags |= df::START_PAUSED;
    }
    if args.has("autodestroy") {
        flags |= df::START_AUTODESTROY;
    }
    if args.has("validate") {
        flags |= df::CREATE_VALIDATE;
    }
    let d = ctx
        .conn()?
        .create_domain_xml(&xml, flags)
        .ctx(|| format!("Failed to create domain from {file}"))?;
    Ok(Reply::message(format!(
        "Domain '{}' created from {file}",
        d.name()
    )))
}

fn undefine(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let mut flags = 0;
    for (opt, bit) in [
        ("managed-save", df::UNDEFINE_MANAGED_SAVE),
        ("snapshots-metadata", df::UNDEFINE_SNAPSHOTS_METADATA),
        ("nvram", df::UNDEFINE_NVRAM),
        ("keep-nvram", df::UNDEFINE_KEEP_NVRAM),
        ("checkpoints-metadata", df::UNDEFINE_CHECKPOINTS_METADATA),
    ] {
        if args.has(opt) {
            flags |= bit;
        }
    }
    d.undefine(flags)
        .ctx(|| format!("Failed to undefine domain '{}'", d.name()))?;
    Ok(Reply::message(format!(
        "Domain '{}' has been undefined",
        d.name()
    )))
}

fn start(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let mut flags = 0;
    for (opt, bit) in [
        ("paused", df::START_PAUSED),
        ("autodestroy", df::START_AUTODESTROY),
        ("bypass-cache", df::START_BYPASS_CACHE),
        ("force-boot", df::START_FORCE_BOOT),
    ] {
        if args.has(opt) {
            flags |= bit;
        }
    }
    if d.is_active().unwrap_or(false) {
        return Err(CmdError::msg(format!(
            "Domain '{}' is already active",
            d.name()
        )));
    }
    d.start(flags)
        .ctx(|| format!("Failed to start domain '{}'", d.name()))?;
    Ok(Reply::message(format!("Domain '{}' started", d.name())))
}

macro_rules! simple {
    ($fn:ident, $call:ident, $fail:literal, $ok:literal) => {
        fn $fn(ctx: &mut Ctx, args: &Args) -> CmdResult {
            let d = dom(ctx, args)?;
            d.$call().ctx(|| format!($fail, d.name()))?;
            Ok(Reply::message(format!($ok, d.name())))
        }
    };
}

simple!(
    shutdown,
    shutdown,
    "Failed to shutdown domain '{}'",
    "Domain '{}' is being shutdown"
);
simple!(
    reset,
    reset,
    "Failed to reset domain '{}'",
    "Domain '{}' was reset"
);
simple!(
    destroy,
    destroy,
    "Failed to destroy domain '{}'",
    "Domain '{}' destroyed"
);
simple!(
    suspend,
    suspend,
    "Failed to suspend domain '{}'",
    "Domain '{}' suspended"
);
simple!(
    resume,
    resume,
    "Failed to resume domain '{}'",
    "Domain '{}' resumed"
);

fn reboot(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    d.reboot(0)
        .ctx(|| format!("Failed to reboot domain '{}'", d.name()))?;
    Ok(Reply::message(format!(
        "Domain '{}' is being rebooted",
        d.name()
    )))
}

fn dominfo(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let fail = || format!("failed to get domain information for '{}'", d.name());
    let info = d.info().ctx(fail)?;
    let id = d.id().ctx(fail)?;
    let xml = d.xml_desc(0).ctx(fail)?;
    let def = wirt::xml::DomainDef::parse(&xml, Default::default())
        .map_err(|e| CmdError::api(fail(), &e.into()))?;
    let mut rows: Vec<(&str, String)> = vec![
        ("Id", if id < 0 { "-".into() } else { id.to_string() }),
        ("Name", d.name().to_string()),
        ("UUID", d.uuid_string()),
        ("OS Type", def.os.os_type.clone()),
        ("State", info.state.virsh_name().to_string()),
        ("CPU(s)", info.vcpus.to_string()),
    ];
    if info.cpu_time_ns != 0 {
        rows.push(("CPU time", format!("{:.1}s", info.cpu_time_ns as f64 / 1e9)));
    }
    rows.push(("Max memory", format!("{} KiB", info.max_memory_kib)));
    rows.push(("Used memory", format!("{} KiB", info.memory_kib)));
    rows.push((
        "Persistent",
        if d.is_persistent().ctx(fail)? {
            "yes"
        } else {
            "no"
        }
        .into(),
    ));
    rows.push((
        "Autostart",
        if d.autostart().ctx(fail)? {
            "enable"
        } else {
            "disable"
        }
        .into(),
    ));
    rows.push((
        "Managed save",
        if d.has_managed_save_image().ctx(fail)? {
            "yes"
        } else {
            "no"
        }
        .into(),
    ));
    let conn = ctx.conn()?;
    if let Some(model) = conn.capabilities().secmodel.clone() {
        rows.push(("Security model", model));
        rows.push(("Security DOI", String::new()));
    }
    Ok(Reply::key_values(&rows))
}

fn domstate(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let (state, reason) = d
        .state()
        .ctx(|| format!("failed to get domain state for '{}'", d.name()))?;
    let text = if args.has("reason") {
        format!("{} ({})\n", state.virsh_name(), state.reason_name(reason))
    } else {
        format!("{}\n", state.virsh_name())
    };
    Ok(Reply::text(
        text,
        json!({"state": state, "state_text": state.virsh_name(), "reason": state.reason_name(reason), "reason_code": reason}),
    ))
}

fn domid(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let id = d.id().ctx(|| "failed to get domain id".into())?;
    let text = if id < 0 {
        "-".to_string()
    } else {
        id.to_string()
    };
    Ok(Reply::text(
        format!("{text}\n"),
        json!({"id": if id < 0 { serde_json::Value::Null } else { json!(id) }}),
    ))
}

fn domname(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    Ok(Reply::text(
        format!("{}\n", d.name()),
        json!({"name": d.name()}),
    ))
}

fn domuuid(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    Ok(Reply::text(
        format!("{}\n", d.uuid_string()),
        json!({"uuid": d.uuid_string()}),
    ))
}

fn dumpxml(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let mut flags = 0;
    for (opt, bit) in [
        ("inactive", df::XML_INACTIVE),
        ("security-info", df::XML_SECURE),
        ("update-cpu", df::XML_UPDATE_CPU),
        ("migratable", df::XML_MIGRATABLE),
    ] {
        if args.has(opt) {
            flags |= bit;
        }
    }
    let xml = d
        .xml_desc(flags)
        .ctx(|| format!("failed to get domain '{}' XML", d.name()))?;
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}

fn autostart(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let enable = !args.has("disable");
    d.set_autostart(enable).ctx(|| {
        format!(
            "Failed to {}mark domain '{}' as autostarted",
            if enable { "" } else { "un" },
            d.name()
        )
    })?;
    Ok(Reply::message(format!(
        "Domain '{}' {}marked as autostarted",
        d.name(),
        if enable { "" } else { "un" }
    )))
}

fn domrename(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    d.rename(args.req("new-name"))
        .ctx(|| "Domain rename failed".into())?;
    Ok(Reply::message("Domain successfully renamed"))
}

fn affect_flags(args: &Args) -> Result<u32, CmdError> {
    if args.has("current") && (args.has("live") || args.has("config")) {
        return Err(CmdError::msg(
            "Options --current and --live/--config are mutually exclusive",
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

fn size_kib(args: &Args) -> Result<u64, CmdError> {
    let raw = args.req("size");
    units::parse_size_arg(raw, "KiB")
        .map(|bytes| bytes.div_ceil(1024))
        .ok_or_else(|| {
            CmdError::msg(format!(
                "Numeric value '{raw}' for <size> option is malformed or out of range"
            ))
        })
}

fn setmem(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let flags = affect_flags(args)?;
    let kib = size_kib(args)?;
    d.set_memory_flags(kib, flags)
        .map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::empty())
}

fn setmaxmem(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let flags = affect_flags(args)? | df::MEM_MAXIMUM;
    let kib = size_kib(args)?;
    d.set_memory_flags(kib, flags)
        .ctx(|| "Unable to change MaxMemorySize".into())?;
    Ok(Reply::empty())
}

fn setvcpus(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let mut flags = affect_flags(args)?;
    if args.has("maximum") {
        flags |= df::VCPU_MAXIMUM;
    }
    if args.has("guest") {
        flags |= df::VCPU_GUEST;
    }
    let count: u32 = args.req("count").parse().map_err(|_| {
        CmdError::msg(format!(
            "Numeric value '{}' for <count> option is malformed or out of range",
            args.req("count")
        ))
    })?;
    d.set_vcpus_flags(count, flags)
        .map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::empty())
}

fn vcpucount(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let active = d.is_active().map_err(|e| CmdError::bare(&e))?;
    let persistent = d.is_persistent().map_err(|e| CmdError::bare(&e))?;
    let mut rows = Vec::new();
    let which: Vec<(&str, u32)> = match (args.has("maximum"), args.has("active")) {
        (true, false) => vec![("maximum", df::VCPU_MAXIMUM)],
        (false, true) => vec![("current", 0)],
        _ => vec![("maximum", df::VCPU_MAXIMUM), ("current", 0)],
    };
    let live_only = args.has("live");
    let config_only = args.has("config");
    let single = which.len() == 1 && (live_only || config_only || args.has("current"));
    for (label, bit) in which {
        for (scope, scope_bit, applies) in [
            ("config", df::AFFECT_CONFIG, persistent),
            ("live", df::AFFECT_LIVE, active),
        ] {
            if !applies || (live_only && scope == "config") || (config_only && scope == "live") {
                continue;
            }
            let n = d
                .vcpus_flags(bit | scope_bit)
                .map_err(|e| CmdError::bare(&e))?;
            rows.push((label, scope, n));
        }
    }
    let text: String = if single {
        rows.iter()
            .map(|(_, _, n)| format!("{n}\n"))
            .collect::<String>()
    } else {
        rows.iter()
            .map(|(l, s, n)| format!("{l:<12} {s:<12} {n:>3}\n"))
            .collect::<String>()
    };
    let json: Vec<_> = rows
        .iter()
        .map(|(l, s, n)| json!({"count": l, "scope": s, "vcpus": n}))
        .collect();
    Ok(Reply::text(text, json!(json)))
}

fn save(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let file = args.req("file");
    let mut flags = 0;
    for (opt, bit) in [
        ("bypass-cache", df::SAVE_BYPASS_CACHE),
        ("running", df::SAVE_RUNNING),
        ("paused", df::SAVE_PAUSED),
    ] {
        if args.has(opt) {
            flags |= bit;
        }
    }
    d.save(Path::new(file), flags)
        .ctx(|| format!("Failed to save domain '{}' to {file}", d.name()))?;
    Ok(Reply::message(format!(
        "\nDomain '{}' saved to {file}",
        d.name()
    )))
}

fn restore(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let mut flags = 0;
    for (opt, bit) in [
        ("bypass-cache", df::SAVE_BYPASS_CACHE),
        ("running", df::SAVE_RUNNING),
        ("paused", df::SAVE_PAUSED),
    ] {
        if args.has(opt) {
            flags |= bit;
        }
    }
    ctx.conn()?
        .restore(Path::new(file), flags)
        .ctx(|| format!("Failed to restore domain from {file}"))?;
    Ok(Reply::message(format!("Domain restored from {file}")))
}

fn save_image_dumpxml(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = ctx
        .conn()?
        .save_image_xml(Path::new(file))
        .ctx(|| format!("failed to get domain from saved image {file}"))?;
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}

fn managedsave(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let mut flags = 0;
    for (opt, bit) in [
        ("bypass-cache", df::SAVE_BYPASS_CACHE),
        ("running", df::SAVE_RUNNING),
        ("paused", df::SAVE_PAUSED),
    ] {
        if args.has(opt) {
            flags |= bit;
        }
    }
    d.managed_save(flags)
        .ctx(|| format!("Failed to save domain '{}' state", d.name()))?;
    Ok(Reply::message(format!(
        "\nDomain '{}' state saved by libvirt",
        d.name()
    )))
}

fn managedsave_remove(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let has = d
        .has_managed_save_image()
        .ctx(|| "Failed to check for domain managed save image".into())?;
    if !has {
        return Ok(Reply::message(format!(
            "Domain '{}' has no manage save image; removal skipped",
            d.name()
        )));
    }
    d.managed_save_remove().ctx(|| {
        format!(
            "Failed to remove managed save image for domain '{}'",
            d.name()
        )
    })?;
    Ok(Reply::message(format!(
        "Removed managedsave image for domain '{}'",
        d.name()
    )))
}

fn def_of(d: &Domain, inactive: bool) -> Result<wirt::xml::DomainDef, CmdError> {
    let xml = d
        .xml_desc(if inactive { df::XML_INACTIVE } else { 0 })
        .map_err(|e| CmdError::bare(&e))?;
    wirt::xml::DomainDef::parse(&xml, Default::default()).map_err(|e| CmdError::bare(&e.into()))
}

fn domblklist(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let def = def_of(&d, args.has("inactive"))?;
    let disks = def.disks();
    let rows: Vec<Vec<String>> = disks
        .iter()
        .map(|k| {
            let mut row = Vec::new();
            if args.has("details") {
                row.push(k.kind.clone());
                row.push(k.device.clone());
            }
            row.push(k.target_dev.clone().unwrap_or_default());
            row.push(k.source.clone().unwrap_or_else(|| "-".into()));
            row
        })
        .collect();
    let json: Vec<_> = disks
        .iter()
        .map(|k| json!({"type": k.kind, "device": k.device, "target": k.target_dev, "source": k.source}))
        .collect();
    let headers: &[&str] = if args.has("details") {
        &["Type", "Device", "Target", "Source"]
    } else {
        &["Target", "Source"]
    };
    Ok(Reply::table(headers, &rows, json))
}

fn domiflist(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let def = def_of(&d, args.has("inactive"))?;
    let ifaces = def.interfaces();
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = ifaces
        .iter()
        .map(|i| {
            vec![
                dash(&i.target_dev),
                i.kind.clone(),
                dash(&i.source),
                dash(&i.model),
                dash(&i.mac),
            ]
        })
        .collect();
    let json: Vec<_> = ifaces
        .iter()
        .map(|i| json!({"interface": i.target_dev, "type": i.kind, "source": i.source, "model": i.model, "mac": i.mac}))
        .collect();
    Ok(Reply::table(
        &["Interface", "Type", "Source", "Model", "MAC"],
        &rows,
        json,
    ))
}

fn console(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let stream = d
        .open_console()
        .ctx(|| format!("Failed to get console for domain '{}'", d.name()))?;
    super::console::attach(d.name(), stream).map_err(|e| CmdError::msg(format!("console: {e}")))?;
    Ok(Reply::empty())
}

fn event(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.has("list") {
        return Ok(Reply::text("lifecycle\n", json!(["lifecycle"])));
    }
    if let Some(ev) = args.get("event") {
        if ev != "lifecycle" {
            return Err(CmdError::msg(format!("unknown event type {ev}")));
        }
    } else if !args.has("all") {
        return Err(CmdError::msg(
            "one of --list, --all, or --event <type> is required",
        ));
    }
    let filter = match args.get("domain") {
        Some(arg) => Some(lookup(ctx, arg)?.uuid()),
        None => None,
    };
    let timeout = args
        .u64("timeout")
        .map_err(CmdError::msg)?
        .map(Duration::from_secs);
    let stream = ctx.conn()?.events();
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut text = String::new();
    let mut received = Vec::new();
    let mut timed_out = false;
    loop {
        let wait = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) => left,
                None => {
                    timed_out = true;
                    break;
                }
            },
            None => Duration::from_secs(3600),
        };
        let Some(e) = stream.next_timeout(wait) else {
            if deadline.is_some() {
                timed_out = true;
                break;
            }
            continue;
        };
        if filter.is_some_and(|u| u != e.uuid) {
            continue;
        }
        let line = e.virsh_line();
        if args.has("timestamp") {
            text.push_str(&format!(
                "{}: ",
                super::snapshot::timestamp(std::time::SystemTime::now())
            ));
        }
        text.push_str(&line);
        text.push('\n');
        received.push(e);
        if !args.has("loop") {
            break;
        }
    }
    if timed_out {
        text.push_str("event loop timed out\n");
    }
    text.push_str(&format!("events received: {}\n", received.len()));
    Ok(Reply::text(
        text,
        json!({"events": received, "timed_out": timed_out}),
    ))
}
