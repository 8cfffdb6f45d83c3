//! What the storage volume commands do.

use super::*;

pub(super) fn vol_list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    let vols = p
        .list_all_volumes()
        .ctx(|| "Failed to list volumes".into())?;
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    for v in &vols {
        let Ok(info) = v.cached_info() else {
            continue;
        };
        let kind = ["file", "block", "dir", "network", "netdir", "ploop"]
            .get(info.kind as usize)
            .copied()
            .unwrap_or("unknown");
        let mut row = vec![v.name().to_string(), info.path.clone()];
        if args.has("details") {
            row.extend([
                kind.to_string(),
                pretty_capacity(info.capacity),
                pretty_capacity(info.allocation),
            ]);
        }
        rows.push(row);
        json_rows.push(json!({"name": v.name(), "path": info.path, "type": kind, "capacity": info.capacity, "allocation": info.allocation, "format": info.format}));
    }
    let headers: &[&str] = if args.has("details") {
        &["Name", "Path", "Type", "Capacity", "Allocation"]
    } else {
        &["Name", "Path"]
    };
    Ok(Reply::table(headers, &rows, json_rows))
}

pub(super) fn vol_create(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    let file = args.req("file");
    let xml = common::read_file(file)?;
    let v = p
        .create_volume_xml(&xml, 0)
        .ctx(|| format!("Failed to create vol from {file}"))?;
    Ok(Reply::message(format!(
        "Vol {} created from {file}",
        v.name()
    )))
}

pub(super) fn size_arg(args: &Args, name: &str) -> Result<Option<u64>, CmdError> {
    args.get(name)
        .map(|raw| {
            parse_size_arg(raw, "B").ok_or_else(|| CmdError::msg(format!("Malformed size {raw}")))
        })
        .transpose()
}

pub(super) fn vol_create_as(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let capacity = size_arg(args, "capacity")?.expect("required");
    let allocation = size_arg(args, "allocation")?;
    let mut xml = format!(
        "<volume>\n  <name>{}</name>\n  <capacity>{capacity}</capacity>\n",
        escape_text(args.req("name"))
    );
    // virsh asks for a fully allocated volume unless told otherwise.
    xml.push_str(&format!(
        "  <allocation>{}</allocation>\n",
        allocation.unwrap_or(capacity)
    ));
    if let Some(format) = args.get("format") {
        xml.push_str(&format!(
            "  <target>\n    <format type='{}'/>\n  </target>\n",
            escape_attr(format)
        ));
    }
    if let Some(backing) = args.get("backing-vol") {
        // As virsh: a volume of the pool by name, else any volume by path.
        let p = pool(ctx, args)?;
        let path = match p.lookup_vol_by_name(backing) {
            Ok(v) => v.path(),
            Err(_) => ctx
                .conn()?
                .lookup_vol_by_path(backing)
                .and_then(|v| v.path()),
        }
        .map_err(|_| CmdError::msg(format!("failed to get vol '{backing}'")))?;
        xml.push_str(&format!(
            "  <backingStore>\n    <path>{}</path>\n",
            escape_text(&path)
        ));
        if let Some(f) = args.get("backing-vol-format") {
            xml.push_str(&format!("    <format type='{}'/>\n", escape_attr(f)));
        }
        xml.push_str("  </backingStore>\n");
    }
    xml.push_str("</volume>\n");
    if args.has("print-xml") {
        return Ok(Reply::text(xml.clone(), json!({"xml": xml})));
    }
    let p = pool(ctx, args)?;
    let v = p
        .create_volume_xml(&xml, 0)
        .ctx(|| format!("Failed to create vol {}", args.req("name")))?;
    Ok(Reply::message(format!("Vol {} created", v.name())))
}

