//! Domain operations as `wirt` commands, and the XML they use.

use super::model::{Cfg, VARIANTS};
use super::{BadInput, Mode, Op, dom_name, dom_uuid, list, snap_name};
use crate::common::Script;
use crate::target::Env;

/// A domain definition in the target's domain and OS type.
pub fn domain_xml(env: &Env, name: &str, uuid: &str, cfg: &Cfg) -> String {
    let current = if cfg.cur_vcpus == cfg.max_vcpus {
        String::new()
    } else {
        format!(" current='{}'", cfg.cur_vcpus)
    };
    format!(
        "<domain type='{ty}'>\n  <name>{name}</name>\n  <uuid>{uuid}</uuid>\n  \
         <memory unit='KiB'>{max}</memory>\n  <currentMemory unit='KiB'>{cur}</currentMemory>\n  \
         <vcpu placement='static'{current}>{vcpus}</vcpu>\n  <os>\n    <type>{os}</type>\n  </os>\n</domain>\n",
        ty = env.domain_type,
        max = cfg.max_mem,
        cur = cfg.cur_mem,
        vcpus = cfg.max_vcpus,
        os = env.os_type,
    )
}

pub fn slot_xml(env: &Env, name: u8, uuid: u8, variant: u8) -> String {
    domain_xml(
        env,
        &dom_name(name),
        &dom_uuid(uuid).to_string(),
        &VARIANTS[variant as usize],
    )
}

const BAD_UUID: &str = "7ac0f000-0000-4000-8000-000000000bad";

/// The XML and `define` flags of a bad input.
pub fn bad_xml(env: &Env, kind: BadInput) -> (String, u32) {
    let good = || domain_xml(env, "wconf-bad", BAD_UUID, &VARIANTS[0]);
    match kind {
        BadInput::NotWellFormed => (
            format!(
                "<domain type='{}'>\n  <name>wconf-bad</name>\n",
                env.domain_type
            ),
            0,
        ),
        BadInput::NoName => (good().replace("  <name>wconf-bad</name>\n", ""), 0),
        BadInput::NoMemory => {
            let xml = good();
            let kept: Vec<&str> = xml.lines().filter(|l| !l.contains("emory unit=")).collect();
            (kept.join("\n") + "\n", 0)
        }
        BadInput::SlashInName => (domain_xml(env, "wconf/bad", BAD_UUID, &VARIANTS[0]), 0),
        BadInput::UnknownElementValidated => (
            good().replace("</domain>", "  <wconf-unknown/>\n</domain>"),
            1,
        ),
        // No libvirt define flag is 0x40.
        BadInput::UnsupportedFlag => (good(), 0x40),
    }
}

fn bad_name(kind: BadInput) -> &'static str {
    match kind {
        BadInput::NotWellFormed => "bad-not-well-formed.xml",
        BadInput::NoName => "bad-no-name.xml",
        BadInput::NoMemory => "bad-no-memory.xml",
        BadInput::SlashInName => "bad-slash-in-name.xml",
        BadInput::UnknownElementValidated => "bad-unknown-element.xml",
        BadInput::UnsupportedFlag => "bad-flag.xml",
    }
}

fn list_flags(filter: u32) -> String {
    use list::*;
    if filter == 0 {
        return "list --all".into();
    }
    let mut words = vec!["list".to_string()];
    // virsh lists active domains unless told otherwise.
    match filter & (ACTIVE | INACTIVE) {
        ACTIVE => {}
        INACTIVE => words.push("--inactive".into()),
        _ => words.push("--all".into()),
    }
    for (bit, flag) in [
        (PERSISTENT, "--persistent"),
        (TRANSIENT, "--transient"),
        (RUNNING, "--state-running"),
        (PAUSED, "--state-paused"),
        (SHUTOFF, "--state-shutoff"),
        (OTHER, "--state-other"),
        (MANAGEDSAVE, "--with-managed-save"),
        (NO_MANAGEDSAVE, "--without-managed-save"),
        (AUTOSTART, "--autostart"),
        (NO_AUTOSTART, "--no-autostart"),
        (HAS_SNAPSHOT, "--with-snapshot"),
        (NO_SNAPSHOT, "--without-snapshot"),
    ] {
        if filter & bit != 0 {
            words.push(flag.into());
        }
    }
    if filter & (HAS_CHECKPOINT | NO_CHECKPOINT) != 0 {
        words.push(format!(
            "   # API filter 0x{filter:x} (checkpoint bits have no virsh flag)"
        ));
    }
    words.join(" ")
}

