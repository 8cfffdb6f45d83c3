//! Simulated domains: a running domain is a record whose CPU time grows with
//! the host's monotonic clock while it runs.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::exports::wirt::driver::hypervisor::Guest;
use crate::wirt::driver::host;
use crate::wirt::driver::types::{
    Capabilities, DomainConfig, DomainStatus, Error, GuestCapability, HypervisorInfo, NodeInfo,
};
use crate::{TestDriver, code, err};

// libvirt's virDomainState, reasons and flags, from the one vocabulary.
use wirt_vocab::State;
use wirt_vocab::flags::{DomainStart, SaveRestore};
use wirt_vocab::reason::{
    PAUSED_FROM_SNAPSHOT, PAUSED_SAVE, PAUSED_USER, RUNNING_BOOTED, RUNNING_FROM_SNAPSHOT,
    RUNNING_RESTORED, RUNNING_UNPAUSED, SHUTOFF_DESTROYED, SHUTOFF_FROM_SNAPSHOT, SHUTOFF_SHUTDOWN,
};
const RUNNING: u32 = State::Running as u32;
const PAUSED: u32 = State::Paused as u32;
const SHUTOFF: u32 = State::Shutoff as u32;
const START_PAUSED: u32 = DomainStart::PAUSED.bits();
const SAVE_PAUSED: u32 = SaveRestore::PAUSED.bits();

/// A save image of this driver is a few lines of text; anything bigger is
/// not one of ours.
const MAX_SAVE_IMAGE: u64 = 64 * 1024;
const SAVE_MAGIC: &str = "wirt-test-driver-save 1";

struct Domain {
    name: String,
    state: u32,
    reason: u32,
    memory_kib: u64,
    vcpus: u32,
    /// CPU time accumulated up to `running_since`.
    cpu_time_ns: u64,
    /// Monotonic time the vCPUs last started running, while running.
    running_since: Option<u64>,
}

impl Domain {
    fn new(config: &DomainConfig, state: u32, reason: u32, cpu_time_ns: u64) -> Self {
        let mut domain = Domain {
            name: config.name.clone(),
            state: SHUTOFF,
            reason: 0,
            memory_kib: config.memory_kib,
            vcpus: config.vcpus,
            cpu_time_ns,
            running_since: None,
        };
        domain.set_state(state, reason);
        domain
    }

    fn cpu_time_ns(&self) -> u64 {
        let running = self
            .running_since
            .map(|since| host::monotonic_ns().saturating_sub(since))
            .unwrap_or(0);
        self.cpu_time_ns + running * u64::from(self.vcpus.max(1))
    }

    fn set_state(&mut self, state: u32, reason: u32) {
        if state == RUNNING && self.running_since.is_none() {
            self.running_since = Some(host::monotonic_ns());
        } else if state != RUNNING && self.running_since.is_some() {
            self.cpu_time_ns = self.cpu_time_ns();
            self.running_since = None;
        }
        self.state = state;
        self.reason = reason;
    }

    fn status(&self) -> DomainStatus {
        DomainStatus {
            state: self.state,
            reason: self.reason,
            cpu_time_ns: self.cpu_time_ns(),
            memory_kib: self.memory_kib,
            vcpus: self.vcpus,
        }
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

#[derive(Default)]
struct Hypervisor {
    uri: String,
    /// Active domains by UUID.
    active: HashMap<String, Domain>,
    /// Staged save images by UUID, between `domain-save` and `-release`.
    saved: HashMap<String, Vec<u8>>,
    /// Restores in progress: the config and the bytes received so far.
    restoring: HashMap<String, (DomainConfig, u64, Vec<u8>)>,
    /// Snapshot names recorded per domain UUID.
    snapshots: HashMap<String, Vec<String>>,
}

thread_local! {
    static HV: RefCell<Hypervisor> = RefCell::new(Hypervisor::default());
}

fn with<T>(f: impl FnOnce(&mut Hypervisor) -> T) -> T {
    HV.with(|hv| f(&mut hv.borrow_mut()))
}

fn not_running(uuid: &str) -> Error {
    err(
        code::OPERATION_INVALID,
        format!("domain {uuid} is not running"),
    )
}

fn active_mut<'a>(hv: &'a mut Hypervisor, uuid: &str) -> Result<&'a mut Domain, Error> {
    hv.active.get_mut(uuid).ok_or_else(|| not_running(uuid))
}

