//! What the suite runs against (a URI or a plugin file), how each case gets
//! its host, and the settings the reference models read.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use wirt::Connect;

use crate::error::Error;

/// The system under test.
#[derive(Clone, Debug, Serialize)]
pub enum Target {
    /// Any connection URI (`test:///default`, `kvm:///session`...).
    Uri(String),
    /// A driver plugin file, served through `Connect::open_plugin`; `uri` is
    /// what the plugin's `open` receives.
    Plugin { path: PathBuf, uri: String },
}

impl Target {
    pub fn describe(&self) -> String {
        match self {
            Target::Uri(uri) => uri.clone(),
            Target::Plugin { path, .. } => format!("plugin {}", path.display()),
        }
    }
}

/// Optional operations a driver may answer with no-support (3) or
/// config-unsupported (67) and still conform: lifecycle.md requires only
/// that an unimplemented operation says so. The run probes the target once
/// and does not generate what it does not support (README: "Optional
/// operations").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Support {
    /// `setmem --live` / `setvcpus --live` (balloon and vCPU hot-plug).
    pub live_resize: bool,
    /// Snapshots of an inactive domain.
    pub inactive_snapshots: bool,
    /// Snapshots at all (of a running domain).
    pub snapshots: bool,
    /// Writable disks are kept as external snapshots (qcow2 overlays):
    /// a disk-only snapshot of a domain with a qcow2 disk works. Not an
    /// operation every driver must offer, so not in [`Support::missing`].
    pub external_snapshots: bool,
}

impl Default for Support {
    fn default() -> Self {
        Support {
            live_resize: true,
            inactive_snapshots: true,
            snapshots: true,
            external_snapshots: false,
        }
    }
}

impl Support {
    /// Names of what the target lacks, for the report.
    pub fn missing(&self) -> Vec<String> {
        [
            (self.live_resize, "live-resize"),
            (self.inactive_snapshots, "inactive-snapshots"),
        ]
        .into_iter()
        .filter(|(on, _)| !on)
        .map(|(_, name)| name.to_string())
        .collect()
    }

    /// Tries each optional operation once on a scratch domain.
    fn probe(conn: &Connect, domain_type: &str, os_type: &str, scratch: &Path) -> Support {
        let refuses = |e: &wirt::Error| matches!(e.code().0, 3 | 67);
        let xml = format!(
            "<domain type='{domain_type}'><name>wconf-probe</name><uuid>7ac0f000-0000-4000-8000-00000000ffff</uuid>\
             <memory unit='MiB'>16</memory><vcpu>2</vcpu><os><type>{os_type}</type></os></domain>"
        );
        let Ok(dom) = conn.define_domain_xml(&xml, 0) else {
            return Support::default();
        };
        let snapshot =
            dom.snapshot_create_xml("<domainsnapshot><name>probe</name></domainsnapshot>", 0);
        let inactive_snapshots = !snapshot.as_ref().is_err_and(refuses);
        let (live_resize, snapshots) = match dom.start(0) {
            Ok(()) => {
                let vcpus = dom.set_vcpus_flags(1, 1);
                let snapshot = dom.snapshot_create_xml(
                    "<domainsnapshot><name>probe-live</name></domainsnapshot>",
                    0,
                );
                let _ = dom.destroy();
                (
                    !vcpus.as_ref().is_err_and(refuses),
                    !snapshot.as_ref().is_err_and(refuses),
                )
            }
            Err(_) => (true, true),
        };
        let _ = dom.undefine(2);
        Support {
            live_resize,
            inactive_snapshots,
            snapshots,
            external_snapshots: Self::probe_external(conn, domain_type, os_type, scratch),
        }
    }

