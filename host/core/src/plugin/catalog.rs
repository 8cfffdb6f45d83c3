//! Finding plugins: the built-ins embedded in `wirt`, then one directory
//! per plugin (`<dir>/<name>/plugin.toml` beside its `.wasm`) in the plugin
//! path: `$WIRT_PLUGIN_PATH` (colon-separated), the user's
//! `$XDG_DATA_HOME/wirt/plugins`, then `/usr/local/lib/wirt/plugins` and
//! `/usr/lib/wirt/plugins`. A name found twice is taken from the first.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::Component;

use super::manifest::{self, Manifest};
use super::policy::{Grant, Policy};
use super::{Error as PluginError, Plugin, Preopen, Runtime, builtin};

/// Why a plugin cannot be found, validated or installed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Its manifest is wrong.
    #[error(transparent)]
    Manifest(#[from] manifest::Error),
    /// The host's plugin policy is wrong.
    #[error(transparent)]
    Policy(#[from] super::policy::Error),
    /// Its component does not load.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// No plugin has this name.
    #[error("no plugin named '{0}' (see `wirt plugin-list`)")]
    NotFound(String),
    /// Its component cannot be read.
    #[error("cannot read plugin component {path}")]
    Read {
        /// The component's file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Its component is not of the world its manifest declares.
    #[error("plugin {plugin} declares world {declared}, but its component {actual}")]
    WorldMismatch {
        /// The plugin's name.
        plugin: String,
        /// The world the manifest declares.
        declared: String,
        /// What the component is instead.
        actual: String,
    },
    /// Writing the plugin into the plugin directory failed.
    #[error("cannot install into {path}")]
    Install {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// libvirt's code: the cause's own, `VIR_ERR_INVALID_ARG` for an unknown
    /// name, `VIR_ERR_READ_FAILED`, `VIR_ERR_CONFIG_UNSUPPORTED` or `VIR_ERR_WRITE_FAILED`.
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            Error::Manifest(e) => e.code(),
            Error::Policy(e) => e.code(),
            Error::Plugin(e) => e.code(),
            Error::NotFound(_) => crate::ErrorCode::INVALID_ARG,
            Error::Read { .. } => crate::ErrorCode(31),
            Error::WorldMismatch { .. } => crate::ErrorCode::CONFIG_UNSUPPORTED,
            Error::Install { .. } => crate::ErrorCode::WRITE_FAILED,
        }
    }
}

/// A catalog call's result.
pub type Result<T> = std::result::Result<T, Error>;

/// Where a plugin comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Compiled into the `wirt` binary.
    Builtin,
    /// The plugin's directory.
    Dir(PathBuf),
}

impl Source {
    /// Where it comes from, for `plugin-list`: `built-in` or the directory.
    pub fn describe(&self) -> String {
        match self {
            Source::Builtin => "built-in".into(),
            Source::Dir(d) => d.display().to_string(),
        }
    }
}

/// A plugin found on this host.
#[derive(Clone, Debug)]
pub struct Entry {
    /// What the plugin says about itself (`plugin.toml`).
    pub manifest: Manifest,
    /// Where it comes from.
    pub source: Source,
}

fn builtin_manifest(name: &str, world: &str, pool_types: &[&str]) -> Manifest {
    Manifest {
        name: name.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        world: world.into(),
        wit: "wirt:driver@0.1.0".into(),
        component: None,
        serves: manifest::Serves {
            uri_schemes: Vec::new(),
            pool_types: pool_types.iter().map(|s| s.to_string()).collect(),
        },
        capabilities: Default::default(),
        limits: Default::default(),
    }
}

/// The directories searched, in order.
pub fn plugin_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("WIRT_PLUGIN_PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .filter(|d| !d.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    dirs.push(user_dir());
    dirs.push(PathBuf::from("/usr/local/lib/wirt/plugins"));
    dirs.push(PathBuf::from("/usr/lib/wirt/plugins"));
    dirs
}

