//! Commands that show domains: listings, facts, XML, devices.

use super::*;

pub(super) fn list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut flags = 0;
    if args.has("inactive") {
        flags |= lf::INACTIVE;
    }
    if args.has("all") {
        flags |= lf::ACTIVE | lf::INACTIVE;
    }
    flags |= args.flags(&[
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
    ]);
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
        // One state call per domain, and its id as listed (libvirt's
        // virDomainGetID answers from the handle too): a host with many
        // guests pays for each call once per guest.
        let Ok((state, reason)) = d.state() else {
            continue;
        };
        let label =
            if mark && state == State::Shutoff && d.has_managed_save_image().unwrap_or(false) {
                "saved".to_string()
            } else {
                state.virsh_name().to_string()
            };
        let id = if state == State::Shutoff {
            -1
        } else {
            d.listed_id()
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
        if !ctx.json {
            continue;
        }
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

pub(super) fn dominfo(ctx: &mut Ctx, args: &Args) -> CmdResult {
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

pub(super) fn domstate(ctx: &mut Ctx, args: &Args) -> CmdResult {
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

pub(super) fn domid(ctx: &mut Ctx, args: &Args) -> CmdResult {
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

pub(super) fn domname(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    Ok(Reply::text(
        format!("{}\n", d.name()),
        json!({"name": d.name()}),
    ))
}

pub(super) fn domuuid(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    Ok(Reply::text(
        format!("{}\n", d.uuid_string()),
        json!({"uuid": d.uuid_string()}),
    ))
}

pub(super) fn dumpxml(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let flags = args.flags(&[
        ("inactive", df::XML_INACTIVE),
        ("security-info", df::XML_SECURE),
        ("update-cpu", df::XML_UPDATE_CPU),
        ("migratable", df::XML_MIGRATABLE),
    ]);
    let xml = d
        .xml_desc(flags)
        .ctx(|| format!("failed to get domain '{}' XML", d.name()))?;
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}

pub(super) fn def_of(d: &Domain, inactive: bool) -> Result<wirt::xml::DomainDef, CmdError> {
    let xml = d
        .xml_desc(if inactive { df::XML_INACTIVE } else { 0 })
        .map_err(|e| CmdError::bare(&e))?;
    wirt::xml::DomainDef::parse(&xml, Default::default()).map_err(|e| CmdError::bare(&e.into()))
}

pub(super) fn domblklist(ctx: &mut Ctx, args: &Args) -> CmdResult {
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

pub(super) fn domiflist(ctx: &mut Ctx, args: &Args) -> CmdResult {
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
