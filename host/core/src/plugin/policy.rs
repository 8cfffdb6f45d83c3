//! The host's plugin policy: what each plugin may be granted. A capability
//! is granted only when the plugin's manifest asks for it *and* the policy
//! allows it; by default nothing is allowed.
//!
//! ```toml
//! # $WIRT_PLUGIN_POLICY, else ~/.config/wirt/plugins.toml, else /etc/wirt/plugins.toml
//! [plugin.my-driver]
//! filesystem = [{ path = "/var/lib/mydrv", access = "read-write" }]
//! memory-mib = 256          # cap on what the manifest may ask for
//! call-timeout-secs = 30
//! max-failures = 5          # consecutive failures before quarantine
//! network = { bridge-prefix = "mynet" }   # netcap on bridges mynet* at most
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::manifest::{Access, FsCapability, Manifest};
use super::{Limits, Preopen};

/// Why the policy file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file cannot be read.
    #[error("cannot read plugin policy {path}")]
    Read {
        /// The policy's file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a policy's TOML.
    #[error("plugin policy {path} is not valid")]
    Parse {
        /// The policy's file.
        path: PathBuf,
        /// The TOML error.
        #[source]
        source: toml::de::Error,
    },
}

impl Error {
    /// libvirt's code: always `VIR_ERR_CONFIG_UNSUPPORTED`.
    pub fn code(&self) -> crate::ErrorCode {
        crate::ErrorCode::CONFIG_UNSUPPORTED
    }
}

/// What one plugin may be granted (`[plugin.NAME]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginPolicy {
    /// Directories it may have (`filesystem`).
    #[serde(default)]
    pub filesystem: Vec<FsCapability>,
    /// The host networking it may have at most (`network`).
    pub network: Option<super::manifest::NetCapability>,
    /// Cap on the memory its manifest may ask for (`memory-mib`).
    pub memory_mib: Option<u64>,
    /// Cap on the call timeout its manifest may ask for (`call-timeout-secs`).
    pub call_timeout_secs: Option<u64>,
    /// Consecutive failures before quarantine (`max-failures`).
    pub max_failures: Option<u32>,
}

/// The host's plugin policy (`plugins.toml`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Each plugin's policy, by name (`[plugin.NAME]`).
    #[serde(default)]
    pub plugin: BTreeMap<String, PluginPolicy>,
    /// Where it was read from, if anywhere.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// A capability request and what was decided about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// What the manifest asked for.
    pub requested: FsCapability,
    /// None: refused by the policy.
    pub granted: Option<Access>,
}

/// Where the policy is looked for, first match wins.
pub fn policy_paths() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(p) = std::env::var_os("WIRT_PLUGIN_POLICY") {
        paths.push(PathBuf::from(p));
        return paths;
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(config) = config {
        paths.push(config.join("wirt").join("plugins.toml"));
    }
    paths.push(PathBuf::from("/etc/wirt/plugins.toml"));
    paths
}

impl Policy {
    /// Parses the policy `text` of file `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Policy, Error> {
        let mut policy: Policy = toml::from_str(text).map_err(|source| Error::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        policy.source = Some(path.to_path_buf());
        Ok(policy)
    }

