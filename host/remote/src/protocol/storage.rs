//! Storage pool and volume procedures. Volume upload (208) and download (209)
//! are followed by stream packets; see `packet` for their framing.

use super::types::{
    NonnullStoragePool, NonnullStorageVol, REMOTE_STORAGE_POOL_LIST_MAX,
    REMOTE_STORAGE_VOL_LIST_MAX, Uuid,
};
use crate::xdr::xdr_struct;

xdr_struct! {
    /// `{ remote_nonnull_storage_pool pool; }`.
    pub struct StoragePoolArgs {
        pub pool: NonnullStoragePool,
    }
}

xdr_struct! {
    /// `{ remote_nonnull_storage_pool pool; unsigned int flags; }`.
    pub struct StoragePoolFlagsArgs {
        pub pool: NonnullStoragePool,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `{ remote_nonnull_storage_pool pool; }` as a reply.
    pub struct StoragePoolRet {
        pub pool: NonnullStoragePool,
    }
}

xdr_struct! {
    /// `remote_storage_pool_lookup_by_name_args`.
    pub struct StoragePoolLookupByNameArgs {
        pub name: String,
    }
}

xdr_struct! {
    /// `remote_storage_pool_lookup_by_uuid_args`.
    pub struct StoragePoolLookupByUuidArgs {
        pub uuid: Uuid,
    }
}

xdr_struct! {
    /// `remote_storage_pool_create_xml_args` and `..._define_xml_args`.
    pub struct StoragePoolXmlArgs {
        pub xml: String,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_storage_pool_get_info_ret`. `state` is an `unsigned char`
    /// (`virStoragePoolState`); sizes in bytes.
    pub struct StoragePoolGetInfoRet {
        pub state: u8,
        pub capacity: u64,
        pub allocation: u64,
        pub available: u64,
    }
}

xdr_struct! {
    /// `remote_storage_pool_set_autostart_args`.
    pub struct StoragePoolSetAutostartArgs {
        pub pool: NonnullStoragePool,
        pub autostart: i32,
    }
}

xdr_struct! {
    /// `remote_storage_pool_list_volumes_args`.
    pub struct StoragePoolListVolumesArgs {
        pub pool: NonnullStoragePool,
        pub maxnames: i32,
    }
}

xdr_struct! {
    /// `remote_storage_pool_list_volumes_ret`.
    pub struct StoragePoolListVolumesRet {
        pub names: Vec<String> => array(REMOTE_STORAGE_VOL_LIST_MAX),
    }
}

xdr_struct! {
    /// `remote_storage_pool_list_all_volumes_args`.
    pub struct StoragePoolListAllVolumesArgs {
        pub pool: NonnullStoragePool,
        pub need_results: i32,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_storage_pool_list_all_volumes_ret`.
    pub struct StoragePoolListAllVolumesRet {
        pub vols: Vec<NonnullStorageVol> => array(REMOTE_STORAGE_VOL_LIST_MAX),
        pub ret: u32,
    }
}

xdr_struct! {
    /// `remote_connect_list_all_storage_pools_args`.
    pub struct ConnectListAllStoragePoolsArgs {
        pub need_results: i32,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_connect_list_all_storage_pools_ret`.
    pub struct ConnectListAllStoragePoolsRet {
        pub pools: Vec<NonnullStoragePool> => array(REMOTE_STORAGE_POOL_LIST_MAX),
        pub ret: u32,
    }
}

xdr_struct! {
    /// `remote_connect_list_storage_pools_ret` and `..._list_defined_storage_pools_ret`.
    pub struct StoragePoolNamesRet {
        pub names: Vec<String> => array(REMOTE_STORAGE_POOL_LIST_MAX),
    }
}

xdr_struct! {
    /// `{ remote_nonnull_storage_vol vol; }`.
    pub struct StorageVolArgs {
        pub vol: NonnullStorageVol,
    }
}

xdr_struct! {
    /// `{ remote_nonnull_storage_vol vol; unsigned int flags; }`.
    pub struct StorageVolFlagsArgs {
        pub vol: NonnullStorageVol,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `{ remote_nonnull_storage_vol vol; }` as a reply.
    pub struct StorageVolRet {
        pub vol: NonnullStorageVol,
    }
}

xdr_struct! {
    /// `remote_storage_vol_lookup_by_name_args`.
    pub struct StorageVolLookupByNameArgs {
        pub pool: NonnullStoragePool,
        pub name: String,
    }
}

xdr_struct! {
    /// `remote_storage_vol_lookup_by_key_args`.
    pub struct StorageVolLookupByKeyArgs {
        pub key: String,
    }
}

xdr_struct! {
    /// `remote_storage_vol_lookup_by_path_args`.
    pub struct StorageVolLookupByPathArgs {
        pub path: String,
    }
}

xdr_struct! {
    /// `remote_storage_vol_create_xml_args`.
    pub struct StorageVolCreateXmlArgs {
        pub pool: NonnullStoragePool,
        pub xml: String,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_storage_vol_create_xml_from_args`: clone `clonevol` into `pool`.
    pub struct StorageVolCreateXmlFromArgs {
        pub pool: NonnullStoragePool,
        pub xml: String,
        pub clonevol: NonnullStorageVol,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_storage_vol_wipe_pattern_args`.
    pub struct StorageVolWipePatternArgs {
        pub vol: NonnullStorageVol,
        pub algorithm: u32,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_storage_vol_get_info_ret` and `..._get_info_flags_ret`.
    /// `type` is a C `char` (`virStorageVolType`); sizes in bytes.
    pub struct StorageVolGetInfoRet {
        pub r#type: i8,
        pub capacity: u64,
        pub allocation: u64,
    }
}

xdr_struct! {
    /// `remote_storage_vol_get_path_ret` (the field is called `name` in libvirt).
    pub struct StorageVolGetPathRet {
        pub name: String,
    }
}

xdr_struct! {
    /// `remote_storage_vol_resize_args`.
    pub struct StorageVolResizeArgs {
        pub vol: NonnullStorageVol,
        pub capacity: u64,
        pub flags: u32,
    }
}

xdr_struct! {
    /// `remote_storage_vol_upload_args` and `remote_storage_vol_download_args`:
    /// `length` 0 means "to the end".
    pub struct StorageVolTransferArgs {
        pub vol: NonnullStorageVol,
        pub offset: u64,
        pub length: u64,
        pub flags: u32,
    }
}

/// `remote_storage_pool_lookup_by_name_ret`.
pub type StoragePoolLookupByNameRet = StoragePoolRet;
/// `remote_storage_pool_lookup_by_uuid_ret`.
pub type StoragePoolLookupByUuidRet = StoragePoolRet;
/// `remote_storage_pool_lookup_by_volume_args`.
pub type StoragePoolLookupByVolumeArgs = StorageVolArgs;
/// `remote_storage_pool_lookup_by_volume_ret`.
pub type StoragePoolLookupByVolumeRet = StoragePoolRet;
/// `remote_storage_pool_create_xml_args`.
pub type StoragePoolCreateXmlArgs = StoragePoolXmlArgs;
/// `remote_storage_pool_create_xml_ret`.
pub type StoragePoolCreateXmlRet = StoragePoolRet;
/// `remote_storage_pool_define_xml_args`.
pub type StoragePoolDefineXmlArgs = StoragePoolXmlArgs;
/// `remote_storage_pool_define_xml_ret`.
pub type StoragePoolDefineXmlRet = StoragePoolRet;
/// `remote_storage_pool_build_args`.
pub type StoragePoolBuildArgs = StoragePoolFlagsArgs;
/// `remote_storage_pool_create_args`.
pub type StoragePoolCreateArgs = StoragePoolFlagsArgs;
/// `remote_storage_pool_destroy_args`.
pub type StoragePoolDestroyArgs = StoragePoolArgs;
/// `remote_storage_pool_delete_args`.
pub type StoragePoolDeleteArgs = StoragePoolFlagsArgs;
/// `remote_storage_pool_undefine_args`.
pub type StoragePoolUndefineArgs = StoragePoolArgs;
/// `remote_storage_pool_refresh_args`.
pub type StoragePoolRefreshArgs = StoragePoolFlagsArgs;
/// `remote_storage_pool_get_info_args`.
pub type StoragePoolGetInfoArgs = StoragePoolArgs;
/// `remote_storage_pool_get_xml_desc_args`.
pub type StoragePoolGetXmlDescArgs = StoragePoolFlagsArgs;
/// `remote_storage_pool_get_xml_desc_ret`.
pub type StoragePoolGetXmlDescRet = super::domain::XmlRet;
/// `remote_storage_pool_get_autostart_args`.
pub type StoragePoolGetAutostartArgs = StoragePoolArgs;
/// `remote_storage_pool_get_autostart_ret`.
pub type StoragePoolGetAutostartRet = super::domain::AutostartRet;
/// `remote_storage_pool_is_active_args`.
pub type StoragePoolIsActiveArgs = StoragePoolArgs;
/// `remote_storage_pool_is_persistent_args`.
pub type StoragePoolIsPersistentArgs = StoragePoolArgs;
/// `remote_storage_pool_num_of_volumes_args`.
pub type StoragePoolNumOfVolumesArgs = StoragePoolArgs;
/// `remote_storage_pool_num_of_volumes_ret`.
pub type StoragePoolNumOfVolumesRet = super::connect::NumRet;
/// `remote_storage_vol_lookup_by_name_ret` (and by key, by path).
pub type StorageVolLookupRet = StorageVolRet;
/// `remote_storage_vol_create_xml_ret` (and `..._create_xml_from_ret`).
pub type StorageVolCreateXmlRet = StorageVolRet;
/// `remote_storage_vol_delete_args`.
pub type StorageVolDeleteArgs = StorageVolFlagsArgs;
/// `remote_storage_vol_wipe_args`.
pub type StorageVolWipeArgs = StorageVolFlagsArgs;
/// `remote_storage_vol_get_info_args`.
pub type StorageVolGetInfoArgs = StorageVolArgs;
/// `remote_storage_vol_get_info_flags_args`.
pub type StorageVolGetInfoFlagsArgs = StorageVolFlagsArgs;
/// `remote_storage_vol_get_xml_desc_args`.
pub type StorageVolGetXmlDescArgs = StorageVolFlagsArgs;
/// `remote_storage_vol_get_xml_desc_ret`.
pub type StorageVolGetXmlDescRet = super::domain::XmlRet;
/// `remote_storage_vol_get_path_args`.
pub type StorageVolGetPathArgs = StorageVolArgs;
/// `remote_storage_vol_upload_args`.
pub type StorageVolUploadArgs = StorageVolTransferArgs;
/// `remote_storage_vol_download_args`.
pub type StorageVolDownloadArgs = StorageVolTransferArgs;
/// `remote_connect_list_storage_pools_args`.
pub type ConnectListStoragePoolsArgs = super::connect::MaxNamesArgs;
