//! What the storage pool commands do.

use super::*;

pub(super) fn pool_list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut flags = args.flags(&[
        ("inactive", sf::LIST_INACTIVE),
        ("persistent", sf::LIST_PERSISTENT),
        ("transient", sf::LIST_TRANSIENT),
        ("autostart", sf::LIST_AUTOSTART),
        ("no-autostart", sf::LIST_NO_AUTOSTART),
    ]);
    if args.has("all") {
        flags &= !sf::LIST_INACTIVE;
    } else if flags & sf::LIST_INACTIVE == 0 {
        flags |= sf::LIST_ACTIVE;
    }
    let types: Option<Vec<String>> = args
        .get("type")
        .map(|t| t.split(',').map(String::from).collect());
    let pools = ctx
        .conn()?
        .list_all_pools(flags)
        .ctx(|| "Failed to list pools".into())?;
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    let mut names = String::new();
    for p in &pools {
        if let Some(types) = &types
            && !types.contains(&p.pool_type().unwrap_or_default())
        {
            continue;
        }
        let (Ok(active), Ok(auto), Ok(persistent), Ok(info)) =
            (p.is_active(), p.autostart(), p.is_persistent(), p.info())
        else {
            continue;
        };
        names.push_str(&if args.has("uuid") {
            p.uuid().to_string()
        } else {
            p.name().to_string()
        });
        names.push('\n');
        let mut row = vec![p.name().to_string()];
        if args.has("details") {
            row.push(if active { "running" } else { "inactive" }.into());
            row.push(common::yes_no(auto));
            row.push(common::yes_no(persistent));
            if active {
                row.extend([
                    pretty_capacity(info.capacity),
                    pretty_capacity(info.allocation),
                    pretty_capacity(info.available),
                ]);
            } else {
                row.extend(["-".to_string(), "-".into(), "-".into()]);
            }
        } else {
            row.push(if active { "active" } else { "inactive" }.into());
            row.push(common::yes_no(auto));
        }
        rows.push(row);
        json_rows.push(json!({
            "name": p.name(), "uuid": p.uuid().to_string(), "active": active, "autostart": auto, "persistent": persistent,
            "capacity": info.capacity, "allocation": info.allocation, "available": info.available,
        }));
    }
    if args.has("name") || args.has("uuid") {
        return Ok(Reply::text(names, json!(json_rows)));
    }
    let headers: &[&str] = if args.has("details") {
        &[
            "Name",
            "State",
            "Autostart",
            "Persistent",
            "Capacity",
            "Allocation",
            "Available",
        ]
    } else {
        &["Name", "State", "Autostart"]
    };
    Ok(Reply::table(headers, &rows, json_rows))
}

pub(super) fn pool_define(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = common::read_file(file)?;
    let p = ctx
        .conn()?
        .define_pool_xml(&xml)
        .ctx(|| format!("Failed to define pool from {file}"))?;
    Ok(Reply::message(format!(
        "Pool {} defined from {file}",
        p.name()
    )))
}

pub(super) fn pool_create(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = common::read_file(file)?;
    let p = ctx
        .conn()?
        .create_pool_xml(&xml)
        .ctx(|| format!("Failed to create pool from {file}"))?;
    Ok(Reply::message(format!(
        "Pool {} created from {file}",
        p.name()
    )))
}

/// The XML `pool-define-as`/`pool-create-as` build from their arguments.
pub(super) fn pool_as_xml(args: &Args) -> String {
    let mut source = String::new();
    if let Some(h) = args.get("source-host") {
        source.push_str(&format!("    <host name='{}'/>\n", escape_attr(h)));
    }
    if let Some(p) = args.get("source-path") {
        source.push_str(&format!("    <dir path='{}'/>\n", escape_attr(p)));
    }
    if let Some(d) = args.get("source-dev") {
        source.push_str(&format!("    <device path='{}'/>\n", escape_attr(d)));
    }
    if let Some(f) = args.get("source-format") {
        source.push_str(&format!("    <format type='{}'/>\n", escape_attr(f)));
    }
    if let Some(n) = args.get("source-name") {
        source.push_str(&format!("    <name>{}</name>\n", escape_text(n)));
    }
    let mut xml = format!(
        "<pool type='{}'>\n  <name>{}</name>\n",
        escape_attr(args.req("type")),
        escape_text(args.req("name"))
    );
    if !source.is_empty() {
        xml.push_str(&format!("  <source>\n{source}  </source>\n"));
    }
    if let Some(t) = args.get("target") {
        // libvirt stores the target as given; make it absolute as libvirt's
        // storage driver would see it from the daemon's working directory.
        let path = std::path::Path::new(t);
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|d| d.join(path))
                .unwrap_or_else(|_| path.to_path_buf())
        };
        xml.push_str(&format!(
            "  <target>\n    <path>{}</path>\n  </target>\n",
            escape_text(&abs.to_string_lossy())
        ));
    }
    xml.push_str("</pool>\n");
    xml
}

pub(super) fn pool_define_as(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let xml = pool_as_xml(args);
    if args.has("print-xml") {
        return Ok(Reply::text(xml.clone(), json!({"xml": xml})));
    }
    let p = ctx
        .conn()?
        .define_pool_xml(&xml)
        .ctx(|| format!("Failed to define pool {}", args.req("name")))?;
    Ok(Reply::message(format!("Pool {} defined", p.name())))
}