    /// Whether a disk-only snapshot of a domain with a qcow2 disk works (the
    /// disk gets an overlay). Needs qemu-img for the image.
    fn probe_external(conn: &Connect, domain_type: &str, os_type: &str, scratch: &Path) -> bool {
        let dir = scratch.join("probe-disk");
        let image = dir.join("probe.qcow2");
        let made = std::fs::create_dir_all(&dir).is_ok()
            && std::process::Command::new("qemu-img")
                .args(["create", "-q", "-f", "qcow2"])
                .arg(&image)
                .arg("1M")
                .status()
                .is_ok_and(|s| s.success());
        if !made {
            return false;
        }
        let xml = format!(
            "<domain type='{domain_type}'><name>wconf-probe-disk</name>\
             <uuid>7ac0f000-0000-4000-8000-00000000fffe</uuid><memory unit='MiB'>16</memory>\
             <vcpu>1</vcpu><os><type>{os_type}</type></os><devices><disk type='file' device='disk'>\
             <driver name='qemu' type='qcow2'/><source file='{}'/><target dev='vda' bus='virtio'/>\
             </disk></devices></domain>",
            image.display()
        );
        let Ok(dom) = conn.define_domain_xml(&xml, 0) else {
            return false;
        };
        // VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
        let external = dom
            .snapshot_create_xml("<domainsnapshot><name>probe</name></domainsnapshot>", 16)
            .is_ok();
        let _ = dom.undefine(2);
        let _ = std::fs::remove_dir_all(&dir);
        external
    }
}

/// What the reference models need to know about the target.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Settings {
    pub support: Support,
    /// A pool must be built (its directory created) before it can start.
    pub pool_build_required: bool,
    /// Volume allocation is reported exactly as requested (simulated
    /// storage); real files report what the file system allocated.
    pub exact_allocation: bool,
    /// Cases share one host, which may hold leftovers of earlier cases.
    pub shared: bool,
}

thread_local! {
    static SETTINGS: RefCell<Settings> = RefCell::new(Settings::default());
}

/// The settings of the run on this thread (read by the models'
/// `init_state`, which proptest calls without arguments).
pub fn settings() -> Settings {
    SETTINGS.with(|s| s.borrow().clone())
}

/// Runs `f` with `settings` in effect on this thread.
pub fn with_settings<R>(settings: &Settings, f: impl FnOnce() -> R) -> R {
    let previous = SETTINGS.with(|s| s.replace(settings.clone()));
    let out = f();
    SETTINGS.with(|s| s.replace(previous));
    out
}

/// How a run is configured (the binary's options).
#[derive(Clone, Debug)]
pub struct Options {
    pub target: Target,
    /// Run every case on the URI's own (shared) host, cleaning the suite's
    /// objects up first, even where a fresh private host is possible.
    pub shared: bool,
    /// Where the storage property puts its pools' target directories.
    pub pool_dir: Option<PathBuf>,
    pub pool_type: String,
    pub pool_build_required: Option<bool>,
    pub exact_allocation: Option<bool>,
    /// How long to wait for an expected event that has not arrived.
    pub event_wait: Option<Duration>,
    /// Run only these properties (empty: all).
    pub properties: Vec<String>,
}

