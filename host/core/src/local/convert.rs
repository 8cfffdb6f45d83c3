//! Typed XML models to the driver contract's records, and the host-side
//! documents built from driver records (capabilities).

use std::fmt::Write as _;

use crate::driver::{
    Capabilities, DhcpHost, DiskConfig, DnsHost, DomainConfig, InterfaceConfig, IpConfig,
    NetworkConfig, NodeInfo, OsConfig, PoolConfig,
};
use crate::xml::tree::escape_text;
use crate::xml::{DomainDef, NetworkDef, PoolDef};

/// The config a driver needs to run `def`. `resolve_volume` turns a
/// `<disk type='volume'>`'s (pool, volume) into the volume's path.
pub fn domain_config(
    def: &DomainDef,
    id: Option<u32>,
    resolve_volume: &dyn Fn(&str, &str) -> Option<String>,
) -> DomainConfig {
    let disks = def
        .disks()
        .into_iter()
        .map(|d| {
            let source = match &d.volume {
                Some((pool, vol)) => resolve_volume(pool, vol).or(d.source.clone()),
                None => d.source.clone(),
            };
            DiskConfig {
                kind: d.kind,
                device: d.device,
                source,
                target_dev: d.target_dev.unwrap_or_default(),
                target_bus: d.target_bus,
                format: d.format,
                read_only: d.read_only,
                shareable: d.shareable,
            }
        })
        .collect();
    let interfaces = def
        .interfaces()
        .into_iter()
        .map(|i| InterfaceConfig {
            kind: i.kind,
            mac: i.mac,
            source: i.source,
            model: i.model,
            target_dev: i.target_dev,
        })
        .collect();
    let serial_ports =
        def.devices
            .iter()
            .filter(|d| d.name == "serial")
            .count()
            .max(def.devices.iter().filter(|d| d.name == "console").count()) as u32;
    DomainConfig {
        uuid: def.uuid.to_string(),
        name: def.name.clone(),
        id: id.map_or(-1, |i| i as i32),
        domain_type: def.domain_type.clone(),
        max_memory_kib: def.memory_kib,
        memory_kib: def.current_memory_kib,
        max_vcpus: def.vcpus,
        vcpus: def.boot_vcpus(),
        os: OsConfig {
            os_type: def.os.os_type.clone(),
            arch: def.os.arch.clone().unwrap_or_default(),
            machine: def.os.machine.clone(),
            loader: def.os.loader(),
            kernel: def.os.kernel.clone(),
            initrd: def.os.initrd.clone(),
            cmdline: def.os.cmdline.clone(),
            boot_devices: def.os.boot_devices.clone(),
        },
        on_poweroff: def.on_poweroff.clone(),
        on_reboot: def.on_reboot.clone(),
        on_crash: def.on_crash.clone(),
        features: def.features(),
        disks,
        interfaces,
        serial_ports,
    }
}

pub fn network_config(def: &NetworkDef) -> NetworkConfig {
    NetworkConfig {
        uuid: def.uuid.to_string(),
        name: def.name.clone(),
        forward_mode: def.forward_mode(),
        bridge: def.bridge(),
        mac: def.mac(),
        ips: def
            .ips()
            .into_iter()
            .map(|ip| IpConfig {
                address: ip.address,
                prefix: ip.prefix,
                family: ip.family,
                dhcp_ranges: ip.dhcp_ranges,
                dhcp_hosts: ip
                    .dhcp_hosts
                    .into_iter()
                    .map(|(mac, name, ip)| DhcpHost { mac, name, ip })
                    .collect(),
            })
            .collect(),
        mtu: def.mtu(),
        domain: def.domain_name(),
        dns_hosts: def
            .dns_hosts()
            .into_iter()
            .map(|(ip, hostnames)| DnsHost { ip, hostnames })
            .collect(),
    }
}

pub fn pool_config(def: &PoolDef) -> PoolConfig {
    let mode = def
        .target_extra
        .iter()
        .find(|e| e.name == "permissions")
        .and_then(|p| p.child_text("mode"))
        .and_then(|m| u32::from_str_radix(m.trim_start_matches("0o"), 8).ok());
    PoolConfig {
        uuid: def.uuid.to_string(),
        name: def.name.clone(),
        pool_type: def.pool_type.clone(),
        target_path: def.target_path.clone(),
        source_path: def
            .source
            .child("dir")
            .or_else(|| def.source.child("device"))
            .and_then(|e| e.attr("path"))
            .map(String::from),
        mode,
    }
}

/// The `<capabilities>` document, in libvirt's layout.
pub fn capabilities_xml(caps: &Capabilities, node: &NodeInfo) -> String {
    let mut out = String::from("<capabilities>\n\n  <host>\n    <cpu>\n");
    let _ = writeln!(out, "      <arch>{}</arch>", escape_text(&caps.host_arch));
    if !caps.host_features.is_empty() {
        out.push_str("      <features>\n");
        for f in &caps.host_features {
            let _ = writeln!(out, "        <{f}/>");
        }
        out.push_str("      </features>\n");
    }
    for size in &caps.page_sizes_kib {
        let _ = writeln!(out, "      <pages unit='KiB' size='{size}'/>");
    }
    out.push_str("    </cpu>\n    <power_management/>\n    <iommu support='no'/>\n");
    let nodes = node.numa_nodes.max(1);
    let per_node = (node.cpus / nodes).max(1);
    let _ = writeln!(out, "    <topology>\n      <cells num='{nodes}'>");
    for cell in 0..nodes {
        let _ = writeln!(out, "        <cell id='{cell}'>");
        let _ = writeln!(
            out,
            "          <memory unit='KiB'>{}</memory>",
            node.memory_kib / u64::from(nodes)
        );
        let _ = writeln!(out, "          <cpus num='{per_node}'>");
        for i in 0..per_node {
            let id = cell * per_node + i;
            let core = i % node.cores.max(1);
            let _ = writeln!(
                out,
                "            <cpu id='{id}' socket_id='{cell}' die_id='0' core_id='{core}' siblings='{id}'/>"
            );
        }
        out.push_str("          </cpus>\n        </cell>\n");
    }
    out.push_str("      </cells>\n    </topology>\n");
    if let Some(model) = &caps.secmodel {
        let _ = writeln!(
            out,
            "    <secmodel>\n      <model>{}</model>\n      <doi></doi>\n    </secmodel>",
            escape_text(model)
        );
    }
    out.push_str("  </host>\n\n");
    for guest in &caps.guests {
        out.push_str("  <guest>\n");
        let _ = writeln!(
            out,
            "    <os_type>{}</os_type>",
            escape_text(&guest.os_type)
        );
        let _ = writeln!(out, "    <arch name='{}'>", escape_text(&guest.arch));
        let _ = writeln!(out, "      <wordsize>{}</wordsize>", guest.wordsize);
        if let Some(emulator) = &guest.emulator {
            let _ = writeln!(out, "      <emulator>{}</emulator>", escape_text(emulator));
        }
        for ty in &guest.domain_types {
            let _ = writeln!(out, "      <domain type='{ty}'/>");
        }
        out.push_str("    </arch>\n");
        if !guest.features.is_empty() {
            out.push_str("    <features>\n");
            for f in &guest.features {
                let _ = writeln!(out, "      <{f}/>");
            }
            out.push_str("    </features>\n");
        }
        out.push_str("  </guest>\n\n");
    }
    out.push_str("</capabilities>\n");
    out
}
