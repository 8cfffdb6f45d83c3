//! my-driver: a wirt hypervisor driver. Every call but `open`, node info
//! and capabilities answers "not supported" until you implement it; see
//! docs/writing-a-driver.md and plugins/examples/minimal-driver for a
//! complete one.

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        world: "hypervisor-driver",
        path: "wit",
    });

    use super::MyDriver;
    export!(MyDriver with_types_in self);
}

use bindings::exports::wirt::driver::hypervisor::Guest;
use bindings::wirt::driver::host;
use bindings::wirt::driver::types::{
    Capabilities, DomainConfig, DomainStatus, Error, GuestCapability, HypervisorInfo, NodeInfo,
};

/// libvirt's VIR_ERR_NO_SUPPORT.
const NO_SUPPORT: u32 = 3;

fn not_yet(call: &str) -> Error {
    Error {
        code: NO_SUPPORT,
        message: format!("my-driver does not implement {call} yet"),
    }
}

struct MyDriver;

impl Guest for MyDriver {
    fn open(uri: String, _flags: u32) -> Result<HypervisorInfo, Error> {
        host::log(3, &format!("my-driver serving {uri}"));
        Ok(HypervisorInfo {
            type_name: "MYDRV".into(),
            version: 1_000,
            hostname: String::new(),
            max_vcpus: 8,
        })
    }

    fn get_node_info() -> Result<NodeInfo, Error> {
        Ok(NodeInfo {
            cpu_model: "unknown".into(),
            memory_kib: 1 << 20,
            cpus: 1,
            mhz: 1000,
            numa_nodes: 1,
            sockets: 1,
            cores: 1,
            threads: 1,
        })
    }

    fn get_capabilities() -> Result<Capabilities, Error> {
        Ok(Capabilities {
            host_arch: "x86_64".into(),
            host_features: Vec::new(),
            page_sizes_kib: vec![4],
            secmodel: None,
            guests: vec![GuestCapability {
                os_type: "hvm".into(),
                arch: "x86_64".into(),
                wordsize: 64,
                emulator: None,
                domain_types: vec!["mydrv".into()],
                features: Vec::new(),
            }],
        })
    }

    fn domain_start(_config: DomainConfig, _flags: u32) -> Result<DomainStatus, Error> {
        Err(not_yet("domain-start"))
    }

    fn domain_adopt(_config: DomainConfig, _status: DomainStatus) -> Result<(), Error> {
        Err(not_yet("domain-adopt"))
    }

    fn get_domain_status(_uuid: String) -> Result<DomainStatus, Error> {
        Err(not_yet("get-domain-status"))
    }

    fn domain_shutdown(_uuid: String, _flags: u32) -> Result<DomainStatus, Error> {
        Err(not_yet("domain-shutdown"))
    }

    fn domain_reboot(_uuid: String, _flags: u32) -> Result<DomainStatus, Error> {
        Err(not_yet("domain-reboot"))
    }

    fn domain_reset(_uuid: String, _flags: u32) -> Result<DomainStatus, Error> {
        Err(not_yet("domain-reset"))
    }

    fn domain_destroy(_uuid: String, _flags: u32) -> Result<DomainStatus, Error> {
        Err(not_yet("domain-destroy"))
    }

    fn domain_suspend(_uuid: String) -> Result<DomainStatus, Error> {
        Err(not_yet("domain-suspend"))
    }

    fn domain_resume(_uuid: String) -> Result<DomainStatus, Error> {
        Err(not_yet("domain-resume"))
    }

    fn domain_set_memory(_uuid: String, _memory_kib: u64) -> Result<DomainStatus, Error> {
        Err(not_yet("domain-set-memory"))
    }

    fn domain_set_vcpus(_uuid: String, _vcpus: u32) -> Result<DomainStatus, Error> {
        Err(not_yet("domain-set-vcpus"))
    }

    fn domain_save(_uuid: String, _flags: u32) -> Result<u64, Error> {
        Err(not_yet("domain-save"))
    }

    fn domain_save_read(_uuid: String, _offset: u64, _max_len: u32) -> Result<Vec<u8>, Error> {
        Err(not_yet("domain-save-read"))
    }

    fn domain_save_release(_uuid: String) {}

    fn domain_restore_begin(_config: DomainConfig, _size: u64) -> Result<(), Error> {
        Err(not_yet("domain-restore-begin"))
    }

    fn domain_restore_write(_uuid: String, _offset: u64, _data: Vec<u8>) -> Result<(), Error> {
        Err(not_yet("domain-restore-write"))
    }

    fn domain_restore_finish(_uuid: String, _flags: u32) -> Result<DomainStatus, Error> {
        Err(not_yet("domain-restore-finish"))
    }

    fn domain_snapshot_create(_uuid: String, _snapshot: String, _flags: u32) -> Result<(), Error> {
        Err(not_yet("domain-snapshot-create"))
    }

    fn domain_snapshot_revert(
        _config: DomainConfig,
        _snapshot: String,
        _state: u32,
        _flags: u32,
    ) -> Result<DomainStatus, Error> {
        Err(not_yet("domain-snapshot-revert"))
    }

    fn domain_snapshot_delete(_uuid: String, _snapshot: String, _flags: u32) -> Result<(), Error> {
        Err(not_yet("domain-snapshot-delete"))
    }
}
