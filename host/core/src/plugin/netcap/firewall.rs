//! A network's firewall: one nftables table per bridge (`wirt_<bridge>`),
//! replaced whole and atomically by one `nft -f` transaction, so no rule of
//! any other table is ever touched and a half-applied rule set never exists.

use std::fmt::Write;
use std::net::IpAddr;

use super::super::bindings::wirt::driver::netcap;
use super::{Error, Result, run};

/// A rule kind the host knows, checked from the plugin's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FirewallRule {
    AllowDhcpDns,
    Masquerade(String),
    ForwardOutbound(String),
    ForwardRouted(String),
    ForwardIsolated,
}

impl FirewallRule {
    pub fn from_wit(rule: &netcap::FirewallRule) -> Result<FirewallRule> {
        let subnet = || {
            let s = rule.subnet.clone().ok_or_else(|| {
                Error::Invalid(format!("firewall rule '{}' needs a subnet", rule.kind))
            })?;
            Cidr::parse(&s)?;
            Ok::<_, Error>(s)
        };
        Ok(match rule.kind.as_str() {
            "allow-dhcp-dns" => FirewallRule::AllowDhcpDns,
            "masquerade" => FirewallRule::Masquerade(subnet()?),
            "forward-outbound" => FirewallRule::ForwardOutbound(subnet()?),
            "forward-routed" => FirewallRule::ForwardRouted(subnet()?),
            "forward-isolated" => FirewallRule::ForwardIsolated,
            other => {
                return Err(Error::Invalid(format!(
                    "unknown firewall rule kind '{other}'"
                )));
            }
        })
    }
}

/// An address with a prefix length, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr> {
        let bad = || Error::Invalid(format!("'{text}' is not an address/prefix"));
        let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max || prefix == 0 {
            return Err(bad());
        }
        Ok(Cidr { addr, prefix })
    }

    /// `192.168.122.1/24` as given (an interface address).
    pub fn host_text(&self) -> String {
        format!("{}/{}", self.addr, self.prefix)
    }

    /// The network: `192.168.122.0/24` (nft refuses host bits in a prefix).
    pub fn network_text(&self) -> String {
        let net = match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::from((u32::from(a) & mask).to_be_bytes())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::from((u128::from(a) & mask).to_be_bytes())
            }
        };
        format!("{net}/{}", self.prefix)
    }

    fn family(&self) -> &'static str {
        if self.addr.is_ipv4() { "ip" } else { "ip6" }
    }
}

pub fn table_name(bridge: &str) -> String {
    let safe: String = bridge
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("wirt_{safe}")
}

/// The nft script that replaces the bridge's table with `rules`.
pub fn script(bridge: &str, rules: &[FirewallRule]) -> Result<String> {
    let table = table_name(bridge);
    let mut input = Vec::new();
    let mut forward = Vec::new();
    let mut postrouting = Vec::new();
    let mut reject_rest = false;
    let br = format!("\"{bridge}\"");
    for rule in rules {
        match rule {
            FirewallRule::AllowDhcpDns => {
                input.push(format!("iifname {br} udp dport {{ 53, 67, 547 }} accept"));
                input.push(format!("iifname {br} tcp dport 53 accept"));
            }
            FirewallRule::Masquerade(subnet) => {
                let c = Cidr::parse(subnet)?;
                let (f, net) = (c.family(), c.network_text());
                // Not multicast or broadcast, as libvirt: those stay local.
                let extra = if c.addr.is_ipv4() {
                    " ip daddr != { 224.0.0.0/24, 255.255.255.255 }"
                } else {
                    ""
                };
                postrouting.push(format!(
                    "{f} saddr {net} {f} daddr != {net}{extra} masquerade"
                ));
            }
            FirewallRule::ForwardOutbound(subnet) => {
                let c = Cidr::parse(subnet)?;
                let (f, net) = (c.family(), c.network_text());
                forward.push(format!("iifname {br} {f} saddr {net} accept"));
                forward.push(format!(
                    "oifname {br} {f} daddr {net} ct state established,related accept"
                ));
                reject_rest = true;
            }
            FirewallRule::ForwardRouted(subnet) => {
                let c = Cidr::parse(subnet)?;
                let (f, net) = (c.family(), c.network_text());
                forward.push(format!("iifname {br} {f} saddr {net} accept"));
                forward.push(format!("oifname {br} {f} daddr {net} accept"));
                reject_rest = true;
            }
            FirewallRule::ForwardIsolated => {
                forward.push(format!("iifname {br} oifname {br} accept"));
                reject_rest = true;
            }
        }
    }
    if reject_rest {
        // Guest to guest on the bridge stays allowed; anything else crossing
        // the bridge that no rule above accepted is refused.
        if !rules.contains(&FirewallRule::ForwardIsolated) {
            forward.push(format!("iifname {br} oifname {br} accept"));
        }
        forward.push(format!("iifname {br} reject"));
        forward.push(format!("oifname {br} reject"));
    }
    let mut s = String::new();
    // Declare, delete, re-create: one transaction whether or not it existed.
    let _ = writeln!(s, "table inet {table} {{}}");
    let _ = writeln!(s, "delete table inet {table}");
    let _ = writeln!(s, "table inet {table} {{");
    let chain = |s: &mut String, name: &str, hook: &str, prio: &str, body: &[String]| {
        if body.is_empty() {
            return;
        }
        let _ = writeln!(s, "  chain {name} {{");
        let _ = writeln!(
            s,
            "    type {} hook {hook} priority {prio}; policy accept;",
            if hook == "postrouting" {
                "nat"
            } else {
                "filter"
            }
        );
        for line in body {
            let _ = writeln!(s, "    {line}");
        }
        let _ = writeln!(s, "  }}");
    };
    chain(&mut s, "input", "input", "filter", &input);
    chain(&mut s, "forward", "forward", "filter", &forward);
    chain(&mut s, "postrouting", "postrouting", "srcnat", &postrouting);
    let _ = writeln!(s, "}}");
    Ok(s)
}

