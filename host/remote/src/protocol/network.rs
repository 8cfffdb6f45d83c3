//! Virtual network procedures.

use super::types::{NonnullNetwork, REMOTE_NETWORK_LIST_MAX, Uuid};
use crate::xdr::xdr_struct;

xdr_struct! {
    /// `{ remote_nonnull_network net; }`: the arguments of most network calls.
    pub struct NetworkArgs {
        pub net: NonnullNetwork,
    }
}

xdr_struct! {
    /// `{ remote_nonnull_network net; }` as a reply: lookups, define, create.
    pub struct NetworkRet {
        pub net: NonnullNetwork,
    }
}

xdr_struct! {
    /// `remote_network_lookup_by_name_args`.
    pub struct NetworkLookupByNameArgs {
        pub name: String,
    }
}

xdr_struct! {
    /// `remote_network_lookup_by_uuid_args`.
    pub struct NetworkLookupByUuidArgs {
        pub uuid: Uuid,
    }
}

xdr_struct! {
    /// `remote_network_create_xml_args` and `remote_network_define_xml_args`.
    pub struct NetworkXmlArgs {
        pub xml: String,
    }
}

xdr_struct! {
    /// `remote_network_define_xml_flags_args` and
    /// `remote_network_create_xml_flags_args` (libvirt 7.8 and 7.10).
    pub struct NetworkXmlFlagsArgs {
        pub xml: String,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_network_get_xml_desc_args`.
    pub struct NetworkGetXmlDescArgs {
        pub net: NonnullNetwork,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_network_set_autostart_args`.
    pub struct NetworkSetAutostartArgs {
        pub net: NonnullNetwork,
        pub autostart: i32,
    }
}

xdr_struct! {
    /// `remote_network_get_bridge_name_ret`.
    pub struct NetworkGetBridgeNameRet {
        pub name: String,
    }
}

xdr_struct! {
    /// `remote_connect_list_all_networks_args`.
    pub struct ConnectListAllNetworksArgs {
        pub need_results: i32,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_connect_list_all_networks_ret`.
    pub struct ConnectListAllNetworksRet {
        pub nets: Vec<NonnullNetwork> => array(REMOTE_NETWORK_LIST_MAX),
        pub ret: u32,
    }
}

xdr_struct! {
    /// `remote_connect_list_networks_ret` and `..._list_defined_networks_ret`.
    pub struct NetworkNamesRet {
        pub names: Vec<String> => array(REMOTE_NETWORK_LIST_MAX),
    }
}

xdr_struct! {
    /// `remote_network_update_args`: `command` and `section` are
    /// `virNetworkUpdateCommand` and `virNetworkUpdateSection`; `parent_index`
    /// is -1 for "any".
    pub struct NetworkUpdateArgs {
        pub net: NonnullNetwork,
        pub command: u32,
        pub section: u32,
        pub parent_index: i32,
        pub xml: String,
        pub flags: u32,
    }
}

/// `virNetworkUpdateCommand` values.
pub mod network_update {
    pub const COMMAND_MODIFY: u32 = 1;
    pub const COMMAND_DELETE: u32 = 2;
    pub const COMMAND_ADD_LAST: u32 = 3;
    pub const COMMAND_ADD_FIRST: u32 = 4;
    /// `VIR_NETWORK_SECTION_IP_DHCP_HOST`.
    pub const SECTION_IP_DHCP_HOST: u32 = 4;
    /// virsh's names of `virNetworkUpdateSection`, by number.
    pub const SECTIONS: &[&str] = &[
        "none",
        "bridge",
        "domain",
        "ip",
        "ip-dhcp-host",
        "ip-dhcp-range",
        "forward",
        "forward-interface",
        "forward-pf",
        "portgroup",
        "dns-host",
        "dns-txt",
        "dns-srv",
    ];
}

/// `remote_network_lookup_by_name_ret`.
pub type NetworkLookupByNameRet = NetworkRet;
/// `remote_network_lookup_by_uuid_ret`.
pub type NetworkLookupByUuidRet = NetworkRet;
/// `remote_network_create_xml_args`.
pub type NetworkCreateXmlArgs = NetworkXmlArgs;
/// `remote_network_create_xml_ret`.
pub type NetworkCreateXmlRet = NetworkRet;
/// `remote_network_define_xml_args`.
pub type NetworkDefineXmlArgs = NetworkXmlArgs;
/// `remote_network_define_xml_ret`.
pub type NetworkDefineXmlRet = NetworkRet;
/// `remote_network_define_xml_flags_args`.
pub type NetworkDefineXmlFlagsArgs = NetworkXmlFlagsArgs;
/// `remote_network_create_xml_flags_args`.
pub type NetworkCreateXmlFlagsArgs = NetworkXmlFlagsArgs;
/// `remote_network_undefine_args`.
pub type NetworkUndefineArgs = NetworkArgs;
/// `remote_network_create_args`.
pub type NetworkCreateArgs = NetworkArgs;
/// `remote_network_destroy_args`.
pub type NetworkDestroyArgs = NetworkArgs;
/// `remote_network_get_xml_desc_ret`.
pub type NetworkGetXmlDescRet = super::domain::XmlRet;
/// `remote_network_get_bridge_name_args`.
pub type NetworkGetBridgeNameArgs = NetworkArgs;
/// `remote_network_get_autostart_args`.
pub type NetworkGetAutostartArgs = NetworkArgs;
/// `remote_network_get_autostart_ret`.
pub type NetworkGetAutostartRet = super::domain::AutostartRet;
/// `remote_network_is_active_args`.
pub type NetworkIsActiveArgs = NetworkArgs;
/// `remote_network_is_persistent_args`.
pub type NetworkIsPersistentArgs = NetworkArgs;
/// `remote_connect_list_networks_args`.
pub type ConnectListNetworksArgs = super::connect::MaxNamesArgs;
