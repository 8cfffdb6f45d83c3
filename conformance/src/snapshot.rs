//! The snapshot property: snapshot trees of one domain (create, revert to
//! the recorded state or `--running`/`--paused`, delete plain, with
//! children, children only, metadata only) against the rules of
//! `docs/lifecycle.md` and libvirt's snapshot API.
//!
//! Where the target takes external snapshots (its domains' writable disks
//! get overlays: the KVM driver), the domain has a real qcow2 disk and the
//! property also checks what the disk holds: it writes a marker into the
//! disk (with `qemu-io`, while the domain is off), and after every step
//! the disk reads back the marker the model says it holds — the one of
//! the snapshot reverted to, and after a delete the same as before (the
//! overlay's data merged down). No image is left that neither the domain
//! nor a snapshot can reach, and every image one of them needs is there.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use proptest_state_machine::ReferenceStateMachine;
use serde::Serialize;
use uuid::Uuid;
use wirt::{Connect, Domain};

use crate::common::{Divergence, Outcome, Script, check_field, check_outcome, code};
use crate::runner::Property;
use crate::target::{Env, settings};

pub const SNAPS: u8 = 3;
const DOM: &str = "wconf-s0";
/// The domain's UUID in reproduction scripts. Each case's domain gets a
/// fresh one: undefining with `--snapshots-metadata` leaves a driver's own
/// snapshot state behind (libvirt's meaning of the flag), which must not
/// meet the next case's snapshots of the same names.
const DOM_UUID: Uuid = Uuid::from_u128(0x7ac0_f000_0000_4000_8000_0000_0000_5000);
/// Where the marker lives: past the sectors the test guest's boot
/// self-test writes.
const MARK_AT: &str = "2M";
const MARK_LEN: &str = "64k";

fn snap_name(slot: u8) -> String {
    format!("wconf-snap{slot}")
}