/// Where `plugin-install` puts plugins: `$XDG_DATA_HOME/wirt/plugins`.
pub fn user_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("share")))
        .unwrap_or_else(|| PathBuf::from("/var/lib"))
        .join("wirt")
        .join("plugins")
}

/// Every plugin on this host, and the plugin directories that could not be
/// read as plugins (with why).
pub fn discover() -> (Vec<Entry>, Vec<(PathBuf, String)>) {
    let mut entries = vec![
        Entry {
            manifest: builtin_manifest("test-driver", "test-driver", &[]),
            source: Source::Builtin,
        },
        Entry {
            manifest: builtin_manifest("storage-dir", "storage-driver", &["dir"]),
            source: Source::Builtin,
        },
        Entry {
            manifest: builtin_manifest("network-bridge", "network-driver", &[]),
            source: Source::Builtin,
        },
    ];
    let mut problems = Vec::new();
    for dir in plugin_dirs() {
        let Ok(children) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut children: Vec<PathBuf> =
            children.filter_map(|c| c.ok().map(|c| c.path())).collect();
        children.sort();
        for child in children {
            let manifest_path = child.join("plugin.toml");
            if !manifest_path.is_file() {
                continue;
            }
            match Manifest::load(&manifest_path) {
                Ok(m) if entries.iter().any(|e| e.manifest.name == m.name) => {
                    problems.push((
                        child,
                        format!("shadowed by an earlier plugin named '{}'", m.name),
                    ));
                }
                Ok(manifest) => entries.push(Entry {
                    manifest,
                    source: Source::Dir(child),
                }),
                Err(e) => problems.push((child, error_chain(&e))),
            }
        }
    }
    (entries, problems)
}

/// The plugin named `name`.
pub fn find(name: &str) -> Result<Entry> {
    discover()
        .0
        .into_iter()
        .find(|e| e.manifest.name == name)
        .ok_or_else(|| Error::NotFound(name.to_string()))
}

/// The first plugin whose manifest serves URI scheme `scheme`.
pub fn for_scheme(scheme: &str) -> Option<Entry> {
    discover()
        .0
        .into_iter()
        .find(|e| e.manifest.serves.uri_schemes.iter().any(|s| s == scheme))
}

/// A plugin ready to instantiate, with what the policy granted it.
pub struct Loaded {
    /// The compiled plugin.
    pub plugin: Arc<Plugin>,
    /// The filesystem grants the policy gave it.
    pub grants: Vec<Grant>,
    /// The directories its instances see, from its grants.
    pub preopens: Vec<Preopen>,
    /// The bridge prefix of its host networking grant, if any.
    pub net_grant: Option<String>,
}

impl Entry {
    fn wasm(&self) -> Result<Vec<u8>> {
        match &self.source {
            Source::Builtin => Ok(match self.manifest.name.as_str() {
                "storage-dir" => builtin::STORAGE_DIR_WASM,
                "network-bridge" => builtin::NETWORK_BRIDGE_WASM,
                _ => builtin::TEST_DRIVER_WASM,
            }
            .to_vec()),
            Source::Dir(dir) => {
                let path = dir.join(self.manifest.component_file());
                std::fs::read(&path).map_err(|source| Error::Read { path, source })
            }
        }
    }

    /// Compiles (cached) and links the plugin under `policy`.
    pub fn load(&self, policy: &Policy) -> Result<Loaded> {
        let plugin = match (&self.source, self.manifest.name.as_str()) {
            (Source::Builtin, "storage-dir") => builtin::storage_dir()?,
            (Source::Builtin, "network-bridge") => builtin::network_bridge()?,
            (Source::Builtin, _) => builtin::test_driver()?,
            (Source::Dir(_), _) => {
                let wasm = self.wasm()?;
                Plugin::load(
                    &self.manifest.name,
                    &self.manifest.version,
                    &wasm,
                    policy.limits(&self.manifest),
                )?
            }
        };
        check_world(&self.manifest, &plugin)?;
        Ok(Loaded {
            grants: policy.grants(&self.manifest),
            preopens: policy.preopens(&self.manifest),
            net_grant: policy.net_grant(&self.manifest),
            plugin,
        })
    }
}

