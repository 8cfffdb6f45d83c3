//! Domain snapshot procedures.

use super::types::{NonnullDomain, NonnullDomainSnapshot, REMOTE_DOMAIN_SNAPSHOT_LIST_MAX};
use crate::xdr::xdr_struct;

xdr_struct! {
    /// `remote_domain_snapshot_create_xml_args`.
    pub struct DomainSnapshotCreateXmlArgs {
        pub dom: NonnullDomain,
        pub xml_desc: String,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `{ remote_nonnull_domain_snapshot snap; unsigned int flags; }`.
    pub struct SnapshotFlagsArgs {
        pub snap: NonnullDomainSnapshot,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `{ remote_nonnull_domain_snapshot snap; }` as a reply.
    pub struct SnapshotRet {
        pub snap: NonnullDomainSnapshot,
    }
}

xdr_struct! {
    /// `remote_domain_snapshot_list_names_args`.
    pub struct DomainSnapshotListNamesArgs {
        pub dom: NonnullDomain,
        pub maxnames: i32,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_domain_snapshot_list_children_names_args`.
    pub struct DomainSnapshotListChildrenNamesArgs {
        pub snap: NonnullDomainSnapshot,
        pub maxnames: i32,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_domain_snapshot_list_names_ret` and `..._list_children_names_ret`.
    pub struct SnapshotNamesRet {
        pub names: Vec<String> => array(REMOTE_DOMAIN_SNAPSHOT_LIST_MAX),
    }
}

xdr_struct! {
    /// `remote_domain_snapshot_lookup_by_name_args`.
    pub struct DomainSnapshotLookupByNameArgs {
        pub dom: NonnullDomain,
        pub name: String,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_domain_list_all_snapshots_args`.
    pub struct DomainListAllSnapshotsArgs {
        pub dom: NonnullDomain,
        pub need_results: i32,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_domain_snapshot_list_all_children_args`.
    pub struct DomainSnapshotListAllChildrenArgs {
        pub snapshot: NonnullDomainSnapshot,
        pub need_results: i32,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_domain_list_all_snapshots_ret` and
    /// `remote_domain_snapshot_list_all_children_ret` (`ret` is a signed count).
    pub struct SnapshotListRet {
        pub snapshots: Vec<NonnullDomainSnapshot> => array(REMOTE_DOMAIN_SNAPSHOT_LIST_MAX),
        pub ret: i32,
    }
}

xdr_struct! {
    /// `remote_domain_snapshot_is_current_ret`.
    pub struct DomainSnapshotIsCurrentRet {
        pub current: i32,
    }
}

xdr_struct! {
    /// `remote_domain_snapshot_has_metadata_ret`.
    pub struct DomainSnapshotHasMetadataRet {
        pub metadata: i32,
    }
}

/// `remote_domain_snapshot_create_xml_ret`.
pub type DomainSnapshotCreateXmlRet = SnapshotRet;
/// `remote_domain_snapshot_get_xml_desc_args`.
pub type DomainSnapshotGetXmlDescArgs = SnapshotFlagsArgs;
/// `remote_domain_snapshot_get_xml_desc_ret`.
pub type DomainSnapshotGetXmlDescRet = super::domain::XmlRet;
/// `remote_domain_snapshot_num_args`.
pub type DomainSnapshotNumArgs = super::domain::DomainFlagsArgs;
/// `remote_domain_snapshot_num_ret`.
pub type DomainSnapshotNumRet = super::connect::NumRet;
/// `remote_domain_snapshot_lookup_by_name_ret`.
pub type DomainSnapshotLookupByNameRet = SnapshotRet;
/// `remote_domain_has_current_snapshot_args`.
pub type DomainHasCurrentSnapshotArgs = super::domain::DomainFlagsArgs;
/// `remote_domain_has_current_snapshot_ret`.
pub type DomainHasCurrentSnapshotRet = super::domain::ResultRet;
/// `remote_domain_snapshot_current_args`.
pub type DomainSnapshotCurrentArgs = super::domain::DomainFlagsArgs;
/// `remote_domain_snapshot_current_ret`.
pub type DomainSnapshotCurrentRet = SnapshotRet;
/// `remote_domain_snapshot_get_parent_args`.
pub type DomainSnapshotGetParentArgs = SnapshotFlagsArgs;
/// `remote_domain_snapshot_get_parent_ret`.
pub type DomainSnapshotGetParentRet = SnapshotRet;
/// `remote_domain_revert_to_snapshot_args`.
pub type DomainRevertToSnapshotArgs = SnapshotFlagsArgs;
/// `remote_domain_snapshot_delete_args`.
pub type DomainSnapshotDeleteArgs = SnapshotFlagsArgs;
/// `remote_domain_snapshot_num_children_args`.
pub type DomainSnapshotNumChildrenArgs = SnapshotFlagsArgs;
/// `remote_domain_snapshot_is_current_args`.
pub type DomainSnapshotIsCurrentArgs = SnapshotFlagsArgs;
/// `remote_domain_snapshot_has_metadata_args`.
pub type DomainSnapshotHasMetadataArgs = SnapshotFlagsArgs;
/// `remote_domain_snapshot_list_names_ret`.
pub type DomainSnapshotListNamesRet = SnapshotNamesRet;
/// `remote_domain_list_all_snapshots_ret`.
pub type DomainListAllSnapshotsRet = SnapshotListRet;
