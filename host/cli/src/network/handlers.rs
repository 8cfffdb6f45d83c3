//! What the network commands do.

use super::*;

pub(super) fn list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut flags = args.flags(&[
        ("inactive", nf::LIST_INACTIVE),
        ("persistent", nf::LIST_PERSISTENT),
        ("transient", nf::LIST_TRANSIENT),
        ("autostart", nf::LIST_AUTOSTART),
        ("no-autostart", nf::LIST_NO_AUTOSTART),
    ]);
    if args.has("all") {
        flags &= !nf::LIST_INACTIVE;
    } else if flags & nf::LIST_INACTIVE == 0 {
        flags |= nf::LIST_ACTIVE;
    }
    let nets = ctx
        .conn()?
        .list_all_networks(flags)
        .ctx(|| "Failed to list networks".into())?;
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    for n in &nets {
        let (Ok(active), Ok(auto), Ok(persistent)) =
            (n.is_active(), n.autostart(), n.is_persistent())
        else {
            continue;
        };
        rows.push(vec![
            n.name().to_string(),
            if active { "active" } else { "inactive" }.into(),
            common::yes_no(auto),
            common::yes_no(persistent),
        ]);
        json_rows.push(json!({"name": n.name(), "uuid": n.uuid().to_string(), "active": active, "autostart": auto, "persistent": persistent}));
    }
    if !args.has("table") && (args.has("name") || args.has("uuid")) {
        let text: String = nets
            .iter()
            .map(|n| match (args.has("uuid"), args.has("name")) {
                (true, true) => format!("{} {}\n", n.uuid(), n.name()),
                (true, false) => format!("{}\n", n.uuid()),
                _ => format!("{}\n", n.name()),
            })
            .collect::<String>();
        return Ok(Reply::text(text, json!(json_rows)));
    }
    Ok(Reply::table(
        &["Name", "State", "Autostart", "Persistent"],
        &rows,
        json_rows,
    ))
}

pub(super) fn define(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = common::read_file(file)?;
    let n = ctx
        .conn()?
        .define_network_xml(&xml)
        .ctx(|| format!("Failed to define network from {file}"))?;
    Ok(Reply::message(format!(
        "Network {} defined from {file}",
        n.name()
    )))
}

pub(super) fn create(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = common::read_file(file)?;
    let n = ctx
        .conn()?
        .create_network_xml(&xml)
        .ctx(|| format!("Failed to create network from {file}"))?;
    Ok(Reply::message(format!(
        "Network {} created from {file}",
        n.name()
    )))
}

pub(super) fn start(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    n.start()
        .ctx(|| format!("Failed to start network {}", n.name()))?;
    Ok(Reply::message(format!("Network {} started", n.name())))
}

pub(super) fn destroy(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    n.destroy()
        .ctx(|| format!("Failed to destroy network {}", n.name()))?;
    Ok(Reply::message(format!("Network {} destroyed", n.name())))
}

pub(super) fn undefine(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    n.undefine()
        .ctx(|| format!("Failed to undefine network {}", n.name()))?;
    Ok(Reply::message(format!(
        "Network {} has been undefined",
        n.name()
    )))
}

pub(super) fn info(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    let fail = || format!("failed to get network information for '{}'", n.name());
    let mut rows = vec![
        ("Name", n.name().to_string()),
        ("UUID", n.uuid().to_string()),
        ("Active", common::yes_no(n.is_active().ctx(fail)?)),
        ("Persistent", common::yes_no(n.is_persistent().ctx(fail)?)),
        ("Autostart", common::yes_no(n.autostart().ctx(fail)?)),
    ];
    if let Some(bridge) = n.bridge_name().ctx(fail)? {
        rows.push(("Bridge", bridge));
    }
    Ok(Reply::key_values(&rows))
}

/// virsh's lease table: by MAC, expiry in UTC, `-` for what the lease lacks.
pub(super) fn dhcp_leases(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    let mut leases = n
        .dhcp_leases(args.get("mac"), 0)
        .ctx(|| format!("Failed to get leases info for {}", n.name()))?;
    leases.sort_by(|a, b| a.mac.cmp(&b.mac));
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = leases
        .iter()
        .map(|l| {
            let expiry = common::format_time(l.expiry_time.max(0) as u64);
            vec![
                expiry[..19].to_string(),
                dash(&l.mac),
                if l.addr_type == 1 { "ipv6" } else { "ipv4" }.into(),
                format!("{}/{}", l.ip, l.prefix),
                dash(&l.hostname),
                dash(&l.client_id),
            ]
        })
        .collect();
    Ok(Reply::table(
        &[
            "Expiry Time",
            "MAC address",
            "Protocol",
            "IP address",
            "Hostname",
            "Client ID or DUID",
        ],
        &rows,
        serde_json::to_value(&leases)
            .unwrap_or_default()
            .as_array()
            .cloned()
            .unwrap_or_default(),
    ))
}

