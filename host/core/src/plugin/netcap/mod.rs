//! `netcap`: the host networking a network driver plugin may ask for.
//!
//! A plugin gets no netlink, no processes and no firewall of its own: it asks
//! the host to create a bridge it names, add addresses, set its firewall
//! rules and run dnsmasq, and the host does only that, only on bridges the
//! plugin created (`link`), only within its own nftables table per bridge
//! (`firewall`), and only with dnsmasq options a network needs (`dnsmasq`).
//! The grant ([`NetGrant`]) comes from the plugin's manifest and the host's
//! policy (or from wirt itself for the built-in driver); without it every
//! call fails with `no-support`.
//!
//! The host drives iproute2 (`ip`) and `nft` rather than netlink itself: the
//! netlink crates are async (tokio), which the core does not run, and these
//! two commands are the stable, documented interfaces to the same kernel
//! calls. Their arguments are never passed through a shell.

mod dnsmasq;
mod firewall;
mod link;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use super::bindings::wirt::driver::{netcap, types};
use super::host_state::{HostState, Preopen};
use crate::error::ErrorCode;

pub use dnsmasq::Supervisor;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("plugin {plugin} was not granted host networking")]
    NotGranted { plugin: String },
    #[error(
        "interface name '{name}' is not one plugin {plugin} may use (it must start with '{prefix}', at most 15 letters, digits, '-', '_' or '.')"
    )]
    Name {
        plugin: String,
        name: String,
        prefix: String,
    },
    #[error("interface '{name}' exists and was not created by plugin {plugin}")]
    NotOwned { plugin: String, name: String },
    #[error("interface '{0}' already exists")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot run {command}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::NotGranted { .. } => ErrorCode::NO_SUPPORT,
            Error::Name { .. } | Error::Invalid(_) => ErrorCode::INVALID_ARG,
            Error::NotOwned { .. } => ErrorCode::OPERATION_DENIED,
            Error::Exists(_) => ErrorCode::OPERATION_FAILED,
            Error::Spawn { .. } | Error::Io { .. } => ErrorCode::SYSTEM_ERROR,
            Error::Command { .. } => ErrorCode::OPERATION_FAILED,
        }
    }
}

type Result<T> = std::result::Result<T, Error>;

/// What a plugin was granted: the prefix of the bridge names it may create,
/// and where the host keeps the dnsmasq processes' pid files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetGrant {
    /// The prefix of the bridge names the plugin may create.
    pub bridge_prefix: String,
    /// The host directory for pid files (the host's, not granted to the plugin).
    pub run_dir: PathBuf,
}

/// The host side of one plugin's `netcap`: its grant and its dnsmasq
/// processes, shared by every instance of the plugin (an instance may be
/// re-created; the processes it asked for live on).
#[derive(Debug)]
pub struct NetHost {
    plugin: String,
    grant: NetGrant,
    dnsmasq: Arc<Supervisor>,
}

impl NetHost {
    /// The host side of plugin `plugin`'s networking, within `grant`.
    pub fn new(plugin: &str, grant: NetGrant) -> Arc<NetHost> {
        Arc::new(NetHost {
            plugin: plugin.to_string(),
            dnsmasq: Supervisor::for_dir(grant.run_dir.clone()),
            grant,
        })
    }

    /// Checks that `name` is one this plugin may name at all.
    fn check_name(&self, name: &str) -> Result<()> {
        let ok = name.starts_with(&self.grant.bridge_prefix)
            && !self.grant.bridge_prefix.is_empty()
            && name.len() <= 15
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && name != "."
            && name != "..";
        if ok {
            Ok(())
        } else {
            Err(Error::Name {
                plugin: self.plugin.clone(),
                name: name.to_string(),
                prefix: self.grant.bridge_prefix.clone(),
            })
        }
    }

    /// Checks that `name` is a bridge this plugin created.
    fn check_owned(&self, name: &str) -> Result<()> {
        self.check_name(name)?;
        if link::owner(name)?.as_deref() == Some(&link::marker(&self.plugin)) {
            Ok(())
        } else {
            Err(Error::NotOwned {
                plugin: self.plugin.clone(),
                name: name.to_string(),
            })
        }
    }

    /// Creates bridge `name` (named within the grant), marked as the plugin's,
    /// with `mtu` if given.
    pub fn bridge_create(&self, name: &str, mtu: Option<u32>) -> Result<()> {
        self.check_name(name)?;
        link::create_bridge(name, mtu, &link::marker(&self.plugin))
    }

    /// Bridge `name` exists and the plugin created it.
    pub fn bridge_owned(&self, name: &str) -> bool {
        self.check_owned(name).is_ok()
    }

    /// Deletes bridge `name`, one the plugin created.
    pub fn bridge_delete(&self, name: &str) -> Result<()> {
        self.check_owned(name)?;
        link::delete(name)
    }

    /// Gives the plugin's bridge `name` the address `address/prefix`.
    pub fn address_add(&self, name: &str, address: &str, prefix: u32) -> Result<()> {
        self.check_owned(name)?;
        let cidr = firewall::Cidr::parse(&format!("{address}/{prefix}"))?;
        link::add_address(name, &cidr.host_text())
    }

    /// Brings the plugin's bridge `name` up.
    pub fn link_up(&self, name: &str) -> Result<()> {
        self.check_owned(name)?;
        link::up(name)
    }

    /// Replaces the firewall of the plugin's bridge `bridge` with `rules`.
    pub fn firewall_set(&self, bridge: &str, rules: &[netcap::FirewallRule]) -> Result<()> {
        self.check_owned(bridge)?;
        let rules = rules
            .iter()
            .map(firewall::FirewallRule::from_wit)
            .collect::<Result<Vec<_>>>()?;
        firewall::set(bridge, &rules)
    }

