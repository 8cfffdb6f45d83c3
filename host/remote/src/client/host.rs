//! Connection-level facts of a remote connection. The public API returns
//! these without a `Result`, so a failed call yields an empty value, as
//! virsh prints what it can.

use std::path::Path;

use wirt::connect::{DomainBackend, DomainRef, HostBackend, Result};
use wirt::driver::{Capabilities, GuestCapability, NodeInfo};
use wirt::error::ErrorCode;
use wirt::events::EventStream;
use wirt::xml::Element;

use super::RemoteConn;
use super::domain::path_string;
use crate::protocol::*;

impl HostBackend for RemoteConn {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn events(&self) -> EventStream {
        self.subscribe()
    }

    fn type_name(&self) -> &str {
        self.cache.type_name.get_or_init(|| {
            self.call::<_, ConnectGetTypeRet>(REMOTE_PROC_CONNECT_GET_TYPE, &())
                .map(|r| r.r#type)
                .unwrap_or_default()
        })
    }

    fn version(&self) -> u64 {
        self.call::<_, ConnectGetVersionRet>(REMOTE_PROC_CONNECT_GET_VERSION, &())
            .map_or(0, |r| r.hv_ver)
    }

    fn lib_version(&self) -> u64 {
        self.call::<_, ConnectGetLibVersionRet>(REMOTE_PROC_CONNECT_GET_LIB_VERSION, &())
            .map_or(0, |r| r.lib_ver)
    }

    fn domain_capabilities(
        &self,
        q: &wirt::connect::DomcapsQuery<'_>,
        flags: u32,
    ) -> Result<String> {
        let args = ConnectGetDomainCapabilitiesArgs {
            emulatorbin: q.emulator.map(String::from),
            arch: q.arch.map(String::from),
            machine: q.machine.map(String::from),
            virttype: q.virttype.map(String::from),
            flags,
        };
        let ret: ConnectGetDomainCapabilitiesRet =
            self.call(REMOTE_PROC_CONNECT_GET_DOMAIN_CAPABILITIES, &args)?;
        Ok(ret.capabilities)
    }

    /// Autostart is the daemon's own business, at its start.
    fn run_autostart(&self) -> Result<wirt::connect::Autostarted> {
        Err(wirt::connect::Error::api(
            ErrorCode::NO_SUPPORT,
            "autostart runs in the daemon when it starts",
        ))
    }

    fn hostname(&self) -> String {
        self.call::<_, ConnectGetHostnameRet>(REMOTE_PROC_CONNECT_GET_HOSTNAME, &())
            .map(|r| r.hostname)
            .unwrap_or_default()
    }

    fn max_vcpus(&self) -> u32 {
        let args = ConnectGetMaxVcpusArgs { r#type: None };
        self.call::<_, ConnectGetMaxVcpusRet>(REMOTE_PROC_CONNECT_GET_MAX_VCPUS, &args)
            .map_or(0, |r| u32::try_from(r.max_vcpus).unwrap_or(0))
    }

    fn node_info(&self) -> NodeInfo {
        match self.call::<_, NodeGetInfoRet>(REMOTE_PROC_NODE_GET_INFO, &()) {
            Ok(r) => NodeInfo {
                cpu_model: r.model_str(),
                memory_kib: r.memory,
                cpus: r.cpus as u32,
                mhz: r.mhz as u32,
                numa_nodes: r.nodes as u32,
                sockets: r.sockets as u32,
                cores: r.cores as u32,
                threads: r.threads as u32,
            },
            Err(_) => NodeInfo {
                cpu_model: String::new(),
                memory_kib: 0,
                cpus: 0,
                mhz: 0,
                numa_nodes: 0,
                sockets: 0,
                cores: 0,
                threads: 0,
            },
        }
    }

    fn capabilities_xml(&self) -> String {
        self.call::<_, ConnectGetCapabilitiesRet>(REMOTE_PROC_CONNECT_GET_CAPABILITIES, &())
            .map(|r| r.capabilities)
            .unwrap_or_default()
    }

    /// The capabilities document read back into the driver's record.
    fn capabilities(&self) -> &Capabilities {
        self.cache
            .capabilities
            .get_or_init(|| parse_capabilities(&self.capabilities_xml()))
    }

    fn save_image_xml(&self, path: &Path) -> Result<String> {
        let args = DomainSaveImageGetXmlDescArgs {
            file: path_string(path)?,
            flags: 0,
        };
        let ret: DomainSaveImageGetXmlDescRet =
            self.call(REMOTE_PROC_DOMAIN_SAVE_IMAGE_GET_XML_DESC, &args)?;
        Ok(ret.xml)
    }

    /// Restores, then finds the domain by the UUID its image records
    /// (libvirt's restore answers with nothing).
    fn restore(&self, path: &Path, flags: u32) -> Result<DomainRef> {
        let xml = self.save_image_xml(path)?;
        let from = path_string(path)?;
        if flags == 0 {
            self.call::<_, ()>(REMOTE_PROC_DOMAIN_RESTORE, &DomainRestoreArgs { from })?;
        } else {
            let args = DomainRestoreFlagsArgs {
                from,
                dxml: None,
                flags,
            };
            self.call::<_, ()>(REMOTE_PROC_DOMAIN_RESTORE_FLAGS, &args)?;
        }
        let root = Element::parse(&xml, "domain")?;
        match root
            .child_text("uuid")
            .and_then(|u| wirt::xml::domain::parse_uuid(&u).ok())
        {
            Some(uuid) => self.lookup_domain_by_uuid(&uuid),
            None => self.lookup_domain_by_name(&root.child_text("name").unwrap_or_default()),
        }
    }
}

/// Reads what the API exposes of a `<capabilities>` document; anything
/// missing stays empty.
pub(crate) fn parse_capabilities(xml: &str) -> Capabilities {
    let mut caps = Capabilities {
        host_arch: String::new(),
        host_features: Vec::new(),
        page_sizes_kib: Vec::new(),
        secmodel: None,
        guests: Vec::new(),
    };
    let Ok(root) = Element::parse(xml, "capabilities") else {
        return caps;
    };
    if let Some(host) = root.child("host") {
        if let Some(cpu) = host.child("cpu") {
            caps.host_arch = cpu.child_text("arch").unwrap_or_default();
            caps.host_features = cpu
                .child("features")
                .map(|f| f.elements().map(|e| e.name.clone()).collect())
                .unwrap_or_default();
            caps.page_sizes_kib = cpu
                .children_named("pages")
                .filter_map(|p| p.attr("size")?.parse().ok())
                .collect();
        }
        caps.secmodel = host
            .child("secmodel")
            .and_then(|s| s.child_text("model"))
            .filter(|m| !m.is_empty() && m != "none");
    }
    caps.guests = root
        .children_named("guest")
        .map(|g| {
            let arch = g.child("arch");
            GuestCapability {
                os_type: g.child_text("os_type").unwrap_or_default(),
                arch: arch
                    .and_then(|a| a.attr("name"))
                    .unwrap_or_default()
                    .to_string(),
                wordsize: arch
                    .and_then(|a| a.child_text("wordsize"))
                    .and_then(|w| w.parse().ok())
                    .unwrap_or(0),
                emulator: arch.and_then(|a| a.child_text("emulator")),
                domain_types: arch
                    .map(|a| {
                        a.children_named("domain")
                            .filter_map(|d| d.attr("type").map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                features: g
                    .child("features")
                    .map(|f| f.elements().map(|e| e.name.clone()).collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    caps
}