/// virsh's `domifaddr`: its fixed-width lines, the name and MAC only on an
/// interface's first address unless `--full`, `N/A` for one without.
pub(super) fn domifaddr(ctx: &mut Ctx, args: &Args) -> CmdResult {
    use wirt::connect::ifaddr_source as src;
    let dom = lookup::domain(ctx, args.req("domain"))?;
    let source = match args.get("source") {
        None | Some("lease") => src::LEASE,
        Some("agent") => src::AGENT,
        Some("arp") => src::ARP,
        Some(other) => {
            return Err(CmdError::msg(format!("Unknown data source '{other}'")));
        }
    };
    let ifaces = dom
        .interface_addresses(source, 0)
        .ctx(|| "Failed to query for interfaces addresses".into())?;
    let full = args.has("full");
    let mut text = format!(
        " {:<10} {:<20} {:<8}     {}\n{}\n",
        "Name",
        "MAC address",
        "Protocol",
        "Address",
        "-".repeat(79)
    );
    let wanted: Vec<_> = ifaces
        .iter()
        .filter(|i| args.get("interface").is_none_or(|want| i.name == want))
        .collect();
    for iface in &wanted {
        let mac = iface.hwaddr.as_deref().unwrap_or("-");
        if iface.addrs.is_empty() {
            text.push_str(&format!(
                " {:<10} {:<17}    {:<12} {}\n",
                iface.name, mac, "N/A", "N/A"
            ));
        }
        for (j, a) in iface.addrs.iter().enumerate() {
            let kind = if a.addr_type == 1 { "ipv6" } else { "ipv4" };
            let (name, mac) = if full || j == 0 {
                (iface.name.as_str(), mac)
            } else {
                ("-", "-")
            };
            text.push_str(&format!(
                " {:<10} {:<17}    {:<12} {}/{}\n",
                name, mac, kind, a.addr, a.prefix
            ));
        }
    }
    Ok(Reply::text(
        text,
        serde_json::to_value(&wanted).unwrap_or_default(),
    ))
}

pub(super) fn net_event(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if let Some(done) = crate::event_loop::check_type(args)? {
        return Ok(done);
    }
    let filter = match args.get("network") {
        Some(arg) => Some(lookup::network(ctx, arg)?.uuid()),
        None => None,
    };
    let stream = ctx
        .conn()?
        .network_events()
        .ctx(|| "failed to register network event callback".into())?;
    crate::event_loop::run(
        args,
        !ctx.json,
        stream,
        |e| filter.is_none_or(|u| u == e.uuid),
        |e| e.virsh_line(),
    )
}

pub(super) fn dumpxml(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    let flags = if args.has("inactive") {
        nf::XML_INACTIVE
    } else {
        0
    };
    let xml = n
        .xml_desc(flags)
        .ctx(|| format!("failed to get network '{}' XML", n.name()))?;
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}

pub(super) fn autostart(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    let enable = !args.has("disable");
    let un = if enable { "" } else { "un" };
    n.set_autostart(enable)
        .ctx(|| format!("failed to {un}mark network {} as autostarted", n.name()))?;
    Ok(Reply::message(format!(
        "Network {} {un}marked as autostarted",
        n.name()
    )))
}

pub(super) fn uuid(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    Ok(Reply::value("uuid", n.uuid()))
}

pub(super) fn name(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let arg = args.req("network");
    let conn = ctx.conn()?;
    let uuid = wirt::xml::domain::parse_uuid(arg)
        .map_err(|_| CmdError::msg(format!("failed to get network '{arg}'")))?;
    let n = conn
        .lookup_network_by_uuid(&uuid)
        .ctx(|| format!("failed to get network '{arg}'"))?;
    Ok(Reply::value("name", n.name()))
}

pub(super) fn update(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    let xml_arg = args.req("xml");
    let xml = if xml_arg.trim_start().starts_with('<') {
        xml_arg.to_string()
    } else {
        common::read_file(xml_arg)?
    };
    let mut flags = 0;
    if args.has("live") {
        flags |= nf::UPDATE_LIVE;
    }
    if args.has("config") {
        flags |= nf::UPDATE_CONFIG;
    }
    let parent = args
        .u64("parent-index")
        .map_err(CmdError::msg)?
        .map(|v| v as usize);
    let command = match args.req("command") {
        "add" => "add-last",
        other => other,
    };
    let active = n.is_active().map_err(|e| CmdError::bare(&e))?;
    n.update(command, args.req("section"), parent, &xml, flags)
        .ctx(|| "Failed to update network".into())?;
    let (live, config) = match flags {
        0 => (active, !active),
        f => (f & nf::UPDATE_LIVE != 0, f & nf::UPDATE_CONFIG != 0),
    };
    let what = match (live, config) {
        (true, true) => "persistent config and live state",
        (true, false) => "live state",
        _ => "persistent config",
    };
    Ok(Reply::message(format!(
        "Updated network {} {what}",
        n.name()
    )))
}
