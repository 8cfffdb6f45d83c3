//! `plugin.toml`: what a plugin says about itself, next to its `.wasm`.
//!
//! ```toml
//! name = "my-driver"
//! version = "0.1.0"
//! world = "hypervisor-driver"   # or storage-driver, network-driver, test-driver
//! wit = "wirt:driver@0.1.0"
//! component = "my-driver.wasm"  # default: <name>.wasm
//!
//! [serves]
//! uri-schemes = ["mydrv"]       # hypervisor drivers: connections mydrv:///...
//! pool-types = ["mypool"]       # storage drivers
//!
//! [[capabilities.filesystem]]   # asked for; granted only if the host policy allows
//! path = "/var/lib/mydrv"
//! access = "read-write"         # or "read-only"
//!
//! [capabilities.network]        # network drivers: host networking
//! bridge-prefix = "mynet"       # (netcap) on bridges named mynet*
//!
//! [limits]                      # asked for; the policy may lower them
//! memory-mib = 128
//! call-timeout-secs = 10
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The worlds a manifest may declare (`world`).
pub const WORLDS: &[&str] = &[
    "hypervisor-driver",
    "storage-driver",
    "network-driver",
    "test-driver",
];

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file cannot be read.
    #[error("cannot read {path}")]
    Read {
        /// The manifest's file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a manifest's TOML.
    #[error("{path} is not a valid plugin manifest")]
    Parse {
        /// The manifest's file.
        path: PathBuf,
        /// The TOML error.
        #[source]
        source: toml::de::Error,
    },
    /// The manifest parses but says something wrong.
    #[error("{path}: {problem}")]
    Invalid {
        /// The manifest's file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

impl Error {
    /// libvirt's code: `VIR_ERR_READ_FAILED`, else `VIR_ERR_CONFIG_UNSUPPORTED`.
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            Error::Read { .. } => crate::ErrorCode(31),
            _ => crate::ErrorCode::CONFIG_UNSUPPORTED,
        }
    }
}

/// How a filesystem grant may be used (`access`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// `read-only`.
    ReadOnly,
    /// `read-write`.
    ReadWrite,
}

/// A directory asked for (`[[capabilities.filesystem]]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsCapability {
    /// The host directory (`path`).
    pub path: PathBuf,
    /// How it may be used (`access`).
    pub access: Access,
}

/// Host networking (`netcap`) on bridges whose names start with the prefix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NetCapability {
    /// `bridge-prefix`.
    pub bridge_prefix: String,
}

/// What a plugin asks the host to grant (`[capabilities]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Capabilities {
    /// Directories (`[[capabilities.filesystem]]`).
    #[serde(default)]
    pub filesystem: Vec<FsCapability>,
    /// Host networking (`[capabilities.network]`).
    pub network: Option<NetCapability>,
}

/// What a plugin serves (`[serves]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Serves {
    /// The URI schemes of its connections (`uri-schemes`): hypervisor drivers.
    #[serde(default)]
    pub uri_schemes: Vec<String>,
    /// Its pool types (`pool-types`): storage drivers.
    #[serde(default)]
    pub pool_types: Vec<String>,
}

/// The limits a plugin asks for (`[limits]`); the policy may lower them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RequestedLimits {
    /// `memory-mib`.
    pub memory_mib: Option<u64>,
    /// `call-timeout-secs`.
    pub call_timeout_secs: Option<u64>,
}

/// A plugin's `plugin.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    /// `name`: a file-name-safe word.
    pub name: String,
    /// `version`.
    pub version: String,
    /// `world`: one of [`WORLDS`].
    pub world: String,
    /// `wit`: the contract it was built for (`wirt:driver@0.1.0`).
    pub wit: String,
    /// `component`: the `.wasm` file, by default `<name>.wasm`.
    pub component: Option<String>,
    /// `[serves]`.
    #[serde(default)]
    pub serves: Serves,
    /// `[capabilities]`.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// `[limits]`.
    #[serde(default)]
    pub limits: RequestedLimits,
}

/// A plugin name: a file-name-safe word.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !name.starts_with('-')
}

impl Manifest {
    /// Parses and validates the manifest `text` of file `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, Error> {
        let manifest: Manifest = toml::from_str(text).map_err(|source| Error::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        manifest.validate(path)?;
        Ok(manifest)
    }

    /// Reads, parses and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Manifest::parse(&text, path)
    }

    fn validate(&self, path: &Path) -> Result<(), Error> {
        let invalid = |problem: String| Error::Invalid {
            path: path.to_path_buf(),
            problem,
        };
        if !valid_name(&self.name) {
            return Err(invalid(format!(
                "plugin name '{}' must be letters, digits, '-' or '_'",
                self.name
            )));
        }
        if !WORLDS.contains(&self.world.as_str()) {
            return Err(invalid(format!(
                "unknown world '{}' (one of {})",
                self.world,
                WORLDS.join(", ")
            )));
        }
        if !self.wit.starts_with("wirt:driver@") {
            return Err(invalid(format!(
                "wit '{}' is not a wirt:driver version",
                self.wit
            )));
        }
        if let Some(component) = &self.component
            && (component.contains('/') || component.starts_with('.'))
        {
            return Err(invalid(format!(
                "component '{component}' must be a file name next to the manifest"
            )));
        }
        for scheme in &self.serves.uri_schemes {
            if scheme.is_empty()
                || !scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(invalid(format!("URI scheme '{scheme}' is not valid")));
            }
            if matches!(scheme.as_str(), "test" | "kvm" | "qemu") {
                return Err(invalid(format!(
                    "URI scheme '{scheme}' is served by wirt itself"
                )));
            }
        }
        if let Some(net) = &self.capabilities.network {
            let p = &net.bridge_prefix;
            // Short enough to leave room in an interface name (15 bytes).
            if p.is_empty()
                || p.len() > 10
                || !p
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(format!(
                    "bridge prefix '{p}' must be 1 to 10 letters, digits, '-' or '_'"
                )));
            }
        }
        for fs in &self.capabilities.filesystem {
            if !fs.path.is_absolute() {
                return Err(invalid(format!(
                    "filesystem capability '{}' must be an absolute path",
                    fs.path.display()
                )));
            }
        }
        Ok(())
    }

    /// The contract version the manifest names (`0.1.0`).
    pub fn wit_version(&self) -> &str {
        self.wit.strip_prefix("wirt:driver@").unwrap_or("")
    }

    /// The component file's name.
    pub fn component_file(&self) -> String {
        self.component
            .clone()
            .unwrap_or_else(|| format!("{}.wasm", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let text = r#"
            name = "my-driver"
            version = "1.2.0"
            world = "hypervisor-driver"
            wit = "wirt:driver@0.1.0"
            [serves]
            uri-schemes = ["mydrv"]
            [[capabilities.filesystem]]
            path = "/var/lib/mydrv"
            access = "read-write"
        "#;
        let m = Manifest::parse(text, Path::new("plugin.toml")).unwrap();
        assert_eq!(m.component_file(), "my-driver.wasm");
        assert_eq!(m.wit_version(), "0.1.0");
        assert_eq!(m.capabilities.filesystem[0].access, Access::ReadWrite);

        for bad in [
            text.replace("my-driver", "../x"),
            text.replace("hypervisor-driver", "kernel-driver"),
            text.replace("mydrv\"]", "kvm\"]"),
            text.replace("/var/lib/mydrv", "relative"),
            text.replace("version", "versoin"),
        ] {
            assert!(Manifest::parse(&bad, Path::new("p.toml")).is_err(), "{bad}");
        }
    }
}
