//! The smallest complete wirt hypervisor driver: domains are simulated in
//! memory. It exports `wirt:driver/hypervisor@0.1.0` and passes
//! `wirt-conformance --plugin`. docs/writing-a-driver.md builds it step by
//! step.
//!
//! The host owns names, ids, definitions and the lifecycle rules; a driver
//! supplies mechanism (boot, pause, stop, report state) and checks its own
//! preconditions, answering with libvirt's error numbers.

use std::cell::RefCell;
use std::collections::HashMap;

// The bindings for the world this driver implements. wit-bindgen's glue is
// the only unsafe code in the crate, so it alone is allowed it.
#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        world: "hypervisor-driver",
        path: "wit",
    });

    use super::Minimal;
    export!(Minimal with_types_in self);
}

use bindings::exports::wirt::driver::hypervisor::Guest;
use bindings::wirt::driver::host;
use bindings::wirt::driver::types::{
    Capabilities, DomainConfig, DomainStatus, Error, GuestCapability, HypervisorInfo, NodeInfo,
};

// libvirt's numbers come from `wirt-vocab`, the one place wirt declares
// them: error codes, domain states and reasons, flags.
use wirt_vocab::flags::{DomainStart, SaveRestore};
use wirt_vocab::reason::{
    PAUSED_FROM_SNAPSHOT, PAUSED_SAVE, PAUSED_USER, RUNNING_BOOTED, RUNNING_FROM_SNAPSHOT,
    RUNNING_RESTORED, RUNNING_UNPAUSED, SHUTOFF_DESTROYED, SHUTOFF_FROM_SNAPSHOT, SHUTOFF_SHUTDOWN,
};
use wirt_vocab::{ErrorCode, State};

const INVALID_ARG: u32 = ErrorCode::INVALID_ARG.0;
const OPERATION_FAILED: u32 = ErrorCode::OPERATION_FAILED.0;
const OPERATION_INVALID: u32 = ErrorCode::OPERATION_INVALID.0;
const RUNNING: u32 = State::Running as u32;
const PAUSED: u32 = State::Paused as u32;
const SHUTOFF: u32 = State::Shutoff as u32;
const START_PAUSED: u32 = DomainStart::PAUSED.bits();
const RESTORE_PAUSED: u32 = SaveRestore::PAUSED.bits();

fn error(code: u32, message: impl Into<String>) -> Error {
    Error {
        code,
        message: message.into(),
    }
}

fn shutoff(reason: u32) -> DomainStatus {
    DomainStatus {
        state: SHUTOFF,
        reason,
        cpu_time_ns: 0,
        memory_kib: 0,
        vcpus: 0,
    }
}

/// A running or paused domain.
struct Domain {
    status: DomainStatus,
}

impl Domain {
    fn new(config: &DomainConfig, state: u32, reason: u32) -> Domain {
        Domain {
            status: DomainStatus {
                state,
                reason,
                cpu_time_ns: 0,
                memory_kib: config.memory_kib,
                vcpus: config.vcpus,
            },
        }
    }

    fn set(&mut self, state: u32, reason: u32) -> DomainStatus {
        self.status.state = state;
        self.status.reason = reason;
        self.status
    }
}

/// Everything the driver knows. One plugin instance serves one connection;
/// if the host re-creates the instance it re-adopts the active domains.
#[derive(Default)]
struct Driver {
    /// Active domains by UUID.
    domains: HashMap<String, Domain>,
    /// Save images between `domain-save` and `domain-save-release`.
    saves: HashMap<String, Vec<u8>>,
    /// Restores under way: the config, the image size, the bytes so far.
    restores: HashMap<String, (DomainConfig, u64, Vec<u8>)>,
    /// Snapshot names per domain UUID.
    snapshots: HashMap<String, Vec<String>>,
}

thread_local! {
    static DRIVER: RefCell<Driver> = RefCell::default();
}

fn with<T>(f: impl FnOnce(&mut Driver) -> Result<T, Error>) -> Result<T, Error> {
    DRIVER.with(|d| f(&mut d.borrow_mut()))
}

impl Driver {
    /// The active domain `uuid`, or libvirt's "operation invalid".
    fn active(&mut self, uuid: &str) -> Result<&mut Domain, Error> {
        self.domains
            .get_mut(uuid)
            .ok_or_else(|| error(OPERATION_INVALID, format!("domain {uuid} is not running")))
    }

    fn running(&mut self, uuid: &str) -> Result<&mut Domain, Error> {
        let domain = self.active(uuid)?;
        if domain.status.state != RUNNING {
            return Err(error(OPERATION_INVALID, "domain is not running"));
        }
        Ok(domain)
    }
}

/// A save image is three lines of text: enough to bring the domain back.
fn encode_save(domain: &Domain) -> Vec<u8> {
    format!(
        "minimal-driver save\nmemory-kib={}\nvcpus={}\n",
        domain.status.memory_kib, domain.status.vcpus
    )
    .into_bytes()
}

