//! Virtual networks.

use std::sync::Arc;

use uuid::Uuid;

use super::on_demand::OnDemand;
use super::{Local, convert};
use crate::connect::network_flags as flags;
use crate::connect::{Error, NetworkBackend, NetworkRef, Result, check_flags};
use crate::driver::NetworkDriver;
use crate::error::ErrorCode;
use crate::events::{NetworkEvent, NetworkLifecycle};
use crate::registry::{NetworkObj, Registry};
use crate::xml::{Element, NetworkDef};

fn no_network(detail: String) -> Error {
    Error::api(ErrorCode::NO_NETWORK, detail)
}

impl Local {
    fn network_driver(&self) -> Result<Arc<dyn NetworkDriver>> {
        self.state
            .drivers
            .network
            .as_ref()
            .ok_or_else(|| Error::api(ErrorCode::NO_SUPPORT, "virConnectListAllNetworks"))?
            .get()
    }

    fn with_network<R>(
        &self,
        net: &NetworkRef,
        f: impl FnOnce(&mut Registry, &Uuid) -> Result<R>,
    ) -> Result<R> {
        let mut reg = self.state.lock();
        if !reg.networks.contains_key(&net.uuid) {
            return Err(no_network(format!(
                "no network with matching uuid '{}' ({})",
                net.uuid, net.name
            )));
        }
        f(&mut reg, &net.uuid)
    }

    fn network_obj<R>(&self, net: &NetworkRef, f: impl FnOnce(&NetworkObj) -> R) -> Result<R> {
        self.with_network(net, |reg, uuid| Ok(f(&reg.networks[uuid])))
    }
}

fn network_ref(n: &NetworkObj) -> NetworkRef {
    NetworkRef {
        name: n.def().name.clone(),
        uuid: n.def().uuid,
    }
}

impl Local {
    fn network_event(&self, def: &NetworkDef, event: NetworkLifecycle) {
        self.state.network_events.emit(NetworkEvent {
            name: def.name.clone(),
            uuid: def.uuid,
            event,
        });
    }
}

impl NetworkBackend for Local {
    fn network_events(&self) -> Result<crate::events::EventStream<NetworkEvent>> {
        self.network_driver()?;
        Ok(self.state.network_events.subscribe())
    }

    fn lookup_network_by_name(&self, name: &str) -> Result<NetworkRef> {
        let state = &self.state;
        self.network_driver()?;
        let reg = state.lock();
        reg.network_by_name(name)
            .map(network_ref)
            .ok_or_else(|| no_network(format!("no network with matching name '{name}'")))
    }

    fn lookup_network_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef> {
        let state = &self.state;
        self.network_driver()?;
        let reg = state.lock();
        reg.networks
            .get(uuid)
            .map(network_ref)
            .ok_or_else(|| no_network(format!("no network with matching uuid '{uuid}'")))
    }

    /// Networks matching libvirt's `VIR_CONNECT_LIST_NETWORKS_*` flags, by name.
    fn list_all_networks(&self, flags: u32) -> Result<Vec<NetworkRef>> {
        let state = &self.state;
        use flags::*;
        check_flags(flags, 63, "virConnectListAllNetworks")?;
        self.network_driver()?;
        let reg = state.lock();
        let group = |bits: u32, hit: u32| flags & bits == 0 || flags & hit != 0;
        let mut found: Vec<&NetworkObj> = reg
            .networks
            .values()
            .filter(|n| {
                group(
                    LIST_ACTIVE | LIST_INACTIVE,
                    if n.is_active() {
                        LIST_ACTIVE
                    } else {
                        LIST_INACTIVE
                    },
                ) && group(
                    LIST_PERSISTENT | LIST_TRANSIENT,
                    if n.persistent() {
                        LIST_PERSISTENT
                    } else {
                        LIST_TRANSIENT
                    },
                ) && group(
                    LIST_AUTOSTART | LIST_NO_AUTOSTART,
                    if n.autostart {
                        LIST_AUTOSTART
                    } else {
                        LIST_NO_AUTOSTART
                    },
                )
            })
            .collect();
        found.sort_by(|a, b| a.def().name.cmp(&b.def().name));
        Ok(found.into_iter().map(network_ref).collect())
    }

