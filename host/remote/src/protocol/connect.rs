//! Connection-level procedures: open/close, host facts, features, auth, and
//! the domain listings. Layouts are those of `remote_protocol.x`; names drop
//! the `remote_` prefix.

use super::types::{
    NonnullDomain, REMOTE_AUTH_TYPE_LIST_MAX, REMOTE_DOMAIN_LIST_MAX, REMOTE_SECURITY_DOI_MAX,
    REMOTE_SECURITY_MODEL_MAX, c_chars_to_string,
};
use crate::xdr::xdr_struct;

/// `REMOTE_AUTH_NONE`: the only auth type a unix socket needs.
pub const REMOTE_AUTH_NONE: i32 = 0;
/// `REMOTE_AUTH_SASL`.
pub const REMOTE_AUTH_SASL: i32 = 1;
/// `REMOTE_AUTH_POLKIT`.
pub const REMOTE_AUTH_POLKIT: i32 = 2;

/// `VIR_DRV_FEATURE_PROGRAM_KEEPALIVE`: asked by clients with an event loop.
pub const VIR_DRV_FEATURE_PROGRAM_KEEPALIVE: i32 = 10;
/// `VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK`: the daemon understands procedures
/// 316/317 and sends callback-style events such as 318.
pub const VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK: i32 = 14;
/// `VIR_DRV_FEATURE_REMOTE_CLOSE_CALLBACK`: clients then send 360/361.
pub const VIR_DRV_FEATURE_REMOTE_CLOSE_CALLBACK: i32 = 15;

/// `VIR_CONNECT_LIST_DOMAINS_ACTIVE`, flag of `CONNECT_LIST_ALL_DOMAINS`.
pub const VIR_CONNECT_LIST_DOMAINS_ACTIVE: u32 = 1 << 0;
/// `VIR_CONNECT_LIST_DOMAINS_INACTIVE`.
pub const VIR_CONNECT_LIST_DOMAINS_INACTIVE: u32 = 1 << 1;