fn encode_save(domain: &Domain) -> Vec<u8> {
    format!(
        "{SAVE_MAGIC}\nname={}\ncpu-time-ns={}\nmemory-kib={}\nvcpus={}\n",
        domain.name,
        domain.cpu_time_ns(),
        domain.memory_kib,
        domain.vcpus
    )
    .into_bytes()
}

/// Parses a save image: (cpu time, memory KiB, vCPUs).
fn decode_save(image: &[u8]) -> Result<(u64, u64, u32), Error> {
    let bad = || err(code::OPERATION_FAILED, "not a test driver save image");
    let text = std::str::from_utf8(image).map_err(|_| bad())?;
    let mut lines = text.lines();
    if lines.next() != Some(SAVE_MAGIC) {
        return Err(bad());
    }
    let (mut cpu, mut memory, mut vcpus) = (None, None, None);
    for line in lines {
        let (key, value) = line.split_once('=').ok_or_else(bad)?;
        match key {
            "cpu-time-ns" => cpu = value.parse().ok(),
            "memory-kib" => memory = value.parse().ok(),
            "vcpus" => vcpus = value.parse().ok(),
            _ => {}
        }
    }
    Ok((
        cpu.ok_or_else(bad)?,
        memory.ok_or_else(bad)?,
        vcpus.ok_or_else(bad)?,
    ))
}

impl Guest for TestDriver {
    fn open(uri: String, flags: u32) -> Result<HypervisorInfo, Error> {
        if flags != 0 {
            return Err(err(
                code::INVALID_ARG,
                format!("unsupported flags (0x{flags:x}) in open"),
            ));
        }
        with(|hv| hv.uri = uri);
        Ok(HypervisorInfo {
            type_name: "TEST".into(),
            version: 2,
            // Empty: the host reports its own name, as libvirt's test driver does.
            hostname: String::new(),
            max_vcpus: 32,
        })
    }

    fn get_node_info() -> Result<NodeInfo, Error> {
        Ok(NodeInfo {
            cpu_model: "i686".into(),
            memory_kib: 3_145_728,
            cpus: 16,
            mhz: 1400,
            numa_nodes: 2,
            sockets: 2,
            cores: 2,
            threads: 2,
        })
    }

    fn get_capabilities() -> Result<Capabilities, Error> {
        let guest = |os_type: &str| GuestCapability {
            os_type: os_type.into(),
            arch: "i686".into(),
            wordsize: 32,
            emulator: Some("/usr/bin/test-hv".into()),
            domain_types: vec!["test".into()],
            features: vec!["pae".into(), "nonpae".into()],
        };
        Ok(Capabilities {
            host_arch: "i686".into(),
            host_features: vec!["pae".into(), "nonpae".into()],
            page_sizes_kib: vec![4, 8, 2048, 1_048_576],
            secmodel: Some("testSecurity".into()),
            guests: vec![guest("hvm"), guest("xen")],
        })
    }

    fn domain_start(config: DomainConfig, flags: u32) -> Result<DomainStatus, Error> {
        if flags & !START_PAUSED != 0 {
            return Err(err(
                code::INVALID_ARG,
                format!("unsupported flags (0x{flags:x}) in domain-start"),
            ));
        }
        with(|hv| {
            if hv.active.contains_key(&config.uuid) {
                return Err(err(code::OPERATION_INVALID, "domain is already running"));
            }
            let paused = flags & START_PAUSED != 0 && !cfg!(feature = "broken-state");
            let (state, reason) = if paused {
                (PAUSED, PAUSED_USER)
            } else {
                (RUNNING, RUNNING_BOOTED)
            };
            let domain = Domain::new(&config, state, reason, 0);
            let status = domain.status();
            hv.active.insert(config.uuid, domain);
            Ok(status)
        })
    }

    fn domain_adopt(config: DomainConfig, status: DomainStatus) -> Result<(), Error> {
        with(|hv| {
            if status.state == SHUTOFF {
                hv.active.remove(&config.uuid);
            } else {
                let mut domain =
                    Domain::new(&config, status.state, status.reason, status.cpu_time_ns);
                domain.memory_kib = status.memory_kib.max(1);
                if status.vcpus > 0 {
                    domain.vcpus = status.vcpus;
                }
                hv.active.insert(config.uuid, domain);
            }
            Ok(())
        })
    }