    fn define_network_xml(&self, xml: &str) -> Result<NetworkRef> {
        let state = &self.state;
        let driver = self.network_driver()?;
        let mut def = NetworkDef::parse(xml)?;
        let mut reg = state.lock();
        check_network_unique(&reg, &def)?;
        assign_bridge(&reg, driver.as_ref(), &mut def)?;
        let uuid = def.uuid;
        match reg.networks.get_mut(&uuid) {
            Some(n) => n.config = Some(def),
            None => {
                reg.networks.insert(
                    uuid,
                    NetworkObj {
                        config: Some(def),
                        live: None,
                        autostart: false,
                    },
                );
            }
        }
        persist_network(&reg, &uuid)?;
        let net = &reg.networks[&uuid];
        self.network_event(
            net.config.as_ref().expect("defined"),
            NetworkLifecycle::Defined,
        );
        Ok(network_ref(net))
    }

    /// Creates and starts a transient network.
    fn create_network_xml(&self, xml: &str) -> Result<NetworkRef> {
        let state = &self.state;
        let driver = self.network_driver()?;
        let mut def = NetworkDef::parse(xml)?;
        let mut reg = state.lock();
        check_network_unique(&reg, &def)?;
        assign_bridge(&reg, driver.as_ref(), &mut def)?;
        if let Some(n) = reg.networks.get(&def.uuid)
            && n.is_active()
        {
            return Err(Error::api(
                ErrorCode::OPERATION_INVALID,
                format!("network '{}' is already active", def.name),
            ));
        }
        driver.network_start(&convert::network_config(&def), 0)?;
        let uuid = def.uuid;
        record_live(&reg, &def);
        self.network_event(&def, NetworkLifecycle::Started);
        set_live(&mut reg, def);
        Ok(network_ref(&reg.networks[&uuid]))
    }
    fn network_is_active(&self, net: &NetworkRef) -> Result<bool> {
        self.network_obj(net, |n| n.is_active())
    }

    fn network_is_persistent(&self, net: &NetworkRef) -> Result<bool> {
        self.network_obj(net, |n| n.persistent())
    }

    fn network_autostart(&self, net: &NetworkRef) -> Result<bool> {
        self.network_obj(net, |n| n.autostart)
    }

