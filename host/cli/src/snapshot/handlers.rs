//! What the snapshot commands do.

use super::*;

pub(super) fn create(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = lookup::domain(ctx, args.req("domain"))?;
    let (xml, from) = match args.get("xmlfile") {
        Some(f) => (common::read_file(f)?, Some(f.to_string())),
        None => ("<domainsnapshot/>".to_string(), None),
    };
    let snap = d
        .snapshot_create_xml(&xml, create_flags(args))
        .map_err(|e| CmdError::bare(&e))?;
    Ok(created(match from {
        Some(f) => format!("Domain snapshot {} created from '{f}'", snap.name()),
        None => format!("Domain snapshot {} created", snap.name()),
    }))
}

pub(super) fn create_as(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut xml = String::from("<domainsnapshot>\n");
    if let Some(name) = args.get("name") {
        xml.push_str(&format!("  <name>{}</name>\n", escape_text(name)));
    }
    if let Some(desc) = args.get("description") {
        xml.push_str(&format!(
            "  <description>{}</description>\n",
            escape_text(desc)
        ));
    }
    if let Some(spec) = args.get("memspec") {
        xml.push_str(&memspec_xml(spec).map_err(CmdError::msg)?);
    }
    if !args.rest().is_empty() {
        xml.push_str("  <disks>\n");
        for spec in args.rest() {
            xml.push_str(&diskspec_xml(spec).map_err(CmdError::msg)?);
        }
        xml.push_str("  </disks>\n");
    }
    xml.push_str("</domainsnapshot>\n");
    if args.has("print-xml") {
        return Ok(Reply::text(xml.clone(), json!({"xml": xml})));
    }
    let d = lookup::domain(ctx, args.req("domain"))?;
    let snap = d
        .snapshot_create_xml(&xml, create_flags(args))
        .map_err(|e| CmdError::bare(&e))?;
    Ok(created(format!("Domain snapshot {} created", snap.name())))
}

fn create_flags(args: &Args) -> u32 {
    args.flags(&[
        ("halt", sf::CREATE_HALT),
        ("no-metadata", sf::CREATE_NO_METADATA),
        ("disk-only", sf::CREATE_DISK_ONLY),
        ("reuse-external", sf::CREATE_REUSE_EXT),
        ("atomic", sf::CREATE_ATOMIC),
        ("live", sf::CREATE_LIVE),
        ("validate", sf::CREATE_VALIDATE),
    ])
}

