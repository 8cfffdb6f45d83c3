//! Simulated networks: the driver only tracks which ones are up.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::exports::wirt::driver::network::Guest;
use crate::wirt::driver::types::{DhcpLease, Error, NetworkConfig};
use crate::{TestDriver, code, err};

thread_local! {
    static ACTIVE: RefCell<HashMap<String, NetworkConfig>> = RefCell::new(HashMap::new());
}

impl Guest for TestDriver {
    fn network_start(config: NetworkConfig, _flags: u32) -> Result<(), Error> {
        ACTIVE.with(|active| {
            let mut active = active.borrow_mut();
            if active.contains_key(&config.uuid) {
                return Err(err(
                    code::OPERATION_INVALID,
                    format!("network '{}' is already active", config.name),
                ));
            }
            active.insert(config.uuid.clone(), config);
            Ok(())
        })
    }

    fn network_stop(uuid: String) -> Result<(), Error> {
        ACTIVE.with(|active| {
            active
                .borrow_mut()
                .remove(&uuid)
                .map(|_| ())
                .ok_or_else(|| err(code::OPERATION_INVALID, "network is not active"))
        })
    }

    fn network_update(config: NetworkConfig, _flags: u32) -> Result<(), Error> {
        ACTIVE.with(|active| {
            let mut active = active.borrow_mut();
            match active.get_mut(&config.uuid) {
                Some(slot) => {
                    *slot = config;
                    Ok(())
                }
                None => Err(err(code::NO_NETWORK, "network is not active")),
            }
        })
    }

    /// libvirt's test driver hands out no leases: it runs no DHCP server.
    fn network_dhcp_leases(uuid: String) -> Result<Vec<DhcpLease>, Error> {
        ACTIVE.with(|active| {
            if active.borrow().contains_key(&uuid) {
                Err(err(
                    code::NO_SUPPORT,
                    "virNetworkGetDHCPLeases",
                ))
            } else {
                Err(err(code::OPERATION_INVALID, "network is not active"))
            }
        })
    }
}
