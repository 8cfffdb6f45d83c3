//! Migration's five steps on a local host (libvirt's v3 protocol with
//! parameters): Begin and Perform and Confirm when this host is the
//! source, Prepare and Finish when it is the destination.
//!
//! The KVM driver moves a running guest for real (`driver::kvm`'s
//! `migrate` module: a VMM made ready here, the data sent VMM to VMM). The
//! test driver's migrations are simulated with its ordinary operations
//! (start paused, resume, destroy), so its states, events and errors are
//! those of a real one. Any other driver answers "not supported".
//!
//! Cookies are JSON: the source names its host, so a destination can
//! refuse a migration to itself, as libvirt does.

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::domain::{apply_outcome, check_unique, domain_ref, persist};
use super::{Local, no_domain};
use crate::connect::migrate_flags as mf;
use crate::connect::{
    Begun, DomainRef, Error, JobCompletedEvent, MigrateParams, Prepared, Result, check_flags,
    local_hostname,
};
use crate::driver::{self, MigrateOut, MigrationStats};
use crate::error::ErrorCode;
use crate::events::{DomainEvent, EventBus};
use crate::lifecycle::{self, Event, Outcome, State, detail, reason};
use crate::registry::DomainObj;
use crate::xml::{DomainDef, FormatOptions};

mod jobs;
mod storage;

use jobs::Completed;

/// libvirt's default for the longest pause of a live migration, ms.
const DEFAULT_MAX_DOWNTIME_MS: u64 = 300;

/// The migrations of one host: those coming in (between Prepare and
/// Finish), those going out (between Perform and Confirm), and the
/// per-domain settings `migrate-setmaxdowntime` / `migrate-setspeed` made.
#[derive(Default)]
pub(crate) struct Jobs {
    incoming: HashMap<Uuid, Incoming>,
    /// When each migration out began.
    outgoing: HashMap<Uuid, Instant>,
    /// The last finished migration of each domain, on either side.
    completed: HashMap<Uuid, Completed>,
    max_downtime_ms: HashMap<Uuid, u64>,
    max_speed_mib_s: HashMap<Uuid, u64>,
    /// Where job-completed events go.
    job_events: EventBus<JobCompletedEvent>,
}

/// Where a tunnelled migration's destination says the data goes: through
/// the connection between the hosts.
const TUNNEL_URI: &str = "tunnel:";

/// Where Perform sends the guest.
enum To {
    /// A connection to the destination's URI.
    Uri(String),
    /// A tunnel's end (the other end goes through the daemons).
    Tunnel(UnixStream),
}

/// A domain Prepare made ready to arrive.
struct Incoming {
    name: String,
    began: Instant,
    offline: bool,
    /// The definition stored with `PERSIST_DEST`.
    persist: Option<DomainDef>,
    /// Images made for a storage migration, removed if the guest fails
    /// to arrive.
    created: Vec<std::path::PathBuf>,
}

/// What a host tells the other in its cookie.
#[derive(Serialize, Deserialize, Default)]
struct Cookie {
    #[serde(default)]
    hostuuid: Option<Uuid>,
    #[serde(default)]
    hostname: Option<String>,
    /// Figures of the transfer (Perform's cookie to Finish).
    #[serde(default)]
    stats: Option<MigrationStats>,
    /// The disks a storage migration copies (Begin's cookie to Prepare).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    disks: Vec<storage::CopiedDisk>,
}

impl Cookie {
    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a cookie is plain data")
    }

    fn decode(bytes: &[u8]) -> Result<Cookie> {
        if bytes.is_empty() {
            return Ok(Cookie::default());
        }
        serde_json::from_slice(bytes).map_err(|e| {
            Error::api(
                ErrorCode::INTERNAL_ERROR,
                format!("cannot parse the migration cookie: {e}"),
            )
        })
    }
}