mod flag {
    pub const START_PAUSED: u32 = 1;
    pub const CREATE_DISK_ONLY: u32 = 16;
    pub const REVERT_RUNNING: u32 = 1;
    pub const REVERT_PAUSED: u32 = 2;
    pub const DELETE_CHILDREN: u32 = 1;
    pub const DELETE_METADATA_ONLY: u32 = 2;
    pub const DELETE_CHILDREN_ONLY: u32 = 4;
    pub const UNDEFINE_SNAPSHOTS_METADATA: u32 = 2;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Run {
    Off,
    Running,
    Paused,
}

/// What a snapshot recorded of the domain's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Taken {
    Off,
    Running,
    Paused,
    /// A disk-only snapshot of an active domain.
    DiskOnly,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RevertTo {
    Recorded,
    Running,
    Paused,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DeleteHow {
    Plain,
    Children,
    ChildrenOnly,
    MetadataOnly,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Op {
    Start {
        paused: bool,
    },
    Destroy,
    /// Writes `marker` into the disk (external targets, domain off).
    Write {
        marker: u8,
    },
    Create {
        snap: u8,
        disk_only: bool,
    },
    Revert {
        snap: u8,
        to: RevertTo,
    },
    Delete {
        snap: u8,
        how: DeleteHow,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Snap {
    pub name: u8,
    pub parent: Option<u8>,
    pub taken: Taken,
    /// The disk's marker when taken.
    pub marker: u8,
}

#[derive(Clone, Debug, Serialize)]
pub struct Model {
    /// The target keeps disks as external snapshots (the domain has one).
    pub external: bool,
    /// Snapshots of a shut-off domain are supported.
    pub inactive: bool,
    pub run: Run,
    /// The reason a revert leaves (checked only right after one).
    pub reason: Option<u32>,
    pub snaps: Vec<Snap>,
    pub current: Option<u8>,
    pub marker: u8,
    /// A metadata-only delete left images no snapshot names any more.
    pub strays_allowed: bool,
    /// Names a metadata-only delete removed: the driver may still hold
    /// their state (that is what the flag means), so what creating one
    /// again does is the driver's business, not specified.
    pub kept_by_driver: Vec<u8>,
    pub expect: Outcome<()>,
}

/// libvirt's `VIR_DOMAIN_*_FROM_SNAPSHOT` reasons.
mod reason {
    pub const RUNNING_FROM_SNAPSHOT: u32 = 4;
    pub const PAUSED_FROM_SNAPSHOT: u32 = 7;
    pub const SHUTOFF_FROM_SNAPSHOT: u32 = 7;
}

impl Model {
    fn snap(&self, name: u8) -> Result<&Snap, u32> {
        self.snaps
            .iter()
            .find(|s| s.name == name)
            .ok_or(code::NO_DOMAIN_SNAPSHOT)
    }

    fn descendants(&self, name: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let mut queue = vec![name];
        while let Some(n) = queue.pop() {
            for c in self.snaps.iter().filter(|s| s.parent == Some(n)) {
                out.push(c.name);
                queue.push(c.name);
            }
        }
        out
    }

    fn run_op(&mut self, op: &Op) -> Outcome<()> {
        self.reason = None;
        match *op {
            Op::Start { paused } => {
                if self.run != Run::Off {
                    return Err(code::OPERATION_INVALID);
                }
                self.run = if paused { Run::Paused } else { Run::Running };
            }
            Op::Destroy => {
                if self.run == Run::Off {
                    return Err(code::OPERATION_INVALID);
                }
                self.run = Run::Off;
            }
            Op::Write { marker } => self.marker = marker,
            Op::Create { snap, disk_only } => {
                if self.run == Run::Off && !self.inactive {
                    return Err(code::ANY);
                }
                let taken = match (self.run, disk_only) {
                    (Run::Off, _) => Taken::Off,
                    (_, true) => Taken::DiskOnly,
                    (Run::Running, false) => Taken::Running,
                    (Run::Paused, false) => Taken::Paused,
                };
                self.snaps.push(Snap {
                    name: snap,
                    parent: self.current,
                    taken,
                    marker: self.marker,
                });
                self.current = Some(snap);
            }
            Op::Revert { snap, to } => {
                let s = self.snap(snap)?.clone();
                self.run = match (to, s.taken) {
                    (RevertTo::Running, _) => Run::Running,
                    (RevertTo::Paused, _) => Run::Paused,
                    (RevertTo::Recorded, Taken::Running) => Run::Running,
                    (RevertTo::Recorded, Taken::Paused) => Run::Paused,
                    (RevertTo::Recorded, _) => Run::Off,
                };
                self.reason = Some(match self.run {
                    Run::Off => reason::SHUTOFF_FROM_SNAPSHOT,
                    Run::Running => reason::RUNNING_FROM_SNAPSHOT,
                    Run::Paused => reason::PAUSED_FROM_SNAPSHOT,
                });
                self.current = Some(snap);
                self.marker = s.marker;
            }
            Op::Delete { snap, how } => {
                let s = self.snap(snap)?.clone();
                let below = self.descendants(snap);
                let doomed: Vec<u8> = match how {
                    DeleteHow::Plain | DeleteHow::MetadataOnly => vec![snap],
                    DeleteHow::Children => below.iter().copied().chain([snap]).collect(),
                    DeleteHow::ChildrenOnly => below,
                };
                // An overlay that another snapshot's disk stands on cannot
                // merge away alone.
                if self.external
                    && how == DeleteHow::Plain
                    && self.snaps.iter().any(|c| c.parent == Some(snap))
                {
                    return Err(code::OPERATION_UNSUPPORTED);
                }
                if how == DeleteHow::MetadataOnly {
                    self.strays_allowed = true;
                    self.kept_by_driver.extend(doomed.iter().copied());
                }
                let parent_of = |n: u8, snaps: &[Snap]| {
                    snaps.iter().find(|x| x.name == n).and_then(|x| x.parent)
                };
                let before = self.snaps.clone();
                self.snaps.retain(|x| !doomed.contains(&x.name));
                for c in self.snaps.iter_mut() {
                    // Up past every deleted ancestor.
                    while let Some(p) = c.parent.filter(|p| doomed.contains(p)) {
                        c.parent = parent_of(p, &before);
                    }
                }
                if self.current.is_some_and(|c| doomed.contains(&c)) {
                    self.current = if doomed.contains(&snap) {
                        s.parent
                    } else {
                        Some(snap)
                    };
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct Snapshots;

impl ReferenceStateMachine for Snapshots {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        let s = settings();
        Just(Model {
            external: s.support.external_snapshots,
            // With a writable disk an inactive snapshot is a disk snapshot.
            inactive: s.support.inactive_snapshots || s.support.external_snapshots,
            run: Run::Off,
            reason: None,
            snaps: Vec::new(),
            current: None,
            marker: 0,
            strays_allowed: false,
            kept_by_driver: Vec::new(),
            expect: Ok(()),
        })
        .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Op> {
        let snap = || 0..SNAPS;
        let external = state.external;
        prop_oneof![
            3 => any::<bool>().prop_map(|paused| Op::Start { paused }),
            2 => Just(Op::Destroy),
            2 => (1..=255u8).prop_map(|marker| Op::Write { marker }),
            4 => (snap(), any::<bool>()).prop_map(move |(snap, d)| Op::Create {
                snap,
                disk_only: d && external,
            }),
            3 => (snap(), prop::sample::select(vec![
                RevertTo::Recorded,
                RevertTo::Running,
                RevertTo::Paused,
            ]))
                .prop_map(|(snap, to)| Op::Revert { snap, to }),
            2 => (snap(), prop::sample::select(vec![
                DeleteHow::Plain,
                DeleteHow::Plain,
                DeleteHow::Children,
                DeleteHow::ChildrenOnly,
                DeleteHow::MetadataOnly,
            ]))
                .prop_map(|(snap, how)| Op::Delete { snap, how }),
        ]
        .boxed()
    }

    fn preconditions(state: &Model, op: &Op) -> bool {
        match *op {
            // Writes go into the image by hand: external targets, domain off.
            Op::Write { .. } => state.external && state.run == Run::Off,
            // The error class of a duplicate name is not specified.
            Op::Create { snap, disk_only } => {
                state.snap(snap).is_err()
                    && !state.kept_by_driver.contains(&snap)
                    && (!disk_only || state.external)
            }
            _ => true,
        }
    }

    fn apply(mut state: Model, op: &Op) -> Model {
        state.expect = state.run_op(op);
        state
    }
}

pub struct SnapshotSut {
    conn: Connect,
    /// The domain's disk directory (external targets).
    disk_dir: Option<PathBuf>,
}

fn err(e: &wirt::Error) -> u32 {
    e.code().0
}

fn run_tool(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn domain_xml(env: &Env, uuid: Uuid, disk: Option<&Path>) -> String {
    let disk = disk.map_or(String::new(), |path| {
        format!(
            "\n  <devices>\n    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n      \
             <source file='{}'/>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n  </devices>",
            path.display()
        )
    });
    format!(
        "<domain type='{}'>\n  <name>{DOM}</name>\n  <uuid>{uuid}</uuid>\n  \
         <memory unit='MiB'>16</memory>\n  <vcpu>1</vcpu>\n  <os>\n    <type>{}</type>\n  </os>{disk}\n</domain>\n",
        env.domain_type, env.os_type
    )
}

/// Removes the suite's domain (and its snapshots' metadata) from the host.
fn clean(conn: &Connect) {
    if let Ok(d) = conn.lookup_domain_by_name(DOM) {
        let _ = d.destroy();
        let _ = d.undefine(flag::UNDEFINE_SNAPSHOTS_METADATA);
    }
}

/// `<source file='…'>` paths in a domain XML.
fn sources(xml: &str) -> Vec<PathBuf> {
    xml.split("<source file='")
        .skip(1)
        .filter_map(|rest| rest.split('\'').next())
        .map(|p| PathBuf::from(p.replace("&amp;", "&")))
        .collect()
}

/// Every file of `image`'s backing chain, the image first.
fn chain(image: &Path) -> Result<Vec<PathBuf>, String> {
    let info = run_tool(
        "qemu-img",
        &[
            "info",
            "-U",
            "--backing-chain",
            "--output=json",
            &image.display().to_string(),
        ],
    )?;
    let list: serde_json::Value =
        serde_json::from_str(&info).map_err(|e| format!("qemu-img info: {e}"))?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["filename"].as_str())
        .map(PathBuf::from)
        .collect())
}

impl SnapshotSut {
    fn dom(&self) -> Result<Domain, u32> {
        self.conn.lookup_domain_by_name(DOM).map_err(|e| err(&e))
    }

    fn top(&self) -> Result<PathBuf, String> {
        let xml = self
            .dom()
            .map_err(|c| format!("error {c}"))?
            .xml_desc(0)
            .map_err(|e| e.to_string())?;
        sources(&xml)
            .into_iter()
            .next()
            .ok_or_else(|| "the domain has no disk source".to_string())
    }

    fn exec(&self, op: &Op) -> Outcome<()> {
        let dom = self.dom()?;
        let snap = |n: u8| {
            dom.snapshot_lookup_by_name(&snap_name(n))
                .map_err(|e| err(&e))
        };
        let done = |r: wirt::connect::Result<()>| r.map_err(|e| err(&e));
        match *op {
            Op::Start { paused } => done(dom.start(if paused { flag::START_PAUSED } else { 0 })),
            Op::Destroy => done(dom.destroy()),
            Op::Write { marker } => {
                let top = self.top().map_err(|_| code::ANY)?;
                run_tool(
                    "qemu-io",
                    &[
                        "-f",
                        "qcow2",
                        "-c",
                        &format!("write -P {marker} {MARK_AT} {MARK_LEN}"),
                        &top.display().to_string(),
                    ],
                )
                .map(|_| ())
                .map_err(|_| code::ANY)
            }
            Op::Create { snap, disk_only } => done(
                dom.snapshot_create_xml(
                    &format!(
                        "<domainsnapshot><name>{}</name></domainsnapshot>",
                        snap_name(snap)
                    ),
                    if disk_only { flag::CREATE_DISK_ONLY } else { 0 },
                )
                .map(|_| ()),
            ),
            Op::Revert { snap: n, to } => done(snap(n)?.revert(match to {
                RevertTo::Recorded => 0,
                RevertTo::Running => flag::REVERT_RUNNING,
                RevertTo::Paused => flag::REVERT_PAUSED,
            })),
            Op::Delete { snap: n, how } => done(snap(n)?.delete(match how {
                DeleteHow::Plain => 0,
                DeleteHow::Children => flag::DELETE_CHILDREN,
                DeleteHow::ChildrenOnly => flag::DELETE_CHILDREN_ONLY,
                DeleteHow::MetadataOnly => flag::DELETE_METADATA_ONLY,
            })),
        }
    }

    fn compare(&self, step: usize, model: &Model) -> Result<(), Divergence> {
        let answer =
            |what: &str, e: String| Divergence::new(step, what.to_string(), "an answer", e);
        let dom = self
            .dom()
            .map_err(|c| answer("the domain", format!("error {c}")))?;
        let (state, why) = dom.state().map_err(|e| answer("state", e.to_string()))?;
        // libvirt's state numbers: 1 running, 3 paused.
        let run = match state as u32 {
            1 => Run::Running,
            3 => Run::Paused,
            _ => Run::Off,
        };
        check_field(step, || format!("{DOM} state"), &model.run, &run)?;
        if let Some(reason) = model.reason {
            check_field(step, || format!("{DOM} reason"), &reason, &why)?;
        }
        let mut tree: Vec<(String, Option<String>)> = Vec::new();
        for s in dom
            .list_all_snapshots(0)
            .map_err(|e| answer("snapshot list", e.to_string()))?
        {
            let parent = s
                .parent()
                .map_err(|e| answer("snapshot parent", e.to_string()))?;
            tree.push((s.name().to_string(), parent));
        }
        tree.sort();
        let mut expected: Vec<(String, Option<String>)> = model
            .snaps
            .iter()
            .map(|s| (snap_name(s.name), s.parent.map(snap_name)))
            .collect();
        expected.sort();
        check_field(
            step,
            || "snapshots and their parents".into(),
            &expected,
            &tree,
        )?;
        let current = dom.snapshot_current().ok().map(|s| s.name().to_string());
        check_field(
            step,
            || "current snapshot".into(),
            &model.current.map(snap_name),
            &current,
        )?;
        if let Some(dir) = &self.disk_dir {
            self.compare_disk(step, model, &dom, dir)?;
        }
        Ok(())
    }

    /// What the disk holds, and which images exist.
    fn compare_disk(
        &self,
        step: usize,
        model: &Model,
        dom: &Domain,
        dir: &Path,
    ) -> Result<(), Divergence> {
        let fail = |what: &str, e: String| Divergence::new(step, what.to_string(), "ok", e);
        let top = self.top().map_err(|e| fail("the disk", e))?;
        if model.run == Run::Off {
            run_tool(
                "qemu-io",
                &[
                    "-f",
                    "qcow2",
                    "-r",
                    "-c",
                    &format!("read -P {} {MARK_AT} {MARK_LEN}", model.marker),
                    &top.display().to_string(),
                ],
            )
            .map_err(|e| {
                Divergence::new(
                    step,
                    format!("disk contents ({})", top.display()),
                    format!("marker {}", model.marker),
                    e,
                )
            })?;
        }
        // Images the domain and its snapshots stand on, whole chains.
        let mut needed = BTreeSet::new();
        let mut roots = vec![top];
        for s in dom
            .list_all_snapshots(0)
            .map_err(|e| fail("snapshots", e.to_string()))?
        {
            let xml = s
                .domain_xml()
                .map_err(|e| fail("snapshot domain", e.to_string()))?;
            roots.extend(sources(&xml));
        }
        for root in roots {
            for image in chain(&root).map_err(|e| fail("an image chain", e))? {
                needed.insert(std::fs::canonicalize(&image).unwrap_or(image));
            }
        }
        if model.strays_allowed {
            return Ok(());
        }
        let present: BTreeSet<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| fail("the disk directory", e.to_string()))?
            .filter_map(|e| e.ok())
            .map(|e| std::fs::canonicalize(e.path()).unwrap_or(e.path()))
            .collect();
        let strays: Vec<String> = present
            .difference(&needed)
            .map(|p| p.display().to_string())
            .collect();
        check_field(
            step,
            || "images nothing needs".into(),
            &Vec::<String>::new(),
            &strays,
        )
    }
}

impl Property for Snapshots {
    type Sut = SnapshotSut;
    const NAME: &'static str = "snapshots";
    const ABOUT: &'static str = "snapshot trees: create (disk-only), revert (recorded state, --running, --paused), delete (children, children only, metadata only); on external-snapshot targets the disk's contents and images";
    const MAX_STEPS: usize = 16;

    fn applies(env: &Env) -> Result<(), String> {
        if !env.has_hypervisor {
            return Err("the target runs no domains".into());
        }
        let s = &env.settings.support;
        if !s.external_snapshots && !s.snapshots {
            return Err("the target takes no snapshots".into());
        }
        if s.external_snapshots {
            for tool in ["qemu-img", "qemu-io"] {
                if Command::new(tool).arg("--version").output().is_err() {
                    return Err(format!("{tool} is needed to check disk contents"));
                }
            }
        }
        Ok(())
    }

    fn setup(env: &Env) -> Result<SnapshotSut, String> {
        let conn = env.connect().map_err(|e| crate::error::chain(&e))?;
        clean(&conn);
        let disk_dir = env
            .settings
            .support
            .external_snapshots
            .then(|| env.scratch().join("snapshot-disk"));
        let image = match &disk_dir {
            Some(dir) => {
                let _ = std::fs::remove_dir_all(dir);
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let image = dir.join("base.qcow2");
                run_tool(
                    "qemu-img",
                    &[
                        "create",
                        "-q",
                        "-f",
                        "qcow2",
                        &image.display().to_string(),
                        "4M",
                    ],
                )?;
                Some(image)
            }
            None => None,
        };
        conn.define_domain_xml(&domain_xml(env, Uuid::new_v4(), image.as_deref()), 0)
            .map_err(|e| crate::error::chain(&e))?;
        Ok(SnapshotSut { conn, disk_dir })
    }

    fn teardown(sut: SnapshotSut, _env: &Env) {
        clean(&sut.conn);
        if let Some(dir) = &sut.disk_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    fn step(
        sut: &mut SnapshotSut,
        _env: &Env,
        step: usize,
        op: &Op,
        after: &Model,
    ) -> Result<(), Divergence> {
        let observed = sut.exec(op);
        check_outcome(step, &after.expect, &observed)?;
        sut.compare(step, after)
    }

    fn command(env: &Env, op: &Op, script: &mut Script) -> String {
        // The case's domain comes first, with the first command.
        let define = if script.commands.is_empty() {
            let disk = env
                .settings
                .support
                .external_snapshots
                .then(|| env.scratch().join("snapshot-disk/base.qcow2"));
            let file = script.file(
                format!("{DOM}.xml"),
                domain_xml(env, DOM_UUID, disk.as_deref()),
            );
            format!("define {file}; ")
        } else {
            String::new()
        };
        let command = match *op {
            Op::Start { paused } => format!("start {DOM}{}", if paused { " --paused" } else { "" }),
            Op::Destroy => format!("destroy {DOM}"),
            Op::Write { marker } => format!(
                "# qemu-io -f qcow2 -c 'write -P {marker} {MARK_AT} {MARK_LEN}' <the disk's top image>"
            ),
            Op::Create { snap, disk_only } => format!(
                "snapshot-create-as {DOM} {}{}",
                snap_name(snap),
                if disk_only { " --disk-only" } else { "" }
            ),
            Op::Revert { snap, to } => format!(
                "snapshot-revert {DOM} {}{}",
                snap_name(snap),
                match to {
                    RevertTo::Recorded => "",
                    RevertTo::Running => " --running",
                    RevertTo::Paused => " --paused",
                }
            ),
            Op::Delete { snap, how } => format!(
                "snapshot-delete {DOM} {}{}",
                snap_name(snap),
                match how {
                    DeleteHow::Plain => "",
                    DeleteHow::Children => " --children",
                    DeleteHow::ChildrenOnly => " --children-only",
                    DeleteHow::MetadataOnly => " --metadata",
                }
            ),
        };
        define + &command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_both_succeeds_and_fails() {
        let seen = crate::runner::coverage::<Snapshots>(300, |s| s.expect.is_ok());
        for (kind, (ok, err)) in &seen {
            assert!(*ok > 0, "{kind} never succeeds: {seen:?}");
            let may_always_succeed = ["Create"];
            assert!(
                *err > 0 || may_always_succeed.contains(&kind.as_str()),
                "{kind} never fails: {seen:?}"
            );
        }
        // Writes need an external-snapshot target.
        assert_eq!(seen.len(), 5, "every operation is generated: {seen:?}");
    }
}
