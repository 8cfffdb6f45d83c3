//! Opening test connections: the built-in test driver plugin, seeded with
//! libvirt's default host or with the objects of a `<node>` file.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::on_demand::OnDemand;
use super::{ConnState, Drivers, convert};
use crate::connect::{Error, Result};
use crate::driver::wasm::WasmDriver;
use crate::driver::{
    Capabilities, DomainStatus, HypervisorDriver, HypervisorInfo, NetworkDriver, NoHypervisor,
    NodeInfo, StorageDriver,
};
use crate::error::ErrorCode;
use crate::events::EventBus;
use crate::lifecycle::{State, reason};
use crate::plugin::{Plugin, PluginHandle, builtin};
use crate::registry::{DomainObj, NetworkObj, PoolObj, Registry, SaveImage};
use crate::xml::node::NodeDef;

const DEFAULT_NODE: &str = include_str!("default-node.xml");

pub(crate) fn open_test(uri: &str, node_file: Option<&str>) -> Result<Arc<ConnState>> {
    let node = match node_file {
        None => NodeDef::parse(DEFAULT_NODE, &|_| {
            unreachable!("the default node names no files")
        })?,
        Some(path) => {
            let path = Path::new(path);
            let text = read_node_file(path)?;
            let base = path.parent().unwrap_or(Path::new("/")).to_path_buf();
            NodeDef::parse(&text, &|file| {
                let full = base.join(file);
                read_node_file(&full).map_err(|e| crate::xml::Error::Invalid(e.to_string()))
            })?
        }
    };
    open_with_plugin(uri, builtin::test_driver()?, &node)
}