    /// Clearing needs only a valid name: the bridge may be gone already.
    pub fn firewall_clear(&self, bridge: &str) -> Result<()> {
        self.check_name(bridge)?;
        firewall::clear(bridge)
    }

    /// Starts dnsmasq on the plugin's bridge `bridge` with the plugin's config
    /// file `config` (a path in its `preopens`), once checked; returns its pid.
    pub fn dnsmasq_start(&self, bridge: &str, config: &str, preopens: &[Preopen]) -> Result<u32> {
        self.check_owned(bridge)?;
        let host_config = dnsmasq::map_path(preopens, config)?;
        let text = std::fs::read_to_string(&host_config).map_err(|source| Error::Io {
            what: format!("cannot read dnsmasq config {config}"),
            source,
        })?;
        let checked = dnsmasq::check_config(&text, bridge, preopens)?;
        self.dnsmasq.start(bridge, &checked)
    }

    /// Sends the dnsmasq of `bridge` SIGHUP: it re-reads its hosts files.
    pub fn dnsmasq_reload(&self, bridge: &str) -> Result<()> {
        self.check_name(bridge)?;
        self.dnsmasq.reload(bridge)
    }

    /// Stops the dnsmasq of `bridge` and waits for it.
    pub fn dnsmasq_stop(&self, bridge: &str) -> Result<()> {
        self.check_name(bridge)?;
        self.dnsmasq.stop(bridge)
    }
}

/// Runs `program args…` (no shell) and returns its stdout, or its stderr as
/// the error.
fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    use std::io::Write;
    use std::process::Stdio;
    let command = format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            command: command.clone(),
            source,
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|source| Error::Spawn {
                command: command.clone(),
                source,
            })?;
    }
    let out = child.wait_with_output().map_err(|source| Error::Spawn {
        command: command.clone(),
        source,
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Command {
            command,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn wit_error(e: Error) -> types::Error {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    types::Error {
        code: e.code().0,
        message,
    }
}

impl HostState {
    fn net(&self) -> std::result::Result<&NetHost, types::Error> {
        self.net_host().ok_or_else(|| {
            wit_error(Error::NotGranted {
                plugin: self.plugin_name().to_string(),
            })
        })
    }
}

type WitResult<T> = std::result::Result<T, types::Error>;

impl netcap::Host for HostState {
    fn bridge_create(&mut self, name: String, mtu: Option<u32>) -> WitResult<()> {
        self.net()?.bridge_create(&name, mtu).map_err(wit_error)
    }

    fn bridge_owned(&mut self, name: String) -> bool {
        self.net().is_ok_and(|n| n.bridge_owned(&name))
    }

    fn bridge_delete(&mut self, name: String) -> WitResult<()> {
        self.net()?.bridge_delete(&name).map_err(wit_error)
    }

    fn address_add(&mut self, name: String, address: String, prefix: u32) -> WitResult<()> {
        self.net()?
            .address_add(&name, &address, prefix)
            .map_err(wit_error)
    }

    fn link_up(&mut self, name: String) -> WitResult<()> {
        self.net()?.link_up(&name).map_err(wit_error)
    }

    fn firewall_set(&mut self, bridge: String, rules: Vec<netcap::FirewallRule>) -> WitResult<()> {
        self.net()?.firewall_set(&bridge, &rules).map_err(wit_error)
    }

    fn firewall_clear(&mut self, bridge: String) -> WitResult<()> {
        self.net()?.firewall_clear(&bridge).map_err(wit_error)
    }

    fn dnsmasq_start(&mut self, bridge: String, config: String) -> WitResult<u32> {
        let preopens = self.preopens().to_vec();
        self.net()?
            .dnsmasq_start(&bridge, &config, &preopens)
            .map_err(wit_error)
    }

    fn dnsmasq_reload(&mut self, bridge: String) -> WitResult<()> {
        self.net()?.dnsmasq_reload(&bridge).map_err(wit_error)
    }

    fn dnsmasq_stop(&mut self, bridge: String) -> WitResult<()> {
        self.net()?.dnsmasq_stop(&bridge).map_err(wit_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Arc<NetHost> {
        NetHost::new(
            "net-plugin",
            NetGrant {
                bridge_prefix: "virbr".into(),
                run_dir: std::env::temp_dir().join("wirt-netcap-unit"),
            },
        )
    }

    #[test]
    fn interfaces_outside_the_grant_are_refused_before_anything_runs() {
        let h = host();
        for name in [
            "lo",
            "eth0",
            "virbr0; reboot",
            "virbr0/../x",
            "virbr0123456789ab",
            "",
        ] {
            let e = h.address_add(name, "10.0.0.1", 8).unwrap_err();
            assert!(matches!(e, Error::Name { .. }), "{name}: {e}");
            assert_eq!(e.code(), ErrorCode::INVALID_ARG);
            assert!(matches!(
                h.bridge_create(name, None),
                Err(Error::Name { .. })
            ));
            assert!(matches!(h.bridge_delete(name), Err(Error::Name { .. })));
            assert!(!h.bridge_owned(name));
        }
        let e = h.firewall_clear("lo").unwrap_err();
        assert!(e.to_string().contains("'lo'"), "{e}");
    }

    #[test]
    fn a_bridge_the_plugin_did_not_create_is_not_its_own() {
        // No such interface: not owned, so nothing may be done to it.
        let h = host();
        let e = h.link_up("virbr-none0").unwrap_err();
        assert!(matches!(e, Error::NotOwned { .. }), "{e}");
        assert_eq!(e.code(), ErrorCode::OPERATION_DENIED);
    }
}