xdr_struct! {
    /// `remote_connect_open_args`. `name` is the URI with transport and
    /// `?socket=` removed (`test:///default`), or `None` for the default.
    pub struct ConnectOpenArgs {
        pub name: Option<String>,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_connect_supports_feature_args`.
    pub struct ConnectSupportsFeatureArgs {
        pub feature: i32,
    }
}

xdr_struct! {
    /// `remote_connect_supports_feature_ret`: 1 if supported.
    pub struct ConnectSupportsFeatureRet {
        pub supported: i32,
    }
}

xdr_struct! {
    /// `remote_connect_get_type_ret` (e.g. "TEST", "QEMU").
    pub struct ConnectGetTypeRet {
        pub r#type: String,
    }
}

xdr_struct! {
    /// `remote_connect_get_version_ret`: hypervisor version as
    /// major * 1,000,000 + minor * 1,000 + release.
    pub struct ConnectGetVersionRet {
        pub hv_ver: u64,
    }
}

xdr_struct! {
    /// `remote_connect_get_lib_version_ret`, encoded like the hypervisor version.
    pub struct ConnectGetLibVersionRet {
        pub lib_ver: u64,
    }
}

xdr_struct! {
    /// `remote_connect_get_hostname_ret`.
    pub struct ConnectGetHostnameRet {
        pub hostname: String,
    }
}

xdr_struct! {
    /// `remote_connect_get_uri_ret`.
    pub struct ConnectGetUriRet {
        pub uri: String,
    }
}

xdr_struct! {
    /// `remote_connect_get_capabilities_ret`: the capabilities XML.
    pub struct ConnectGetCapabilitiesRet {
        pub capabilities: String,
    }
}

xdr_struct! {
    /// `remote_connect_get_sysinfo_args`.
    pub struct ConnectGetSysinfoArgs {
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_connect_get_sysinfo_ret`.
    pub struct ConnectGetSysinfoRet {
        pub sysinfo: String,
    }
}

xdr_struct! {
    /// `remote_connect_get_max_vcpus_args`.
    pub struct ConnectGetMaxVcpusArgs {
        pub r#type: Option<String>,
    }
}

xdr_struct! {
    /// `remote_connect_get_max_vcpus_ret`.
    pub struct ConnectGetMaxVcpusRet {
        pub max_vcpus: i32,
    }
}

xdr_struct! {
    /// `remote_connect_is_secure_ret`.
    pub struct ConnectIsSecureRet {
        pub secure: i32,
    }
}

xdr_struct! {
    /// `remote_node_get_info_ret`. `model` is a C `char[32]`, each char sent as
    /// a 4-byte unit; memory is in KiB.
    pub struct NodeGetInfoRet {
        pub model: [i8; 32],
        pub memory: u64,
        pub cpus: i32,
        pub mhz: i32,
        pub nodes: i32,
        pub sockets: i32,
        pub cores: i32,
        pub threads: i32,
    }
}

impl NodeGetInfoRet {
    /// `model` up to its NUL.
    pub fn model_str(&self) -> String {
        c_chars_to_string(&self.model)
    }

    /// Sets `model`, truncated to 31 bytes so the C string stays terminated.
    pub fn set_model(&mut self, model: &str) {
        self.model = [0; 32];
        for (dst, b) in self.model.iter_mut().zip(model.bytes().take(31)) {
            *dst = b as i8;
        }
    }
}

xdr_struct! {
    /// `remote_node_get_security_model_ret`: NUL-terminated C strings sent as
    /// `char` arrays (4 bytes per char); both empty when there is no model.
    pub struct NodeGetSecurityModelRet {
        pub model: Vec<i8> => array(REMOTE_SECURITY_MODEL_MAX),
        pub doi: Vec<i8> => array(REMOTE_SECURITY_DOI_MAX),
    }
}

xdr_struct! {
    /// `remote_auth_list_ret`: `REMOTE_AUTH_*` values.
    pub struct AuthListRet {
        pub types: Vec<i32> => array(REMOTE_AUTH_TYPE_LIST_MAX),
    }
}

xdr_struct! {
    /// `remote_auth_polkit_ret`.
    pub struct AuthPolkitRet {
        pub complete: i32,
    }
}

xdr_struct! {
    /// The `{ int num; }` replies: `remote_connect_num_of_domains_ret`,
    /// `..._num_of_defined_domains_ret`, `..._num_of_networks_ret`,
    /// `remote_domain_snapshot_num_ret`, `remote_storage_pool_num_of_volumes_ret`,
    /// `remote_domain_get_vcpus_flags_ret`, `remote_domain_get_max_vcpus_ret`, ...
    pub struct NumRet {
        pub num: i32,
    }
}

xdr_struct! {
    /// The `{ int maxnames; }` arguments of the old name-list procedures.
    pub struct MaxNamesArgs {
        pub maxnames: i32,
    }
}

xdr_struct! {
    /// `remote_connect_list_domains_args`.
    pub struct ConnectListDomainsArgs {
        pub maxids: i32,
    }
}

xdr_struct! {
    /// `remote_connect_list_domains_ret`: ids of running domains.
    pub struct ConnectListDomainsRet {
        pub ids: Vec<i32> => array(REMOTE_DOMAIN_LIST_MAX),
    }
}

xdr_struct! {
    /// `remote_connect_list_defined_domains_ret`: names of inactive domains.
    pub struct ConnectListDefinedDomainsRet {
        pub names: Vec<String> => array(REMOTE_DOMAIN_LIST_MAX),
    }
}

xdr_struct! {
    /// `remote_connect_list_all_domains_args`. With `need_results` 0 the
    /// server only counts.
    pub struct ConnectListAllDomainsArgs {
        pub need_results: i32,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_connect_list_all_domains_ret`: `ret` is the number of domains.
    pub struct ConnectListAllDomainsRet {
        pub domains: Vec<NonnullDomain> => array(REMOTE_DOMAIN_LIST_MAX),
        pub ret: u32,
    }
}

/// `remote_connect_num_of_domains_ret`.
pub type ConnectNumOfDomainsRet = NumRet;
/// `remote_connect_num_of_defined_domains_ret`.
pub type ConnectNumOfDefinedDomainsRet = NumRet;
/// `remote_connect_list_defined_domains_args`.
pub type ConnectListDefinedDomainsArgs = MaxNamesArgs;
