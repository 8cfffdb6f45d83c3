//! Drives a connection with the domain operations and compares what it
//! observes with the model: the result, every suite domain's state and
//! settings, and the lifecycle events, in order.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use wirt::connect::domain_flags as flags;
use wirt::{Connect, Domain, EventStream};

use super::model::{Cfg, Ev, Model, Value};
use super::script::{bad_xml, slot_xml};
use super::{Mode, NAMES, Op, dom_name, dom_uuid, name_slot, snap_name, uuid_slot};
use crate::common::{Divergence, Outcome, check_field, check_outcome};
use crate::target::Env;

pub struct DomainSut {
    conn: Connect,
    events: EventStream,
    /// Save images of this case.
    dir: tempfile::TempDir,
    /// Id token → the id the host gave.
    ids: HashMap<u32, i32>,
    /// Every id seen so far (never to be handed out again).
    used: HashSet<i32>,
}

/// What the suite observes of one of its domains.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    name: u8,
    state: u32,
    reason: u32,
    id: i32,
    persistent: bool,
    autostart: bool,
    managed_save: bool,
    inactive: Option<Cfg>,
    current: Option<Cfg>,
    snapshots: Vec<u8>,
    current_snapshot: Option<u8>,
}

fn err_code(e: &wirt::Error) -> u32 {
    e.code().0
}

/// Removes every trace of the suite's domains from a shared host.
fn clean(conn: &Connect) {
    for slot in 0..NAMES {
        let found = conn
            .lookup_domain_by_uuid(&dom_uuid(slot))
            .or_else(|_| conn.lookup_domain_by_name(&dom_name(slot)));
        if let Ok(d) = found {
            if d.is_active().unwrap_or(false) {
                let _ = d.destroy();
            }
            // Through the API, so the driver forgets them too.
            for s in d.list_all_snapshots(0).unwrap_or_default() {
                let _ = s.delete(0);
            }
            let _ = d.managed_save_remove();
            let _ = d.undefine(flags::UNDEFINE_MANAGED_SAVE | flags::UNDEFINE_SNAPSHOTS_METADATA);
        }
    }
}

/// The numbers `dumpxml` shows for memory and vCPUs.
fn parse_cfg(xml: &str) -> Option<Cfg> {
    fn element<'a>(xml: &'a str, tag: &str) -> Option<(&'a str, &'a str)> {
        let start = xml.find(&format!("<{tag}"))?;
        let rest = &xml[start + tag.len() + 1..];
        if !rest.starts_with([' ', '>']) {
            return element(rest, tag);
        }
        let close = rest.find('>')?;
        let attrs = &rest[..close];
        let body = &rest[close + 1..];
        let end = body.find('<')?;
        Some((attrs, body[..end].trim()))
    }
    let attr = |attrs: &str, name: &str| -> Option<u32> {
        let at = attrs.find(&format!("{name}="))?;
        let value = &attrs[at + name.len() + 2..];
        value[..value.find(['\'', '"'])?].parse().ok()
    };
    let (_, max_mem) = element(xml, "memory")?;
    let (_, cur_mem) = element(xml, "currentMemory")?;
    let (vcpu_attrs, vcpus) = element(xml, "vcpu")?;
    let max_vcpus: u32 = vcpus.parse().ok()?;
    Some(Cfg {
        max_mem: max_mem.parse().ok()?,
        cur_mem: cur_mem.parse().ok()?,
        max_vcpus,
        cur_vcpus: attr(vcpu_attrs, "current").unwrap_or(max_vcpus),
    })
}

/// A real guest takes a while to obey a shutdown ("in shutdown" meanwhile,
/// lifecycle.md): wait until it has, so the next step sees it shut off.
fn settle(d: &Domain) {
    const IN_SHUTDOWN: u32 = 4;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        match d.state() {
            Ok((state, _)) if state as u32 == IN_SHUTDOWN => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            _ => return,
        }
    }
}

fn value_of(d: &Domain) -> Value {
    match (name_slot(d.name()), uuid_slot(&d.uuid())) {
        (Some(name), Some(uuid)) => Value::Domain { name, uuid },
        _ => Value::Other(format!("{} {}", d.name(), d.uuid())),
    }
}

impl DomainSut {
    pub fn open(env: &Env) -> Result<Self, String> {
        let conn = env.connect().map_err(|e| crate::error::chain(&e))?;
        let events = conn.events();
        if env.shared() {
            clean(&conn);
        }
        let _ = events.drain();
        let dir = tempfile::tempdir().map_err(|e| format!("cannot create a scratch dir: {e}"))?;
        let mut sut = DomainSut {
            conn,
            events,
            dir,
            ids: HashMap::new(),
            used: HashSet::new(),
        };
        // Ids already given out on a shared host are never ours to get.
        if let Ok(all) = sut.conn.list_all_domains(0) {
            sut.used.extend(all.iter().filter_map(|d| d.id().ok()));
        }
        Ok(sut)
    }