/// The host's UUID: kept in `state_dir/host-uuid` (made on first use), or,
/// for a host without a state dir, one for the life of this process.
pub(crate) fn host_uuid(state_dir: Option<&Path>) -> Uuid {
    static PROCESS: OnceLock<Uuid> = OnceLock::new();
    let process = || *PROCESS.get_or_init(Uuid::new_v4);
    let Some(dir) = state_dir else {
        return process();
    };
    let path = dir.join("host-uuid");
    if let Some(uuid) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| Uuid::parse_str(s.trim()).ok())
    {
        return uuid;
    }
    let uuid = Uuid::new_v4();
    // Private like the rest of the state dir; `create_new` so that of two
    // processes starting at once, both end up with the first one's.
    let written = crate::registry::create_private_dir(dir).and_then(|()| {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?
            .write_all(format!("{uuid}\n").as_bytes())
    });
    match written {
        Ok(()) => uuid,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            match std::fs::read_to_string(&path)
                .ok()
                .and_then(|s| Uuid::parse_str(s.trim()).ok())
            {
                Some(theirs) => theirs,
                None => process(),
            }
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot store the host UUID");
            process()
        }
    }
}

/// Whether `uuid` is migrating out of this host (between Perform and Confirm).
pub(crate) fn migrating_out(state: &super::ConnState, uuid: &Uuid) -> bool {
    state
        .migrations
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .outgoing
        .contains_key(uuid)
}

