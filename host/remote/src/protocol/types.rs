//! The object references and limits shared by all of `remote_protocol.x`.

use crate::xdr::xdr_struct;

/// `remote_uuid`: 16 raw bytes, sent without a length word.
pub type Uuid = [u8; 16];

/// `REMOTE_DOMAIN_LIST_MAX`: domains, ids or names in one list.
pub const REMOTE_DOMAIN_LIST_MAX: u32 = 16_384;
/// `REMOTE_NETWORK_LIST_MAX`.
pub const REMOTE_NETWORK_LIST_MAX: u32 = 16_384;
/// `REMOTE_STORAGE_POOL_LIST_MAX`.
pub const REMOTE_STORAGE_POOL_LIST_MAX: u32 = 16_384;
/// `REMOTE_STORAGE_VOL_LIST_MAX`.
pub const REMOTE_STORAGE_VOL_LIST_MAX: u32 = 16_384;
/// `REMOTE_DOMAIN_SNAPSHOT_LIST_MAX`.
pub const REMOTE_DOMAIN_SNAPSHOT_LIST_MAX: u32 = 16_384;
/// `REMOTE_AUTH_TYPE_LIST_MAX`.
pub const REMOTE_AUTH_TYPE_LIST_MAX: u32 = 20;
/// `REMOTE_SECURITY_MODEL_MAX` = `VIR_SECURITY_MODEL_BUFLEN` (256 + 1).
pub const REMOTE_SECURITY_MODEL_MAX: u32 = 257;
/// `REMOTE_SECURITY_LABEL_MAX` = `VIR_SECURITY_LABEL_BUFLEN` (4096 + 1).
pub const REMOTE_SECURITY_LABEL_MAX: u32 = 4_097;
/// `REMOTE_SECURITY_DOI_MAX` = `VIR_SECURITY_DOI_BUFLEN` (256 + 1).
pub const REMOTE_SECURITY_DOI_MAX: u32 = 257;
/// `REMOTE_SECURITY_LABEL_LIST_MAX`.
pub const REMOTE_SECURITY_LABEL_LIST_MAX: u32 = 64;

xdr_struct! {
    /// `remote_nonnull_domain`. `id` is -1 for an inactive domain.
    pub struct NonnullDomain {
        pub name: String,
        pub uuid: Uuid,
        pub id: i32,
    }
}

xdr_struct! {
    /// `remote_nonnull_network`.
    pub struct NonnullNetwork {
        pub name: String,
        pub uuid: Uuid,
    }
}

xdr_struct! {
    /// `remote_nonnull_storage_pool`.
    pub struct NonnullStoragePool {
        pub name: String,
        pub uuid: Uuid,
    }
}

xdr_struct! {
    /// `remote_nonnull_storage_vol`: a volume is named by its pool's name, its
    /// own name and its key (for file volumes, the path).
    pub struct NonnullStorageVol {
        pub pool: String,
        pub name: String,
        pub key: String,
    }
}

xdr_struct! {
    /// `remote_nonnull_domain_snapshot`.
    pub struct NonnullDomainSnapshot {
        pub name: String,
        pub dom: NonnullDomain,
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