    fn get_domain_status(uuid: String) -> Result<DomainStatus, Error> {
        with(|hv| {
            Ok(hv
                .active
                .get(&uuid)
                .map(Domain::status)
                .unwrap_or_else(|| shutoff(0)))
        })
    }

    fn domain_shutdown(uuid: String, _flags: u32) -> Result<DomainStatus, Error> {
        with(|hv| {
            let domain = active_mut(hv, &uuid)?;
            if domain.state != RUNNING {
                return Err(err(code::OPERATION_INVALID, "domain is not running"));
            }
            hv.active.remove(&uuid);
            Ok(shutoff(SHUTOFF_SHUTDOWN))
        })
    }

    fn domain_reboot(uuid: String, _flags: u32) -> Result<DomainStatus, Error> {
        with(|hv| {
            let domain = active_mut(hv, &uuid)?;
            if domain.state != RUNNING {
                return Err(err(code::OPERATION_INVALID, "domain is not running"));
            }
            domain.set_state(RUNNING, RUNNING_BOOTED);
            Ok(domain.status())
        })
    }

    fn domain_reset(uuid: String, _flags: u32) -> Result<DomainStatus, Error> {
        with(|hv| Ok(active_mut(hv, &uuid)?.status()))
    }

    fn domain_destroy(uuid: String, _flags: u32) -> Result<DomainStatus, Error> {
        with(|hv| {
            if cfg!(feature = "broken-destroy") {
                active_mut(hv, &uuid)?;
            } else {
                hv.active.remove(&uuid).ok_or_else(|| not_running(&uuid))?;
            }
            Ok(shutoff(SHUTOFF_DESTROYED))
        })
    }

    fn domain_suspend(uuid: String) -> Result<DomainStatus, Error> {
        with(|hv| {
            let domain = active_mut(hv, &uuid)?;
            if domain.state == RUNNING {
                domain.set_state(PAUSED, PAUSED_USER);
            }
            Ok(domain.status())
        })
    }

    fn domain_resume(uuid: String) -> Result<DomainStatus, Error> {
        with(|hv| {
            let domain = active_mut(hv, &uuid)?;
            if domain.state != PAUSED && !cfg!(feature = "broken-resume") {
                return Err(err(code::OPERATION_INVALID, "domain is not paused"));
            }
            domain.set_state(RUNNING, RUNNING_UNPAUSED);
            Ok(domain.status())
        })
    }

    fn domain_set_memory(uuid: String, memory_kib: u64) -> Result<DomainStatus, Error> {
        with(|hv| {
            let domain = active_mut(hv, &uuid)?;
            domain.memory_kib = memory_kib;
            Ok(domain.status())
        })
    }

    fn domain_set_vcpus(uuid: String, vcpus: u32) -> Result<DomainStatus, Error> {
        with(|hv| {
            let domain = active_mut(hv, &uuid)?;
            if vcpus == 0 {
                return Err(err(code::INVALID_ARG, "a domain needs at least one vCPU"));
            }
            // Close the CPU-time interval at the old vCPU count.
            let state = (domain.state, domain.reason);
            domain.set_state(SHUTOFF, 0);
            domain.vcpus = vcpus;
            domain.set_state(state.0, state.1);
            Ok(domain.status())
        })
    }

    fn domain_save(uuid: String, _flags: u32) -> Result<u64, Error> {
        with(|hv| {
            let domain = hv.active.remove(&uuid).ok_or_else(|| not_running(&uuid))?;
            let image = encode_save(&domain);
            let size = image.len() as u64;
            hv.saved.insert(uuid, image);
            Ok(size)
        })
    }

    fn domain_save_read(uuid: String, offset: u64, max_len: u32) -> Result<Vec<u8>, Error> {
        with(|hv| {
            let image = hv
                .saved
                .get(&uuid)
                .ok_or_else(|| err(code::OPERATION_INVALID, "no save in progress"))?;
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(image.len());
            let end = start.saturating_add(max_len as usize).min(image.len());
            Ok(image[start..end].to_vec())
        })
    }