fn stopped(reason: u32) -> driver::DomainStatus {
    driver::DomainStatus {
        state: State::Shutoff as u32,
        reason,
        cpu_time_ns: 0,
        memory_kib: 0,
        vcpus: 0,
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::api(ErrorCode::OPERATION_INVALID, message.into())
}

fn event(name: &str, uuid: Uuid, id: i32, (event, detail): (Event, u32)) -> DomainEvent {
    DomainEvent {
        name: name.to_string(),
        uuid,
        id,
        event,
        detail,
    }
}

impl Local {
    /// The test driver's migrations are simulated on the host.
    fn simulated(&self) -> bool {
        self.state.info.type_name == "TEST"
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, Jobs> {
        self.state
            .migrations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn my_cookie(&self, stats: Option<MigrationStats>) -> Vec<u8> {
        Cookie {
            hostuuid: Some(self.state.host_uuid),
            hostname: Some(local_hostname()),
            stats,
            disks: Vec::new(),
        }
        .encode()
    }

    pub(crate) fn migrate_begin(
        &self,
        dom: &DomainRef,
        params: &MigrateParams,
        flags: u32,
    ) -> Result<Begun> {
        check_flags(flags, mf::SUPPORTED, "virDomainMigrateBegin3Params")?;
        let offline = flags & mf::OFFLINE != 0;
        if offline && flags & mf::PERSIST_DEST == 0 {
            return Err(invalid(
                "offline migration must be specified with the persistent flag set",
            ));
        }
        let copy_storage = flags & mf::NON_SHARED_DISK != 0 && !offline && !self.simulated();
        let (xml, disks) = self.with(dom, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            if self.jobs().outgoing.contains_key(uuid) {
                return Err(invalid("domain has an active migration job"));
            }
            if offline {
                if !obj.persistent() {
                    return Err(invalid("cannot migrate a transient domain offline"));
                }
                return Ok((
                    obj.inactive_def().to_xml(FormatOptions::default()),
                    Vec::new(),
                ));
            }
            if !obj.is_active() {
                return Err(invalid("domain is not running"));
            }
            let disks = if copy_storage {
                storage::source_disks(&self.driver_config(reg, obj.def(), obj.id)?)?
            } else {
                Vec::new()
            };
            Ok((obj.def().to_xml(FormatOptions::default()), disks))
        })?;
        let mut cookie = Cookie::decode(&self.my_cookie(None))?;
        cookie.disks = disks;
        // A definition of the caller's for the destination (virsh's
        // --xml: other disk paths there, say) replaces the domain's own; it
        // must be the same domain.
        let xml = match &params.dest_xml {
            Some(theirs) => {
                let given = self.parse_domain(theirs, false)?;
                if given.uuid != dom.uuid {
                    return Err(Error::api(
                        ErrorCode::OPERATION_INVALID,
                        format!(
                            "Target domain uuid {} does not match source {}",
                            given.uuid, dom.uuid
                        ),
                    ));
                }
                theirs.clone()
            }
            None => xml,
        };
        Ok(Begun {
            cookie: cookie.encode(),
            xml,
        })
    }

    /// Prepare; with `tunnel` the data arrives through it instead of a
    /// connection the source makes.
    pub(crate) fn migrate_prepare(
        &self,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
        tunnel: Option<UnixStream>,
    ) -> Result<Prepared> {
        check_flags(flags, mf::SUPPORTED, "virDomainMigratePrepare3Params")?;
        let source = Cookie::decode(cookie)?;
        if source.hostuuid == Some(self.state.host_uuid) {
            return Err(Error::api(
                ErrorCode::INTERNAL_ERROR,
                format!(
                    "Attempt to migrate guest to the same host {}",
                    self.state.host_uuid
                ),
            ));
        }
        let xml = params.dest_xml.as_deref().ok_or_else(|| {
            Error::api(
                ErrorCode::INVALID_ARG,
                "no domain XML passed to the destination",
            )
        })?;
        let mut def = self.parse_domain(xml, false)?;
        if let Some(name) = &params.dest_name {
            def.name = name.clone();
        }
        let persist = if flags & mf::PERSIST_DEST != 0 {
            let mut p = match &params.persist_xml {
                Some(xml) => self.parse_domain(xml, false)?,
                None => def.clone(),
            };
            p.name = def.name.clone();
            Some(p)
        } else {
            None
        };
        let offline = flags & mf::OFFLINE != 0;
        let state = &self.state;
        let mut reg = state.lock();
        check_unique(&reg, &def)?;
        let uuid = def.uuid;
        if reg.domain(&uuid).is_some_and(|o| o.is_active()) {
            return Err(invalid(format!("domain '{}' is already active", def.name)));
        }
        if self.jobs().incoming.contains_key(&uuid) {
            return Err(invalid(format!(
                "domain '{}' is already migrating in",
                def.name
            )));
        }
        let mut incoming = Incoming {
            name: def.name.clone(),
            began: Instant::now(),
            offline,
            persist,
            created: Vec::new(),
        };
        let mode = driver::IncomingMode {
            paused: flags & mf::PAUSED != 0,
            copy_storage: flags & mf::NON_SHARED_DISK != 0,
        };
        let uri = if offline {
            format!("tcp://{}", local_hostname())
        } else {
            let config = self.start_config(&reg, &def, None)?;
            if mode.copy_storage && !self.simulated() {
                incoming.created = storage::prepare_images(&*self.hv(), &config, &source.disks)?;
            }
            let made = incoming.created.clone();
            let transfer = (|| -> Result<String> {
                Ok(if self.simulated() {
                    // Nothing flows in a simulated migration: the tunnel
                    // closes, and with it the caller's end.
                    drop(tunnel);
                    self.hv().start(&config, driver::START_PAUSED)?;
                    format!("tcp://{}", local_hostname())
                } else if let Some(tunnel) = tunnel {
                    self.hv().migrate_incoming_tunnel(&config, tunnel, mode)?;
                    TUNNEL_URI.to_string()
                } else {
                    let listen = params
                        .uri
                        .clone()
                        .or_else(|| params.listen_address.as_ref().map(|a| format!("tcp://{a}")));
                    self.hv()
                        .migrate_incoming(&config, listen.as_deref(), mode)?
                })
            })();
            let uri = transfer.inspect_err(|_| storage::remove(&made))?;
            let existed = reg.domain(&uuid).is_some();
            if !existed {
                reg.insert_domain(DomainObj::transient(def.clone()));
            }
            let obj = reg.domain_mut(&uuid).expect("stored above");
            obj.live = Some(def);
            let persistent = obj.persistent();
            let out = Outcome {
                state: State::Paused,
                reason: reason::PAUSED_MIGRATION,
                events: vec![(Event::Started, detail::STARTED_MIGRATED)],
                remove: false,
                persistent,
                managed_save: false,
                new_id: true,
            };
            let events = apply_outcome(state, &mut reg, &uuid, &out, None)?;
            state.emit(events);
            uri
        };
        self.jobs().incoming.insert(uuid, incoming);
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(uuid);
        Ok(Prepared {
            cookie: self.my_cookie(None),
            uri: Some(uri),
        })
    }

    /// Perform; with `tunnel` the data goes into it instead of a
    /// connection to the URI Prepare gave.
    pub(crate) fn migrate_perform(
        &self,
        dom: &DomainRef,
        params: &MigrateParams,
        _cookie: &[u8],
        flags: u32,
        tunnel: Option<UnixStream>,
    ) -> Result<Vec<u8>> {
        check_flags(flags, mf::SUPPORTED, "virDomainMigratePerform3Params")?;
        let to = match tunnel {
            Some(t) => To::Tunnel(t),
            None => To::Uri(
                params
                    .uri
                    .clone()
                    .ok_or_else(|| Error::api(ErrorCode::INVALID_ARG, "no migration URI"))?,
            ),
        };
        self.with(dom, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            if !obj.is_active() {
                return Err(invalid("domain is not running"));
            }
            let mut jobs = self.jobs();
            if jobs.outgoing.contains_key(uuid) {
                return Err(invalid("domain has an active migration job"));
            }
            jobs.outgoing.insert(*uuid, Instant::now());
            self.performed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(*uuid);
            Ok(())
        })?;
        let result = self.perform_transfer(dom, to, params, flags);
        if result.is_err() {
            self.jobs().outgoing.remove(&dom.uuid);
            self.performed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|u| *u != dom.uuid);
        }
        let stats = result?;
        let mut jobs = self.jobs();
        let began = jobs.outgoing.get(&dom.uuid).copied();
        jobs.completed.insert(
            dom.uuid,
            Completed {
                incoming: false,
                elapsed_ms: began.map_or(0, |b| b.elapsed().as_millis() as u64),
                stats: stats.clone(),
            },
        );
        drop(jobs);
        Ok(self.my_cookie(stats))
    }

    /// Moves the guest's state; the registry is not held meanwhile, so the
    /// source answers (`domstate`, `domjobinfo`) while the data flows.
    fn perform_transfer(
        &self,
        dom: &DomainRef,
        to: To,
        params: &MigrateParams,
        flags: u32,
    ) -> Result<Option<MigrationStats>> {
        let uuid = dom.uuid;
        let stats = if self.simulated() {
            None
        } else {
            let (downtime, speed) = {
                let jobs = self.jobs();
                (
                    jobs.max_downtime_ms
                        .get(&uuid)
                        .copied()
                        .unwrap_or(DEFAULT_MAX_DOWNTIME_MS),
                    jobs.max_speed_mib_s.get(&uuid).copied(),
                )
            };
            let mut out = MigrateOut {
                uri: String::new(),
                max_downtime_ms: downtime,
                bandwidth_mib_s: params.bandwidth_mib_s.or(speed).filter(|&b| b > 0),
                copy_storage: flags & mf::NON_SHARED_DISK != 0,
            };
            let hv = self.hv();
            Some(match to {
                To::Uri(uri) => {
                    out.uri = uri;
                    hv.migrate_out(&uuid.to_string(), &out)?
                }
                To::Tunnel(t) => {
                    out.uri = TUNNEL_URI.to_string();
                    hv.migrate_out_tunnel(&uuid.to_string(), &out, t)?
                }
            })
        };
        // The final phase: the guest waits, paused, for the destination.
        let hv = self.hv();
        let state = &self.state;
        let mut reg = state.lock();
        let Some(obj) = reg.domain(&uuid) else {
            return Ok(stats);
        };
        // A real VMM stops by itself once the destination took over, and
        // the status thread may have recorded that already.
        if !obj.is_active() {
            return Ok(stats);
        }
        let status = if self.simulated() && obj.state != State::Paused {
            Some(hv.suspend(&uuid.to_string())?)
        } else {
            None
        };
        let out = Outcome {
            state: State::Paused,
            reason: reason::PAUSED_MIGRATION,
            events: vec![(Event::Suspended, detail::SUSPENDED_MIGRATED)],
            remove: false,
            persistent: obj.persistent(),
            managed_save: obj.managed_save.is_some(),
            new_id: false,
        };
        let events = apply_outcome(state, &mut reg, &uuid, &out, status)?;
        drop(reg);
        state.emit(events);
        Ok(stats)
    }

    pub(crate) fn migrate_finish(
        &self,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
        cancelled: bool,
    ) -> Result<(DomainRef, Vec<u8>)> {
        check_flags(flags, mf::SUPPORTED, "virDomainMigrateFinish3Params")?;
        let source = Cookie::decode(cookie)?;
        let name = params
            .dest_name
            .clone()
            .ok_or_else(|| Error::api(ErrorCode::INVALID_ARG, "no domain name"))?;
        let (uuid, incoming) = {
            let mut jobs = self.jobs();
            let uuid = jobs
                .incoming
                .iter()
                .find(|(_, inc)| inc.name == name)
                .map(|(uuid, _)| *uuid)
                .ok_or_else(|| no_domain(format!("no domain with matching name '{name}'")))?;
            (uuid, jobs.incoming.remove(&uuid).expect("found"))
        };
        if incoming.offline {
            if cancelled {
                return Err(Error::api(
                    ErrorCode::OPERATION_FAILED,
                    format!("migration of domain '{name}' was cancelled"),
                ));
            }
            return self.finish_offline(uuid, incoming).map(|r| (r, Vec::new()));
        }
        self.forget_prepared(uuid);
        let hv = self.hv();
        let arrived = if !self.simulated() {
            // The VMMs' handshake decides who has the guest: once it
            // arrived here its source has stopped, cancelled or not.
            hv.migrate_incoming_finish(&uuid.to_string(), cancelled)
                .map_err(Error::from)
        } else if cancelled {
            Err(Error::api(
                ErrorCode::OPERATION_FAILED,
                format!("migration of domain '{name}' was cancelled"),
            ))
        } else if flags & mf::PAUSED != 0 {
            hv.status(&uuid.to_string()).map_err(Error::from)
        } else {
            hv.resume(&uuid.to_string()).map_err(Error::from)
        };
        let state = &self.state;
        let mut reg = state.lock();
        let status = match arrived {
            Ok(status) => status,
            Err(e) => {
                self.drop_incoming(&mut reg, uuid)?;
                storage::remove(&incoming.created);
                return Err(e);
            }
        };
        let Some(obj) = reg.domain_mut(&uuid) else {
            return Err(no_domain(format!("no domain with matching name '{name}'")));
        };
        let mut events = Vec::new();
        if let Some(def) = incoming.persist {
            let added = obj.config.is_none();
            obj.config = Some(def);
            let detail = if added {
                detail::DEFINED_ADDED
            } else {
                detail::DEFINED_UPDATED
            };
            events.push(event(
                obj.name(),
                uuid,
                obj.id_or_minus_one(),
                (Event::Defined, detail),
            ));
        }
        let paused = status.state == State::Paused as u32;
        let out = Outcome {
            state: if paused {
                State::Paused
            } else {
                State::Running
            },
            reason: if paused {
                reason::PAUSED_USER
            } else {
                reason::RUNNING_MIGRATED
            },
            events: if paused {
                vec![(Event::Suspended, detail::SUSPENDED_PAUSED)]
            } else {
                vec![(Event::Resumed, detail::RESUMED_MIGRATED)]
            },
            remove: false,
            persistent: obj.persistent(),
            managed_save: false,
            new_id: false,
        };
        events.extend(apply_outcome(state, &mut reg, &uuid, &out, Some(status))?);
        let r = domain_ref(reg.domain(&uuid).expect("still there"));
        drop(reg);
        state.emit(events);
        let completed = Completed {
            incoming: true,
            elapsed_ms: incoming.began.elapsed().as_millis() as u64,
            stats: source.stats,
        };
        let mut jobs = self.jobs();
        jobs.job_events.emit(JobCompletedEvent {
            name: r.name.clone(),
            uuid,
            id: r.id,
            params: completed.params(),
        });
        jobs.completed.insert(uuid, completed);
        drop(jobs);
        Ok((r, Vec::new()))
    }

    /// Offline: the definition arrives; nothing runs.
    fn finish_offline(&self, uuid: Uuid, incoming: Incoming) -> Result<DomainRef> {
        let def = incoming
            .persist
            .ok_or_else(|| invalid("offline migration needs a persistent definition"))?;
        let state = &self.state;
        let mut reg = state.lock();
        check_unique(&reg, &def)?;
        let detail = match reg.domain_mut(&uuid) {
            Some(obj) => {
                obj.config = Some(def);
                detail::DEFINED_UPDATED
            }
            None => {
                reg.insert_domain(DomainObj::new_inactive(def));
                detail::DEFINED_ADDED
            }
        };
        persist(state, &reg, &uuid)?;
        let obj = reg.domain(&uuid).expect("just stored");
        let ev = event(
            obj.name(),
            uuid,
            obj.id_or_minus_one(),
            (Event::Defined, detail),
        );
        let r = domain_ref(obj);
        drop(reg);
        state.emit(vec![ev]);
        Ok(r)
    }

    pub(crate) fn migrate_confirm(
        &self,
        dom: &DomainRef,
        _params: &MigrateParams,
        _cookie: &[u8],
        flags: u32,
        cancelled: bool,
    ) -> Result<()> {
        check_flags(flags, mf::SUPPORTED, "virDomainMigrateConfirm3Params")?;
        let was_out = self.jobs().outgoing.remove(&dom.uuid).is_some();
        self.performed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|u| *u != dom.uuid);
        let hv = self.hv();
        let state = &self.state;
        let mut reg = state.lock();
        let uuid = dom.uuid;
        let Some(obj) = reg.domain(&uuid) else {
            // Gone already: a real VMM stops once the destination took over
            // and a transient domain goes with it.
            if was_out && !cancelled {
                self.job_completed(&uuid, &dom.name, dom.id);
            }
            return Ok(());
        };
        let persistent = obj.persistent();
        let undefine = flags & mf::UNDEFINE_SOURCE != 0 && !cancelled;
        let mut out = if flags & mf::OFFLINE != 0 || !was_out || !obj.is_active() {
            None
        } else if cancelled {
            // Back as it was: running, unless it was paused before. A
            // real VMM resumed by itself if the transfer failed; one that
            // handed the guest over before the destination failed is gone.
            let status = if self.simulated() && flags & mf::PAUSED == 0 {
                hv.resume(&uuid.to_string())?
            } else {
                hv.status(&uuid.to_string())
                    .unwrap_or_else(|_| stopped(reason::SHUTOFF_FAILED))
            };
            let outcome = match State::from_u32(status.state) {
                Some(State::Running) => Outcome {
                    state: State::Running,
                    reason: reason::RUNNING_MIGRATION_CANCELED,
                    events: vec![(Event::Resumed, detail::RESUMED_MIGRATED)],
                    remove: false,
                    persistent,
                    managed_save: obj.managed_save.is_some(),
                    new_id: false,
                },
                Some(State::Paused) => Outcome {
                    state: State::Paused,
                    reason: reason::PAUSED_USER,
                    events: Vec::new(),
                    remove: false,
                    persistent,
                    managed_save: obj.managed_save.is_some(),
                    new_id: false,
                },
                _ => Outcome {
                    state: State::Shutoff,
                    reason: reason::SHUTOFF_FAILED,
                    events: vec![(Event::Stopped, detail::STOPPED_FAILED)],
                    remove: !persistent,
                    persistent,
                    managed_save: obj.managed_save.is_some(),
                    new_id: false,
                },
            };
            Some((outcome, Some(status)))
        } else {
            let status = hv.destroy(&uuid.to_string(), 0).ok();
            Some((
                Outcome {
                    state: State::Shutoff,
                    reason: reason::SHUTOFF_MIGRATED,
                    events: vec![(Event::Stopped, detail::STOPPED_MIGRATED)],
                    remove: !persistent,
                    persistent,
                    managed_save: obj.managed_save.is_some(),
                    new_id: false,
                },
                status,
            ))
        };
        if undefine && persistent {
            let undefined = (Event::Undefined, detail::UNDEFINED_REMOVED);
            match &mut out {
                Some((o, _)) => {
                    o.events.push(undefined);
                    o.persistent = false;
                    o.remove = true;
                }
                None => {
                    let obj = reg.domain(&uuid).expect("checked");
                    let active = obj.is_active();
                    out = Some((
                        Outcome {
                            state: obj.state,
                            reason: lifecycle::UNCHANGED,
                            events: vec![undefined],
                            remove: !active,
                            persistent: false,
                            managed_save: false,
                            new_id: false,
                        },
                        None,
                    ));
                }
            }
        }
        if was_out && !cancelled && flags & mf::OFFLINE == 0 {
            let obj = reg.domain(&uuid).expect("checked");
            self.job_completed(&uuid, obj.name(), obj.id_or_minus_one());
        }
        let Some((out, status)) = out else {
            return Ok(());
        };
        let events = apply_outcome(state, &mut reg, &uuid, &out, status)?;
        if out.state == State::Shutoff {
            drop(reg);
            hv.release(&uuid.to_string());
        }
        state.emit(events);
        Ok(())
    }

    /// Removes what Prepare made for `uuid`: nothing of the guest stays.
    fn drop_incoming(&self, reg: &mut crate::registry::Registry, uuid: Uuid) -> Result<()> {
        let hv = self.hv();
        if self.simulated() {
            let _ = hv.destroy(&uuid.to_string(), 0);
        } else {
            let _ = hv.migrate_incoming_finish(&uuid.to_string(), true);
        }
        let Some(obj) = reg.domain(&uuid) else {
            return Ok(());
        };
        let out = Outcome {
            state: State::Shutoff,
            reason: reason::SHUTOFF_FAILED,
            events: vec![(Event::Stopped, detail::STOPPED_FAILED)],
            remove: !obj.persistent(),
            persistent: obj.persistent(),
            managed_save: false,
            new_id: false,
        };
        let events = apply_outcome(&self.state, reg, &uuid, &out, None)?;
        self.state.emit(events);
        Ok(())
    }

    fn forget_prepared(&self, uuid: Uuid) {
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|u| *u != uuid);
    }

    /// The connection is closing: the migrations it prepared and never
    /// finished are cancelled, as libvirt does when a client goes away
    /// between Prepare and Finish.
    pub(crate) fn abandon_prepared(&self) {
        let left = std::mem::take(&mut *self.prepared.lock().unwrap_or_else(|p| p.into_inner()));
        for uuid in left {
            let Some((name, offline)) = self
                .jobs()
                .incoming
                .get(&uuid)
                .map(|inc| (inc.name.clone(), inc.offline))
            else {
                continue;
            };
            let result = if offline {
                self.jobs().incoming.remove(&uuid);
                Ok(())
            } else if self.simulated() {
                self.jobs().incoming.remove(&uuid);
                let mut reg = self.state.lock();
                self.drop_incoming(&mut reg, uuid)
            } else {
                // A guest whose transfer completed is this host's now (its
                // source stopped): Finish keeps it; anything else goes.
                let params = MigrateParams {
                    dest_name: Some(name.clone()),
                    ..Default::default()
                };
                self.migrate_finish(&params, &[], 0, true).map(|_| ())
            };
            if let Err(e) = result {
                tracing::info!(domain = %name, error = %e, "abandoned incoming migration ended");
            }
        }
    }

    /// The connection is closing between Perform and Confirm: the source
    /// confirms by what its driver says: a guest still here was not
    /// migrated (a simulated one never leaves before Confirm).
    pub(crate) fn abandon_performed(&self) {
        let left = std::mem::take(&mut *self.performed.lock().unwrap_or_else(|p| p.into_inner()));
        for uuid in left {
            if !self.jobs().outgoing.contains_key(&uuid) {
                continue;
            }
            let Some(r) = self.state.lock().domain(&uuid).map(domain_ref) else {
                self.jobs().outgoing.remove(&uuid);
                continue;
            };
            let here = self.simulated()
                || self.hv().status(&uuid.to_string()).is_ok_and(|s| {
                    s.state == State::Running as u32 || s.state == State::Paused as u32
                });
            if let Err(e) = self.migrate_confirm(&r, &MigrateParams::default(), &[], 0, here) {
                tracing::warn!(domain = %r.name, error = %e, "cannot confirm an abandoned migration");
            }
        }
    }
}