pub(super) fn vol_create_from(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    let file = args.req("file");
    let xml = common::read_file(file)?;
    let input_pool = match args.get("inputpool") {
        Some(ip) => lookup::pool(ctx, ip)?,
        None => p.clone(),
    };
    let vol_arg = args.req("vol");
    let source = input_pool
        .lookup_vol_by_name(vol_arg)
        .or_else(|_| {
            ctx.conn()
                .map_err(|_| unreachable_conn())?
                .lookup_vol_by_path(vol_arg)
        })
        .ctx(|| format!("failed to get vol '{vol_arg}'"))?;
    let mut progress = Progress::new("Cloning", ctx.show_progress());
    progress.update(0, 1);
    let v = p
        .create_volume_xml_from(&xml, &source, 0)
        .ctx(|| format!("Failed to create vol from {file}"))?;
    progress.update(1, 1);
    progress.finish();
    Ok(Reply::message(format!(
        "Vol {} created from input vol {}",
        v.name(),
        source.name()
    )))
}

pub(super) fn unreachable_conn() -> wirt::Error {
    wirt::Error::api(wirt::ErrorCode::INVALID_CONN, "no connection")
}

pub(super) fn vol_clone(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let source = lookup::volume(ctx, args)?;
    let info = source.refreshed_info().map_err(|e| CmdError::bare(&e))?;
    let new_name = args.req("newname");
    let xml = format!(
        "<volume>\n  <name>{}</name>\n  <capacity>{}</capacity>\n  <allocation>{}</allocation>\n  <target>\n    <format type='{}'/>\n  </target>\n</volume>\n",
        escape_text(new_name),
        info.capacity,
        info.allocation,
        escape_attr(&info.format)
    );
    if args.has("print-xml") {
        return Ok(Reply::text(xml.clone(), json!({"xml": xml})));
    }
    let mut progress = Progress::new("Cloning", ctx.show_progress());
    progress.update(0, 1);
    source
        .pool()
        .create_volume_xml_from(&xml, &source, 0)
        .ctx(|| format!("Failed to clone vol from {}", source.name()))?;
    progress.update(1, 1);
    progress.finish();
    Ok(Reply::message(format!(
        "Vol {new_name} cloned from {}",
        source.name()
    )))
}

pub(super) fn vol_delete(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup::volume(ctx, args)?;
    v.delete(0)
        .ctx(|| format!("Failed to delete vol {}", v.name()))?;
    Ok(Reply::message(format!("Vol {} deleted", v.name())))
}

pub(super) fn vol_wipe(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup::volume(ctx, args)?;
    let algorithm = match args.get("algorithm") {
        None => 0,
        Some(a) => wirt::vocab::flags::WIPE_ALGORITHMS
            .iter()
            .position(|x| *x == a)
            .ok_or_else(|| CmdError::msg(format!("Unsupported algorithm '{a}'")))?
            as u32,
    };
    let mut progress = Progress::new("Wiping", ctx.show_progress());
    progress.update(0, 1);
    v.wipe(algorithm, 0)
        .ctx(|| format!("Failed to wipe vol {}", v.name()))?;
    progress.update(1, 1);
    progress.finish();
    Ok(Reply::message(format!("Vol {} wiped", v.name())))
}

pub(super) fn vol_resize(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup::volume(ctx, args)?;
    let raw = args.req("capacity");
    let mut flags = 0;
    if args.has("allocate") {
        flags |= vf::RESIZE_ALLOCATE;
    }
    if args.has("delta") {
        flags |= vf::RESIZE_DELTA;
    }
    if args.has("shrink") {
        flags |= vf::RESIZE_SHRINK;
    }
    // A leading '-' means "shrink by", as in virsh.
    let number = match raw.strip_prefix('-') {
        Some(rest) => {
            flags |= vf::RESIZE_DELTA | vf::RESIZE_SHRINK;
            rest
        }
        None => raw.strip_prefix('+').unwrap_or(raw),
    };
    let capacity = parse_size_arg(number, "B")
        .ok_or_else(|| CmdError::msg(format!("Malformed size {raw}")))?;
    v.resize(capacity, flags)
        .ctx(|| format!("Failed to change size of volume '{}' to {raw}", v.name()))?;
    Ok(Reply::message(format!(
        "Size of volume '{}' successfully changed to {raw}",
        v.name()
    )))
}

