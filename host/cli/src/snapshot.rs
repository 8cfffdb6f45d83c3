//! Snapshot commands.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::domain::lookup;
use super::parse::{Args, data, data_opt, flag, named};
use super::{CmdError, CmdResult, Command, Context, Ctx, Reply};
use wirt::connect::snapshot_flags as sf;
use wirt::xml::tree::escape_text;
use wirt::{Domain, Snapshot};

const G: &str = "Snapshot";

pub static COMMANDS: &[Command] = &[
    Command {
        name: "snapshot-create",
        group: G,
        help: "Create a snapshot from XML",
        run: create,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("xmlfile", "domain snapshot XML"),
            flag("halt", "halt domain after snapshot is created"),
            flag("atomic", "require atomic operation"),
            flag("validate", "validate the XML against the schema"),
        ],
    },
    Command {
        name: "snapshot-create-as",
        group: G,
        help: "Create a snapshot from a set of args",
        run: create_as,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("name", "name of snapshot"),
            data_opt("description", "description of snapshot"),
            flag("print-xml", "print XML document rather than create"),
            flag("halt", "halt domain after snapshot is created"),
            flag("atomic", "require atomic operation"),
            flag("live", "take a live snapshot"),
            flag("validate", "validate the XML against the schema"),
        ],
    },
    Command {
        name: "snapshot-list",
        group: G,
        help: "List snapshots for a domain",
        run: list,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("parent", "add a column showing parent snapshot"),
            flag("roots", "list only snapshots without parents"),
            flag("leaves", "list only snapshots without children"),
            flag("tree", "list snapshots in a tree"),
            flag("name", "list snapshot names only"),
            flag("current", "limit list to children of current snapshot"),
            flag("topological", "sort list topologically rather than by name"),
        ],
    },
    Command {
        name: "snapshot-current",
        group: G,
        help: "Get the current snapshot",
        run: current,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("name", "list the name, rather than the full xml"),
            flag(
                "security-info",
                "include security sensitive information in XML dump",
            ),
        ],
    },
    Command {
        name: "snapshot-info",
        group: G,
        help: "snapshot information",
        run: info,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("snapshotname", "snapshot name"),
            flag("current", "info on current snapshot"),
        ],
    },
    Command {
        name: "snapshot-dumpxml",
        group: G,
        help: "Dump XML for a domain snapshot",
        run: dumpxml,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("snapshotname", "snapshot name"),
            flag(
                "security-info",
                "include security sensitive information in XML dump",
            ),
        ],
    },
    Command {
        name: "snapshot-parent",
        group: G,
        help: "Get the name of the parent of a snapshot",
        run: parent,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("snapshotname", "find parent of snapshot name"),
            flag("current", "find parent of current snapshot"),
        ],
    },
    Command {
        name: "snapshot-revert",
        group: G,
        help: "Revert a domain to a snapshot",
        run: revert,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("snapshotname", "snapshot name"),
            flag("current", "revert to current snapshot"),
            flag("running", "after reverting, change state to running"),
            flag("paused", "after reverting, change state to paused"),
            flag("force", "try harder on risky reverts"),
            named(
                "reset-nvram",
                "re-initialize NVRAM from its pristine template",
            ),
        ],
    },
    Command {
        name: "snapshot-delete",
        group: G,
        help: "Delete a domain snapshot",
        run: delete,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("snapshotname", "snapshot name"),
            flag("current", "delete current snapshot"),
            flag("children", "delete snapshot and all children"),
            flag("children-only", "delete children but not snapshot"),
            flag(
                "metadata",
                "delete only libvirt metadata, leaving snapshot contents behind",
            ),
        ],
    },
];

/// `YYYY-MM-DD HH:MM:SS +0000` in UTC, as virsh prints creation times.
pub fn format_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} +0000",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// virsh event's `--timestamp` prefix.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let full = format_time(d.as_secs());
    format!("{}.{:03}+0000", &full[..19], d.subsec_millis())
}

