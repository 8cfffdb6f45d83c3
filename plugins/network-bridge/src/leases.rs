//! dnsmasq's lease file: `expiry mac ip hostname client-id` per IPv4 lease;
//! after a `duid` line, `expiry iaid ip hostname client-id` per IPv6 lease.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub expiry_time: i64,
    /// 0 IPv4, 1 IPv6.
    pub addr_type: u32,
    pub mac: Option<String>,
    pub iaid: Option<String>,
    pub ip: String,
    /// The prefix of the network's subnet holding `ip`.
    pub prefix: u32,
    pub hostname: Option<String>,
    pub client_id: Option<String>,
}

fn field(s: &str) -> Option<String> {
    (s != "*").then(|| s.to_string())
}

/// The leases in `text`; lines that are not leases are skipped.
pub fn parse(text: &str) -> Vec<Lease> {
    let mut v6 = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first() == Some(&"duid") {
            v6 = true;
            continue;
        }
        let [expiry, id, ip, host, client, ..] = f[..] else {
            continue;
        };
        let Ok(expiry_time) = expiry.parse() else {
            continue;
        };
        out.push(Lease {
            expiry_time,
            addr_type: u32::from(v6),
            mac: (!v6).then(|| id.to_string()),
            iaid: v6.then(|| id.to_string()),
            ip: ip.to_string(),
            prefix: if v6 { 64 } else { 24 },
            hostname: field(host),
            client_id: field(client),
        });
    }
    out
}

/// The prefix of the first `address/prefix` in `subnets` that holds `ip`;
/// 24 (IPv4) or 64 (IPv6) when none does.
pub fn prefix_for(ip: &str, subnets: &[String]) -> u32 {
    use std::net::IpAddr;
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return 24;
    };
    let default = if ip.is_ipv4() { 24 } else { 64 };
    for subnet in subnets {
        let Some((addr, prefix)) = subnet.split_once('/') else {
            continue;
        };
        let (Ok(addr), Ok(prefix)) = (addr.parse::<IpAddr>(), prefix.parse::<u32>()) else {
            continue;
        };
        let same = match (ip, addr) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let m = u32::MAX.checked_shl(32 - prefix.min(32)).unwrap_or(0);
                u32::from(a) & m == u32::from(b) & m
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let m = u128::MAX.checked_shl(128 - prefix.min(128)).unwrap_or(0);
                u128::from(a) & m == u128::from(b) & m
            }
            _ => false,
        };
        if same {
            return prefix;
        }
    }
    default
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dnsmasq_leases() {
        let text = "1765000000 52:54:00:12:34:56 192.168.122.45 guest1 01:52:54:00:12:34:56\n\
                    0 52:54:00:aa:bb:cc 192.168.122.46 * *\n\
                    duid 00:01:00:01:2c:aa\n\
                    1765000001 1234 fd00::5 guest2 00:01\n\
                    garbage\n";
        let l = parse(text);
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].mac.as_deref(), Some("52:54:00:12:34:56"));
        assert_eq!(l[0].hostname.as_deref(), Some("guest1"));
        assert_eq!(l[1].hostname, None);
        assert_eq!(l[2].addr_type, 1);
        assert_eq!(l[2].iaid.as_deref(), Some("1234"));
        let subnets = ["10.0.0.1/8".to_string(), "192.168.122.1/25".to_string()];
        assert_eq!(prefix_for("192.168.122.45", &subnets), 25);
        assert_eq!(prefix_for("172.16.0.1", &subnets), 24);
    }
}
