//! The local host's connections: `kvm:///system` and `kvm:///session`.
//!
//! Domains run under the KVM driver (one `wirt-vmm` per domain); their
//! configs, snapshots and managed-save images persist in a state dir, and
//! running VMMs are re-attached from records in the runtime dir, so a
//! restarted `wirt` finds its domains where it left them.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::on_demand::OnDemand;
use super::{ConnState, Disk, Drivers};
use crate::connect::{Error, Result};
use crate::driver::bridge::BridgeNetworks;
use crate::driver::dir::DirStorage;
use crate::driver::kvm::{KvmDriver, KvmPaths, find_vmm};
use crate::driver::{DomainStatus, HypervisorDriver, NetworkDriver, StorageDriver};
use crate::events::EventBus;
use crate::lifecycle::State;
use crate::plugin::{PluginHandle, builtin};
use crate::registry::{DomainIndex, DomainObj, Registry, RuntimeRecord, StateDir, StateLock};
use wirt_kvm::control::published::Published;

use super::dirs::LocalDirs;

pub(crate) fn open_kvm(uri: &str, system: bool) -> Result<Arc<ConnState>> {
    let dirs = LocalDirs::for_mode(system);
    let created = |dir: &std::path::Path, source| Error::Io {
        what: format!("cannot create {}", dir.display()),
        source,
    };
    // The state dir holds definitions with secrets: the owner's only, even
    // if an older wirt made it 0755. The runtime dir holds the daemon's
    // sockets (the read-only one is for everyone): its mode stays.
    crate::registry::create_private_dir(&dirs.state).map_err(|e| created(&dirs.state, e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        // Best effort: another user's dir is not ours to change.
        let _ = std::fs::set_permissions(&dirs.state, std::fs::Permissions::from_mode(0o700));
    }
    std::fs::create_dir_all(&dirs.runtime).map_err(|e| created(&dirs.runtime, e))?;
    let (sink, queue) = super::status_channel();
    let paths = KvmPaths {
        // Without the binary the connection still serves storage; starting a
        // domain then fails naming what is missing.
        vmm: find_vmm().unwrap_or_else(|| PathBuf::from("wirt-vmm")),
        runtime: dirs.runtime.clone(),
        logs: dirs.logs.clone(),
        snapshots: dirs.state.join("snapshot-state"),
    };
    let kvm = Arc::new(KvmDriver::new(paths, sink));
    let records = dirs.runtime.clone();
    kvm.set_config_source(Box::new(move |uuid| {
        let record = RuntimeRecord::read(&records, &uuid::Uuid::parse_str(uuid).ok()?)?;
        Some(super::convert::domain_config(
            &record.live,
            Some(record.id),
            &|_, _| None,
        ))
    }));
    let networks: OnDemand<dyn NetworkDriver> = {
        let (state, run) = (dirs.state.join("network"), dirs.runtime.join("network"));
        OnDemand::new(move || Ok(Arc::new(BridgeNetworks::open(&state, &run)?) as Arc<_>))
    };
    let info = kvm.open(uri)?;
    let capabilities = kvm.capabilities()?;
    let node = kvm.node_info()?;

    // Other `wirt` processes and wirtd may use this state dir: it is read
    // under its lock, which every later mutation takes too (`lock`).
    let lock = Arc::new(StateLock::open(&dirs.state)?);
    {
        // A process that dies between spawning a VMM and recording it
        // leaves an orphan: the bump makes the next open read everything,
        // and reap it, instead of trusting the domain index.
        let lock = lock.clone();
        kvm.set_before_spawn(Box::new(move || lock.bump()));
    }
    lock.lock()?;
    let loaded = (|| {
        lock.changed();
        let store = StateDir::new(&dirs.state)
            .with_runtime(&dirs.runtime)
            .with_lock(lock.clone());
        let mut registry = load_registry(store, &lock, &kvm)?;
        super::network::adopt_running(&mut registry, &networks);
        let storage = open_dir_storage(&dirs, &mut registry)?;
        Ok::<_, Error>((registry, storage))
    })();
    lock.unlock();
    let (registry, storage) = loaded?;
    let reload = {
        let kvm = kvm.clone();
        Box::new(move |reg: &mut Registry| reload(reg, &kvm))
    };

    let state = Arc::new(ConnState {
        uri: uri.to_string(),
        drivers: Drivers {
            hypervisor: kvm,
            lazy_attach: true,
            storage: Some(storage),
            network: Some(networks),
        },
        registry: Mutex::new(registry),
        events: EventBus::default(),
        network_events: EventBus::default(),
        block_job_events: EventBus::default(),
        device_events: EventBus::default(),
        pool_events: EventBus::default(),
        secrets: Mutex::new(super::secret::SecretStore::on_disk(
            dirs.state.join("secrets"),
        )),
        secret_events: EventBus::default(),
        node_devices: None,
        node_device_events: EventBus::default(),
        interfaces: None,
        iface_backup: Mutex::default(),
        test_guests: Mutex::default(),
        info,
        capabilities,
        node,
        lost_handle: None,
        disk: Some(Disk { lock, reload }),
        host_uuid: super::migrate::host_uuid(Some(&dirs.state)),
        migrations: Default::default(),
    });
    super::spawn_status_applier(&state, queue);
    Ok(state)
}

/// Reads the state dir again after another process changed it: what this
/// process knows only in memory (which pools it runs) is carried over, and
/// VMMs another process started are taken over as at open.
fn reload(reg: &mut Registry, kvm: &KvmDriver) {
    let Some(store) = reg.store().cloned() else {
        return;
    };
    let Some(lock) = store.lock().cloned() else {
        return;
    };
    match load_registry(store, &lock, kvm) {
        Ok(mut fresh) => {
            for (uuid, net) in &reg.networks {
                let Some(live) = &net.live else { continue };
                match fresh.networks.get_mut(uuid) {
                    Some(n) => n.live = Some(live.clone()),
                    None => {
                        fresh.networks.insert(*uuid, net.clone());
                    }
                }
            }
            for (uuid, pool) in &reg.pools {
                if let Some(p) = fresh.pools.get_mut(uuid) {
                    p.active = pool.active;
                    p.volumes = pool.volumes.clone();
                }
            }
            *reg = fresh;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot re-read the state dir; serving what was read before")
        }
    }
}

/// Reads the state dir under its lock. While the domain index is current,
/// domains come from it, their definitions read when first used, and
/// running ones are left unwatched without reading anything of theirs;
/// otherwise every file is read, running VMMs are taken over, and the
/// index is written anew.
fn load_registry(store: StateDir, lock: &StateLock, kvm: &KvmDriver) -> Result<Registry> {
    let root = store.root().to_path_buf();
    let runtime = store.runtime().map(PathBuf::from);
    let index = DomainIndex::read(&store, lock.generation());
    let Some(index) = index else {
        // A process that read a half-written definition reads again.
        if crate::registry::clean_leftovers(&root, runtime.as_deref()) > 0 {
            lock.bump();
        }
        let (mut registry, running) = Registry::load(store)?;
        reattach(&mut registry, running, kvm);
        registry.write_index(lock.generation());
        return Ok(registry);
    };
    // Every writer bumps the generation before it writes, and every spawn
    // of a VMM before it happens, so with the index current no writer died
    // halfway and no VMM was left unrecorded since it was written: only
    // secrets, written apart from the generation, may hold a dead writer's
    // temporary.
    crate::registry::clean_temporaries(&[root.join("secrets")]);
    let registry = Registry::from_index(store, index)?;
    let running: Vec<(String, u32, u32)> = registry
        .summaries()
        .filter(|d| d.is_active())
        .map(|d| (d.uuid.to_string(), d.state as u32, d.reason))
        .collect();
    kvm.defer_unread(running.into_iter());
    Ok(registry)
}

/// The storage-dir plugin serves this host's "dir" pools. Pools that were
/// active in the previous host process are started again; with none, the
/// plugin is loaded when a call first needs it.
fn open_dir_storage(dirs: &LocalDirs, reg: &mut Registry) -> Result<OnDemand<dyn StorageDriver>> {
    fn make(record: &std::path::Path) -> Result<Arc<DirStorage>> {
        let handle = Arc::new(PluginHandle::new(builtin::storage_dir()?, None));
        handle.track();
        Ok(Arc::new(DirStorage::new(
            handle,
            Some(record.to_path_buf()),
        )?))
    }
    let record = dirs.runtime.join("pools-active.json");
    let recorded = crate::driver::dir::recorded_active(&record);
    if recorded.is_empty() {
        return Ok(OnDemand::new(move || Ok(make(&record)? as Arc<_>)));
    }
    let storage = make(&record)?;
    for (uuid, volumes) in recorded {
        let Ok(uuid) = uuid::Uuid::parse_str(&uuid) else {
            continue;
        };
        let Some(pool) = reg.pools.get_mut(&uuid) else {
            continue;
        };
        let config = super::convert::pool_config(&pool.def);
        match storage.resume_pool(&config, volumes.clone()) {
            Ok(()) => {
                pool.active = true;
                pool.volumes = volumes.into_iter().map(|v| (v.name.clone(), v)).collect();
            }
            Err(e) => {
                tracing::warn!(pool = %pool.def.name, error = %e, "cannot start a pool that was active")
            }
        }
    }
    Ok(OnDemand::ready(storage as Arc<_>))
}

/// Finds the VMMs that outlived the previous host process and takes them
/// over; a record whose VMM is gone means the domain stopped meanwhile.
fn reattach(reg: &mut Registry, running: Vec<crate::registry::RuntimeRecord>, kvm: &KvmDriver) {
    for record in running {
        let config = super::convert::domain_config(&record.live, Some(record.id), &|_, _| None);
        // A VMM that publishes its state is not connected to until used:
        // reading a thousand small files is what a listing can afford,
        // a thousand round trips through the VMMs is not.
        let status = match kvm.published(&config.uuid) {
            Some(Published::Alive { state, reason }) if state != State::Shutoff as u32 => {
                kvm.defer(config.clone(), state, reason);
                Ok(DomainStatus {
                    state,
                    reason,
                    ..DomainStatus::default()
                })
            }
            _ => kvm
                .adopt(&config, &DomainStatus::default())
                .and_then(|()| kvm.status(&config.uuid)),
        };
        let known = reg.domain(&record.uuid).is_some();
        let recorded = (record.state, record.reason);
        let changed = match status {
            Ok(status) if status.state != State::Shutoff as u32 => {
                if !known {
                    // A running transient domain: it has no stored config.
                    reg.insert_domain(DomainObj::transient(record.live.clone()));
                }
                let obj = reg.domain_mut(&record.uuid).expect("present");
                obj.live = Some(record.live);
                obj.block_jobs = record.block_jobs;
                obj.id = Some(record.id);
                obj.state = State::from_u32(status.state).unwrap_or(State::Running);
                obj.reason = if status.state == record.state {
                    record.reason
                } else {
                    status.reason
                };
                obj.status = status;
                // A read-only command rewrites no record that still holds.
                !known || (obj.state as u32, obj.reason) != recorded
            }
            outcome => {
                // The guest stopped while no host was attached: a VMM still
                // there says how (and is retired); a vanished one crashed.
                let reason = match outcome {
                    Ok(status) => {
                        let _ = kvm.destroy(&config.uuid, 0);
                        status.reason
                    }
                    Err(_) => crate::lifecycle::reason::SHUTOFF_CRASHED,
                };
                tracing::info!(uuid = %record.uuid, reason, "domain stopped while no host was attached");
                if let Some(obj) = reg.domain_mut(&record.uuid) {
                    obj.reason = reason;
                }
                // The next process must tell the same story: a crash seen
                // once is not "shut off (shutdown)" the next time.
                if let Err(e) = super::domain::store_domain(reg, &record.uuid) {
                    tracing::warn!(uuid = %record.uuid, error = %e, "cannot store the stop reason");
                }
                true
            }
        };
        if changed {
            let _ = reg.record_runtime(&record.uuid);
        }
    }
    kvm.reap_orphans();
}

/// Whether a URI names the local KVM host, and which mode.
pub(crate) fn kvm_mode(scheme: &str, path: &str) -> Option<bool> {
    match (scheme, path) {
        ("kvm" | "qemu", "/system") => Some(true),
        ("kvm" | "qemu", "/session") => Some(false),
        _ => None,
    }
}