    /// Removes the suite's domains (shared hosts, at the end of a case).
    pub fn clean(&self) {
        clean(&self.conn);
    }

    fn image(&self, file: u8) -> PathBuf {
        self.dir.path().join(format!("save-{file}.img"))
    }

    fn lookup(&self, slot: u8) -> Result<Domain, u32> {
        self.conn
            .lookup_domain_by_name(&dom_name(slot))
            .map_err(|e| err_code(&e))
    }

    /// Runs `op` on the connection.
    fn exec(&self, env: &Env, op: &Op, after: &Model) -> Outcome<Value> {
        let none = |r: wirt::connect::Result<()>| r.map(|()| Value::None).map_err(|e| err_code(&e));
        let save_flags = |mode: Mode| match mode {
            Mode::Default => 0,
            Mode::Running => flags::SAVE_RUNNING,
            Mode::Paused => flags::SAVE_PAUSED,
        };
        match *op {
            Op::Define {
                name,
                uuid,
                variant,
            } => self
                .conn
                .define_domain_xml(&slot_xml(env, name, uuid, variant), 0)
                .map(|d| value_of(&d))
                .map_err(|e| err_code(&e)),
            Op::Create {
                name,
                uuid,
                variant,
                paused,
            } => self
                .conn
                .create_domain_xml(
                    &slot_xml(env, name, uuid, variant),
                    if paused { flags::START_PAUSED } else { 0 },
                )
                .map(|d| value_of(&d))
                .map_err(|e| err_code(&e)),
            Op::Start { name, paused } => {
                none(
                    self.lookup(name)?
                        .start(if paused { flags::START_PAUSED } else { 0 }),
                )
            }
            Op::Shutdown { name } => {
                let d = self.lookup(name)?;
                none(d.shutdown().map(|()| settle(&d)))
            }
            Op::Reboot { name } => none(self.lookup(name)?.reboot(0)),
            Op::Reset { name } => none(self.lookup(name)?.reset()),
            Op::Destroy { name } => none(self.lookup(name)?.destroy()),
            Op::Suspend { name } => none(self.lookup(name)?.suspend()),
            Op::Resume { name } => none(self.lookup(name)?.resume()),
            Op::Undefine {
                name,
                managed_save,
                snapshots_metadata,
            } => {
                let mut f = 0;
                if managed_save {
                    f |= flags::UNDEFINE_MANAGED_SAVE;
                }
                if snapshots_metadata {
                    f |= flags::UNDEFINE_SNAPSHOTS_METADATA;
                }
                none(self.lookup(name)?.undefine(f))
            }
            Op::ManagedSave { name } => none(self.lookup(name)?.managed_save(0)),
            Op::ManagedSaveRemove { name } => none(self.lookup(name)?.managed_save_remove()),
            Op::Save { name, file, mode } => {
                none(self.lookup(name)?.save(&self.image(file), save_flags(mode)))
            }
            Op::Restore { file, mode } => self
                .conn
                .restore(&self.image(file), save_flags(mode))
                .map(|d| value_of(&d))
                .map_err(|e| err_code(&e)),
            Op::Autostart { name, enable } => none(self.lookup(name)?.set_autostart(enable)),
            Op::SetMem { name, kib, live } => none(self.lookup(name)?.set_memory_flags(
                kib,
                if live {
                    flags::AFFECT_LIVE
                } else {
                    flags::AFFECT_CONFIG
                },
            )),
            Op::SetVcpus { name, count, live } => none(self.lookup(name)?.set_vcpus_flags(
                count,
                if live {
                    flags::AFFECT_LIVE
                } else {
                    flags::AFFECT_CONFIG
                },
            )),
            Op::Rename { name, to } => none(self.lookup(name)?.rename(&dom_name(to))),
            Op::SnapshotCreate { name, snap } => {
                let xml = format!(
                    "<domainsnapshot><name>{}</name></domainsnapshot>",
                    snap_name(snap)
                );
                none(self.lookup(name)?.snapshot_create_xml(&xml, 0).map(|_| ()))
            }
            Op::SnapshotRevert { name, snap } => {
                let d = self.lookup(name)?;
                let s = d
                    .snapshot_lookup_by_name(&snap_name(snap))
                    .map_err(|e| err_code(&e))?;
                none(s.revert(0))
            }
            Op::SnapshotDelete { name, snap } => {
                let d = self.lookup(name)?;
                let s = d
                    .snapshot_lookup_by_name(&snap_name(snap))
                    .map_err(|e| err_code(&e))?;
                none(s.delete(0))
            }
            Op::LookupName { name } => self.lookup(name).map(|d| value_of(&d)),
            Op::LookupUuid { uuid } => self
                .conn
                .lookup_domain_by_uuid(&dom_uuid(uuid))
                .map(|d| value_of(&d))
                .map_err(|e| err_code(&e)),
            Op::LookupId { nth } => {
                if after.tokens == 0 {
                    return Ok(Value::None);
                }
                let token = u32::from(nth) % after.tokens + 1;
                let Some(&id) = self.ids.get(&token) else {
                    return Ok(Value::Other(format!("id token {token} never observed")));
                };
                self.conn
                    .lookup_domain_by_id(id as u32)
                    .map(|d| value_of(&d))
                    .map_err(|e| err_code(&e))
            }
            Op::List { filter } => {
                let found = self
                    .conn
                    .list_all_domains(filter)
                    .map_err(|e| err_code(&e))?;
                let mut names: Vec<u8> = found
                    .iter()
                    .filter(|d| uuid_slot(&d.uuid()).is_some() || name_slot(d.name()).is_some())
                    .filter_map(|d| name_slot(d.name()))
                    .collect();
                names.sort_unstable();
                Ok(Value::Names(names))
            }
            Op::DumpXml { name, inactive } => {
                let xml = self
                    .lookup(name)?
                    .xml_desc(if inactive { flags::XML_INACTIVE } else { 0 })
                    .map_err(|e| err_code(&e))?;
                Ok(parse_cfg(&xml).map_or(Value::Other(xml), Value::Xml))
            }
            Op::BadInput { kind } => {
                let (xml, f) = bad_xml(env, kind);
                self.conn
                    .define_domain_xml(&xml, f)
                    .map(|d| value_of(&d))
                    .map_err(|e| err_code(&e))
            }
        }
    }