/// The interfaces a plugin's component really exports must cover its world.
fn check_world(manifest: &Manifest, plugin: &Plugin) -> Result<()> {
    let (hv, st, net) = (
        plugin.exports_hypervisor(),
        plugin.exports_storage(),
        plugin.exports_network(),
    );
    let ok = match manifest.world.as_str() {
        "hypervisor-driver" => hv,
        "storage-driver" => st,
        "network-driver" => net,
        _ => hv && st && net,
    };
    if ok {
        return Ok(());
    }
    let mut actual = Vec::new();
    for (on, name) in [(hv, "hypervisor"), (st, "storage"), (net, "network")] {
        if on {
            actual.push(name);
        }
    }
    Err(Error::WorldMismatch {
        plugin: manifest.name.clone(),
        declared: manifest.world.clone(),
        actual: format!(
            "exports only {}",
            if actual.is_empty() {
                "nothing".into()
            } else {
                actual.join(", ")
            }
        ),
    })
}

/// The names a component exports and imports, for `plugin-info`.
pub struct Inspection {
    /// The component's exports (`wirt:driver/hypervisor@0.1.0`).
    pub exports: Vec<String>,
    /// The component's imports.
    pub imports: Vec<String>,
}

/// The exports and imports of component `wasm` of plugin `name`.
pub fn inspect(wasm: &[u8], name: &str) -> Result<Inspection> {
    let runtime = Runtime::get()?;
    let component = Component::new(runtime.engine(), wasm).map_err(|e| PluginError::Compile {
        plugin: name.to_string(),
        source: e.into_boxed_dyn_error(),
    })?;
    let ty = component.component_type();
    Ok(Inspection {
        exports: ty
            .exports(runtime.engine())
            .map(|(n, _)| n.to_string())
            .collect(),
        imports: ty
            .imports(runtime.engine())
            .map(|(n, _)| n.to_string())
            .collect(),
    })
}

impl Entry {
    /// The exports and imports of this plugin's component.
    pub fn inspect(&self) -> Result<Inspection> {
        inspect(&self.wasm()?, &self.manifest.name)
    }
}

/// Validates a plugin (manifest, component, contract version, exports)
/// and only then copies it into `dest/<name>/`. `manifest_path` defaults to
/// `plugin.toml` beside the `.wasm`.
pub fn install(wasm_path: &Path, manifest_path: Option<&Path>, dest: &Path) -> Result<Entry> {
    let manifest_path = manifest_path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| wasm_path.with_file_name("plugin.toml"));
    let mut manifest = Manifest::load(&manifest_path)?;
    let wasm = std::fs::read(wasm_path).map_err(|source| Error::Read {
        path: wasm_path.to_path_buf(),
        source,
    })?;
    // Loading proves it compiles, speaks a supported contract version,
    // needs only imports the host provides, and exports its world.
    let plugin = Plugin::load(
        &manifest.name,
        &manifest.version,
        &wasm,
        Policy::default().limits(&manifest),
    )?;
    check_world(&manifest, &plugin)?;
    let target = dest.join(&manifest.name);
    let install_err = |source| Error::Install {
        path: target.clone(),
        source,
    };
    std::fs::create_dir_all(&target).map_err(install_err)?;
    manifest.component = Some(format!("{}.wasm", manifest.name));
    crate::registry::StateDir::write_shared_file(&target.join(manifest.component_file()), &wasm)
        .map_err(|e| Error::Install {
            path: target.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let text = toml::to_string(&manifest).map_err(|e| Error::Install {
        path: target.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    crate::registry::StateDir::write_shared_file(&target.join("plugin.toml"), text.as_bytes())
        .map_err(|e| Error::Install {
            path: target.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
    Ok(Entry {
        manifest,
        source: Source::Dir(target),
    })
}

/// An error with its causes, on one line (some causes print over several).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