    fn network_dhcp_leases(&self, net: &NetworkRef) -> Result<Vec<crate::connect::DhcpLease>> {
        let driver = self.network_driver()?;
        self.network_obj(net, |n| {
            if n.is_active() {
                Ok(())
            } else {
                Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    format!("network '{}' is not active", n.def().name),
                ))
            }
        })??;
        Ok(driver
            .network_dhcp_leases(&net.uuid.to_string())?
            .into_iter()
            .map(|l| crate::connect::DhcpLease {
                iface: l.iface,
                expiry_time: l.expiry_time,
                addr_type: l.addr_type,
                mac: l.mac,
                iaid: l.iaid,
                ip: l.ip,
                prefix: l.prefix,
                hostname: l.hostname,
                client_id: l.client_id,
            })
            .collect())
    }

    fn network_bridge_name(&self, net: &NetworkRef) -> Result<Option<String>> {
        self.network_obj(net, |n| n.def().bridge())
    }

    /// The network XML. flags: 1 = the persistent (inactive) definition.
    fn network_xml_desc(&self, net: &NetworkRef, flags: u32) -> Result<String> {
        check_flags(flags, flags::XML_INACTIVE, "virNetworkGetXMLDesc")?;
        self.network_obj(net, |n| {
            let def = if flags & flags::XML_INACTIVE != 0 {
                n.config.as_ref().unwrap_or(n.def())
            } else {
                n.def()
            };
            def.to_xml()
        })
    }

    fn network_start(&self, net: &NetworkRef) -> Result<()> {
        let driver = self.network_driver()?;
        self.with_network(net, |reg, uuid| {
            let n = reg.networks.get_mut(uuid).expect("checked");
            if n.is_active() {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    "network is already active",
                ));
            }
            let def = n.config.clone().expect("an inactive network is persistent");
            driver.network_start(&convert::network_config(&def), 0)?;
            n.live = Some(def);
            let def = reg.networks[uuid].def();
            record_live(reg, def);
            self.network_event(def, NetworkLifecycle::Started);
            Ok(())
        })
    }

    fn network_destroy(&self, net: &NetworkRef) -> Result<()> {
        let driver = self.network_driver()?;
        self.with_network(net, |reg, uuid| {
            let n = reg.networks.get(uuid).expect("checked");
            if !n.is_active() {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    format!("network '{}' is not active", n.def().name),
                ));
            }
            driver.network_stop(&uuid.to_string())?;
            forget_live(reg, uuid);
            self.network_event(reg.networks[uuid].def(), NetworkLifecycle::Stopped);
            let n = reg.networks.get_mut(uuid).expect("checked");
            n.live = None;
            if !n.persistent() {
                reg.networks.remove(uuid);
            }
            Ok(())
        })
    }

    fn network_undefine(&self, net: &NetworkRef) -> Result<()> {
        self.with_network(net, |reg, uuid| {
            let n = reg.networks.get_mut(uuid).expect("checked");
            if !n.persistent() {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    format!("network '{}' is not persistent", n.def().name),
                ));
            }
            let def = n.config.take().expect("persistent");
            self.network_event(&def, NetworkLifecycle::Undefined);
            n.autostart = false;
            if !n.is_active() {
                reg.networks.remove(uuid);
            }
            persist_network(reg, uuid)
        })
    }

    fn network_set_autostart(&self, net: &NetworkRef, autostart: bool) -> Result<()> {
        self.with_network(net, |reg, uuid| {
            let n = reg.networks.get_mut(uuid).expect("checked");
            if !n.persistent() {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    "cannot set autostart for transient network",
                ));
            }
            n.autostart = autostart;
            persist_network(reg, uuid)
        })
    }

    /// `net-update`: only the `ip-dhcp-host` section, with commands add,
    /// add-first, add-last, delete and modify. flags: 1 live, 2 config.
    fn network_update(
        &self,
        net: &NetworkRef,
        command: &str,
        section: &str,
        parent_index: Option<usize>,
        xml: &str,
        flags: u32,
    ) -> Result<()> {
        check_flags(
            flags,
            flags::UPDATE_LIVE | flags::UPDATE_CONFIG,
            "virNetworkUpdate",
        )?;
        if section != "ip-dhcp-host" {
            return Err(Error::api(
                ErrorCode::NO_SUPPORT,
                format!("can't update '{section}' section of network"),
            ));
        }
        let host = Element::parse(xml, "network_update")?;
        let driver = self.network_driver()?;
        self.with_network(net, |reg, uuid| {
            let n = reg.networks.get_mut(uuid).expect("checked");
            let mut live = flags & flags::UPDATE_LIVE != 0;
            let mut config = flags & flags::UPDATE_CONFIG != 0;
            if !live && !config {
                if n.is_active() {
                    live = true;
                } else {
                    config = true;
                }
            }
            if live && !n.is_active() {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    "network is not running",
                ));
            }
            if config && !n.persistent() {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    "cannot change persistent config of a transient network",
                ));
            }
            // Edit copies first: a refused edit changes nothing.
            let mut new_live = n.live.clone();
            let mut new_config = n.config.clone();
            if live {
                new_live.as_mut().expect("active").update_dhcp_host(
                    command,
                    &host,
                    parent_index,
                )?;
            }
            if config {
                new_config.as_mut().expect("persistent").update_dhcp_host(
                    command,
                    &host,
                    parent_index,
                )?;
            }
            if live {
                driver.network_update(
                    &convert::network_config(new_live.as_ref().expect("active")),
                    0,
                )?;
                n.live = new_live;
            }
            if live {
                record_live(reg, reg.networks[uuid].def());
            }
            let n = reg.networks.get_mut(uuid).expect("checked");
            if config {
                n.config = new_config;
            }
            persist_network(reg, uuid)
        })
    }
}

fn check_network_unique(reg: &Registry, def: &NetworkDef) -> Result<()> {
    if let Some(other) = reg.network_by_name(&def.name)
        && other.def().uuid != def.uuid
    {
        return Err(Error::api(
            ErrorCode::OPERATION_FAILED,
            format!(
                "network '{}' already exists with uuid {}",
                def.name,
                other.def().uuid
            ),
        ));
    }
    if let Some(other) = reg.networks.get(&def.uuid)
        && other.def().name != def.name
    {
        return Err(Error::api(
            ErrorCode::OPERATION_FAILED,
            format!(
                "network '{}' is already defined with uuid {}",
                other.def().name,
                def.uuid
            ),
        ));
    }
    Ok(())
}

