//! A network's configuration as the host passes it, and the dnsmasq files
//! made from it (the same options libvirt writes for a network).

use std::fmt::Write;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DhcpHost {
    pub mac: Option<String>,
    pub name: Option<String>,
    pub ip: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpConfig {
    pub address: String,
    pub prefix: u32,
    pub family: String,
    pub dhcp_ranges: Vec<(String, String)>,
    pub dhcp_hosts: Vec<DhcpHost>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsHost {
    pub ip: String,
    pub hostnames: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkConfig {
    pub uuid: String,
    pub name: String,
    pub forward_mode: Option<String>,
    pub bridge: Option<String>,
    pub ips: Vec<IpConfig>,
    pub mtu: Option<u32>,
    pub domain: Option<String>,
    pub dns_hosts: Vec<DnsHost>,
}

impl IpConfig {
    pub fn is_ipv4(&self) -> bool {
        self.family != "ipv6" && !self.address.contains(':')
    }

    /// `address/prefix`.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.address, self.prefix)
    }
}

/// The dotted netmask of an IPv4 prefix (dnsmasq's dhcp-range wants one).
fn netmask(prefix: u32) -> String {
    let m = u32::MAX.checked_shl(32 - prefix.min(32)).unwrap_or(0);
    let b = m.to_be_bytes();
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

/// A value dnsmasq reads on one line: no line breaks, no commas where a
/// list is being built.
fn clean(value: &str) -> bool {
    !value.is_empty() && !value.contains(['\n', '\r', ',', '\0'])
}

pub struct DnsmasqFiles {
    pub conf: String,
    pub hostsfile: String,
    pub addnhosts: String,
}

/// The dnsmasq config (paths as this plugin sees them) and hosts files.
pub fn dnsmasq_files(net: &NetworkConfig, bridge: &str, dir: &str) -> DnsmasqFiles {
    let mut conf = String::new();
    let _ = writeln!(
        conf,
        "# network '{}': written by wirt, do not edit",
        net.name.replace('\n', " ")
    );
    conf.push_str("strict-order\n");
    if let Some(domain) = net
        .domain
        .as_deref()
        .filter(|d| clean(d) && !d.contains('/'))
    {
        let _ = writeln!(conf, "domain={domain}\nlocal=/{domain}/\nexpand-hosts");
    }
    let mut leases = 0u64;
    for ip in &net.ips {
        for (start, end) in &ip.dhcp_ranges {
            if !(clean(start) && clean(end)) {
                continue;
            }
            if ip.is_ipv4() {
                let _ = writeln!(conf, "dhcp-range={start},{end},{}", netmask(ip.prefix));
                leases += range_size(start, end);
            } else {
                let _ = writeln!(conf, "dhcp-range={start},{end},{}", ip.prefix);
                leases += 65_535;
            }
        }
    }
    if leases > 0 {
        conf.push_str("dhcp-no-override\ndhcp-authoritative\n");
        let _ = writeln!(conf, "dhcp-lease-max={}", leases.min(1 << 20));
        if net
            .ips
            .iter()
            .any(|i| !i.is_ipv4() && !i.dhcp_ranges.is_empty())
        {
            conf.push_str("enable-ra\n");
        }
    }
    let _ = writeln!(conf, "dhcp-leasefile={dir}/{bridge}.leases");
    let _ = writeln!(conf, "dhcp-hostsfile={dir}/{bridge}.hostsfile");
    let _ = writeln!(conf, "addn-hosts={dir}/{bridge}.addnhosts");

    let mut hostsfile = String::new();
    for ip in &net.ips {
        for h in &ip.dhcp_hosts {
            let fields: Vec<&str> = [h.mac.as_deref(), Some(h.ip.as_str()), h.name.as_deref()]
                .into_iter()
                .flatten()
                .filter(|f| clean(f))
                .collect();
            if fields.len() >= 2 {
                let _ = writeln!(hostsfile, "{}", fields.join(","));
            }
        }
    }
    let mut addnhosts = String::new();
    for h in &net.dns_hosts {
        let names: Vec<&str> = h
            .hostnames
            .iter()
            .map(String::as_str)
            .filter(|n| clean(n) && !n.contains(char::is_whitespace))
            .collect();
        if clean(&h.ip) && !names.is_empty() {
            let _ = writeln!(addnhosts, "{} {}", h.ip, names.join(" "));
        }
    }
    DnsmasqFiles {
        conf,
        hostsfile,
        addnhosts,
    }
}

fn range_size(start: &str, end: &str) -> u64 {
    match (
        start.parse::<std::net::Ipv4Addr>(),
        end.parse::<std::net::Ipv4Addr>(),
    ) {
        (Ok(s), Ok(e)) => u64::from(u32::from(e).saturating_sub(u32::from(s))) + 1,
        _ => 0,
    }
}

/// libvirt's network `default` (NAT, 192.168.122.0/24, DHCP .2–.254), for
/// the tests of this crate.
#[cfg(test)]
pub(crate) fn test_network() -> NetworkConfig {
    NetworkConfig {
        uuid: "0bd3c3b4-0000-4000-8000-000000000001".into(),
        name: "default".into(),
        forward_mode: Some("nat".into()),
        bridge: Some("virbr0".into()),
        ips: vec![IpConfig {
            address: "192.168.122.1".into(),
            prefix: 24,
            family: "ipv4".into(),
            dhcp_ranges: vec![("192.168.122.2".into(), "192.168.122.254".into())],
            dhcp_hosts: vec![],
        }],
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_net() -> NetworkConfig {
        let mut net = test_network();
        net.ips[0].dhcp_hosts.push(DhcpHost {
            mac: Some("52:54:00:00:00:01".into()),
            name: Some("web".into()),
            ip: "192.168.122.10".into(),
        });
        net
    }

    #[test]
    fn libvirts_default_network_config() {
        let f = dnsmasq_files(&default_net(), "virbr0", "/net");
        assert!(
            f.conf
                .contains("dhcp-range=192.168.122.2,192.168.122.254,255.255.255.0\n")
        );
        assert!(f.conf.contains("dhcp-lease-max=253\n"));
        assert!(f.conf.contains("dhcp-leasefile=/net/virbr0.leases\n"));
        assert_eq!(f.hostsfile, "52:54:00:00:00:01,192.168.122.10,web\n");
    }

    #[test]
    fn values_cannot_inject_options() {
        let mut net = default_net();
        net.domain = Some("x\ndhcp-script=/bin/sh".into());
        net.ips[0].dhcp_hosts[0].name = Some("a\ndhcp-script=/bin/sh".into());
        let f = dnsmasq_files(&net, "virbr0", "/net");
        assert!(!f.conf.contains("dhcp-script"), "{}", f.conf);
        assert!(!f.hostsfile.contains("dhcp-script"), "{}", f.hostsfile);
    }
}