fn mode_flag(mode: Mode) -> &'static str {
    match mode {
        Mode::Default => "",
        Mode::Running => " --running",
        Mode::Paused => " --paused",
    }
}

/// `op` as a `wirt` command.
pub fn command(env: &Env, op: &Op, script: &mut Script) -> String {
    let n = |slot: u8| dom_name(slot);
    match *op {
        Op::Define {
            name,
            uuid,
            variant,
        } => {
            let file = script.file(
                format!("{}.u{uuid}.v{variant}.xml", n(name)),
                slot_xml(env, name, uuid, variant),
            );
            format!("define {file}")
        }
        Op::Create {
            name,
            uuid,
            variant,
            paused,
        } => {
            let file = script.file(
                format!("{}.u{uuid}.v{variant}.xml", n(name)),
                slot_xml(env, name, uuid, variant),
            );
            format!("create {file}{}", if paused { " --paused" } else { "" })
        }
        Op::Start { name, paused } => {
            format!("start {}{}", n(name), if paused { " --paused" } else { "" })
        }
        Op::Shutdown { name } => format!("shutdown {}", n(name)),
        Op::Reboot { name } => format!("reboot {}", n(name)),
        Op::Reset { name } => format!("reset {}", n(name)),
        Op::Destroy { name } => format!("destroy {}", n(name)),
        Op::Suspend { name } => format!("suspend {}", n(name)),
        Op::Resume { name } => format!("resume {}", n(name)),
        Op::Undefine {
            name,
            managed_save,
            snapshots_metadata,
        } => format!(
            "undefine {}{}{}",
            n(name),
            if managed_save { " --managed-save" } else { "" },
            if snapshots_metadata {
                " --snapshots-metadata"
            } else {
                ""
            }
        ),
        Op::ManagedSave { name } => format!("managedsave {}", n(name)),
        Op::ManagedSaveRemove { name } => format!("managedsave-remove {}", n(name)),
        Op::Save { name, file, mode } => {
            format!("save {} save-{file}.img{}", n(name), mode_flag(mode))
        }
        Op::Restore { file, mode } => format!("restore save-{file}.img{}", mode_flag(mode)),
        Op::Autostart { name, enable } => format!(
            "autostart {}{}",
            n(name),
            if enable { "" } else { " --disable" }
        ),
        Op::SetMem { name, kib, live } => format!(
            "setmem {} {kib} {}",
            n(name),
            if live { "--live" } else { "--config" }
        ),
        Op::SetVcpus { name, count, live } => format!(
            "setvcpus {} {count} {}",
            n(name),
            if live { "--live" } else { "--config" }
        ),
        Op::Rename { name, to } => format!("domrename {} {}", n(name), n(to)),
        Op::SnapshotCreate { name, snap } => {
            format!("snapshot-create-as {} {}", n(name), snap_name(snap))
        }
        Op::SnapshotRevert { name, snap } => {
            format!("snapshot-revert {} {}", n(name), snap_name(snap))
        }
        Op::SnapshotDelete { name, snap } => {
            format!("snapshot-delete {} {}", n(name), snap_name(snap))
        }
        Op::LookupName { name } => format!("domuuid {}", n(name)),
        Op::LookupUuid { uuid } => format!("domname {}", dom_uuid(uuid)),
        Op::LookupId { nth } => format!(
            "domname ID    # ID: the id of start #{} (mod the number of starts so far)",
            u32::from(nth) + 1
        ),
        Op::List { filter } => list_flags(filter),
        Op::DumpXml { name, inactive } => format!(
            "dumpxml {}{}",
            n(name),
            if inactive { " --inactive" } else { "" }
        ),
        Op::BadInput { kind } => {
            let (xml, flags) = bad_xml(env, kind);
            let file = script.file(bad_name(kind).to_string(), xml);
            match flags {
                0 => format!("define {file}"),
                1 => format!("define {file} --validate"),
                f => format!("define {file}    # API: virDomainDefineXMLFlags(xml, 0x{f:x})"),
            }
        }
    }
}
