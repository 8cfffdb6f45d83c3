//! Starting, stopping and updating networks: what each forward mode needs,
//! asked of the host in an order that can be undone, and undone when a step
//! fails.

use std::fs;
use std::path::{Path, PathBuf};

use crate::config::{NetworkConfig, dnsmasq_files};
use crate::error::Error;
use crate::leases::{self, Lease};

/// A firewall rule the host writes into the network's own table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    AllowDhcpDns,
    Masquerade(String),
    ForwardOutbound(String),
    ForwardRouted(String),
    ForwardIsolated,
}

/// What the host offers (`netcap`); `Err` carries the host's error.
pub trait Netcap {
    fn bridge_create(&self, name: &str, mtu: Option<u32>) -> Result<(), Error>;
    fn bridge_owned(&self, name: &str) -> bool;
    fn bridge_delete(&self, name: &str) -> Result<(), Error>;
    fn address_add(&self, name: &str, address: &str, prefix: u32) -> Result<(), Error>;
    fn link_up(&self, name: &str) -> Result<(), Error>;
    fn firewall_set(&self, bridge: &str, rules: &[Rule]) -> Result<(), Error>;
    fn firewall_clear(&self, bridge: &str) -> Result<(), Error>;
    fn dnsmasq_start(&self, bridge: &str, config: &str) -> Result<u32, Error>;
    fn dnsmasq_reload(&self, bridge: &str) -> Result<(), Error>;
    fn dnsmasq_stop(&self, bridge: &str) -> Result<(), Error>;
}

/// How a running network is remembered: `<uuid>.state` holds its bridge and
/// whether the plugin made it (a `bridge`-mode network uses a host's own).
struct Record {
    bridge: String,
    managed: bool,
    /// The network's `address/prefix`es, for the prefix of a lease.
    subnets: Vec<String>,
}

fn record_text(bridge: &str, managed: bool, net: &NetworkConfig) -> String {
    let mut text = format!("{bridge}\n{}\n", if managed { "managed" } else { "host" });
    for ip in &net.ips {
        text.push_str(&ip.cidr());
        text.push('\n');
    }
    text
}

pub struct Driver<N> {
    net: N,
    /// The directory as this plugin sees it (`/net`).
    dir: PathBuf,
}