    fn domain_save_release(uuid: String) {
        with(|hv| hv.saved.remove(&uuid));
    }

    fn domain_restore_begin(config: DomainConfig, size: u64) -> Result<(), Error> {
        if size > MAX_SAVE_IMAGE {
            return Err(err(
                code::OPERATION_FAILED,
                format!("save image of {size} bytes is too large for the test driver"),
            ));
        }
        with(|hv| {
            if hv.active.contains_key(&config.uuid) {
                return Err(err(code::OPERATION_INVALID, "domain is already active"));
            }
            let uuid = config.uuid.clone();
            hv.restoring
                .insert(uuid, (config, size, Vec::with_capacity(size as usize)));
            Ok(())
        })
    }

    fn domain_restore_write(uuid: String, offset: u64, data: Vec<u8>) -> Result<(), Error> {
        with(|hv| {
            let (_, size, buf) = hv
                .restoring
                .get_mut(&uuid)
                .ok_or_else(|| err(code::OPERATION_INVALID, "no restore in progress"))?;
            if offset != buf.len() as u64 || offset + data.len() as u64 > *size {
                return Err(err(
                    code::OPERATION_FAILED,
                    format!("restore data out of order at offset {offset}"),
                ));
            }
            buf.extend_from_slice(&data);
            Ok(())
        })
    }

    fn domain_restore_finish(uuid: String, flags: u32) -> Result<DomainStatus, Error> {
        with(|hv| {
            let (config, size, image) = hv
                .restoring
                .remove(&uuid)
                .ok_or_else(|| err(code::OPERATION_INVALID, "no restore in progress"))?;
            if image.len() as u64 != size {
                return Err(err(code::OPERATION_FAILED, "save image is truncated"));
            }
            let (cpu, memory_kib, vcpus) = decode_save(&image)?;
            let (state, reason) = if flags & SAVE_PAUSED != 0 {
                (PAUSED, PAUSED_SAVE)
            } else {
                (RUNNING, RUNNING_RESTORED)
            };
            let mut domain = Domain::new(&config, SHUTOFF, 0, cpu);
            domain.memory_kib = memory_kib;
            domain.vcpus = vcpus;
            domain.set_state(state, reason);
            let status = domain.status();
            hv.active.insert(uuid, domain);
            Ok(status)
        })
    }

    fn domain_snapshot_create(uuid: String, snapshot: String, _flags: u32) -> Result<(), Error> {
        with(|hv| {
            // Snapshot names are the host's to keep unique: one the host
            // forgot (undefine --snapshots-metadata) may be taken again.
            let names = hv.snapshots.entry(uuid).or_default();
            if !names.contains(&snapshot) {
                names.push(snapshot);
            }
            Ok(())
        })
    }

    fn domain_snapshot_revert(
        config: DomainConfig,
        snapshot: String,
        state: u32,
        _flags: u32,
    ) -> Result<DomainStatus, Error> {
        with(|hv| {
            let known = hv
                .snapshots
                .get(&config.uuid)
                .is_some_and(|names| names.contains(&snapshot));
            if !known {
                return Err(err(
                    code::OPERATION_INVALID,
                    format!("no snapshot '{snapshot}' recorded for this domain"),
                ));
            }
            let previous = hv.active.remove(&config.uuid);
            let status = match state {
                RUNNING | PAUSED => {
                    let reason = if state == RUNNING {
                        RUNNING_FROM_SNAPSHOT
                    } else {
                        PAUSED_FROM_SNAPSHOT
                    };
                    let cpu = previous.map(|d| d.cpu_time_ns()).unwrap_or(0);
                    let domain = Domain::new(&config, state, reason, cpu);
                    let status = domain.status();
                    hv.active.insert(config.uuid.clone(), domain);
                    status
                }
                _ => shutoff(SHUTOFF_FROM_SNAPSHOT),
            };
            Ok(status)
        })
    }

    fn domain_snapshot_delete(uuid: String, snapshot: String, _flags: u32) -> Result<(), Error> {
        with(|hv| {
            if let Some(names) = hv.snapshots.get_mut(&uuid) {
                names.retain(|name| name != &snapshot);
            }
            Ok(())
        })
    }
}