fn decode_save(image: &[u8]) -> Result<(u64, u32), Error> {
    let bad = || error(OPERATION_FAILED, "not a minimal-driver save image");
    let text = std::str::from_utf8(image).map_err(|_| bad())?;
    let mut lines = text.lines();
    if lines.next() != Some("minimal-driver save") {
        return Err(bad());
    }
    let mut value = |key: &str| {
        lines
            .next()
            .and_then(|l| l.strip_prefix(key))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(bad)
    };
    let memory_kib = value("memory-kib=")?;
    let vcpus = u32::try_from(value("vcpus=")?).map_err(|_| bad())?;
    Ok((memory_kib, vcpus))
}

struct Minimal;

impl Guest for Minimal {
    fn open(uri: String, flags: u32) -> Result<HypervisorInfo, Error> {
        if flags != 0 {
            return Err(error(INVALID_ARG, format!("unsupported flags 0x{flags:x}")));
        }
        host::log(3, &format!("minimal driver serving {uri}"));
        Ok(HypervisorInfo {
            type_name: "MINIMAL".into(),
            version: 1_000,
            // Empty: the host reports its own name.
            hostname: String::new(),
            max_vcpus: 8,
        })
    }

    fn get_node_info() -> Result<NodeInfo, Error> {
        Ok(NodeInfo {
            cpu_model: "simulated".into(),
            memory_kib: 4 << 20,
            cpus: 4,
            mhz: 2000,
            numa_nodes: 1,
            sockets: 1,
            cores: 4,
            threads: 1,
        })
    }

    fn get_capabilities() -> Result<Capabilities, Error> {
        Ok(Capabilities {
            host_arch: "x86_64".into(),
            host_features: Vec::new(),
            page_sizes_kib: vec![4],
            secmodel: None,
            guests: vec![GuestCapability {
                os_type: "hvm".into(),
                arch: "x86_64".into(),
                wordsize: 64,
                emulator: None,
                domain_types: vec!["minimal".into()],
                features: Vec::new(),
            }],
        })
    }

    fn domain_start(config: DomainConfig, flags: u32) -> Result<DomainStatus, Error> {
        with(|d| {
            if d.domains.contains_key(&config.uuid) {
                return Err(error(OPERATION_INVALID, "domain is already running"));
            }
            let (state, reason) = if flags & START_PAUSED != 0 {
                (PAUSED, PAUSED_USER)
            } else {
                (RUNNING, RUNNING_BOOTED)
            };
            let domain = Domain::new(&config, state, reason);
            let status = domain.status;
            d.domains.insert(config.uuid, domain);
            Ok(status)
        })
    }

    fn domain_adopt(config: DomainConfig, status: DomainStatus) -> Result<(), Error> {
        with(|d| {
            if status.state == SHUTOFF {
                d.domains.remove(&config.uuid);
            } else {
                let mut domain = Domain::new(&config, status.state, status.reason);
                domain.status = status;
                d.domains.insert(config.uuid, domain);
            }
            Ok(())
        })
    }

    fn get_domain_status(uuid: String) -> Result<DomainStatus, Error> {
        with(|d| {
            Ok(d.domains
                .get(&uuid)
                .map_or_else(|| shutoff(0), |dom| dom.status))
        })
    }

    fn domain_shutdown(uuid: String, _flags: u32) -> Result<DomainStatus, Error> {
        with(|d| {
            d.running(&uuid)?;
            d.domains.remove(&uuid);
            Ok(shutoff(SHUTOFF_SHUTDOWN))
        })
    }

    fn domain_reboot(uuid: String, _flags: u32) -> Result<DomainStatus, Error> {
        with(|d| Ok(d.running(&uuid)?.set(RUNNING, RUNNING_BOOTED)))
    }

    fn domain_reset(uuid: String, _flags: u32) -> Result<DomainStatus, Error> {
        with(|d| Ok(d.active(&uuid)?.status))
    }

    fn domain_destroy(uuid: String, _flags: u32) -> Result<DomainStatus, Error> {
        with(|d| {
            d.active(&uuid)?;
            d.domains.remove(&uuid);
            Ok(shutoff(SHUTOFF_DESTROYED))
        })
    }

    fn domain_suspend(uuid: String) -> Result<DomainStatus, Error> {
        with(|d| {
            let domain = d.active(&uuid)?;
            if domain.status.state == RUNNING {
                domain.set(PAUSED, PAUSED_USER);
            }
            Ok(domain.status)
        })
    }

    fn domain_resume(uuid: String) -> Result<DomainStatus, Error> {
        with(|d| {
            let domain = d.active(&uuid)?;
            if domain.status.state != PAUSED {
                return Err(error(OPERATION_INVALID, "domain is not paused"));
            }
            Ok(domain.set(RUNNING, RUNNING_UNPAUSED))
        })
    }

