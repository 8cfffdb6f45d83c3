//! Virtual networks.

use std::sync::Arc;

use uuid::Uuid;

use super::domain::check_flags;
use super::{ConnState, Connect, Error, Result, convert, local_or};
use crate::driver::NetworkDriver;
use crate::error::ErrorCode;
use crate::registry::{NetworkObj, Registry};
use crate::xml::{Element, NetworkDef};

pub mod flags {
    pub const LIST_INACTIVE: u32 = 1;
    pub const LIST_ACTIVE: u32 = 2;
    pub const LIST_PERSISTENT: u32 = 4;
    pub const LIST_TRANSIENT: u32 = 8;
    pub const LIST_AUTOSTART: u32 = 16;
    pub const LIST_NO_AUTOSTART: u32 = 32;
    pub const XML_INACTIVE: u32 = 1;
    pub const UPDATE_LIVE: u32 = 1;
    pub const UPDATE_CONFIG: u32 = 2;
}

/// A handle to a virtual network.
#[derive(Clone, Debug)]
pub struct Network {
    conn: Connect,
    uuid: Uuid,
    name: String,
}

fn no_network(detail: String) -> Error {
    Error::api(ErrorCode::NO_NETWORK, detail)
}

impl Connect {
    fn network_driver(state: &ConnState) -> Result<Arc<dyn NetworkDriver>> {
        state
            .drivers
            .network
            .clone()
            .ok_or_else(|| Error::api(ErrorCode::NO_SUPPORT, "virConnectListAllNetworks"))
    }

    fn network_handle(&self, n: &NetworkObj) -> Network {
        self.network_ref(n.def().uuid, n.def().name.clone())
    }

    /// A handle from a reference (as the wire names networks), without a lookup.
    pub(crate) fn network_ref(&self, uuid: Uuid, name: String) -> Network {
        Network {
            conn: self.clone(),
            uuid,
            name,
        }
    }

    pub fn lookup_network_by_name(&self, name: &str) -> Result<Network> {
        let state = local_or!(self, r => r.lookup_network_by_name(self, name));
        Self::network_driver(state)?;
        let reg = state.lock();
        reg.network_by_name(name)
            .map(|n| self.network_handle(n))
            .ok_or_else(|| no_network(format!("no network with matching name '{name}'")))
    }

    pub fn lookup_network_by_uuid(&self, uuid: &Uuid) -> Result<Network> {
        let state = local_or!(self, r => r.lookup_network_by_uuid(self, uuid));
        Self::network_driver(state)?;
        let reg = state.lock();
        reg.networks
            .get(uuid)
            .map(|n| self.network_handle(n))
            .ok_or_else(|| no_network(format!("no network with matching uuid '{uuid}'")))
    }