    /// The first policy file that exists; none at all is the empty policy.
    pub fn load() -> Result<Policy, Error> {
        for path in policy_paths() {
            match std::fs::read_to_string(&path) {
                Ok(text) => return Policy::parse(&text, &path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(Error::Read { path, source }),
            }
        }
        Ok(Policy::default())
    }

    fn for_plugin(&self, name: &str) -> PluginPolicy {
        self.plugin.get(name).cloned().unwrap_or_default()
    }

    /// Decides each filesystem capability the manifest asks for: granted if
    /// an allowed path contains it, never with more access than allowed.
    pub fn grants(&self, manifest: &Manifest) -> Vec<Grant> {
        let allowed = self.for_plugin(&manifest.name).filesystem;
        manifest
            .capabilities
            .filesystem
            .iter()
            .map(|requested| {
                let granted = allowed
                    .iter()
                    .filter(|a| contains(&a.path, &requested.path))
                    .map(|a| match (a.access, requested.access) {
                        (Access::ReadWrite, Access::ReadWrite) => Access::ReadWrite,
                        _ => Access::ReadOnly,
                    })
                    .max_by_key(|a| *a == Access::ReadWrite);
                Grant {
                    requested: requested.clone(),
                    granted,
                }
            })
            .collect()
    }

    /// The bridge prefix a network driver is granted: the manifest's, if
    /// the policy allows a prefix it starts with (a plugin allowed `wn` may
    /// ask for `wn-a`, never for `virbr`).
    pub fn net_grant(&self, manifest: &Manifest) -> Option<String> {
        let asked = manifest.capabilities.network.as_ref()?;
        let allowed = self.for_plugin(&manifest.name).network?;
        asked
            .bridge_prefix
            .starts_with(&allowed.bridge_prefix)
            .then(|| asked.bridge_prefix.clone())
    }

    /// The preopens a plugin gets: each granted path at the same path inside.
    pub fn preopens(&self, manifest: &Manifest) -> Vec<Preopen> {
        self.grants(manifest)
            .into_iter()
            .filter_map(|g| {
                let access = g.granted?;
                Some(Preopen {
                    guest: g.requested.path.to_string_lossy().into_owned(),
                    host: g.requested.path,
                    read_only: access == Access::ReadOnly,
                })
            })
            .collect()
    }

    /// Limits: what the manifest asks, within the policy's caps and the host's defaults.
    pub fn limits(&self, manifest: &Manifest) -> Limits {
        let defaults = Limits::default();
        let policy = self.for_plugin(&manifest.name);
        let cap_mib = policy
            .memory_mib
            .unwrap_or((defaults.memory_bytes >> 20) as u64);
        let memory_mib = manifest
            .limits
            .memory_mib
            .unwrap_or(cap_mib)
            .min(cap_mib)
            .max(1);
        let cap_secs = policy
            .call_timeout_secs
            .unwrap_or(defaults.call_timeout.as_secs());
        let secs = manifest
            .limits
            .call_timeout_secs
            .unwrap_or(cap_secs)
            .min(cap_secs)
            .max(1);
        Limits {
            memory_bytes: (memory_mib as usize) << 20,
            call_timeout: Duration::from_secs(secs),
            max_failures: policy.max_failures.unwrap_or(defaults.max_failures).max(1),
        }
    }
}

/// Component-wise prefix: `/a/b` contains `/a/b/c` but not `/a/bc`; `..`
/// in the requested path never counts as contained.
fn contains(outer: &Path, inner: &Path) -> bool {
    if inner
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return false;
    }
    inner.starts_with(outer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(fs: &str) -> Manifest {
        let text = format!(
            "name = \"d\"\nversion = \"1\"\nworld = \"storage-driver\"\nwit = \"wirt:driver@0.1.0\"\n{fs}\n[limits]\nmemory-mib = 4096\n"
        );
        Manifest::parse(&text, Path::new("m.toml")).unwrap()
    }

    #[test]
    fn grants_only_what_both_allow() {
        let m = manifest(
            "[[capabilities.filesystem]]\npath = \"/srv/data/d\"\naccess = \"read-write\"\n\
             [[capabilities.filesystem]]\npath = \"/etc\"\naccess = \"read-only\"\n\
             [[capabilities.filesystem]]\npath = \"/srv/data/../etc\"\naccess = \"read-only\"",
        );
        assert!(
            Policy::default().preopens(&m).is_empty(),
            "nothing by default"
        );
        let p = Policy::parse(
            "[plugin.d]\nfilesystem = [{ path = \"/srv/data\", access = \"read-only\" }]\nmemory-mib = 64\n",
            Path::new("p.toml"),
        )
        .unwrap();
        let grants = p.grants(&m);
        assert_eq!(
            grants[0].granted,
            Some(Access::ReadOnly),
            "never more access than allowed"
        );
        assert_eq!(grants[1].granted, None);
        assert_eq!(grants[2].granted, None, "'..' escapes are refused");
        assert_eq!(
            p.limits(&m).memory_bytes,
            64 << 20,
            "the policy caps the request"
        );
        assert!(!contains(Path::new("/a/b"), Path::new("/a/bc")));
    }

    #[test]
    fn host_networking_only_within_the_prefix_the_policy_allows() {
        let manifest = |prefix: &str| {
            Manifest::parse(
                &format!(
                    "name = \"d\"\nversion = \"1\"\nworld = \"network-driver\"\n\
                     wit = \"wirt:driver@0.1.0\"\n[capabilities.network]\n\
                     bridge-prefix = \"{prefix}\"\n"
                ),
                Path::new("p.toml"),
            )
            .unwrap()
        };
        let none = Policy::default();
        assert_eq!(none.net_grant(&manifest("wn")), None, "nothing by default");
        let p = Policy::parse(
            "[plugin.d]\nnetwork = { bridge-prefix = \"wn\" }\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(p.net_grant(&manifest("wn-a")), Some("wn-a".into()));
        assert_eq!(p.net_grant(&manifest("virbr")), None);
        assert_eq!(p.net_grant(&manifest("w")), None, "wider than allowed");
        let bad = "name = \"d\"\nversion = \"1\"\nworld = \"network-driver\"\n\
                   wit = \"wirt:driver@0.1.0\"\n[capabilities.network]\nbridge-prefix = \"a b\"\n";
        assert!(Manifest::parse(bad, Path::new("p.toml")).is_err());
    }
}