pub fn set(bridge: &str, rules: &[FirewallRule]) -> Result<()> {
    let text = script(bridge, rules)?;
    run("nft", &["-f", "-"], Some(&text))?;
    // Forwarding is off by default in a namespace and on many hosts; a nat
    // or routed network needs it, as libvirt sets it.
    let mut sysctls: Vec<&str> = rules
        .iter()
        .filter_map(|r| match r {
            FirewallRule::ForwardOutbound(s) | FirewallRule::ForwardRouted(s) => {
                Cidr::parse(s).ok()
            }
            _ => None,
        })
        .map(|c| {
            if c.addr.is_ipv4() {
                "/proc/sys/net/ipv4/ip_forward"
            } else {
                "/proc/sys/net/ipv6/conf/all/forwarding"
            }
        })
        .collect();
    sysctls.dedup();
    for path in sysctls {
        std::fs::write(path, "1").map_err(|source| Error::Io {
            what: format!("cannot enable forwarding ({path})"),
            source,
        })?;
    }
    Ok(())
}

pub fn clear(bridge: &str) -> Result<()> {
    let table = table_name(bridge);
    let text = format!("table inet {table} {{}}\ndelete table inet {table}\n");
    run("nft", &["-f", "-"], Some(&text)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_checked_and_masked() {
        let c = Cidr::parse("192.168.122.1/24").unwrap();
        assert_eq!(c.network_text(), "192.168.122.0/24");
        assert_eq!(c.host_text(), "192.168.122.1/24");
        let c = Cidr::parse("fd00:1::1/64").unwrap();
        assert_eq!(c.network_text(), "fd00:1::/64");
        for bad in [
            "1.2.3.4",
            "1.2.3.4/33",
            "x/24",
            "1.2.3.4/0",
            "1.2.3.4/24; flush ruleset",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_nat_network_gets_its_own_table_only() {
        let s = script(
            "virbr0",
            &[
                FirewallRule::AllowDhcpDns,
                FirewallRule::Masquerade("192.168.122.1/24".into()),
                FirewallRule::ForwardOutbound("192.168.122.1/24".into()),
            ],
        )
        .unwrap();
        assert!(s.starts_with("table inet wirt_virbr0 {}\ndelete table inet wirt_virbr0\n"));
        assert!(s.contains("ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24"));
        assert!(s.contains("masquerade"));
        assert!(s.contains(
            "oifname \"virbr0\" ip daddr 192.168.122.0/24 ct state established,related accept"
        ));
        assert!(s.contains("iifname \"virbr0\" reject"));
        // Nothing names another table.
        assert_eq!(s.matches("table ").count(), 3, "{s}");
        assert!(Cidr::parse("192.168.122.1/24\" ; flush ruleset").is_err());
    }
}
