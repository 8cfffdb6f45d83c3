//! `virConnectGetDomainCapabilities` for the KVM host: what a domain on
//! wirt-vmm can have, in libvirt's `domainCapabilities` format, so a tool
//! such as virt-install picks what wirt runs (virtio disks, no graphics, no
//! firmware) instead of guessing. What is listed unsupported here is also
//! refused at start.

use std::fmt::Write as _;

use super::Local;
use crate::connect::{DomcapsQuery, Error, Result, check_flags};
use crate::error::ErrorCode;

impl Local {
    pub(crate) fn domain_capabilities(&self, q: &DomcapsQuery<'_>, flags: u32) -> Result<String> {
        check_flags(flags, 0, "virConnectGetDomainCapabilities")?;
        let caps = &self.state.capabilities;
        // Only the KVM host describes itself: libvirt's test driver has no
        // domain capabilities either.
        let Some(guest) = caps
            .guests
            .iter()
            .find(|g| g.domain_types.iter().any(|t| t == "kvm"))
        else {
            return Err(Error::api(
                ErrorCode::NO_SUPPORT,
                "virConnectGetDomainCapabilities",
            ));
        };
        let emulator = guest.emulator.clone().unwrap_or_default();
        if let Some(arch) = q.arch.filter(|a| *a != guest.arch) {
            return Err(Error::api(
                ErrorCode::CONFIG_UNSUPPORTED,
                format!("Emulator '{emulator}' does not support arch '{arch}'"),
            ));
        }
        if let Some(vt) = q.virttype.filter(|v| *v != "kvm") {
            return Err(Error::api(
                ErrorCode::CONFIG_UNSUPPORTED,
                format!("unknown virttype: {vt}"),
            ));
        }
        if let Some(path) = q.emulator.filter(|e| *e != emulator) {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!("emulator '{path}' is not '{emulator}'"),
            ));
        }
        if let Some(m) = q.machine.filter(|m| *m != MACHINE) {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!("the machine '{m}' is not supported by emulator '{emulator}'"),
            ));
        }
        Ok(format(&emulator, &guest.arch, self.state.info.max_vcpus))
    }
}

/// wirt-vmm's one machine type.
const MACHINE: &str = "wirt";

fn supported(yes: bool) -> &'static str {
    if yes { "yes" } else { "no" }
}

fn format(emulator: &str, arch: &str, max_vcpus: u32) -> String {
    let mut s = String::from("<domainCapabilities>\n");
    let esc = crate::xml::tree::escape_text;
    let _ = writeln!(s, "  <path>{}</path>", esc(emulator));
    s.push_str("  <domain>kvm</domain>\n");
    let _ = writeln!(s, "  <machine>{MACHINE}</machine>");
    let _ = writeln!(s, "  <arch>{}</arch>", esc(arch));
    let _ = writeln!(s, "  <vcpu max='{max_vcpus}'/>");
    s.push_str("  <iothreads supported='no'/>\n");
    // Direct kernel boot only: no firmware, so no loader and no UEFI.
    s.push_str("  <os supported='yes'>\n    <enum name='firmware'/>\n");
    s.push_str("    <loader supported='no'/>\n  </os>\n");
    s.push_str("  <cpu>\n");
    s.push_str("    <mode name='host-passthrough' supported='yes'>\n");
    s.push_str("      <enum name='hostPassthroughMigratable'>\n        <value>off</value>\n      </enum>\n    </mode>\n");
    for mode in ["maximum", "host-model", "custom"] {
        let _ = writeln!(s, "    <mode name='{mode}' supported='no'/>");
    }
    s.push_str("  </cpu>\n");
    s.push_str("  <memoryBacking supported='yes'>\n    <enum name='sourceType'>\n      <value>anonymous</value>\n    </enum>\n  </memoryBacking>\n");
    s.push_str("  <devices>\n");
    s.push_str("    <disk supported='yes'>\n");
    for (name, values) in [
        ("diskDevice", &["disk"][..]),
        ("bus", &["virtio"][..]),
        ("model", &[][..]),
    ] {
        enum_values(&mut s, name, values);
    }
    s.push_str("    </disk>\n");
    for (dev, yes) in [
        ("graphics", false),
        ("video", false),
        ("hostdev", false),
        ("rng", false),
        ("filesystem", false),
        ("tpm", false),
        ("redirdev", false),
        ("channel", false),
    ] {
        let _ = writeln!(s, "    <{dev} supported='{}'/>", supported(yes));
    }
    s.push_str("  </devices>\n  <features>\n");
    for (feature, yes) in [
        ("gic", false),
        ("vmcoreinfo", false),
        ("genid", false),
        ("backingStoreInput", true),
        ("backup", false),
        ("sev", false),
    ] {
        let _ = writeln!(s, "    <{feature} supported='{}'/>", supported(yes));
    }
    s.push_str("  </features>\n</domainCapabilities>\n");
    s
}

fn enum_values(s: &mut String, name: &str, values: &[&str]) {
    if values.is_empty() {
        let _ = writeln!(s, "      <enum name='{name}'/>");
        return;
    }
    let _ = writeln!(s, "      <enum name='{name}'>");
    for v in values {
        let _ = writeln!(s, "        <value>{v}</value>");
    }
    s.push_str("      </enum>\n");
}

#[cfg(test)]
mod tests {
    #[test]
    fn kvm_domain_capabilities_say_virtio_and_no_firmware() {
        let xml = super::format("/usr/bin/wirt-vmm", "x86_64", 255);
        assert!(xml.contains("<value>virtio</value>"));
        assert!(xml.contains("<loader supported='no'/>"));
        assert!(xml.contains("<graphics supported='no'/>"));
        crate::xml::Element::parse(&xml, "domcaps").expect("well-formed");
    }
}