impl<N: Netcap> Driver<N> {
    pub fn new(net: N, dir: impl Into<PathBuf>) -> Self {
        Driver {
            net,
            dir: dir.into(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn dir_text(&self) -> String {
        self.dir.to_string_lossy().into_owned()
    }

    fn write(&self, name: &str, text: &str) -> Result<(), Error> {
        let path = self.path(name);
        write_atomic(&path, text)
    }

    fn record(&self, uuid: &str) -> Option<Record> {
        let text = fs::read_to_string(self.path(&format!("{uuid}.state"))).ok()?;
        let mut lines = text.lines();
        let bridge = lines.next()?.to_string();
        let managed = lines.next() == Some("managed");
        let subnets = lines.map(String::from).collect();
        Some(Record {
            bridge,
            managed,
            subnets,
        })
    }

    /// Starts the network, or adopts it when the host restarted while it ran:
    /// a bridge already ours is kept, addresses and rules are set again
    /// (both idempotent), and a dnsmasq with the same config is kept.
    pub fn start(&self, net: &NetworkConfig) -> Result<(), Error> {
        check_uuid(&net.uuid)?;
        let mode = net.forward_mode.as_deref();
        if let Some(m @ ("private" | "vepa" | "passthrough" | "hostdev")) = mode {
            return Err(Error::Unsupported(format!(
                "network '{}': forward mode '{m}' is not supported by the bridge network driver",
                net.name
            )));
        }
        let bridge = net
            .bridge
            .clone()
            .ok_or_else(|| Error::Invalid(format!("network '{}' has no bridge name", net.name)))?;
        if mode == Some("bridge") {
            // A host bridge someone else manages: guests join it; the
            // network itself creates nothing.
            return self.write(
                &format!("{}.state", net.uuid),
                &record_text(&bridge, false, net),
            );
        }
        let adopted = self.net.bridge_owned(&bridge);
        if !adopted {
            self.net.bridge_create(&bridge, net.mtu)?;
        }
        let result = self.configure(net, &bridge);
        if let Err(e) = result {
            if !adopted {
                self.teardown(&bridge);
            }
            return Err(e);
        }
        self.write(
            &format!("{}.state", net.uuid),
            &record_text(&bridge, true, net),
        )
    }

    fn configure(&self, net: &NetworkConfig, bridge: &str) -> Result<(), Error> {
        for ip in &net.ips {
            self.net.address_add(bridge, &ip.address, ip.prefix)?;
        }
        self.net.link_up(bridge)?;
        self.net.firewall_set(bridge, &rules(net))?;
        if !net.ips.is_empty() {
            let files = dnsmasq_files(net, bridge, &self.dir_text());
            self.write(&format!("{bridge}.hostsfile"), &files.hostsfile)?;
            self.write(&format!("{bridge}.addnhosts"), &files.addnhosts)?;
            self.write(&format!("{bridge}.conf"), &files.conf)?;
            let conf = self.path(&format!("{bridge}.conf"));
            self.net.dnsmasq_start(bridge, &conf.to_string_lossy())?;
        }
        Ok(())
    }

    /// Best effort: each piece goes even if another cannot.
    fn teardown(&self, bridge: &str) {
        let _ = self.net.dnsmasq_stop(bridge);
        let _ = self.net.firewall_clear(bridge);
        if self.net.bridge_owned(bridge) {
            let _ = self.net.bridge_delete(bridge);
        }
        for ext in ["conf", "hostsfile", "addnhosts", "leases"] {
            let _ = fs::remove_file(self.path(&format!("{bridge}.{ext}")));
        }
    }

    pub fn stop(&self, uuid: &str) -> Result<(), Error> {
        check_uuid(uuid)?;
        let record = self
            .record(uuid)
            .ok_or_else(|| Error::NotActive(uuid.to_string()))?;
        if record.managed {
            self.net.dnsmasq_stop(&record.bridge)?;
            self.net.firewall_clear(&record.bridge)?;
            if self.net.bridge_owned(&record.bridge) {
                self.net.bridge_delete(&record.bridge)?;
            }
            self.teardown(&record.bridge);
        }
        fs::remove_file(self.path(&format!("{uuid}.state")))
            .map_err(Error::io(format!("cannot forget network {uuid}")))
    }

    /// `net-update --live`: new DHCP hosts and DNS names, read again by the
    /// running dnsmasq.
    pub fn update(&self, net: &NetworkConfig) -> Result<(), Error> {
        check_uuid(&net.uuid)?;
        let record = self
            .record(&net.uuid)
            .ok_or_else(|| Error::NotActive(net.name.clone()))?;
        if !record.managed || net.ips.is_empty() {
            return Ok(());
        }
        let files = dnsmasq_files(net, &record.bridge, &self.dir_text());
        self.write(&format!("{}.hostsfile", record.bridge), &files.hostsfile)?;
        self.write(&format!("{}.addnhosts", record.bridge), &files.addnhosts)?;
        self.net.dnsmasq_reload(&record.bridge)
    }

    pub fn leases(&self, uuid: &str) -> Result<(String, Vec<Lease>), Error> {
        check_uuid(uuid)?;
        let record = self
            .record(uuid)
            .ok_or_else(|| Error::NotActive(uuid.to_string()))?;
        let text = match fs::read_to_string(self.path(&format!("{}.leases", record.bridge))) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io("cannot read the DHCP leases")(e)),
        };
        let mut found = leases::parse(&text);
        for lease in &mut found {
            lease.prefix = leases::prefix_for(&lease.ip, &record.subnets);
        }
        Ok((record.bridge, found))
    }
}

/// A uuid names files in the plugin's directory: nothing but hex and dashes.
fn check_uuid(uuid: &str) -> Result<(), Error> {
    if !uuid.is_empty() && uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        Ok(())
    } else {
        Err(Error::Invalid(format!("'{uuid}' is not a network uuid")))
    }
}

/// The firewall of a forward mode, as libvirt's: nat masquerades and lets
/// replies in, route forwards both ways, open adds nothing, no forward
/// isolates the bridge; every mode lets guests ask for DHCP and DNS.
pub fn rules(net: &NetworkConfig) -> Vec<Rule> {
    let mut rules = vec![Rule::AllowDhcpDns];
    let subnets: Vec<(bool, String)> = net.ips.iter().map(|i| (i.is_ipv4(), i.cidr())).collect();
    match net.forward_mode.as_deref() {
        Some("nat") => {
            for (v4, cidr) in &subnets {
                // libvirt masquerades IPv4 only; IPv6 on a nat network is routed.
                if *v4 {
                    rules.push(Rule::Masquerade(cidr.clone()));
                    rules.push(Rule::ForwardOutbound(cidr.clone()));
                } else {
                    rules.push(Rule::ForwardRouted(cidr.clone()));
                }
            }
        }
        Some("route") => {
            rules.extend(subnets.into_iter().map(|(_, c)| Rule::ForwardRouted(c)));
        }
        Some("open") => {}
        _ => rules.push(Rule::ForwardIsolated),
    }
    rules
}