    /// Networks matching libvirt's `VIR_CONNECT_LIST_NETWORKS_*` flags, by name.
    pub fn list_all_networks(&self, flags: u32) -> Result<Vec<Network>> {
        let state = local_or!(self, r => r.list_all_networks(self, flags));
        use flags::*;
        check_flags(flags, 63, "virConnectListAllNetworks")?;
        Self::network_driver(state)?;
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
        Ok(found.into_iter().map(|n| self.network_handle(n)).collect())
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

    pub fn define_network_xml(&self, xml: &str) -> Result<Network> {
        let state = local_or!(self, r => r.define_network_xml(self, xml));
        self.check_writable()?;
        Self::network_driver(state)?;
        let def = NetworkDef::parse(xml)?;
        let mut reg = state.lock();
        Self::check_network_unique(&reg, &def)?;
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
        Ok(self.network_handle(&reg.networks[&uuid]))
    }

    /// Creates and starts a transient network.
    pub fn create_network_xml(&self, xml: &str) -> Result<Network> {
        let state = local_or!(self, r => r.create_network_xml(self, xml));
        self.check_writable()?;
        let driver = Self::network_driver(state)?;
        let def = NetworkDef::parse(xml)?;
        let mut reg = state.lock();
        Self::check_network_unique(&reg, &def)?;
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
        match reg.networks.get_mut(&uuid) {
            Some(n) => n.live = Some(def),
            None => {
                reg.networks.insert(
                    uuid,
                    NetworkObj {
                        config: None,
                        live: Some(def),
                        autostart: false,
                    },
                );
            }
        }
        Ok(self.network_handle(&reg.networks[&uuid]))
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

impl Network {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn uuid(&self) -> Uuid {
        self.uuid
    }

    fn with<R>(
        &self,
        state: &ConnState,
        f: impl FnOnce(&mut Registry, &Uuid) -> Result<R>,
    ) -> Result<R> {
        let mut reg = state.lock();
        if !reg.networks.contains_key(&self.uuid) {
            return Err(no_network(format!(
                "no network with matching uuid '{}' ({})",
                self.uuid, self.name
            )));
        }
        f(&mut reg, &self.uuid)
    }

    fn obj<R>(&self, state: &ConnState, f: impl FnOnce(&NetworkObj) -> R) -> Result<R> {
        self.with(state, |reg, uuid| Ok(f(&reg.networks[uuid])))
    }

    pub fn is_active(&self) -> Result<bool> {
        let state = local_or!(self.conn, r => r.network_is_active(self));
        self.obj(state, |n| n.is_active())
    }

    pub fn is_persistent(&self) -> Result<bool> {
        let state = local_or!(self.conn, r => r.network_is_persistent(self));
        self.obj(state, |n| n.persistent())
    }

    pub fn autostart(&self) -> Result<bool> {
        let state = local_or!(self.conn, r => r.network_autostart(self));
        self.obj(state, |n| n.autostart)
    }

    pub fn bridge_name(&self) -> Result<Option<String>> {
        let state = local_or!(self.conn, r => r.network_bridge_name(self));
        self.obj(state, |n| n.def().bridge())
    }

    /// The network XML. flags: 1 = the persistent (inactive) definition.
    pub fn xml_desc(&self, flags: u32) -> Result<String> {
        let state = local_or!(self.conn, r => r.network_xml_desc(self, flags));
        check_flags(flags, flags::XML_INACTIVE, "virNetworkGetXMLDesc")?;
        self.obj(state, |n| {
            let def = if flags & flags::XML_INACTIVE != 0 {
                n.config.as_ref().unwrap_or(n.def())
            } else {
                n.def()
            };
            def.to_xml()
        })
    }

    pub fn start(&self) -> Result<()> {
        let state = local_or!(self.conn, r => r.network_start(self));
        self.conn.check_writable()?;
        let driver = Connect::network_driver(state)?;
        self.with(state, |reg, uuid| {
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
            Ok(())
        })
    }

    pub fn destroy(&self) -> Result<()> {
        let state = local_or!(self.conn, r => r.network_destroy(self));
        self.conn.check_writable()?;
        let driver = Connect::network_driver(state)?;
        self.with(state, |reg, uuid| {
            let n = reg.networks.get(uuid).expect("checked");
            if !n.is_active() {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    format!("network '{}' is not active", n.def().name),
                ));
            }
            driver.network_stop(&uuid.to_string())?;
            let n = reg.networks.get_mut(uuid).expect("checked");
            n.live = None;
            if !n.persistent() {
                reg.networks.remove(uuid);
            }
            Ok(())
        })
    }

    pub fn undefine(&self) -> Result<()> {
        let state = local_or!(self.conn, r => r.network_undefine(self));
        self.conn.check_writable()?;
        self.with(state, |reg, uuid| {
            let n = reg.networks.get_mut(uuid).expect("checked");
            if !n.persistent() {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    format!("network '{}' is not persistent", n.def().name),
                ));
            }
            n.config = None;
            n.autostart = false;
            if !n.is_active() {
                reg.networks.remove(uuid);
            }
            persist_network(reg, uuid)
        })
    }

    pub fn set_autostart(&self, autostart: bool) -> Result<()> {
        let state = local_or!(self.conn, r => r.network_set_autostart(self, autostart));
        self.conn.check_writable()?;
        self.with(state, |reg, uuid| {
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
    pub fn update(
        &self,
        command: &str,
        section: &str,
        parent_index: Option<usize>,
        xml: &str,
        flags: u32,
    ) -> Result<()> {
        let state = local_or!(self.conn, r => r.network_update(self, command, section, parent_index, xml, flags));
        check_flags(
            flags,
            flags::UPDATE_LIVE | flags::UPDATE_CONFIG,
            "virNetworkUpdate",
        )?;
        self.conn.check_writable()?;
        if section != "ip-dhcp-host" {
            return Err(Error::api(
                ErrorCode::NO_SUPPORT,
                format!("can't update '{section}' section of network"),
            ));
        }
        let host = Element::parse(xml, "network_update")?;
        let driver = Connect::network_driver(state)?;
        self.with(state, |reg, uuid| {
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
            if config {
                n.config = new_config;
            }
            persist_network(reg, uuid)
        })
    }
}
