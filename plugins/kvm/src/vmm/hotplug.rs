//! Hotplug: disks and network cards plugged into, or pulled out of, a
//! running machine. The setup a reboot rebuilds from changes with them, so
//! a plugged device stays through reboots and an unplugged one does not
//! come back; a save or migration records the slots (see `machine`).

use std::os::fd::OwnedFd;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{Vmm, VmmError, build_nics, check_nics, state_name};
use crate::control::protocol::{DiskRef, NicRef};
use crate::machine::DiskSpec;

impl Vmm {
    fn machine_and_setup(&mut self) -> Result<(), VmmError> {
        if self.machine.is_none() || self.setup.is_none() {
            return Err(VmmError::InvalidState(state_name(self.state)));
        }
        Ok(())
    }

    pub(super) fn attach_disk(
        &mut self,
        d: &DiskRef,
        passed: &mut [Option<OwnedFd>],
    ) -> Result<Value, VmmError> {
        self.machine_and_setup()?;
        let index = self.setup.as_ref().map_or(0, |s| s.disks.len());
        let spec = DiskSpec {
            disk: Arc::new(self.open_disk(index, d, passed)?),
            id: d.serial.clone(),
        };
        let machine = self.machine.as_mut().expect("checked");
        let slot = machine.plug_disk(spec.clone())?;
        self.setup.as_mut().expect("checked").disks.push(spec);
        Ok(json!({ "index": index, "slot": slot }))
    }

    pub(super) fn detach_disk(&mut self, index: usize) -> Result<Value, VmmError> {
        self.machine_and_setup()?;
        // Indexes above it would move under the jobs.
        if self.mirrors.keys().any(|&i| i >= index) {
            return Err(VmmError::InvalidRequest(format!(
                "disk {index} (or one after it) has a block job running"
            )));
        }
        let setup = self.setup.as_mut().expect("checked");
        if index >= setup.disks.len() {
            return Err(VmmError::InvalidRequest(format!(
                "disk {index} is not served ({} disks)",
                setup.disks.len()
            )));
        }
        self.machine.as_mut().expect("checked").unplug_disk(index)?;
        let gone = setup.disks.remove(index);
        // What the guest wrote is on the image before the host is told the
        // disk is free.
        if let Err(e) = gone.disk.flush_metadata() {
            eprintln!("wirt-vmm: unplugged disk {index}: cannot write qcow2 metadata: {e:?}");
        }
        Ok(json!({}))
    }

    pub(super) fn attach_nic(
        &mut self,
        n: &NicRef,
        passed: &mut [Option<OwnedFd>],
    ) -> Result<Value, VmmError> {
        self.machine_and_setup()?;
        // The checks of a boot, before the descriptor is claimed.
        check_nics(std::slice::from_ref(n))?;
        let mac =
            crate::devices::virtio::net::parse_mac(&n.mac).map_err(VmmError::InvalidRequest)?;
        let setup = self.setup.as_ref().expect("checked");
        if setup.nics.iter().any(|s| s.config.mac == mac) {
            return Err(VmmError::InvalidRequest(format!(
                "MAC address {} is used twice",
                n.mac
            )));
        }
        let file = self.take_fd(n.fd, passed)?;
        let nic = build_nics(std::slice::from_ref(n), vec![file], &[])?
            .pop()
            .expect("one card built");
        let spec = nic.spec()?;
        let machine = self.machine.as_mut().expect("checked");
        let slot = machine.plug_nic(spec)?;
        let setup = self.setup.as_mut().expect("checked");
        setup.nics.push(nic);
        Ok(json!({ "index": setup.nics.len() - 1, "slot": slot }))
    }

    pub(super) fn detach_nic(&mut self, index: usize) -> Result<Value, VmmError> {
        self.machine_and_setup()?;
        let setup = self.setup.as_mut().expect("checked");
        if index >= setup.nics.len() {
            return Err(VmmError::InvalidRequest(format!(
                "network card {index} is not served ({} cards)",
                setup.nics.len()
            )));
        }
        self.machine.as_mut().expect("checked").unplug_nic(index)?;
        // Dropping the setup's copy closes the last descriptor of the tap.
        setup.nics.remove(index);
        Ok(json!({}))
    }
}