fn write_atomic(path: &Path, text: &str) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).map_err(Error::io(format!("cannot write {}", tmp.display())))?;
    fs::rename(&tmp, path).map_err(Error::io(format!("cannot write {}", path.display())))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    use super::*;

    /// A host that records what it was asked and owns what it created.
    #[derive(Default)]
    struct FakeHost {
        bridges: RefCell<BTreeSet<String>>,
        calls: RefCell<Vec<String>>,
        fail_dnsmasq: bool,
    }

    impl Netcap for FakeHost {
        fn bridge_create(&self, name: &str, _mtu: Option<u32>) -> Result<(), Error> {
            self.calls.borrow_mut().push(format!("create {name}"));
            self.bridges.borrow_mut().insert(name.into());
            Ok(())
        }
        fn bridge_owned(&self, name: &str) -> bool {
            self.bridges.borrow().contains(name)
        }
        fn bridge_delete(&self, name: &str) -> Result<(), Error> {
            self.calls.borrow_mut().push(format!("delete {name}"));
            self.bridges.borrow_mut().remove(name);
            Ok(())
        }
        fn address_add(&self, name: &str, a: &str, p: u32) -> Result<(), Error> {
            self.calls.borrow_mut().push(format!("addr {name} {a}/{p}"));
            Ok(())
        }
        fn link_up(&self, _: &str) -> Result<(), Error> {
            Ok(())
        }
        fn firewall_set(&self, b: &str, r: &[Rule]) -> Result<(), Error> {
            self.calls.borrow_mut().push(format!("fw {b} {}", r.len()));
            Ok(())
        }
        fn firewall_clear(&self, b: &str) -> Result<(), Error> {
            self.calls.borrow_mut().push(format!("fw-clear {b}"));
            Ok(())
        }
        fn dnsmasq_start(&self, b: &str, _: &str) -> Result<u32, Error> {
            if self.fail_dnsmasq {
                return Err(Error::Host {
                    code: 9,
                    message: "dnsmasq failed".into(),
                });
            }
            self.calls.borrow_mut().push(format!("dnsmasq {b}"));
            Ok(42)
        }
        fn dnsmasq_reload(&self, b: &str) -> Result<(), Error> {
            self.calls.borrow_mut().push(format!("reload {b}"));
            Ok(())
        }
        fn dnsmasq_stop(&self, b: &str) -> Result<(), Error> {
            self.calls.borrow_mut().push(format!("dnsmasq-stop {b}"));
            Ok(())
        }
    }

    fn net() -> NetworkConfig {
        crate::config::test_network()
    }

    #[test]
    fn start_stop_leaves_nothing_and_adoption_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = Driver::new(FakeHost::default(), dir.path());
        d.start(&net()).unwrap();
        assert!(d.net.bridge_owned("virbr0"));
        assert!(dir.path().join("virbr0.conf").exists());
        // A restarted host starts it again: the bridge is adopted.
        d.net.calls.borrow_mut().clear();
        d.start(&net()).unwrap();
        assert!(!d.net.calls.borrow().iter().any(|c| c.starts_with("create")));
        d.stop(&net().uuid).unwrap();
        assert!(!d.net.bridge_owned("virbr0"));
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        assert!(matches!(d.stop(&net().uuid), Err(Error::NotActive(_))));
    }

    #[test]
    fn a_failed_start_undoes_what_it_made() {
        let dir = tempfile::tempdir().unwrap();
        let host = FakeHost {
            fail_dnsmasq: true,
            ..Default::default()
        };
        let d = Driver::new(host, dir.path());
        assert!(d.start(&net()).is_err());
        assert!(!d.net.bridge_owned("virbr0"));
        assert!(
            d.net
                .calls
                .borrow()
                .contains(&"fw-clear virbr0".to_string())
        );
        assert!(d.record(&net().uuid).is_none());
    }

    #[test]
    fn forward_modes_get_their_rules() {
        let mut n = net();
        assert!(rules(&n).contains(&Rule::Masquerade("192.168.122.1/24".into())));
        n.forward_mode = None;
        assert_eq!(rules(&n), vec![Rule::AllowDhcpDns, Rule::ForwardIsolated]);
        n.forward_mode = Some("route".into());
        assert!(rules(&n).contains(&Rule::ForwardRouted("192.168.122.1/24".into())));
        n.forward_mode = Some("vepa".into());
        let dir = tempfile::tempdir().unwrap();
        let d = Driver::new(FakeHost::default(), dir.path());
        assert!(matches!(d.start(&n), Err(Error::Unsupported(_))));
        assert!(matches!(d.stop("../../etc"), Err(Error::Invalid(_))));
    }
}
