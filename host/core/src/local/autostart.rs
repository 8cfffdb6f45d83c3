//! Autostart: what a daemon starts when it starts, as libvirtd does —
//! every autostart network that is not running, then every autostart domain
//! that is not (networks first: a domain's interfaces may need them). One
//! that fails to start is reported and the rest go on.

use super::Local;
use crate::connect::{Autostarted, DomainBackend, NetworkBackend, NetworkRef, Result};
use crate::lifecycle::State;

impl Local {
    pub(crate) fn run_autostart(&self) -> Result<Autostarted> {
        let mut report = Autostarted::default();
        let (networks, domains) = {
            let reg = self.state.lock();
            let networks: Vec<NetworkRef> = reg
                .networks
                .values()
                .filter(|n| n.autostart && !n.is_active())
                .map(|n| NetworkRef {
                    name: n.def().name.clone(),
                    uuid: n.def().uuid,
                })
                .collect();
            let domains: Vec<_> = reg
                .domains()
                .filter(|d| d.autostart && d.state == State::Shutoff)
                .map(super::domain::domain_ref)
                .collect();
            (networks, domains)
        };
        if self.state.drivers.network.is_some() {
            for net in networks {
                match self.network_start(&net) {
                    Ok(()) => report.networks.push(net.name),
                    Err(e) => report.failed.push((format!("network '{}'", net.name), e)),
                }
            }
        }
        for dom in domains {
            match self.domain_start(&dom, 0) {
                Ok(()) => report.domains.push(dom.name),
                Err(e) => report.failed.push((format!("domain '{}'", dom.name), e)),
            }
        }
        Ok(report)
    }
}
