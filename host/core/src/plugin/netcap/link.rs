//! Bridges and addresses, through iproute2. A bridge the host creates for a
//! plugin carries the alias `wirt:<plugin>`: that mark, kept by the kernel,
//! is how the host knows later (after a restart too) that the bridge is the
//! plugin's, and refuses every other interface.

use super::{Error, Result, run};

/// The alias of the bridges created for `plugin`.
pub fn marker(plugin: &str) -> String {
    format!("wirt:{plugin}")
}

/// The alias of bridge `name`: `Ok(None)` when no such bridge exists (or it
/// is another kind of interface), `Some("")` for a bridge without alias.
pub fn owner(name: &str) -> Result<Option<String>> {
    let out = match run("ip", &["-j", "-d", "link", "show", "dev", name], None) {
        Ok(out) => out,
        Err(Error::Command { stderr, .. }) if stderr.contains("does not exist") => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let links: serde_json::Value = serde_json::from_str(&out)
        .map_err(|e| Error::Invalid(format!("cannot read `ip -j link` output: {e}")))?;
    let Some(link) = links.as_array().and_then(|l| l.first()) else {
        return Ok(None);
    };
    if link["linkinfo"]["info_kind"].as_str() != Some("bridge") {
        return Ok(None);
    }
    Ok(Some(link["ifalias"].as_str().unwrap_or("").to_string()))
}

fn exists(name: &str) -> bool {
    run("ip", &["link", "show", "dev", name], None).is_ok()
}

/// Creates the bridge with STP off and no forward delay (as libvirt does,
/// so a guest's port forwards at once), then marks it. A bridge that
/// cannot be marked is removed again.
pub fn create_bridge(name: &str, mtu: Option<u32>, marker: &str) -> Result<()> {
    if exists(name) {
        return Err(Error::Exists(name.to_string()));
    }
    let mtu_text = mtu.map(|m| m.to_string());
    let mut args = vec![
        "link",
        "add",
        "name",
        name,
        "type",
        "bridge",
        "stp_state",
        "0",
        "forward_delay",
        "0",
    ];
    if let Some(m) = &mtu_text {
        args.extend(["mtu", m.as_str()]);
    }
    run("ip", &args, None)?;
    if let Err(e) = run("ip", &["link", "set", "dev", name, "alias", marker], None) {
        let _ = delete(name);
        return Err(e);
    }
    Ok(())
}

pub fn delete(name: &str) -> Result<()> {
    run("ip", &["link", "del", "dev", name], None).map(drop)
}

/// `ip addr replace`: adding the same address twice (adopting a network
/// after a restart) is not an error.
pub fn add_address(name: &str, cidr: &str) -> Result<()> {
    run("ip", &["addr", "replace", cidr, "dev", name], None).map(drop)
}

pub fn up(name: &str) -> Result<()> {
    run("ip", &["link", "set", "dev", name, "up"], None).map(drop)
}
