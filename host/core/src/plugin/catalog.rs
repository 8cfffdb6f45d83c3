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

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Manifest(#[from] manifest::Error),
    #[error(transparent)]
    Policy(#[from] super::policy::Error),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error("no plugin named '{0}' (see `wirt plugin-list`)")]
    NotFound(String),
    #[error("cannot read plugin component {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("plugin {plugin} declares world {declared}, but its component {actual}")]
    WorldMismatch {
        plugin: String,
        declared: String,
        actual: String,
    },
    #[error("cannot install into {path}")]
    Install {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
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

pub type Result<T> = std::result::Result<T, Error>;

/// Where a plugin comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Builtin,
    /// The plugin's directory.
    Dir(PathBuf),
}

impl Source {
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
    pub manifest: Manifest,
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
    pub plugin: Arc<Plugin>,
    pub grants: Vec<Grant>,
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
    pub exports: Vec<String>,
    pub imports: Vec<String>,
}

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