    fn domain_set_memory(uuid: String, memory_kib: u64) -> Result<DomainStatus, Error> {
        with(|d| {
            let domain = d.active(&uuid)?;
            domain.status.memory_kib = memory_kib;
            Ok(domain.status)
        })
    }

    fn domain_set_vcpus(uuid: String, vcpus: u32) -> Result<DomainStatus, Error> {
        with(|d| {
            if vcpus == 0 {
                return Err(error(INVALID_ARG, "a domain needs at least one vCPU"));
            }
            let domain = d.active(&uuid)?;
            domain.status.vcpus = vcpus;
            Ok(domain.status)
        })
    }

    fn domain_save(uuid: String, _flags: u32) -> Result<u64, Error> {
        with(|d| {
            let image = encode_save(d.active(&uuid)?);
            d.domains.remove(&uuid);
            let size = image.len() as u64;
            d.saves.insert(uuid, image);
            Ok(size)
        })
    }

    fn domain_save_read(uuid: String, offset: u64, max_len: u32) -> Result<Vec<u8>, Error> {
        with(|d| {
            let image = d
                .saves
                .get(&uuid)
                .ok_or_else(|| error(OPERATION_INVALID, "no save in progress"))?;
            let start = usize::try_from(offset).map_or(image.len(), |o| o.min(image.len()));
            let end = start.saturating_add(max_len as usize).min(image.len());
            Ok(image[start..end].to_vec())
        })
    }

    fn domain_save_release(uuid: String) {
        DRIVER.with(|d| d.borrow_mut().saves.remove(&uuid));
    }

    fn domain_restore_begin(config: DomainConfig, size: u64) -> Result<(), Error> {
        with(|d| {
            if d.domains.contains_key(&config.uuid) {
                return Err(error(OPERATION_INVALID, "domain is already active"));
            }
            if size > 4096 {
                return Err(error(OPERATION_FAILED, "not a minimal-driver save image"));
            }
            d.restores
                .insert(config.uuid.clone(), (config, size, Vec::new()));
            Ok(())
        })
    }

    fn domain_restore_write(uuid: String, offset: u64, data: Vec<u8>) -> Result<(), Error> {
        with(|d| {
            let (_, size, image) = d
                .restores
                .get_mut(&uuid)
                .ok_or_else(|| error(OPERATION_INVALID, "no restore in progress"))?;
            if offset != image.len() as u64 || offset + data.len() as u64 > *size {
                return Err(error(OPERATION_FAILED, "restore data out of order"));
            }
            image.extend_from_slice(&data);
            Ok(())
        })
    }

    fn domain_restore_finish(uuid: String, flags: u32) -> Result<DomainStatus, Error> {
        with(|d| {
            let (config, size, image) = d
                .restores
                .remove(&uuid)
                .ok_or_else(|| error(OPERATION_INVALID, "no restore in progress"))?;
            if image.len() as u64 != size {
                return Err(error(OPERATION_FAILED, "save image is truncated"));
            }
            let (memory_kib, vcpus) = decode_save(&image)?;
            let (state, reason) = if flags & RESTORE_PAUSED != 0 {
                (PAUSED, PAUSED_SAVE)
            } else {
                (RUNNING, RUNNING_RESTORED)
            };
            let mut domain = Domain::new(&config, state, reason);
            domain.status.memory_kib = memory_kib;
            domain.status.vcpus = vcpus;
            let status = domain.status;
            d.domains.insert(uuid, domain);
            Ok(status)
        })
    }

    fn domain_snapshot_create(uuid: String, snapshot: String, _flags: u32) -> Result<(), Error> {
        with(|d| {
            let names = d.snapshots.entry(uuid).or_default();
            if names.contains(&snapshot) {
                return Err(error(OPERATION_INVALID, "snapshot already exists"));
            }
            names.push(snapshot);
            Ok(())
        })
    }

    fn domain_snapshot_revert(
        config: DomainConfig,
        snapshot: String,
        state: u32,
        _flags: u32,
    ) -> Result<DomainStatus, Error> {
        with(|d| {
            let known = d
                .snapshots
                .get(&config.uuid)
                .is_some_and(|names| names.contains(&snapshot));
            if !known {
                return Err(error(
                    OPERATION_INVALID,
                    format!("no snapshot '{snapshot}'"),
                ));
            }
            d.domains.remove(&config.uuid);
            let reason = match state {
                RUNNING => RUNNING_FROM_SNAPSHOT,
                PAUSED => PAUSED_FROM_SNAPSHOT,
                _ => return Ok(shutoff(SHUTOFF_FROM_SNAPSHOT)),
            };
            let domain = Domain::new(&config, state, reason);
            let status = domain.status;
            d.domains.insert(config.uuid, domain);
            Ok(status)
        })
    }

    fn domain_snapshot_delete(uuid: String, snapshot: String, _flags: u32) -> Result<(), Error> {
        with(|d| {
            if let Some(names) = d.snapshots.get_mut(&uuid) {
                names.retain(|name| *name != snapshot);
            }
            Ok(())
        })
    }
}
