//! What the plugin commands (no virsh twin): plugin-list, plugin-info, plugin-install do.

use super::*;

pub(super) fn list(_: &mut Ctx, _: &Args) -> CmdResult {
    let policy = policy()?;
    let (entries, problems) = catalog::discover();
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    for e in &entries {
        let status = match e.load(&policy) {
            Ok(loaded) => wirt::plugin::health(&loaded.plugin.name)
                .unwrap_or("loaded")
                .to_string(),
            Err(err) => format!("failed: {}", error_chain(&err)),
        };
        rows.push(vec![
            e.manifest.name.clone(),
            e.manifest.version.clone(),
            e.manifest.world.clone(),
            e.source.describe(),
            status.clone(),
        ]);
        json_rows.push(json!({
            "name": e.manifest.name, "version": e.manifest.version, "world": e.manifest.world,
            "source": e.source.describe(), "status": status,
        }));
    }
    for (dir, why) in &problems {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let status = format!("failed: {why}");
        rows.push(vec![
            name.clone(),
            "-".into(),
            "-".into(),
            dir.display().to_string(),
            status.clone(),
        ]);
        json_rows
            .push(json!({"name": name, "source": dir.display().to_string(), "status": status}));
    }
    Ok(Reply::table(
        &["Name", "Version", "World", "Source", "Status"],
        &rows,
        json_rows,
    ))
}

pub(super) fn access(a: Access) -> &'static str {
    match a {
        Access::ReadOnly => "read-only",
        Access::ReadWrite => "read-write",
    }
}

pub(super) fn info(_: &mut Ctx, args: &Args) -> CmdResult {
    let arg = args.req("plugin");
    let policy = policy()?;
    // A file is inspected as it is; a name is looked up in the plugin path.
    let (entry, inspection) = if arg.ends_with(".wasm") || Path::new(arg).is_file() {
        let wasm =
            std::fs::read(arg).map_err(|e| CmdError::msg(format!("cannot read {arg}: {e}")))?;
        let name = Path::new(arg)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let inspection =
            catalog::inspect(&wasm, &name).map_err(|e| CmdError::msg(error_chain(&e)))?;
        let manifest =
            wirt::plugin::manifest::Manifest::load(&Path::new(arg).with_file_name("plugin.toml"))
                .ok();
        (
            manifest.map(|manifest| Entry {
                manifest,
                source: catalog::Source::Dir(
                    Path::new(arg)
                        .parent()
                        .unwrap_or(Path::new("."))
                        .to_path_buf(),
                ),
            }),
            inspection,
        )
    } else {
        let entry = catalog::find(arg).map_err(|e| CmdError::msg(error_chain(&e)))?;
        let inspection = entry
            .inspect()
            .map_err(|e| CmdError::msg(error_chain(&e)))?;
        (Some(entry), inspection)
    };
    let mut rows: Vec<(&str, String)> = Vec::new();
    let mut requested = Vec::new();
    if let Some(e) = &entry {
        let m = &e.manifest;
        rows.push(("Name", m.name.clone()));
        rows.push(("Version", m.version.clone()));
        rows.push(("World", m.world.clone()));
        rows.push(("Contract", m.wit.clone()));
        rows.push(("Source", e.source.describe()));
        if !m.serves.uri_schemes.is_empty() {
            rows.push(("URI schemes", m.serves.uri_schemes.join(", ")));
        }
        if !m.serves.pool_types.is_empty() {
            rows.push(("Pool types", m.serves.pool_types.join(", ")));
        }
        let limits = policy.limits(m);
        rows.push(("Memory cap", format!("{} MiB", limits.memory_bytes >> 20)));
        rows.push((
            "Call deadline",
            format!("{}s", limits.call_timeout.as_secs()),
        ));
        for grant in policy.grants(m) {
            let decided = match grant.granted {
                Some(a) => format!("granted {}", access(a)),
                None => "refused by policy".into(),
            };
            requested.push(json!({"path": grant.requested.path, "requested": access(grant.requested.access), "decision": decided}));
            rows.push((
                "Capability",
                format!(
                    "{} ({}): {decided}",
                    grant.requested.path.display(),
                    access(grant.requested.access)
                ),
            ));
        }
        if m.capabilities.filesystem.is_empty() {
            rows.push(("Capabilities", "none requested".into()));
        }
    }
    rows.push(("Exports", inspection.exports.join(", ")));
    rows.push(("Imports", inspection.imports.join(", ")));
    let mut reply = Reply::key_values(&rows);
    reply.json["exports"] = json!(inspection.exports);
    reply.json["imports"] = json!(inspection.imports);
    reply.json["capabilities"] = json!(requested);
    Ok(reply)
}

pub(super) fn install(_: &mut Ctx, args: &Args) -> CmdResult {
    let file = Path::new(args.req("file"));
    let manifest = args.get("manifest").map(Path::new);
    let dest = catalog::plugin_dirs()
        .into_iter()
        .next()
        .filter(|_| std::env::var_os("WIRT_PLUGIN_PATH").is_some())
        .unwrap_or_else(catalog::user_dir);
    let entry = catalog::install(file, manifest, &dest).map_err(|e| CmdError {
        lines: vec![
            format!("Failed to install plugin from {}", file.display()),
            error_chain(&e),
        ],
        code: Some(e.code()),
    })?;
    Ok(Reply::message(format!(
        "Plugin {} {} installed in {}",
        entry.manifest.name,
        entry.manifest.version,
        entry.source.describe()
    )))
}