impl Options {
    pub fn new(target: Target) -> Self {
        Options {
            target,
            shared: false,
            pool_dir: None,
            pool_type: "dir".into(),
            pool_build_required: None,
            exact_allocation: None,
            event_wait: None,
            properties: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isolation {
    /// A private host per case: `test:///…/node.xml` or a fresh plugin instance.
    Fresh,
    /// One host for all cases; the suite's objects are removed before each.
    Shared,
}

/// Everything a case needs to open its system under test.
#[derive(Debug)]
pub struct Env {
    pub target: Target,
    isolation: Isolation,
    /// The URI each case opens (a private test host URI for test:///default).
    case_uri: String,
    _scratch: tempfile::TempDir,
    pub pool_dir: PathBuf,
    pub pool_type: String,
    pub settings: Settings,
    pub event_wait: Duration,
    /// `<domain type=…>` and `<os><type>` the target accepts.
    pub domain_type: String,
    pub os_type: String,
    pub has_hypervisor: bool,
    pub has_storage: bool,
    pub has_network: bool,
}

fn is_test_uri(uri: &str) -> bool {
    uri.starts_with("test:///") || uri.starts_with("test://localhost/")
}

impl Env {
    /// Prepares a run: scratch space, and a first connection to learn what
    /// the target offers.
    pub fn new(opts: &Options) -> Result<Env, Error> {
        let scratch = tempfile::Builder::new()
            .prefix("wirt-conformance-")
            .tempdir()
            .map_err(Error::Scratch)?;
        let (isolation, case_uri) = match &opts.target {
            Target::Uri(uri) if uri == "test:///default" && !opts.shared => {
                // test:///default is shared by the whole process; an empty
                // node file gives the same driver with a fresh host per case.
                let node = scratch.path().join("node.xml");
                std::fs::write(&node, "<node/>\n").map_err(|source| Error::Write {
                    path: node.clone(),
                    source,
                })?;
                (Isolation::Fresh, format!("test://{}", node.display()))
            }
            Target::Uri(uri) if is_test_uri(uri) && !opts.shared => (Isolation::Fresh, uri.clone()),
            Target::Uri(uri) => (Isolation::Shared, uri.clone()),
            Target::Plugin { uri, .. } => (Isolation::Fresh, uri.clone()),
        };
        let simulated = match &opts.target {
            Target::Uri(uri) => is_test_uri(uri),
            Target::Plugin { .. } => true,
        };
        let pool_dir = match &opts.pool_dir {
            Some(dir) => dir.clone(),
            None => scratch.path().join("pools"),
        };
        let mut env = Env {
            target: opts.target.clone(),
            isolation,
            case_uri,
            _scratch: scratch,
            pool_dir,
            pool_type: opts.pool_type.clone(),
            settings: Settings {
                support: Support::default(),
                pool_build_required: opts.pool_build_required.unwrap_or(!simulated),
                exact_allocation: opts.exact_allocation.unwrap_or(simulated),
                shared: isolation == Isolation::Shared,
            },
            event_wait: opts.event_wait.unwrap_or(if isolation == Isolation::Fresh {
                Duration::ZERO
            } else {
                Duration::from_secs(2)
            }),
            domain_type: "test".into(),
            os_type: "hvm".into(),
            has_hypervisor: false,
            has_storage: false,
            has_network: false,
        };
        let conn = env.connect().map_err(|source| Error::Open {
            target: env.target.describe(),
            source: Box::new(source),
        })?;
        if let Some(guest) = conn.capabilities().guests.first() {
            env.os_type = guest.os_type.clone();
            if let Some(t) = guest.domain_types.first() {
                env.domain_type = t.clone();
            }
        }
        let unsupported = |e: &wirt::Error| e.code().0 == 3;
        env.has_hypervisor = conn.type_name() != "NONE";
        env.has_storage = !conn.list_all_pools(0).as_ref().is_err_and(unsupported);
        env.has_network = !conn.list_all_networks(0).as_ref().is_err_and(unsupported);
        if env.has_hypervisor {
            env.settings.support =
                Support::probe(&conn, &env.domain_type, &env.os_type, env._scratch.path());
        }
        Ok(env)
    }

    /// A connection for one case: a fresh private host, or the shared one.
    pub fn connect(&self) -> Result<Connect, wirt::Error> {
        match &self.target {
            Target::Plugin { path, uri } => Connect::open_plugin(path, uri),
            Target::Uri(_) => Connect::open(&self.case_uri),
        }
    }

    /// Whether cases share one host (and so must clean up first).
    pub fn shared(&self) -> bool {
        self.isolation == Isolation::Shared
    }

    /// How the target is run, for the report.
    pub fn describe(&self) -> String {
        match (&self.target, self.isolation) {
            (Target::Uri(uri), Isolation::Fresh) if *uri != self.case_uri => format!(
                "{uri} (each case on a fresh private host of the same driver: {})",
                self.case_uri
            ),
            (Target::Uri(uri), Isolation::Fresh) => {
                format!("{uri} (private host per case)")
            }
            (Target::Uri(uri), Isolation::Shared) => {
                format!("{uri} (shared host; the suite's objects are removed before each case)")
            }
            (Target::Plugin { path, uri }, _) => format!(
                "plugin {} opened as {uri} (fresh instance per case)",
                path.display()
            ),
        }
    }

    /// The first line of a reproduction script: how to run it.
    pub fn how_to_run(&self) -> String {
        match &self.target {
            Target::Uri(uri) if self.isolation == Isolation::Fresh && *uri != self.case_uri => {
                format!(
                    "reproduce: write the files below, then `wirt -c {uri} < repro.wirt` \
                     (a fresh process; the suite ran it on {})",
                    self.case_uri
                )
            }
            Target::Uri(uri) => {
                format!("reproduce: write the files below, then `wirt -c {uri} < repro.wirt`")
            }
            Target::Plugin { path, uri } => format!(
                "reproduce: these commands on a connection served by {} \
                 (Connect::open_plugin(path, \"{uri}\"))",
                path.display()
            ),
        }
    }

    /// The run's scratch directory.
    pub fn scratch(&self) -> &Path {
        self._scratch.path()
    }

    /// The target directory of pool slot `slot`.
    pub fn pool_path(&self, slot: u8) -> PathBuf {
        self.pool_dir.join(format!("wconf-p{slot}"))
    }
}