pub(super) fn offsets(args: &Args) -> Result<(u64, u64), CmdError> {
    let parse = |name: &str| -> Result<u64, CmdError> {
        match args.get(name) {
            None => Ok(0),
            Some(raw) => parse_size_arg(raw, "B")
                .ok_or_else(|| CmdError::msg(format!("Unable to parse {name} value"))),
        }
    };
    Ok((parse("offset")?, parse("length")?))
}

pub(super) fn vol_upload(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup::volume(ctx, args)?;
    let (offset, length) = offsets(args)?;
    let file = args.req("file");
    let mut source =
        BufReader::new(File::open(file).map_err(|e| {
            CmdError::msg(format!("cannot read {file}: {}", common::io_reason(&e)))
        })?);
    let mut progress = Progress::new("Uploading", ctx.show_progress());
    let written = v
        .upload(offset, length, &mut source, &mut |done, total| {
            progress.update(done, total)
        })
        .ctx(|| format!("cannot upload to volume {}", v.name()))?;
    progress.finish();
    Ok(Reply::text(
        String::new(),
        json!({"ok": true, "bytes": written}),
    ))
}

pub(super) fn vol_download(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup::volume(ctx, args)?;
    let (offset, length) = offsets(args)?;
    let file = args.req("file");
    let out = File::create(file)
        .map_err(|e| CmdError::msg(format!("cannot create {file}: {}", common::io_reason(&e))))?;
    let mut sink = BufWriter::new(out);
    let mut progress = Progress::new("Downloading", ctx.show_progress());
    let copied = v
        .download(offset, length, &mut sink, &mut |done, total| {
            progress.update(done, total)
        })
        .ctx(|| format!("cannot download from volume {}", v.name()))?;
    sink.flush()
        .map_err(|e| CmdError::msg(format!("cannot write {file}: {}", common::io_reason(&e))))?;
    progress.finish();
    Ok(Reply::text(
        String::new(),
        json!({"ok": true, "bytes": copied}),
    ))
}

pub(super) fn vol_info(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup::volume(ctx, args)?;
    let info = v.info().map_err(|e| CmdError::bare(&e))?;
    let kind = ["file", "block", "dir", "network", "netdir", "ploop"]
        .get(info.kind as usize)
        .copied()
        .unwrap_or("unknown");
    let size = |b: u64| {
        if args.has("bytes") {
            format!("{b} bytes")
        } else {
            pretty_capacity(b)
        }
    };
    let rows = [
        ("Name", v.name().to_string()),
        ("Type", kind.to_string()),
        ("Capacity", size(info.capacity)),
        (
            if args.has("physical") {
                "Physical"
            } else {
                "Allocation"
            },
            size(info.allocation),
        ),
    ];
    Ok(Reply::key_values(&rows))
}

pub(super) fn vol_dumpxml(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup::volume(ctx, args)?;
    let xml = v.xml_desc(0).map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}

pub(super) fn vol_path(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup::volume(ctx, args)?;
    Ok(Reply::value(
        "path",
        v.path().map_err(|e| CmdError::bare(&e))?,
    ))
}

pub(super) fn vol_key(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup::volume(ctx, args)?;
    Ok(Reply::value(
        "key",
        v.key().map_err(|e| CmdError::bare(&e))?,
    ))
}

pub(super) fn vol_name(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup::volume(ctx, args)?;
    Ok(Reply::value("name", v.name()))
}

pub(super) fn vol_pool(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup::volume(ctx, args)?;
    if args.has("uuid") {
        Ok(Reply::value("uuid", v.pool().uuid()))
    } else {
        Ok(Reply::value("pool", v.pool().name()))
    }
}