    /// Everything observable about the suite's domains, by name slot.
    fn observe(&self, step: usize) -> Result<Vec<Seen>, Divergence> {
        let all = self
            .conn
            .list_all_domains(0)
            .map_err(|e| Divergence::new(step, "list of all domains", "a list", e.to_string()))?;
        let mut seen = Vec::new();
        for d in all {
            let ours = uuid_slot(&d.uuid()).is_some() || name_slot(d.name()).is_some();
            if !ours {
                continue;
            }
            let fail = |what: &str, e: wirt::Error| {
                Divergence::new(
                    step,
                    format!("{what} of {}", d.name()),
                    "an answer",
                    e.to_string(),
                )
            };
            let Some(name) = name_slot(d.name()) else {
                return Err(Divergence::new(
                    step,
                    "domains",
                    "only the suite's names on its UUIDs",
                    format!("{} with UUID {}", d.name(), d.uuid()),
                ));
            };
            let (state, reason) = d.state().map_err(|e| fail("state", e))?;
            let mut snapshots: Vec<u8> = d
                .list_all_snapshots(0)
                .map_err(|e| fail("snapshots", e))?
                .iter()
                .filter_map(|s| (0..super::SNAPS).find(|&k| snap_name(k) == s.name()))
                .collect();
            snapshots.sort_unstable();
            let current_snapshot = if d.has_current_snapshot().map_err(|e| fail("snapshot", e))? {
                let s = d
                    .snapshot_current()
                    .map_err(|e| fail("current snapshot", e))?;
                (0..super::SNAPS).find(|&k| snap_name(k) == s.name())
            } else {
                None
            };
            seen.push(Seen {
                name,
                state: state as u32,
                reason,
                id: d.id().map_err(|e| fail("id", e))?,
                persistent: d.is_persistent().map_err(|e| fail("persistence", e))?,
                autostart: d.autostart().map_err(|e| fail("autostart", e))?,
                managed_save: d
                    .has_managed_save_image()
                    .map_err(|e| fail("managed save", e))?,
                inactive: parse_cfg(
                    &d.xml_desc(flags::XML_INACTIVE)
                        .map_err(|e| fail("inactive XML", e))?,
                ),
                current: parse_cfg(&d.xml_desc(0).map_err(|e| fail("XML", e))?),
                snapshots,
                current_snapshot,
            });
        }
        seen.sort_by_key(|s| s.name);
        Ok(seen)
    }

    /// Checks ids: active → positive, the token's id, never reused;
    /// inactive → -1.
    fn check_id(
        &mut self,
        step: usize,
        token: Option<u32>,
        id: i32,
        name: &str,
    ) -> Result<(), Divergence> {
        let what = || format!("id of {name}");
        match token {
            None => check_field(step, what, &-1, &id),
            Some(t) => match self.ids.get(&t) {
                Some(&known) => check_field(step, what, &known, &id),
                None => {
                    if id <= 0 || self.used.contains(&id) {
                        return Err(Divergence::new(
                            step,
                            what(),
                            "a new positive id, never used before",
                            id.to_string(),
                        ));
                    }
                    self.ids.insert(t, id);
                    self.used.insert(id);
                    Ok(())
                }
            },
        }
    }