/// Reads a node file (or a file it includes) the way the daemon may read a
/// path a client chose: a regular file only (a device or FIFO is refused,
/// and opening does not block on a FIFO's missing writer), and no more than
/// the XML parser accepts, so `/dev/zero` cannot grow the process.
pub(crate) fn read_node_file(path: &Path) -> Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| Error::Io {
        what: format!("cannot read test node file {}", path.display()),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(Error::api(
            ErrorCode::OPERATION_FAILED,
            format!("test node file {} is not a regular file", path.display()),
        ));
    }
    let limit = crate::xml::tree::MAX_DOCUMENT_BYTES;
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > limit {
        return Err(Error::api(
            ErrorCode::OPERATION_FAILED,
            format!(
                "test node file {} exceeds the {limit} byte limit",
                path.display()
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        Error::api(
            ErrorCode::OPERATION_FAILED,
            format!("test node file {} is not UTF-8", path.display()),
        )
    })
}

/// A private connection whose drivers are `plugin`, seeded with `node`.
pub(crate) fn open_with_plugin(
    uri: &str,
    plugin: Arc<Plugin>,
    node: &NodeDef,
) -> Result<Arc<ConnState>> {
    open_with_plugin_grants(uri, plugin, node, Vec::new(), None)
}

/// The same, with the directories the plugin is granted.
fn open_with_plugin_grants(
    uri: &str,
    plugin: Arc<Plugin>,
    node: &NodeDef,
    preopens: Vec<crate::plugin::Preopen>,
    net_grant: Option<String>,
) -> Result<Arc<ConnState>> {
    let (sink, queue) = super::status_channel();
    let has_hypervisor = plugin.exports_hypervisor();
    let has_storage = plugin.exports_storage();
    let has_network = plugin.exports_network();
    let name = plugin.name.clone();
    let handle = Arc::new(PluginHandle::new(plugin, Some(sink)));
    handle.set_preopens(preopens);
    if let Some(bridge_prefix) = net_grant {
        let run_dir = super::LocalDirs::for_mode(false)
            .runtime
            .join("plugins")
            .join(&name);
        handle.set_net_host(crate::plugin::NetHost::new(
            &name,
            crate::plugin::NetGrant {
                bridge_prefix,
                run_dir,
            },
        ));
    }
    handle.track();
    if has_hypervisor {
        let open_uri = uri.to_string();
        handle.add_initializer(Box::new(move |instance| {
            let hv = instance
                .hypervisor
                .as_ref()
                .ok_or_else(|| wasmtime::format_err!("the plugin exports no hypervisor"))?;
            hv.call_open(&mut instance.store, &open_uri, 0)?
                .map(|_| ())
                .map_err(|e| wasmtime::format_err!("open failed: {}", e.message))
        }))?;
    }
    let driver = Arc::new(WasmDriver::new(handle));
    let (info, capabilities, mut node_info) = if has_hypervisor {
        (
            driver.open(uri)?,
            driver.capabilities()?,
            driver.node_info()?,
        )
    } else {
        (
            no_hypervisor_info(),
            Capabilities::default(),
            NodeInfo::default(),
        )
    };
    apply_node_cpu(&mut node_info, node);

    let mut registry = Registry::new(None);
    seed(&mut registry, node, driver.as_ref(), &capabilities)?;

    let hypervisor: Arc<dyn HypervisorDriver> = if has_hypervisor {
        driver.clone()
    } else {
        Arc::new(NoHypervisor)
    };
    let state = Arc::new(ConnState {
        uri: uri.to_string(),
        drivers: Drivers {
            hypervisor,
            lazy_attach: false,
            storage: has_storage.then(|| OnDemand::ready(driver.clone() as Arc<dyn StorageDriver>)),
            network: has_network.then(|| OnDemand::ready(driver.clone() as Arc<dyn NetworkDriver>)),
        },
        registry: Mutex::new(registry),
        events: EventBus::default(),
        network_events: EventBus::default(),
        block_job_events: EventBus::default(),
        device_events: EventBus::default(),
        pool_events: EventBus::default(),
        secrets: Default::default(),
        secret_events: EventBus::default(),
        node_devices: Some(Mutex::new(node.devices.clone())),
        node_device_events: EventBus::default(),
        iface_backup: Mutex::default(),
        test_guests: Mutex::default(),
        // libvirt's test driver starts every interface of its node file.
        interfaces: Some(Mutex::new(
            node.interfaces
                .iter()
                .map(|def| super::iface::IfaceObj {
                    def: def.clone(),
                    active: true,
                })
                .collect(),
        )),
        info,
        capabilities,
        node: node_info,
        lost_handle: Some(driver.handle().clone()),
        disk: None,
        host_uuid: test_host_uuid(uri),
        migrations: Default::default(),
    });
    super::spawn_status_applier(&state, queue);
    Ok(state)
}

/// A connection served by a third-party hypervisor plugin whose manifest
/// claims `scheme` (`mydrv:///...`), with the grants the host policy allows.
/// None when no installed plugin serves the scheme.
pub(crate) fn open_scheme(uri: &str, scheme: &str) -> Option<Result<Arc<ConnState>>> {
    let entry = crate::plugin::catalog::for_scheme(scheme)?;
    Some((|| {
        let policy = crate::plugin::policy::Policy::load()
            .map_err(|e| Error::api(e.code(), e.to_string()))?;
        let loaded = entry
            .load(&policy)
            .map_err(|e| Error::api(e.code(), crate::plugin::catalog::error_chain(&e)))?;
        open_with_plugin_grants(
            uri,
            loaded.plugin,
            &NodeDef::default(),
            loaded.preopens,
            loaded.net_grant,
        )
    })())
}

fn no_hypervisor_info() -> HypervisorInfo {
    HypervisorInfo {
        type_name: "NONE".into(),
        version: 0,
        hostname: String::new(),
        max_vcpus: 0,
    }
}

fn apply_node_cpu(info: &mut NodeInfo, node: &NodeDef) {
    let cpu = &node.cpu;
    if let Some(v) = cpu.mhz {
        info.mhz = v;
    }
    if let Some(v) = &cpu.model {
        info.cpu_model = v.clone();
    }
    if let Some(v) = cpu.nodes {
        info.numa_nodes = v;
    }
    if let Some(v) = cpu.sockets {
        info.sockets = v;
    }
    if let Some(v) = cpu.cores {
        info.cores = v;
    }
    if let Some(v) = cpu.threads {
        info.threads = v;
    }
    if let Some(v) = cpu.active {
        info.cpus = v;
    }
    if let Some(v) = node.memory_kib {
        info.memory_kib = v;
    }
}

/// Puts the node's objects into the registry and tells the driver about
/// the active ones. Seeding emits no events: the objects were always there.
fn seed(
    reg: &mut Registry,
    node: &NodeDef,
    driver: &WasmDriver,
    caps: &crate::driver::Capabilities,
) -> Result<()> {
    use crate::driver::{NetworkDriver, StorageDriver};
    for nd in &node.domains {
        let mut def = nd.def.clone();
        super::domain::fill_driver_defaults(&mut def, caps);
        if reg.domain(&def.uuid).is_some() || reg.domain_by_name(&def.name).is_some() {
            return Err(Error::api(
                ErrorCode::OPERATION_FAILED,
                format!("domain '{}' is defined twice in the node file", def.name),
            ));
        }
        let state = State::from_u32(nd.runstate).unwrap_or(State::Running);
        let mut obj = DomainObj::new_inactive(def.clone());
        if nd.transient {
            obj.config = None;
        }
        if state.is_active() {
            let id = reg.allocate_id();
            let reason = match state {
                State::Running => reason::UNKNOWN,
                State::Paused => reason::PAUSED_USER,
                _ => reason::UNKNOWN,
            };
            let status = DomainStatus {
                state: state as u32,
                reason,
                cpu_time_ns: 0,
                memory_kib: def.current_memory_kib,
                vcpus: def.boot_vcpus(),
            };
            let config = convert::domain_config(&def, Some(id), &|_, _| None);
            driver.adopt(&config, &status)?;
            obj.live = Some(def.clone());
            obj.state = state;
            obj.reason = reason;
            obj.id = Some(id);
            obj.status = status;
        } else if obj.config.is_none() {
            return Err(Error::api(
                ErrorCode::OPERATION_FAILED,
                format!(
                    "transient domain '{}' in the node file must be active",
                    def.name
                ),
            ));
        } else if nd.has_managed_save {
            // Let the driver produce a genuine image of its own format.
            let config = convert::domain_config(&def, None, &|_, _| None);
            driver.start(&config, 0)?;
            let mut payload = Vec::new();
            driver.save(&def.uuid.to_string(), 0, &mut payload)?;
            let image = super::save_image::encode(&def, true, &payload);
            obj.managed_save = Some(SaveImage::Memory(image));
            obj.reason = reason::SHUTOFF_SAVED;
        }
        reg.insert_domain(obj);
    }
    for net in &node.networks {
        driver.network_start(&convert::network_config(net), 0)?;
        reg.networks.insert(
            net.uuid,
            NetworkObj {
                config: Some(net.clone()),
                live: Some(net.clone()),
                autostart: false,
            },
        );
    }
    for (pool, volumes) in &node.pools {
        driver.pool_start(&convert::pool_config(pool))?;
        let uuid = pool.uuid.to_string();
        for vol in volumes {
            let config = crate::driver::VolumeConfig {
                name: vol.name.clone(),
                capacity: vol.capacity,
                allocation: vol.allocation.unwrap_or(vol.capacity),
                format: vol.format.clone().unwrap_or_else(|| "raw".into()),
                backing: None,
            };
            driver.volume_create(&uuid, &config, 0)?;
        }
        let volumes: BTreeMap<_, _> = driver
            .pool_refresh(&uuid)?
            .into_iter()
            .map(|v| (v.name.clone(), v))
            .collect();
        reg.pools.insert(
            pool.uuid,
            PoolObj {
                def: pool.clone(),
                persistent: true,
                active: true,
                autostart: false,
                volumes,
            },
        );
    }
    Ok(())
}

/// `test:///default` is this process's (or its state dir's) host; every
/// private test host (`test:///PATH.xml`, a plugin's own URI) is a host of
/// its own, so migrations between them work in one process.
fn test_host_uuid(uri: &str) -> uuid::Uuid {
    if uri.starts_with("test:///default") {
        let dir = std::env::var_os("WIRT_STATE_DIR");
        super::migrate::host_uuid(dir.as_deref().map(Path::new))
    } else {
        uuid::Uuid::new_v4()
    }
}
