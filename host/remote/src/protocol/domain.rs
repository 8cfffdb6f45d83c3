//! Domain procedures: lookup, define/create/undefine, lifecycle, state and
//! info, XML, autostart, save/restore, memory and vCPUs. Many libvirt `_args`
//! and `_ret` structs share one shape; those are type aliases of the shape.

use super::types::{
    NonnullDomain, REMOTE_SECURITY_LABEL_LIST_MAX, REMOTE_SECURITY_LABEL_MAX, Uuid,
};
use crate::xdr::xdr_struct;

xdr_struct! {
    /// `{ remote_nonnull_domain dom; }`: the arguments of most domain calls.
    pub struct DomainArgs {
        pub dom: NonnullDomain,
    }
}

xdr_struct! {
    /// `{ remote_nonnull_domain dom; unsigned int flags; }`.
    pub struct DomainFlagsArgs {
        pub dom: NonnullDomain,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `{ remote_nonnull_domain dom; }` as a reply: lookups, define, create.
    pub struct DomainRet {
        pub dom: NonnullDomain,
    }
}

xdr_struct! {
    /// `{ remote_nonnull_string xml; }`: every `*_get_xml_desc_ret`.
    pub struct XmlRet {
        pub xml: String,
    }
}

xdr_struct! {
    /// `remote_domain_lookup_by_id_args`.
    pub struct DomainLookupByIdArgs {
        pub id: i32,
    }
}

xdr_struct! {
    /// `remote_domain_lookup_by_name_args`.
    pub struct DomainLookupByNameArgs {
        pub name: String,
    }
}

xdr_struct! {
    /// `remote_domain_lookup_by_uuid_args`.
    pub struct DomainLookupByUuidArgs {
        pub uuid: Uuid,
    }
}

xdr_struct! {
    /// `remote_domain_create_xml_args`.
    pub struct DomainCreateXmlArgs {
        pub xml_desc: String,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_domain_define_xml_args`.
    pub struct DomainDefineXmlArgs {
        pub xml: String,
    }
}

xdr_struct! {
    /// `remote_domain_define_xml_flags_args`.
    pub struct DomainDefineXmlFlagsArgs {
        pub xml: String,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_domain_get_state_ret`: `virDomainState` and its reason.
    pub struct DomainGetStateRet {
        pub state: i32,
        pub reason: i32,
    }
}

xdr_struct! {
    /// `remote_domain_get_info_ret`. `state` is an `unsigned char` and
    /// `nr_virt_cpu` an `unsigned short`, both sent as 4 bytes; memory in KiB,
    /// CPU time in nanoseconds.
    pub struct DomainGetInfoRet {
        pub state: u8,
        pub max_mem: u64,
        pub memory: u64,
        pub nr_virt_cpu: u16,
        pub cpu_time: u64,
    }
}

xdr_struct! {
    /// `{ int autostart; }`: `remote_{domain,network,storage_pool}_get_autostart_ret`.
    pub struct AutostartRet {
        pub autostart: i32,
    }
}

xdr_struct! {
    /// `remote_domain_set_autostart_args`.
    pub struct DomainSetAutostartArgs {
        pub dom: NonnullDomain,
        pub autostart: i32,
    }
}

xdr_struct! {
    /// `{ int active; }`: `remote_{domain,network,storage_pool}_is_active_ret`.
    pub struct IsActiveRet {
        pub active: i32,
    }
}

xdr_struct! {
    /// `{ int persistent; }`: `remote_*_is_persistent_ret`.
    pub struct IsPersistentRet {
        pub persistent: i32,
    }
}

xdr_struct! {
    /// `remote_domain_is_updated_ret`.
    pub struct DomainIsUpdatedRet {
        pub updated: i32,
    }
}

xdr_struct! {
    /// `{ int result; }`: `remote_domain_has_managed_save_image_ret` and
    /// `remote_domain_has_current_snapshot_ret`.
    pub struct ResultRet {
        pub result: i32,
    }
}

xdr_struct! {
    /// `remote_domain_save_args`.
    pub struct DomainSaveArgs {
        pub dom: NonnullDomain,
        pub to: String,
    }
}

xdr_struct! {
    /// `remote_domain_save_flags_args`. `dxml` optionally replaces the saved XML.
    pub struct DomainSaveFlagsArgs {
        pub dom: NonnullDomain,
        pub to: String,
        pub dxml: Option<String>,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_domain_restore_args`.
    pub struct DomainRestoreArgs {
        pub from: String,
    }
}

xdr_struct! {
    /// `remote_domain_restore_flags_args`.
    pub struct DomainRestoreFlagsArgs {
        pub from: String,
        pub dxml: Option<String>,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_domain_save_image_get_xml_desc_args`.
    pub struct DomainSaveImageGetXmlDescArgs {
        pub file: String,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_domain_save_image_define_xml_args`.
    pub struct DomainSaveImageDefineXmlArgs {
        pub file: String,
        pub dxml: String,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `{ dom; unsigned hyper memory; }`: `remote_domain_set_memory_args` and
    /// `remote_domain_set_max_memory_args` (KiB).
    pub struct DomainSetMemoryArgs {
        pub dom: NonnullDomain,
        pub memory: u64,
    }
}

xdr_struct! {
    /// `remote_domain_set_memory_flags_args`.
    pub struct DomainSetMemoryFlagsArgs {
        pub dom: NonnullDomain,
        pub memory: u64,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_domain_get_max_memory_ret` (KiB).
    pub struct DomainGetMaxMemoryRet {
        pub memory: u64,
    }
}

xdr_struct! {
    /// `remote_domain_set_vcpus_args`.
    pub struct DomainSetVcpusArgs {
        pub dom: NonnullDomain,
        pub nvcpus: u32,
    }
}

xdr_struct! {
    /// `remote_domain_set_vcpus_flags_args`.
    pub struct DomainSetVcpusFlagsArgs {
        pub dom: NonnullDomain,
        pub nvcpus: u32,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_domain_rename_args`. `new_name` is optional on the wire.
    pub struct DomainRenameArgs {
        pub dom: NonnullDomain,
        pub new_name: Option<String>,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_domain_rename_ret`.
    pub struct DomainRenameRet {
        pub retcode: i32,
    }
}

xdr_struct! {
    /// `remote_domain_get_os_type_ret` (e.g. "hvm").
    pub struct DomainGetOsTypeRet {
        pub r#type: String,
    }
}

xdr_struct! {
    /// `remote_domain_get_security_label_ret`: `label` is a NUL-terminated
    /// C string sent as a `char` array; empty when unconfined.
    pub struct DomainGetSecurityLabelRet {
        pub label: Vec<i8> => array(REMOTE_SECURITY_LABEL_MAX),
        pub enforcing: i32,
    }
}

xdr_struct! {
    /// `remote_domain_get_security_label_list_ret`.
    pub struct DomainGetSecurityLabelListRet {
        pub labels: Vec<DomainGetSecurityLabelRet> => array(REMOTE_SECURITY_LABEL_LIST_MAX),
        pub ret: i32,
    }
}

/// `remote_domain_lookup_by_id_ret`.
pub type DomainLookupByIdRet = DomainRet;
/// `remote_domain_lookup_by_name_ret`.
pub type DomainLookupByNameRet = DomainRet;
/// `remote_domain_lookup_by_uuid_ret`.
pub type DomainLookupByUuidRet = DomainRet;
/// `remote_domain_create_xml_ret`.
pub type DomainCreateXmlRet = DomainRet;
/// `remote_domain_define_xml_ret`.
pub type DomainDefineXmlRet = DomainRet;
/// `remote_domain_define_xml_flags_ret`.
pub type DomainDefineXmlFlagsRet = DomainRet;
/// `remote_domain_create_args`.
pub type DomainCreateArgs = DomainArgs;
/// `remote_domain_create_with_flags_args`.
pub type DomainCreateWithFlagsArgs = DomainFlagsArgs;
/// `remote_domain_create_with_flags_ret`: the domain with its new id.
pub type DomainCreateWithFlagsRet = DomainRet;
/// `remote_domain_undefine_args`.
pub type DomainUndefineArgs = DomainArgs;
/// `remote_domain_undefine_flags_args`.
pub type DomainUndefineFlagsArgs = DomainFlagsArgs;
/// `remote_domain_shutdown_args`.
pub type DomainShutdownArgs = DomainArgs;
/// `remote_domain_shutdown_flags_args`.
pub type DomainShutdownFlagsArgs = DomainFlagsArgs;
/// `remote_domain_reboot_args`.
pub type DomainRebootArgs = DomainFlagsArgs;
/// `remote_domain_reset_args`.
pub type DomainResetArgs = DomainFlagsArgs;
/// `remote_domain_destroy_args`.
pub type DomainDestroyArgs = DomainArgs;
/// `remote_domain_destroy_flags_args`.
pub type DomainDestroyFlagsArgs = DomainFlagsArgs;
/// `remote_domain_suspend_args`.
pub type DomainSuspendArgs = DomainArgs;
/// `remote_domain_resume_args`.
pub type DomainResumeArgs = DomainArgs;
/// `remote_domain_get_state_args`.
pub type DomainGetStateArgs = DomainFlagsArgs;
/// `remote_domain_get_info_args`.
pub type DomainGetInfoArgs = DomainArgs;
/// `remote_domain_get_xml_desc_args`.
pub type DomainGetXmlDescArgs = DomainFlagsArgs;
/// `remote_domain_get_xml_desc_ret`.
pub type DomainGetXmlDescRet = XmlRet;
/// `remote_domain_get_autostart_args`.
pub type DomainGetAutostartArgs = DomainArgs;
/// `remote_domain_get_autostart_ret`.
pub type DomainGetAutostartRet = AutostartRet;
/// `remote_domain_is_active_args`.
pub type DomainIsActiveArgs = DomainArgs;
/// `remote_domain_is_active_ret`.
pub type DomainIsActiveRet = IsActiveRet;
/// `remote_domain_is_persistent_args`.
pub type DomainIsPersistentArgs = DomainArgs;
/// `remote_domain_is_persistent_ret`.
pub type DomainIsPersistentRet = IsPersistentRet;
/// `remote_domain_is_updated_args`.
pub type DomainIsUpdatedArgs = DomainArgs;
/// `remote_domain_managed_save_args`.
pub type DomainManagedSaveArgs = DomainFlagsArgs;
/// `remote_domain_has_managed_save_image_args`.
pub type DomainHasManagedSaveImageArgs = DomainFlagsArgs;
/// `remote_domain_has_managed_save_image_ret`.
pub type DomainHasManagedSaveImageRet = ResultRet;
/// `remote_domain_managed_save_remove_args`.
pub type DomainManagedSaveRemoveArgs = DomainFlagsArgs;
/// `remote_domain_save_image_get_xml_desc_ret`.
pub type DomainSaveImageGetXmlDescRet = XmlRet;
/// `remote_domain_set_max_memory_args`.
pub type DomainSetMaxMemoryArgs = DomainSetMemoryArgs;
/// `remote_domain_get_max_memory_args`.
pub type DomainGetMaxMemoryArgs = DomainArgs;
/// `remote_domain_get_vcpus_flags_args`.
pub type DomainGetVcpusFlagsArgs = DomainFlagsArgs;
/// `remote_domain_get_vcpus_flags_ret`.
pub type DomainGetVcpusFlagsRet = super::connect::NumRet;
/// `remote_domain_get_max_vcpus_args`.
pub type DomainGetMaxVcpusArgs = DomainArgs;
/// `remote_domain_get_max_vcpus_ret`.
pub type DomainGetMaxVcpusRet = super::connect::NumRet;
/// `remote_domain_get_os_type_args`.
pub type DomainGetOsTypeArgs = DomainArgs;
/// `remote_domain_get_security_label_args`.
pub type DomainGetSecurityLabelArgs = DomainArgs;
/// `remote_domain_get_security_label_list_args`.
pub type DomainGetSecurityLabelListArgs = DomainArgs;