fn pick(ctx: &mut Ctx, args: &Args) -> Result<(Domain, Snapshot), CmdError> {
    let d = lookup(ctx, args.req("domain"))?;
    let snap = match args.get("snapshotname") {
        Some(name) => d
            .snapshot_lookup_by_name(name)
            .ctx(|| format!("failed to get snapshot '{name}'"))?,
        None if args.has("current") || args.get("snapshotname").is_none() => {
            d.snapshot_current()
                .ctx(|| "failed to get current snapshot".into())?
        }
        None => unreachable!("covered above"),
    };
    Ok((d, snap))
}

fn create(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = lookup(ctx, args.req("domain"))?;
    let (xml, from) = match args.get("xmlfile") {
        Some(f) => (
            std::fs::read_to_string(f).map_err(|e| {
                CmdError::msg(format!(
                    "Failed to open file '{f}': {}",
                    super::domain::io_reason(&e)
                ))
            })?,
            Some(f.to_string()),
        ),
        None => ("<domainsnapshot/>".to_string(), None),
    };
    let mut flags = 0;
    if args.has("halt") {
        flags |= sf::CREATE_HALT;
    }
    if args.has("atomic") {
        flags |= sf::CREATE_ATOMIC;
    }
    let snap = d
        .snapshot_create_xml(&xml, flags)
        .map_err(|e| CmdError::bare(&e))?;
    Ok(created(match from {
        Some(f) => format!("Domain snapshot {} created from '{f}'", snap.name()),
        None => format!("Domain snapshot {} created", snap.name()),
    }))
}

fn create_as(ctx: &mut Ctx, args: &Args) -> CmdResult {
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
    xml.push_str("</domainsnapshot>\n");
    if args.has("print-xml") {
        return Ok(Reply::text(xml.clone(), json!({"xml": xml})));
    }
    let d = lookup(ctx, args.req("domain"))?;
    let mut flags = 0;
    if args.has("halt") {
        flags |= sf::CREATE_HALT;
    }
    if args.has("atomic") {
        flags |= sf::CREATE_ATOMIC;
    }
    let snap = d
        .snapshot_create_xml(&xml, flags)
        .map_err(|e| CmdError::bare(&e))?;
    Ok(created(format!("Domain snapshot {} created", snap.name())))
}

/// virsh prints this message without a newline of its own; only the
/// command's closing newline ends it.
fn created(message: String) -> Reply {
    let mut reply = Reply::message(message);
    reply.text.pop();
    reply
}

/// libvirt's `vshTreePrint` layout.
fn tree(names: &[(String, Option<String>)]) -> String {
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

fn list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = lookup(ctx, args.req("domain"))?;
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
                format_time(i.creation_time),
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
        text: super::output::table(headers, &rows),
        json,
        quiet_text: Some(super::output::table(&[], &rows)),
    })
}

fn current(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = lookup(ctx, args.req("domain"))?;
    let snap = d
        .snapshot_current()
        .ctx(|| "failed to get current snapshot".into())?;
    if args.has("name") {
        return Ok(Reply::value("name", snap.name()));
    }
    let xml = snap.xml_desc().map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::text(
        xml.clone(),
        json!({"name": snap.name(), "xml": xml}),
    ))
}

fn info(ctx: &mut Ctx, args: &Args) -> CmdResult {
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

fn dumpxml(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (_, snap) = pick(ctx, args)?;
    let xml = snap.xml_desc().map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}

fn parent(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (_, snap) = pick(ctx, args)?;
    match snap.parent().map_err(|e| CmdError::bare(&e))? {
        Some(p) => Ok(Reply::value("parent", p)),
        None => Err(CmdError::msg(format!(
            "snapshot '{}' has no parent",
            snap.name()
        ))),
    }
}

fn revert(ctx: &mut Ctx, args: &Args) -> CmdResult {
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

fn delete(ctx: &mut Ctx, args: &Args) -> CmdResult {
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
    use super::*;

    #[test]
    fn tree_like_virsh() {
        let names = vec![
            ("snap1".to_string(), None),
            ("snap2".to_string(), Some("snap1".to_string())),
        ];
        assert_eq!(tree(&names), "snap1\n  |\n  +- snap2\n    \n");
    }

    #[test]
    fn times() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 +0000");
        assert_eq!(format_time(1_795_415_782), "2026-11-23 06:36:22 +0000");
    }
}
