//! Plugins: compiling (cached), instantiating and supervising WASM
//! components that implement the `wirt:driver@0.1.0` contract.
//!
//! Each plugin instance lives in its own `Store` with a memory cap and a
//! per-call epoch deadline. A trap, a timeout or a memory overrun fails that
//! one call with an error naming the plugin; the instance is discarded and
//! re-created on the next call, and the host carries on.

pub mod bindings;
pub mod builtin;
pub mod catalog;
mod extents;
mod host_state;
mod log;
pub mod manifest;
mod netcap;
pub mod policy;
mod runtime;
mod supervisor;

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Component, InstancePre, Linker};

pub use host_state::{HostState, Preopen, StatusSink};
pub use netcap::{NetGrant, NetHost};
pub use runtime::{Runtime, cache_dir};
pub use supervisor::{Instance, PluginHandle, health, log_path};

use crate::error::ErrorCode;
use bindings::exports::wirt::driver::{hypervisor, network, storage};

/// The contract versions this host implements.
pub const SUPPORTED_WIT_VERSIONS: &[&str] = &["0.1.0"];
const PACKAGE: &str = "wirt:driver";

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A plugin's failure, naming the plugin.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The wasmtime engine could not be made.
    #[error("cannot start the WASM runtime")]
    Runtime(#[source] BoxError),
    /// The bytes are not a valid WebAssembly component.
    #[error("plugin {plugin}: not a valid WebAssembly component")]
    Compile {
        /// The plugin's name.
        plugin: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The plugin was built for a contract version this host does not support.
    #[error(
        "plugin {plugin} {version} was built for {package}@{found}, but this host supports {package}@{supported}"
    )]
    Version {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// The contract's package (`wirt:driver`).
        package: &'static str,
        /// The contract version the plugin was built for.
        found: String,
        /// The contract versions this host supports.
        supported: String,
    },
    /// The plugin exports none of the driver interfaces.
    #[error(
        "plugin {plugin} {version} exports none of the driver interfaces ({package}/hypervisor, storage or network)"
    )]
    NoDriverExports {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// The contract's package (`wirt:driver`).
        package: &'static str,
    },
    /// The plugin imports what this host does not provide.
    #[error("plugin {plugin} {version} needs imports this host does not provide: {missing}")]
    MissingImports {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// The imports missing, by name.
        missing: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The plugin does not export the interface a call needs.
    #[error("plugin {plugin} {version} does not implement {interface}")]
    NotExported {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// The driver interface asked for (`hypervisor`, `storage`, `network`).
        interface: &'static str,
    },
    /// Instantiating the plugin failed.
    #[error("plugin {plugin} {version} could not be instantiated")]
    Instantiate {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// A call ran past its time budget (`Limits::call_timeout`).
    #[error(
        "plugin {plugin} {version} did not answer within {seconds:.1}s; its instance was discarded"
    )]
    Timeout {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// The call's time budget, s.
        seconds: f64,
    },
    /// The plugin went past its memory cap (`Limits::memory_bytes`).
    #[error(
        "plugin {plugin} {version} went past its {limit_mib} MiB memory cap; its instance was discarded"
    )]
    MemoryCap {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// The memory cap, MiB.
        limit_mib: usize,
    },
    /// The plugin trapped (a panic, an out-of-bounds access).
    #[error("plugin {plugin} {version} crashed{detail}; its instance was discarded")]
    Trap {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// The guest's own last words (panic message), when it printed any.
        detail: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The plugin failed too often in a row (`Limits::max_failures`) and gets no more calls.
    #[error("plugin {plugin} {version} is quarantined after {failures} consecutive failures")]
    Quarantined {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// The failures in a row.
        failures: u32,
    },
}

impl Error {
    /// libvirt's code: `VIR_ERR_OPERATION_TIMEOUT` for a timeout,
    /// `VIR_ERR_NO_SUPPORT` for a missing interface, else `VIR_ERR_INTERNAL_ERROR`.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Timeout { .. } => ErrorCode::OPERATION_TIMEOUT,
            Error::NotExported { .. } => ErrorCode::NO_SUPPORT,
            _ => ErrorCode::INTERNAL_ERROR,
        }
    }
}

/// Resource limits of one plugin instance.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Linear memory cap, bytes.
    pub memory_bytes: usize,
    /// Wall-clock budget of one call.
    pub call_timeout: Duration,
    /// Consecutive failed calls after which the plugin is quarantined.
    pub max_failures: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 256 << 20,
            call_timeout: Duration::from_secs(10),
            max_failures: 5,
        }
    }
}

/// A compiled, linked plugin: ready to instantiate any number of times.
pub struct Plugin {
    /// The plugin's name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// The limits of each of its instances.
    pub limits: Limits,
    pre: InstancePre<HostState>,
    hypervisor: Option<hypervisor::GuestIndices>,
    storage: Option<storage::GuestIndices>,
    network: Option<network::GuestIndices>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("hypervisor", &self.hypervisor.is_some())
            .field("storage", &self.storage.is_some())
            .field("network", &self.network.is_some())
            .finish()
    }
}

impl Plugin {
    /// Compiles (or loads from the code cache) and links a component.
    pub fn load(
        name: &str,
        version: &str,
        wasm: &[u8],
        limits: Limits,
    ) -> Result<Arc<Self>, Error> {
        Self::load_in(Runtime::get()?, name, version, wasm, limits)
    }

    /// The same, in a runtime other than the process's own.
    pub fn load_in(
        runtime: &Runtime,
        name: &str,
        version: &str,
        wasm: &[u8],
        limits: Limits,
    ) -> Result<Arc<Self>, Error> {
        let component = Component::new(runtime.engine(), wasm).map_err(|e| Error::Compile {
            plugin: name.to_string(),
            source: e.into_boxed_dyn_error(),
        })?;
        Self::link(name, version, &component, runtime, limits)
    }