/// Splits virsh's `key=value,...` spec; a leading bare word is `bare_key`.
/// A doubled comma stands for a comma in a value, as in virsh.
fn spec_fields(spec: &str, bare_key: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut chars = spec.chars().peekable();
    let mut parts = Vec::new();
    while let Some(c) = chars.next() {
        if c == ',' {
            if chars.peek() == Some(&',') {
                chars.next();
                current.push(',');
            } else {
                parts.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    for (i, part) in parts.into_iter().enumerate() {
        match part.split_once('=') {
            Some((k, v)) => fields.push((k.to_string(), v.to_string())),
            None if i == 0 => fields.push((bare_key.to_string(), part)),
            None => fields.push((part, String::new())),
        }
    }
    fields
}

/// `--memspec [file=]name[,snapshot=type]` as virsh writes it.
fn memspec_xml(spec: &str) -> Result<String, String> {
    let mut snapshot = None;
    let mut file = None;
    for (key, value) in spec_fields(spec, "file") {
        match key.as_str() {
            "file" => file = Some(value),
            "snapshot" => snapshot = Some(value),
            _ => return Err(format!("unable to parse memspec: {spec}")),
        }
    }
    let mut xml = String::from("  <memory");
    if let Some(s) = snapshot {
        xml.push_str(&format!(" snapshot='{}'", escape_attr(&s)));
    }
    if let Some(f) = file {
        xml.push_str(&format!(" file='{}'", escape_attr(&f)));
    }
    xml.push_str("/>\n");
    Ok(xml)
}

/// `--diskspec disk[,snapshot=type][,driver=type][,stype=type][,file=name]`
/// as virsh writes it.
fn diskspec_xml(spec: &str) -> Result<String, String> {
    let fields = spec_fields(spec, "name");
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    if let Some((bad, _)) = fields.iter().find(|(k, _)| {
        !matches!(
            k.as_str(),
            "name" | "snapshot" | "driver" | "stype" | "file"
        )
    }) {
        return Err(format!(
            "unable to parse diskspec: {spec} (unknown '{bad}')"
        ));
    }
    let name = get("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("unable to parse diskspec: {spec}"))?;
    let mut xml = format!("    <disk name='{}'", escape_attr(name));
    if let Some(s) = get("snapshot") {
        xml.push_str(&format!(" snapshot='{}'", escape_attr(s)));
    }
    let stype = get("stype").unwrap_or("file");
    if get("stype").is_some() {
        xml.push_str(&format!(" type='{}'", escape_attr(stype)));
    }
    let (driver, file) = (get("driver"), get("file"));
    if driver.is_none() && file.is_none() {
        xml.push_str("/>\n");
        return Ok(xml);
    }
    xml.push_str(">\n");
    if let Some(d) = driver {
        xml.push_str(&format!("      <driver type='{}'/>\n", escape_attr(d)));
    }
    if let Some(f) = file {
        let attr = if stype == "block" { "dev" } else { "file" };
        xml.push_str(&format!("      <source {attr}='{}'/>\n", escape_attr(f)));
    }
    xml.push_str("    </disk>\n");
    Ok(xml)
}

/// virsh prints this message without a newline of its own; only the
/// command's closing newline ends it.
pub(super) fn created(message: String) -> Reply {
    let mut reply = Reply::message(message);
    reply.text.pop();
    reply
}

/// libvirt's `vshTreePrint` layout.
pub(super) fn tree(names: &[(String, Option<String>)]) -> String {
    fn walk(
        names: &[(String, Option<String>)],
        i: usize,
        last: usize,
        root: bool,
        indent: &mut String,
        out: &mut String,
    ) {
        let dev = &names[i].0;
        out.push_str(&format!("{indent}{}{dev}\n", if root { "" } else { "+- " }));
        if !root {
            indent.push(if i == last { ' ' } else { '|' });
            indent.push(' ');
        }
        let next_last = names
            .iter()
            .rposition(|(_, p)| p.as_deref() == Some(dev.as_str()));
        if next_last.is_some() {
            out.push_str(&format!("{indent}  |\n"));
        }
        indent.push_str("  ");
        for (j, (_, p)) in names.iter().enumerate() {
            if p.as_deref() == Some(dev.as_str()) {
                walk(
                    names,
                    j,
                    next_last.expect("has children"),
                    false,
                    indent,
                    out,
                );
            }
        }
        indent.truncate(indent.len() - 2);
        if next_last.is_none() && i == last {
            out.push_str(&format!("{indent}\n"));
        }
        if !root {
            indent.truncate(indent.len() - 2);
        }
    }
    let mut out = String::new();
    let roots: Vec<usize> = (0..names.len()).filter(|&i| names[i].1.is_none()).collect();
    let last = roots.last().copied().unwrap_or(0);
    for &r in &roots {
        walk(names, r, last, true, &mut String::new(), &mut out);
    }
    out
}

pub(super) fn list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = lookup::domain(ctx, args.req("domain"))?;
    let mut flags = 0;
    if args.has("roots") {
        flags |= sf::LIST_ROOTS;
    }
    if args.has("leaves") {
        flags |= sf::LIST_LEAVES;
    }
    let snaps = d
        .list_all_snapshots(flags)
        .ctx(|| "Failed to list snapshots".into())?;
    let mut infos = Vec::new();
    for s in &snaps {
        infos.push(s.info().map_err(|e| CmdError::bare(&e))?);
    }
    let json = json!(infos);
    if args.has("tree") {
        let names: Vec<(String, Option<String>)> = infos
            .iter()
            .map(|i| (i.name.clone(), i.parent.clone()))
            .collect();
        return Ok(Reply::text(tree(&names), json));
    }
    if args.has("name") {
        let text: String = infos
            .iter()
            .map(|i| format!("{}\n", i.name))
            .collect::<String>();
        return Ok(Reply::text(text, json));
    }
    let mut sorted = infos.clone();
    if !args.has("topological") {
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let rows: Vec<Vec<String>> = sorted
        .iter()
        .map(|i| {
            let mut row = vec![
                i.name.clone(),
                common::format_time(i.creation_time),
                i.state.clone(),
            ];
            if args.has("parent") {
                row.push(i.parent.clone().unwrap_or_default());
            }
            row
        })
        .collect();
    let headers: &[&str] = if args.has("parent") {
        &["Name", "Creation Time", "State", "Parent"]
    } else {
        &["Name", "Creation Time", "State"]
    };
    Ok(Reply {
        text: crate::output::table(headers, &rows),
        json,
        quiet_text: Some(crate::output::table(&[], &rows)),
        bare: false,
    })
}

pub(super) fn current(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = lookup::domain(ctx, args.req("domain"))?;
    let snap = d
        .snapshot_current()
        .ctx(|| "failed to get current snapshot".into())?;
    if args.has("name") {
        // virsh prints the bare name, without the empty line that ends
        // other commands' output.
        let name = snap.name().to_string();
        return Ok(Reply {
            quiet_text: Some(format!("{name}\n")),
            bare: false,
            json: json!({ "name": name }),
            text: name,
        });
    }
    let xml = snap.xml_desc().map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::text(
        xml.clone(),
        json!({"name": snap.name(), "xml": xml}),
    ))
}

pub(super) fn info(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (_, snap) = pick(ctx, args)?;
    let i = snap.info().map_err(|e| CmdError::bare(&e))?;
    let rows = [
        ("Name", i.name.clone()),
        ("Domain", i.domain.clone()),
        ("Current", if i.current { "yes" } else { "no" }.into()),
        ("State", i.state.clone()),
        ("Location", i.location.clone()),
        ("Parent", i.parent.clone().unwrap_or_else(|| "-".into())),
        ("Children", i.children.to_string()),
        ("Descendants", i.descendants.to_string()),
        ("Metadata", "yes".into()),
    ];
    Ok(Reply::key_values(&rows))
}

pub(super) fn dumpxml(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (_, snap) = pick(ctx, args)?;
    let xml = snap.xml_desc().map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}

pub(super) fn parent(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (_, snap) = pick(ctx, args)?;
    match snap.parent().map_err(|e| CmdError::bare(&e))? {
        Some(p) => Ok(Reply::value("parent", p)),
        None => Err(CmdError::msg(format!(
            "snapshot '{}' has no parent",
            snap.name()
        ))),
    }
}

pub(super) fn revert(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (_, snap) = pick(ctx, args)?;
    let mut flags = 0;
    if args.has("running") {
        flags |= sf::REVERT_RUNNING;
    }
    if args.has("paused") {
        flags |= sf::REVERT_PAUSED;
    }
    if args.has("force") {
        flags |= sf::REVERT_FORCE;
    }
    snap.revert(flags).map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::message(format!(
        "Domain snapshot {} reverted",
        snap.name()
    )))
}

pub(super) fn delete(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (_, snap) = pick(ctx, args)?;
    let mut flags = 0;
    if args.has("children") {
        flags |= sf::DELETE_CHILDREN;
    }
    if args.has("children-only") {
        flags |= sf::DELETE_CHILDREN_ONLY;
    }
    if args.has("metadata") {
        flags |= sf::DELETE_METADATA_ONLY;
    }
    snap.delete(flags)
        .ctx(|| format!("Failed to delete snapshot {}", snap.name()))?;
    Ok(Reply::message(if args.has("children-only") {
        format!("Domain snapshot {} children deleted", snap.name())
    } else {
        format!("Domain snapshot {} deleted", snap.name())
    }))
}

#[cfg(test)]
mod tests {
    use super::tree;
    use crate::common;

    #[test]
    fn tree_keeps_the_layout_pinned_from_virsh_9() {
        let names = vec![
            ("snap1".to_string(), None),
            ("snap2".to_string(), Some("snap1".to_string())),
        ];
        assert_eq!(tree(&names), "snap1\n  |\n  +- snap2\n    \n");
    }

    #[test]
    fn times() {
        assert_eq!(common::format_time(0), "1970-01-01 00:00:00 +0000");
        assert_eq!(
            common::format_time(1_795_415_782),
            "2026-11-23 06:36:22 +0000"
        );
    }
}