    fn compare(&mut self, step: usize, model: &Model, seen: &[Seen]) -> Result<(), Divergence> {
        let mut expected: Vec<u8> = model.doms.iter().map(|d| d.name).collect();
        expected.sort_unstable();
        let observed: Vec<u8> = seen.iter().map(|s| s.name).collect();
        let show = |v: &[u8]| {
            v.iter()
                .map(|&s| dom_name(s))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if expected != observed {
            return Err(Divergence::new(
                step,
                "domains",
                format!("[{}]", show(&expected)),
                format!("[{}]", show(&observed)),
            ));
        }
        for s in seen {
            let d = &model.doms[model.by_name(s.name).expect("same names")];
            let name = dom_name(d.name);
            if (d.state, d.reason) != (s.state, s.reason) {
                return Err(Divergence::new(
                    step,
                    format!("state (reason) of {name}"),
                    super::model::state_name(d.state, d.reason),
                    super::model::state_name(s.state, s.reason),
                ));
            }
            self.check_id(step, d.id, s.id, &name)?;
            check_field(
                step,
                || format!("persistence of {name}"),
                &d.persistent(),
                &s.persistent,
            )?;
            check_field(
                step,
                || format!("autostart of {name}"),
                &d.autostart,
                &s.autostart,
            )?;
            check_field(
                step,
                || format!("managed-save image of {name}"),
                &d.managed_save.is_some(),
                &s.managed_save,
            )?;
            check_field(
                step,
                || format!("dumpxml --inactive of {name}"),
                &Some(d.inactive_cfg()),
                &s.inactive,
            )?;
            check_field(
                step,
                || format!("dumpxml of {name}"),
                &Some(d.current_cfg()),
                &s.current,
            )?;
            let mut snaps: Vec<u8> = d.snapshots.iter().map(|x| x.name).collect();
            snaps.sort_unstable();
            check_field(
                step,
                || format!("snapshots of {name}"),
                &snaps,
                &s.snapshots,
            )?;
            check_field(
                step,
                || format!("current snapshot of {name}"),
                &d.current,
                &s.current_snapshot,
            )?;
        }
        Ok(())
    }

    fn check_events(&mut self, env: &Env, step: usize, expected: &[Ev]) -> Result<(), Divergence> {
        let mut got: Vec<wirt::DomainEvent> = self.events.drain();
        while got.len() < expected.len() && !env.event_wait.is_zero() {
            match self.events.next_timeout(env.event_wait) {
                Some(e) => got.push(e),
                None => break,
            }
        }
        let fmt = |name: &str, event: u32, detail: u32, id: i32| {
            format!("{name} {} id {id}", super::model::event_name(event, detail))
        };
        let observed: Vec<String> = got
            .iter()
            .filter(|e| uuid_slot(&e.uuid).is_some())
            .map(|e| fmt(&e.name, e.event as u32, e.detail, e.id))
            .collect();
        let wanted: Vec<String> = expected
            .iter()
            .map(|e| {
                let id = match e.id {
                    None => -1,
                    Some(t) => self.ids.get(&t).copied().unwrap_or(0),
                };
                fmt(&dom_name(e.name), e.event, e.detail, id)
            })
            .collect();
        if observed != wanted {
            return Err(Divergence::new(
                step,
                "events",
                format!("[{}]", wanted.join("; ")),
                format!("[{}]", observed.join("; ")),
            ));
        }
        Ok(())
    }

    /// One step: run, compare the result, the domains and the events.
    pub fn step(
        &mut self,
        env: &Env,
        step: usize,
        op: &Op,
        after: &Model,
    ) -> Result<(), Divergence> {
        let observed = self.exec(env, op, after);
        check_outcome(step, &after.expect, &observed)?;
        let seen = self.observe(step)?;
        self.compare(step, after, &seen)?;
        self.check_events(env, step, &after.events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_numbers_of_a_definition() {
        let xml = "<domain type='test' id='3'>\n  <name>x</name>\n  <memory unit='KiB'>262144</memory>\n  \
                   <currentMemory unit='KiB'>196608</currentMemory>\n  <vcpu placement='static' current='2'>4</vcpu>\n</domain>";
        assert_eq!(
            parse_cfg(xml),
            Some(Cfg {
                max_mem: 262_144,
                cur_mem: 196_608,
                max_vcpus: 4,
                cur_vcpus: 2
            })
        );
        let plain = xml.replace(" current='2'", "");
        assert_eq!(parse_cfg(&plain).map(|c| c.cur_vcpus), Some(4));
    }
}