    fn link(
        name: &str,
        version: &str,
        component: &Component,
        runtime: &Runtime,
        limits: Limits,
    ) -> Result<Arc<Self>, Error> {
        check_contract_version(name, version, component, runtime)?;
        let mut linker: Linker<HostState> = Linker::new(runtime.engine());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| Error::Runtime(e.into_boxed_dyn_error()))?;
        bindings::HostSide::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| Error::Runtime(e.into_boxed_dyn_error()))?;
        let pre = linker
            .instantiate_pre(component)
            .map_err(|e| Error::MissingImports {
                plugin: name.to_string(),
                version: version.to_string(),
                missing: missing_imports(component, runtime, &linker),
                source: e.into_boxed_dyn_error(),
            })?;
        let hypervisor = hypervisor::GuestIndices::new(&pre).ok();
        let storage = storage::GuestIndices::new(&pre).ok();
        let network = network::GuestIndices::new(&pre).ok();
        if hypervisor.is_none() && storage.is_none() && network.is_none() {
            return Err(Error::NoDriverExports {
                plugin: name.to_string(),
                version: version.to_string(),
                package: PACKAGE,
            });
        }
        Ok(Arc::new(Plugin {
            name: name.to_string(),
            version: version.to_string(),
            limits,
            pre,
            hypervisor,
            storage,
            network,
        }))
    }

    /// It exports the `hypervisor` interface.
    pub fn exports_hypervisor(&self) -> bool {
        self.hypervisor.is_some()
    }

    /// It exports the `storage` interface.
    pub fn exports_storage(&self) -> bool {
        self.storage.is_some()
    }

    /// It exports the `network` interface.
    pub fn exports_network(&self) -> bool {
        self.network.is_some()
    }
}

/// Refuses a component built against a contract version this host does not
/// implement, naming both versions, before anything is instantiated.
fn check_contract_version(
    name: &str,
    version: &str,
    component: &Component,
    runtime: &Runtime,
) -> Result<(), Error> {
    let ty = component.component_type();
    let names: Vec<String> = ty
        .exports(runtime.engine())
        .map(|(n, _)| n.to_string())
        .chain(ty.imports(runtime.engine()).map(|(n, _)| n.to_string()))
        .collect();
    for full in &names {
        let Some(rest) = full.strip_prefix(PACKAGE).and_then(|r| r.strip_prefix('/')) else {
            continue;
        };
        let Some((_, found)) = rest.split_once('@') else {
            continue;
        };
        let compatible = SUPPORTED_WIT_VERSIONS
            .iter()
            .any(|supported| semver_compatible(found, supported));
        if !compatible {
            return Err(Error::Version {
                plugin: name.to_string(),
                version: version.to_string(),
                package: PACKAGE,
                found: found.to_string(),
                supported: SUPPORTED_WIT_VERSIONS.join(", "),
            });
        }
    }
    Ok(())
}

/// Component-model semver: 0.x.y matches 0.x.z; x.y.z matches x.w.v for x > 0.
fn semver_compatible(found: &str, supported: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> {
        v.split('.')
            .map(|p| p.parse().unwrap_or(u64::MAX))
            .collect()
    };
    let (f, s) = (parts(found), parts(supported));
    match (f.first(), s.first()) {
        (Some(0), Some(0)) => f.get(1) == s.get(1),
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Names the component's imports the linker cannot satisfy. The linker
/// reports only the first; each one found is stubbed out in a copy of the
/// linker (its functions defined as traps) and the check repeated.
fn missing_imports(component: &Component, runtime: &Runtime, linker: &Linker<HostState>) -> String {
    use wasmtime::component::types::ComponentItem;
    let engine = runtime.engine();
    let imports: Vec<(String, ComponentItem)> = component
        .component_type()
        .imports(engine)
        .map(|(name, item)| (name.to_string(), item.ty))
        .collect();
    let mut probe = linker.clone();
    probe.allow_shadowing(true);
    let mut missing: Vec<String> = Vec::new();
    while let Err(e) = probe.instantiate_pre(component) {
        let text = format!("{e:#}");
        let Some((name, item)) = imports
            .iter()
            .find(|(name, _)| text.contains(&format!("`{name}`")) && !missing.contains(name))
        else {
            break;
        };
        missing.push(name.clone());
        let trap =
            |_: wasmtime::StoreContextMut<'_, HostState>,
             _: wasmtime::component::types::ComponentFunc,
             _: &[wasmtime::component::Val],
             _: &mut [wasmtime::component::Val]|
             -> wasmtime::Result<()> { Err(wasmtime::format_err!("missing import")) };
        let stubbed = match item {
            ComponentItem::ComponentInstance(instance) => probe.instance(name).and_then(|mut i| {
                for (func, item) in instance.exports(engine) {
                    if matches!(item.ty, ComponentItem::ComponentFunc(_)) {
                        i.func_new(func, trap)?;
                    }
                }
                Ok(())
            }),
            ComponentItem::ComponentFunc(_) => probe.root().func_new(name, trap),
            _ => break,
        };
        if stubbed.is_err() {
            break;
        }
    }
    if missing.is_empty() {
        "(a function or type of an interface the host does provide does not match)".into()
    } else {
        missing.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_rules() {
        assert!(semver_compatible("0.1.0", "0.1.0"));
        assert!(semver_compatible("0.1.3", "0.1.0"));
        assert!(!semver_compatible("0.2.0", "0.1.0"));
        assert!(!semver_compatible("1.0.0", "0.1.0"));
        assert!(semver_compatible("1.4.0", "1.0.0"));
    }
}