/// For drivers that create bridges: a bridge name and MAC for a network
/// that has none, and no two networks on one bridge.
fn assign_bridge(reg: &Registry, driver: &dyn NetworkDriver, def: &mut NetworkDef) -> Result<()> {
    if !driver.assigns_bridges() {
        return Ok(());
    }
    let taken: Vec<String> = reg
        .networks
        .values()
        .filter(|n| n.def().uuid != def.uuid)
        .filter_map(|n| n.def().bridge())
        .collect();
    // A redefinition keeps the name it was given.
    if def.bridge().is_none()
        && let Some(old) = reg.networks.get(&def.uuid).and_then(|n| n.def().bridge())
    {
        def.children.push({
            let mut b = Element::new("bridge");
            b.set_attr("name", old);
            b
        });
    }
    def.assign_bridge(&taken);
    if let Some(bridge) = def.bridge()
        && taken.contains(&bridge)
    {
        return Err(Error::api(
            ErrorCode::INTERNAL_ERROR,
            format!("bridge name '{bridge}' already in use."),
        ));
    }
    Ok(())
}

/// Marks `def` running: the live definition of a defined network, or a
/// transient one.
fn set_live(reg: &mut Registry, def: NetworkDef) {
    match reg.networks.get_mut(&def.uuid) {
        Some(n) => n.live = Some(def),
        None => {
            reg.networks.insert(
                def.uuid,
                NetworkObj {
                    config: None,
                    live: Some(def),
                    autostart: false,
                },
            );
        }
    }
}

/// Where a running network is remembered across host processes: the
/// runtime dir (gone at reboot, as the network is).
fn record_live(reg: &Registry, def: &NetworkDef) {
    if let Some(rt) = reg.store().and_then(|s| s.runtime_store())
        && let Err(e) = rt.write("networks", &def.uuid, "xml", def.to_xml().as_bytes())
    {
        tracing::warn!(network = %def.name, error = %e, "cannot record the running network");
    }
}

fn forget_live(reg: &Registry, uuid: &Uuid) {
    if let Some(rt) = reg.store().and_then(|s| s.runtime_store()) {
        let _ = rt.remove("networks", uuid, "xml");
    }
}

/// Networks the previous host process left running: started again through
/// the driver, which adopts what is still there (bridge, rules, dnsmasq)
/// and re-creates what is not. One that cannot be is forgotten as stopped.
pub(crate) fn adopt_running(reg: &mut Registry, driver: &OnDemand<dyn NetworkDriver>) {
    let Some(rt) = reg.store().and_then(|s| s.runtime_store()) else {
        return;
    };
    let Ok(records) = rt.list("networks", "xml") else {
        return;
    };
    // The plugin is loaded only when a network was left running.
    let driver = match records.first().map(|_| driver.get()) {
        None => return,
        Some(Ok(driver)) => driver,
        Some(Err(e)) => {
            tracing::warn!(error = %e, "cannot load the network driver to adopt running networks");
            return;
        }
    };
    for (uuid, xml) in records {
        let def = match NetworkDef::parse(&String::from_utf8_lossy(&xml)) {
            Ok(def) => def,
            Err(e) => {
                tracing::warn!(%uuid, error = %e, "unreadable running-network record");
                let _ = rt.remove("networks", &uuid, "xml");
                continue;
            }
        };
        if let Err(e) = driver.network_start(&convert::network_config(&def), 0) {
            tracing::warn!(network = %def.name, error = %e, "cannot adopt the running network");
            let _ = rt.remove("networks", &uuid, "xml");
            continue;
        }
        set_live(reg, def);
    }
}

fn persist_network(reg: &Registry, uuid: &Uuid) -> Result<()> {
    let Some(store) = reg.store() else {
        return Ok(());
    };
    match reg.networks.get(uuid).filter(|n| n.persistent()) {
        Some(n) => {
            store.write(
                "networks",
                uuid,
                "xml",
                n.config.as_ref().expect("persistent").to_xml().as_bytes(),
            )?;
            store.write(
                "networks",
                uuid,
                "json",
                serde_json::json!({"autostart": n.autostart})
                    .to_string()
                    .as_bytes(),
            )?;
        }
        None => {
            store.remove("networks", uuid, "xml")?;
            store.remove("networks", uuid, "json")?;
        }
    }
    Ok(())
}
