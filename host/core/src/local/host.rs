//! Facts of the local host, and its events.

use std::path::Path;

use super::Local;
use crate::connect::{DomainRef, HostBackend, LIB_VERSION, Result, local_hostname};
use crate::driver::{Capabilities, NodeInfo};
use crate::events::EventStream;

impl HostBackend for Local {
    fn uri(&self) -> &str {
        &self.state.uri
    }

    fn type_name(&self) -> &str {
        &self.state.info.type_name
    }

    fn version(&self) -> u64 {
        self.state.info.version
    }

    fn lib_version(&self) -> u64 {
        LIB_VERSION
    }

    fn domain_capabilities(
        &self,
        query: &crate::connect::DomcapsQuery<'_>,
        flags: u32,
    ) -> Result<String> {
        Local::domain_capabilities(self, query, flags)
    }

    fn run_autostart(&self) -> Result<crate::connect::Autostarted> {
        Local::run_autostart(self)
    }

    fn hostname(&self) -> String {
        if self.state.info.hostname.is_empty() {
            local_hostname()
        } else {
            self.state.info.hostname.clone()
        }
    }

    fn max_vcpus(&self) -> u32 {
        self.state.info.max_vcpus
    }

    fn node_info(&self) -> NodeInfo {
        self.state.node.clone()
    }

    fn capabilities(&self) -> &Capabilities {
        &self.state.capabilities
    }

    fn capabilities_xml(&self) -> String {
        super::convert::capabilities_xml(&self.state.capabilities, &self.state.node)
    }

    fn events(&self) -> EventStream {
        let events = self.state.events.subscribe();
        // Every guest's events, including those of guests taken over
        // without watching them.
        self.state.drivers.hypervisor.watch_all();
        events
    }

    fn save_image_xml(&self, path: &Path) -> Result<String> {
        super::save_image::image_xml(path)
    }

    fn restore(&self, path: &Path, flags: u32) -> Result<DomainRef> {
        self.restore_image(path, flags)
    }
}