pub(super) fn pool_create_as(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let xml = pool_as_xml(args);
    if args.has("print-xml") {
        return Ok(Reply::text(xml.clone(), json!({"xml": xml})));
    }
    let p = ctx
        .conn()?
        .create_pool_xml(&xml)
        .ctx(|| format!("Failed to create pool {}", args.req("name")))?;
    Ok(Reply::message(format!("Pool {} created", p.name())))
}

pub(super) fn pool_build(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    let mut flags = 0;
    if args.has("no-overwrite") {
        flags |= sf::BUILD_NO_OVERWRITE;
    }
    if args.has("overwrite") {
        flags |= sf::BUILD_OVERWRITE;
    }
    p.build(flags)
        .ctx(|| format!("Failed to build pool {}", p.name()))?;
    Ok(Reply::message(format!("Pool {} built", p.name())))
}

pub(super) fn pool_start(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    if args.has("build") {
        p.build(0)
            .ctx(|| format!("Failed to build pool {}", p.name()))?;
    }
    p.create(0)
        .ctx(|| format!("Failed to start pool {}", p.name()))?;
    Ok(Reply::message(format!("Pool {} started", p.name())))
}

pub(super) fn pool_destroy(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    p.destroy()
        .ctx(|| format!("Failed to destroy pool {}", p.name()))?;
    Ok(Reply::message(format!("Pool {} destroyed", p.name())))
}

pub(super) fn pool_delete(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    p.delete(0)
        .ctx(|| format!("Failed to delete pool {}", p.name()))?;
    Ok(Reply::message(format!("Pool {} deleted", p.name())))
}

pub(super) fn pool_undefine(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    p.undefine()
        .ctx(|| format!("Failed to undefine pool {}", p.name()))?;
    Ok(Reply::message(format!(
        "Pool {} has been undefined",
        p.name()
    )))
}

pub(super) fn pool_refresh(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    p.refresh()
        .ctx(|| format!("Failed to refresh pool {}", p.name()))?;
    Ok(Reply::message(format!("Pool {} refreshed", p.name())))
}

pub(super) fn pool_info(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    let fail = || format!("failed to get pool information for '{}'", p.name());
    let info = p.info().ctx(fail)?;
    let active = info.state != 0;
    let size = |b: u64| {
        if args.has("bytes") {
            format!("{b} bytes")
        } else {
            pretty_capacity(b)
        }
    };
    let mut rows = vec![
        ("Name", p.name().to_string()),
        ("UUID", p.uuid().to_string()),
        ("State", if active { "running" } else { "inactive" }.into()),
        ("Persistent", common::yes_no(p.is_persistent().ctx(fail)?)),
        ("Autostart", common::yes_no(p.autostart().ctx(fail)?)),
    ];
    if active {
        rows.push(("Capacity", size(info.capacity)));
        rows.push(("Allocation", size(info.allocation)));
        rows.push(("Available", size(info.available)));
    }
    Ok(Reply::key_values(&rows))
}

pub(super) fn pool_dumpxml(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    let xml = p
        .xml_desc(0)
        .ctx(|| format!("failed to get pool '{}' XML", p.name()))?;
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}

pub(super) fn pool_autostart(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    let enable = !args.has("disable");
    let un = if enable { "" } else { "un" };
    p.set_autostart(enable)
        .ctx(|| format!("failed to {un}mark pool {} as autostarted", p.name()))?;
    Ok(Reply::message(format!(
        "Pool {} {un}marked as autostarted",
        p.name()
    )))
}

pub(super) fn pool_uuid(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    Ok(Reply::value("uuid", p.uuid()))
}

pub(super) fn pool_name(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    Ok(Reply::value("name", p.name()))
}

/// virsh's `pool-event`: lifecycle and refresh events of storage pools.
pub(super) fn pool_event(ctx: &mut Ctx, args: &Args) -> CmdResult {
    use wirt::events::PoolLifecycle;
    if args.has("list") {
        return Ok(Reply::text(
            "lifecycle\nrefresh\n",
            json!(["lifecycle", "refresh"]),
        ));
    }
    let refresh = match (args.get("event"), args.has("all")) {
        (Some("lifecycle"), _) => Some(false),
        (Some("refresh"), _) => Some(true),
        (Some(other), _) => return Err(CmdError::msg(format!("unknown event type {other}"))),
        (None, true) => None,
        (None, false) => {
            return Err(CmdError::msg(
                "one of --list, --all, or --event <type> is required",
            ));
        }
    };
    let filter = match args.get("pool") {
        Some(arg) => Some(lookup::pool(ctx, arg)?.uuid()),
        None => None,
    };
    let stream = ctx
        .conn()?
        .pool_events()
        .map_err(|e| CmdError::api("failed to register storage pool event callback", &e))?;
    crate::event_loop::run(
        args,
        !ctx.json,
        stream,
        |e| {
            filter.is_none_or(|u| u == e.uuid)
                && refresh.is_none_or(|r| r == (e.event == PoolLifecycle::Refreshed))
        },
        |e| e.virsh_line(),
    )
}

pub(super) fn pool_capabilities(ctx: &mut Ctx, _args: &Args) -> CmdResult {
    let xml = ctx
        .conn()?
        .storage_pool_capabilities(0)
        .ctx(|| "failed to get storage pool capabilities".into())?;
    Ok(Reply::text(xml.clone(), json!({ "xml": xml })))
}
