//! What the host commands: version, uri, hostname, nodeinfo, capabilities, do.

use super::*;

/// Runs `wirt-conformance` from the directory of the running `wirt`.
pub(super) fn conformance(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let exe = std::env::current_exe()
        .map_err(|e| CmdError::msg(format!("cannot locate the wirt executable: {e}")))?;
    let dir = exe.parent().unwrap_or(std::path::Path::new("."));
    let tool = dir.join(format!("wirt-conformance{}", std::env::consts::EXE_SUFFIX));
    if !tool.is_file() {
        return Err(CmdError::msg(format!(
            "wirt-conformance is not installed: expected it at {} (build it with \
             `cargo build -p wirt-conformance`, or install it beside wirt)",
            tool.display()
        )));
    }
    let mut argv: Vec<String> = Vec::new();
    let mut pass = |name: &str, value: Option<&str>| {
        if let Some(v) = value {
            argv.push(format!("--{name}"));
            argv.push(v.to_string());
        }
    };
    if args.get("plugin").is_none() {
        let uri = args
            .get("uri")
            .map(String::from)
            .or_else(|| ctx.uri().map(str::to_string))
            .unwrap_or_else(crate::default_uri);
        pass("uri", Some(&uri));
    }
    for name in [
        "plugin",
        "plugin-uri",
        "cases",
        "seed",
        "pool-dir",
        "pool-type",
        "property",
    ] {
        pass(name, args.get(name));
    }
    if args.has("shared") {
        argv.push("--shared".into());
    }
    // With --json the report is the command's JSON output, and the human
    // summary goes to stderr so stdout stays one JSON document.
    let report_file = match (args.get("json"), ctx.json) {
        (Some(path), _) => Some(std::path::PathBuf::from(path)),
        (None, true) => {
            Some(std::env::temp_dir().join(format!("wirt-conformance-{}.json", std::process::id())))
        }
        (None, false) => None,
    };
    if let Some(path) = &report_file {
        argv.push("--json".into());
        argv.push(path.display().to_string());
    }
    let mut command = std::process::Command::new(&tool);
    command.args(&argv);
    if ctx.json {
        command.stdout(std::process::Stdio::from(
            std::io::stderr()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| CmdError::msg(format!("cannot redirect output: {e}")))?,
        ));
    }
    let status = command
        .status()
        .map_err(|e| CmdError::msg(format!("cannot run {}: {e}", tool.display())))?;
    let report = report_file.as_ref().and_then(|path| {
        let text = std::fs::read_to_string(path).ok();
        if args.get("json").is_none() {
            let _ = std::fs::remove_file(path);
        }
        text.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    });
    match status.code() {
        Some(0) => Ok(Reply::text(
            String::new(),
            report.unwrap_or_else(|| json!({"ok": true})),
        )),
        Some(1) => Err(CmdError::msg("the conformance suite found violations")),
        _ => Err(CmdError::msg(format!(
            "wirt-conformance could not run ({status})"
        ))),
    }
}

pub(super) fn version_string(v: u64) -> String {
    format!("{}.{}.{}", v / 1_000_000, (v / 1000) % 1000, v % 1000)
}

pub(super) fn version(ctx: &mut Ctx, _: &Args) -> CmdResult {
    let conn = ctx.conn()?;
    let lib = version_string(conn.lib_version());
    let text = format!(
        "Compiled against library: libvirt {lib}\nUsing library: libvirt {lib}\nUsing API: {ty} {lib}\nRunning hypervisor: {ty} {hv}\n",
        ty = conn.type_name(),
        hv = version_string(conn.version()),
    );
    let json = json!({
        "library": lib,
        "api": conn.type_name(),
        "hypervisor": {"type": conn.type_name(), "version": version_string(conn.version())},
        "wirt": env!("CARGO_PKG_VERSION"),
    });
    Ok(Reply::text(text, json))
}

pub(super) fn uri(ctx: &mut Ctx, _: &Args) -> CmdResult {
    Ok(Reply::value("uri", ctx.conn()?.uri()))
}

pub(super) fn hostname(ctx: &mut Ctx, _: &Args) -> CmdResult {
    Ok(Reply::value("hostname", ctx.conn()?.hostname()))
}

pub(super) fn maxvcpus(ctx: &mut Ctx, _: &Args) -> CmdResult {
    Ok(Reply::value("maxvcpus", ctx.conn()?.max_vcpus()))
}

pub(super) fn nodeinfo(ctx: &mut Ctx, _: &Args) -> CmdResult {
    let n = ctx.conn()?.node_info();
    let rows = [
        ("CPU model:", n.cpu_model.clone()),
        ("CPU(s):", n.cpus.to_string()),
        ("CPU frequency:", format!("{} MHz", n.mhz)),
        ("CPU socket(s):", n.sockets.to_string()),
        ("Core(s) per socket:", n.cores.to_string()),
        ("Thread(s) per core:", n.threads.to_string()),
        ("NUMA cell(s):", n.numa_nodes.to_string()),
        ("Memory size:", format!("{} KiB", n.memory_kib)),
    ];
    let text: String = rows.iter().map(|(k, v)| format!("{k:<20} {v}\n")).collect();
    let json = json!({
        "cpu_model": n.cpu_model, "cpus": n.cpus, "mhz": n.mhz, "sockets": n.sockets,
        "cores": n.cores, "threads": n.threads, "numa_nodes": n.numa_nodes, "memory_kib": n.memory_kib,
    });
    Ok(Reply::text(text, json))
}

pub(super) fn domcapabilities(ctx: &mut Ctx, args: &Args) -> CmdResult {
    use crate::Context as _;
    if args.has("xpath") {
        return Err(CmdError::msg("--xpath is not supported by wirt"));
    }
    let xml = ctx
        .conn()?
        .domain_capabilities(
            args.get("emulatorbin"),
            args.get("arch"),
            args.get("machine"),
            args.get("virttype"),
            0,
        )
        .ctx(|| "failed to get emulator capabilities".into())?;
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}

pub(super) fn capabilities(ctx: &mut Ctx, _: &Args) -> CmdResult {
    let xml = ctx.conn()?.capabilities_xml();
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}
