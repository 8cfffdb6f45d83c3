//! What `remote_protocol.x` does not define and wirt needs beside it: the
//! `VIR_*` values from libvirt's C headers that calls carry as plain ints,
//! and conversions for the C `char` arrays some structs hold.

use super::generated::NodeGetInfoRet;

/// `QEMU_PROGRAM`: libvirt's QEMU-specific side protocol (not served by wirt).
pub const QEMU_PROGRAM: u32 = 0x2000_8087;

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

/// `VIR_DOMAIN_EVENT_ID_LIFECYCLE`: the `event_id` for lifecycle events.
pub const VIR_DOMAIN_EVENT_ID_LIFECYCLE: i32 = 0;
/// `VIR_DOMAIN_EVENT_ID_JOB_COMPLETED`: a job (a migration) ended.
pub const VIR_DOMAIN_EVENT_ID_JOB_COMPLETED: i32 = 21;
/// `VIR_NETWORK_EVENT_ID_LIFECYCLE`.
pub const VIR_NETWORK_EVENT_ID_LIFECYCLE: i32 = 0;
/// `VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE`.
pub const VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE: i32 = 0;
/// `VIR_STORAGE_POOL_EVENT_ID_REFRESH`.
pub const VIR_STORAGE_POOL_EVENT_ID_REFRESH: i32 = 1;

/// `virNetworkUpdateCommand` values.
pub mod network_update {
    /// `VIR_NETWORK_UPDATE_COMMAND_MODIFY`.
    pub const COMMAND_MODIFY: u32 = 1;
    /// `VIR_NETWORK_UPDATE_COMMAND_DELETE`.
    pub const COMMAND_DELETE: u32 = 2;
    /// `VIR_NETWORK_UPDATE_COMMAND_ADD_LAST`.
    pub const COMMAND_ADD_LAST: u32 = 3;
    /// `VIR_NETWORK_UPDATE_COMMAND_ADD_FIRST`.
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

/// Turns a NUL-terminated C `char` array, as libvirt sends CPU models and
/// security labels, into a string (lossily: the bytes are not checked).
pub fn c_chars_to_string(chars: &[i8]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The reverse of [`c_chars_to_string`]: the bytes of `s` plus the NUL that
/// libvirt counts in variable-length label arrays.
pub fn string_to_c_chars(s: &str) -> Vec<i8> {
    s.bytes()
        .map(|b| b as i8)
        .chain(std::iter::once(0))
        .collect()
}
