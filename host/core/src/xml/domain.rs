//! The domain definition (`<domain>`): typed where wirt acts on a value,
//! verbatim everywhere else, so no user's configuration is dropped.
//!
//! Top-level settings wirt reads or changes (name, UUID, memory, vCPUs, OS,
//! lifecycle actions) are fields. Devices stay elements, read through typed
//! views (`Disk`, `Interface`...) so unmodelled attributes survive a round
//! trip. Output follows libvirt's element order and layout, so
//! `format(parse(x))` is a fixed point after one round.

use super::ParseOptions;
use uuid::Uuid;

use super::tree::{Element, Node, rank};
use super::{Error, devices, domain_checks, units};

/// Known top-level children of `<domain>` in libvirt's output order; the
/// rank orders elements wirt keeps verbatim among the ones it models.
const TOP_LEVEL_ORDER: &[&str] = &[
    "name",
    "uuid",
    "genid",
    "title",
    "description",
    "metadata",
    "maxMemory",
    "memory",
    "currentMemory",
    "blkiotune",
    "memtune",
    "memoryBacking",
    "vcpu",
    "vcpus",
    "iothreads",
    "iothreadids",
    "defaultiothread",
    "cputune",
    "numatune",
    "resource",
    "sysinfo",
    "bootloader",
    "bootloader_args",
    "os",
    "idmap",
    "features",
    "cpu",
    "clock",
    "on_poweroff",
    "on_reboot",
    "on_crash",
    "on_lockfailure",
    "pm",
    "perf",
    "devices",
    "seclabel",
    "keywrap",
    "launchSecurity",
    "throttlegroups",
];

/// Known children of `<os>`, in output order.
const OS_ORDER: &[&str] = &[
    "type",
    "firmware",
    "loader",
    "nvram",
    "bootloader",
    "kernel",
    "initrd",
    "cmdline",
    "shim",
    "dtb",
    "acpi",
    "init",
    "initarg",
    "initenv",
    "initdir",
    "inituser",
    "initgroup",
    "idmap",
    "boot",
    "bootmenu",
    "smbios",
    "bios",
];

/// A domain definition: libvirt's `<domain>`.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainDef {
    /// `<domain type=...>`: "kvm", "qemu", "test"...
    pub domain_type: String,
    /// `<name>`.
    pub name: String,
    /// `<uuid>`.
    pub uuid: Uuid,
    /// `<title>`.
    pub title: Option<String>,
    /// `<description>`.
    pub description: Option<String>,
    /// `<metadata>`, verbatim.
    pub metadata: Option<Element>,
    /// `<memory>`: the maximum the guest may have, KiB.
    pub memory_kib: u64,
    /// Other `<memory>` attributes (`dumpCore`), verbatim.
    pub memory_attrs: Vec<(String, String)>,
    /// `<currentMemory>`, KiB; never above `memory_kib`.
    pub current_memory_kib: u64,
    /// `<vcpu>`: maximum vCPUs.
    pub vcpus: u32,
    /// `<vcpu current=...>` when fewer vCPUs are online at boot.
    pub current_vcpus: Option<u32>,
    /// `<vcpu placement>`: "static" or "auto".
    pub vcpu_placement: String,
    /// Other `<vcpu>` attributes (`cpuset`...).
    pub vcpu_attrs: Vec<(String, String)>,
    /// `<os>`.
    pub os: Os,
    /// `<on_poweroff>`: "destroy", "restart", "preserve"...
    pub on_poweroff: String,
    /// `<on_reboot>`.
    pub on_reboot: String,
    /// `<on_crash>`.
    pub on_crash: String,
    /// `<devices>` children in document order.
    pub devices: Vec<Element>,
    /// Every other top-level child, verbatim.
    pub extra: Vec<Element>,
    /// Root attributes other than `type` and `id` (namespace declarations...).
    pub root_attrs: Vec<(String, String)>,
}

/// The boot settings: libvirt's `<os>`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Os {
    /// `<type>`: "hvm", "linux", "xen", "exe".
    pub os_type: String,
    /// `<type arch>`.
    pub arch: Option<String>,
    /// `<type machine>`.
    pub machine: Option<String>,
    /// Other `<type>` attributes.
    pub type_attrs: Vec<(String, String)>,
    /// `<kernel>`: a kernel to boot directly.
    pub kernel: Option<String>,
    /// `<initrd>`.
    pub initrd: Option<String>,
    /// `<cmdline>`: the kernel's command line.
    pub cmdline: Option<String>,
    /// `<boot dev=...>` in order.
    pub boot_devices: Vec<String>,
    /// `<os>` attributes (`firmware='efi'`).
    pub attrs: Vec<(String, String)>,
    /// Every other `<os>` child (`loader`, `nvram`, `smbios`...), verbatim.
    pub extra: Vec<Element>,
}

impl Os {
    /// The firmware file of `<loader>`, if one is named.
    pub fn loader(&self) -> Option<String> {
        self.extra
            .iter()
            .find(|e| e.name == "loader")
            .map(|e| e.text().trim().to_string())
            .filter(|s| !s.is_empty())
    }
}

/// How a definition is written out.
#[derive(Clone, Copy, Debug, Default)]
pub struct FormatOptions {
    /// The `id='N'` of a running domain's live XML.
    pub id: Option<u32>,
}

/// libvirt refuses names with '/', and wirt also refuses control characters.
pub fn check_object_name(name: &str) -> Result<(), Error> {
    if name.contains('/') {
        return Err(Error::Invalid(format!("name {name} cannot contain '/'")));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "name {} cannot contain control characters",
            name.escape_debug()
        )));
    }
    Ok(())
}

/// A `<uuid>`: 32 hex digits, dashes anywhere or nowhere, as libvirt
/// accepts them.
pub fn parse_uuid(text: &str) -> Result<Uuid, Error> {
    // libvirt accepts the dashes anywhere (or nowhere); 32 hex digits count.
    let hex: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if hex.len() != 32 {
        return Err(Error::Invalid(format!("malformed uuid element: '{text}'")));
    }
    Uuid::try_parse(&hex).map_err(|_| Error::Invalid(format!("malformed uuid element: '{text}'")))
}

fn parse_u32(text: &str, what: &str) -> Result<u32, Error> {
    text.trim()
        .parse()
        .map_err(|_| Error::Invalid(format!("Invalid value '{}' for {what}", text.trim())))
}

impl DomainDef {
    /// A minimal definition, as `define` would build it from name, memory and vCPUs.
    pub fn new(name: &str, domain_type: &str, memory_kib: u64, vcpus: u32) -> Self {
        DomainDef {
            domain_type: domain_type.to_string(),
            name: name.to_string(),
            uuid: Uuid::new_v4(),
            title: None,
            description: None,
            metadata: None,
            memory_kib,
            memory_attrs: Vec::new(),
            current_memory_kib: memory_kib,
            vcpus,
            current_vcpus: None,
            vcpu_placement: "static".into(),
            vcpu_attrs: Vec::new(),
            os: Os {
                os_type: "hvm".into(),
                ..Default::default()
            },
            on_poweroff: "destroy".into(),
            on_reboot: "restart".into(),
            on_crash: "destroy".into(),
            devices: Vec::new(),
            extra: Vec::new(),
            root_attrs: Vec::new(),
        }
    }

    /// Parses and checks a `<domain>` document.
    pub fn parse(text: &str, options: ParseOptions) -> Result<Self, Error> {
        let root = Element::parse(text, "domain_definition")?;
        Self::from_element(&root, options)
    }

    /// Reads and checks a parsed `<domain>` element.
    pub fn from_element(root: &Element, options: ParseOptions) -> Result<Self, Error> {
        if root.name != "domain" {
            return Err(Error::Invalid(format!(
                "unexpected root element <{}>, expecting <domain>",
                root.name
            )));
        }
        let domain_type = root
            .attr("type")
            .ok_or_else(|| Error::Invalid("missing domain type attribute".into()))?
            .to_string();
        let root_attrs = root
            .attrs
            .iter()
            .filter(|(n, _)| n != "type" && n != "id")
            .cloned()
            .collect();

        let name = root
            .child_text("name")
            .filter(|n| !n.is_empty())
            .ok_or(Error::NoName { what: "domain" })?;
        check_object_name(&name)?;

        let uuid = match root.child_text("uuid") {
            Some(text) => parse_uuid(&text)?,
            None => Uuid::new_v4(),
        };

        let memory = root.child("memory");
        let memory_kib = match memory {
            Some(m) => units::memory_kib(&m.text(), m.attr("unit"), "memory")?,
            None => 0,
        };
        let memory_attrs = memory
            .map(|m| {
                m.attrs
                    .iter()
                    .filter(|(n, _)| n != "unit")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        // With guest NUMA cells, libvirt sums the cells (and any memory
        // devices) instead of reading <memory>.
        let numa_kib = domain_checks::numa_memory_kib(root)?;
        let memory_kib = if numa_kib > 0 {
            numa_kib.saturating_add(domain_checks::memory_devices_kib(root)?)
        } else {
            memory_kib
        };
        if memory_kib == 0 {
            return Err(Error::Invalid(
                "Memory size must be specified via <memory> or in the <numa> configuration".into(),
            ));
        }
        let current_memory_kib = match root.child("currentMemory") {
            Some(m) => units::memory_kib(&m.text(), m.attr("unit"), "currentMemory")?,
            None => memory_kib,
        };
        // libvirt clamps the balloon to the maximum rather than refusing.
        let current_memory_kib = if current_memory_kib == 0 || current_memory_kib > memory_kib {
            memory_kib
        } else {
            current_memory_kib
        };

        let (vcpus, current_vcpus, vcpu_placement, vcpu_attrs) = match root.child("vcpu") {
            Some(v) => {
                let vcpus = parse_u32(&v.text(), "vcpu")?;
                if vcpus == 0 {
                    return Err(Error::Invalid("Invalid number of vCPUs '0'".into()));
                }
                let current = v
                    .attr("current")
                    .map(|c| parse_u32(c, "vcpu current"))
                    .transpose()?;
                if let Some(c) = current
                    && (c == 0 || c > vcpus)
                {
                    return Err(Error::Invalid(format!(
                        "maximum vcpus count must not be less than current vcpus ('{vcpus}' < '{c}')"
                    )));
                }
                let current = current.filter(|&c| c != vcpus);
                let placement = v.attr("placement").unwrap_or("static").to_string();
                let attrs = v
                    .attrs
                    .iter()
                    .filter(|(n, _)| n != "current" && n != "placement")
                    .cloned()
                    .collect();
                (vcpus, current, placement, attrs)
            }
            None => (1, None, "static".to_string(), Vec::new()),
        };

        let os = Self::parse_os(root.child("os"), options)?;

        let action = |name: &str, default: &str| -> Result<String, Error> {
            let Some(value) = root.child_text(name) else {
                return Ok(default.to_string());
            };
            let allowed: &[&str] = if name == "on_crash" {
                &[
                    "destroy",
                    "restart",
                    "preserve",
                    "rename-restart",
                    "coredump-destroy",
                    "coredump-restart",
                ]
            } else {
                &["destroy", "restart", "preserve", "rename-restart"]
            };
            if allowed.contains(&value.as_str()) {
                Ok(value)
            } else {
                Err(Error::Invalid(format!(
                    "Invalid value '{value}' for element '{name}'"
                )))
            }
        };
        let on_poweroff = action("on_poweroff", "destroy")?;
        let on_reboot = action("on_reboot", "restart")?;
        let on_crash = action("on_crash", "destroy")?;

        let devices: Vec<Element> = root
            .child("devices")
            .map(|d| d.elements().cloned().collect())
            .unwrap_or_default();
        domain_checks::check(root, vcpus)?;
        devices::validate(&devices, options)?;

        const MODELLED: &[&str] = &[
            "name",
            "uuid",
            "title",
            "description",
            "metadata",
            "memory",
            "currentMemory",
            "vcpu",
            "os",
            "on_poweroff",
            "on_reboot",
            "on_crash",
            "devices",
        ];
        let mut extra = Vec::new();
        for child in root.elements() {
            if MODELLED.contains(&child.name.as_str()) {
                continue;
            }
            if options.validate
                && !child.name.contains(':')
                && !TOP_LEVEL_ORDER.contains(&child.name.as_str())
            {
                return Err(Error::Schema(format!(
                    "Element domain has extra content: {}",
                    child.name
                )));
            }
            extra.push(child.clone());
        }

        Ok(DomainDef {
            domain_type,
            name,
            uuid,
            title: root.child("title").map(|t| t.text()),
            description: root.child("description").map(|d| d.text()),
            metadata: root.child("metadata").cloned(),
            memory_kib,
            memory_attrs,
            current_memory_kib,
            vcpus,
            current_vcpus,
            vcpu_placement,
            vcpu_attrs,
            os,
            on_poweroff,
            on_reboot,
            on_crash,
            devices,
            extra,
            root_attrs,
        })
    }

    fn parse_os(os: Option<&Element>, options: ParseOptions) -> Result<Os, Error> {
        let Some(os) = os else {
            return Err(Error::Invalid("an os <type> must be specified".into()));
        };
        let ty = os
            .child("type")
            .ok_or_else(|| Error::Invalid("an os <type> must be specified".into()))?;
        let os_type = ty.text().trim().to_string();
        if os_type.is_empty() {
            return Err(Error::Invalid("an os <type> must be specified".into()));
        }
        let mut parsed = Os {
            os_type,
            arch: ty.attr("arch").map(String::from),
            machine: ty.attr("machine").map(String::from),
            type_attrs: ty
                .attrs
                .iter()
                .filter(|(n, _)| n != "arch" && n != "machine")
                .cloned()
                .collect(),
            attrs: os.attrs.clone(),
            ..Default::default()
        };
        for child in os.elements() {
            match child.name.as_str() {
                "type" => {}
                "kernel" => parsed.kernel = Some(child.text().trim().to_string()),
                "initrd" => parsed.initrd = Some(child.text().trim().to_string()),
                "cmdline" => parsed.cmdline = Some(child.text().trim().to_string()),
                "boot" => {
                    let dev = child
                        .attr("dev")
                        .ok_or_else(|| Error::Invalid("missing boot device".into()))?;
                    if !["hd", "fd", "cdrom", "network"].contains(&dev) {
                        return Err(Error::Invalid(format!("unknown boot device '{dev}'")));
                    }
                    parsed.boot_devices.push(dev.to_string());
                }
                other => {
                    if options.validate && !OS_ORDER.contains(&other) {
                        return Err(Error::Schema(format!(
                            "Element os has extra content: {other}"
                        )));
                    }
                    parsed.extra.push(child.clone());
                }
            }
        }
        Ok(parsed)
    }

    /// Defaults libvirt fills in after parsing, for any driver: the boot
    /// device of an HVM guest with no kernel and no per-device boot order.
    pub fn fill_generic_defaults(&mut self) {
        let per_device_boot = self.devices.iter().any(|d| d.child("boot").is_some());
        if self.os.os_type == "hvm"
            && self.os.boot_devices.is_empty()
            && self.os.kernel.is_none()
            && !per_device_boot
            && !self.os.attrs.iter().any(|(n, _)| n == "firmware")
        {
            self.os.boot_devices.push("hd".into());
        }
    }

    /// The definition as libvirt formats it (`dumpxml --security-info`).
    pub fn to_xml(&self, options: FormatOptions) -> String {
        self.to_element(options).to_xml()
    }

    /// The XML a client gets without `VIR_DOMAIN_XML_SECURE`: as libvirt
    /// does, the `passwd` of every `<graphics>` is left out.
    pub fn to_public_xml(&self, options: FormatOptions) -> String {
        self.to_public_element(options).to_xml()
    }

    /// The element of [`to_public_xml`](Self::to_public_xml).
    pub fn to_public_element(&self, options: FormatOptions) -> Element {
        let mut root = self.to_element(options);
        for node in &mut root.children {
            let Node::Element(devices) = node else {
                continue;
            };
            if devices.name != "devices" {
                continue;
            }
            for node in &mut devices.children {
                if let Node::Element(device) = node
                    && device.name == "graphics"
                {
                    device.remove_attr("passwd");
                }
            }
        }
        root
    }

    /// The element of [`to_xml`](Self::to_xml).
    pub fn to_element(&self, options: FormatOptions) -> Element {
        let mut root = Element::new("domain").with_attr("type", &self.domain_type);
        if let Some(id) = options.id {
            root.set_attr("id", id.to_string());
        }
        root.attrs.extend(self.root_attrs.iter().cloned());

        let mut children: Vec<(usize, Element)> = Vec::new();
        let mut put = |e: Element| {
            let r = rank(TOP_LEVEL_ORDER, &e.name);
            children.push((r, e));
        };
        put(Element::new("name").with_text(&self.name));
        put(Element::new("uuid").with_text(self.uuid.to_string()));
        if let Some(title) = &self.title {
            put(Element::new("title").with_text(title));
        }
        if let Some(description) = &self.description {
            put(Element::new("description").with_text(description));
        }
        if let Some(metadata) = &self.metadata {
            put(metadata.clone());
        }
        let mut memory = Element::new("memory").with_attr("unit", "KiB");
        memory.attrs.extend(self.memory_attrs.iter().cloned());
        put(memory.with_text(self.memory_kib.to_string()));
        put(Element::new("currentMemory")
            .with_attr("unit", "KiB")
            .with_text(self.current_memory_kib.to_string()));
        let mut vcpu = Element::new("vcpu").with_attr("placement", &self.vcpu_placement);
        vcpu.attrs.extend(self.vcpu_attrs.iter().cloned());
        if let Some(current) = self.current_vcpus {
            vcpu.set_attr("current", current.to_string());
        }
        put(vcpu.with_text(self.vcpus.to_string()));
        put(self.os_element());
        if !self.extra.iter().any(|e| e.name == "clock") {
            put(Element::new("clock").with_attr("offset", "utc"));
        }
        put(Element::new("on_poweroff").with_text(&self.on_poweroff));
        put(Element::new("on_reboot").with_text(&self.on_reboot));
        put(Element::new("on_crash").with_text(&self.on_crash));
        let mut devices = Element::new("devices");
        devices
            .children
            .extend(self.devices.iter().cloned().map(Node::Element));
        // libvirt writes an empty <devices> as an open and a close tag.
        if devices.children.is_empty() {
            devices.children.push(Node::Text("\n".into()));
        }
        put(devices);
        for e in &self.extra {
            put(e.clone());
        }
        // Stable: elements of equal rank (unknown ones) keep document order.
        children.sort_by_key(|(r, _)| *r);
        root.children = children
            .into_iter()
            .map(|(_, e)| Node::Element(e))
            .collect();
        root
    }

    fn os_element(&self) -> Element {
        let mut os = Element::new("os");
        os.attrs = self.os.attrs.clone();
        let mut ty = Element::new("type");
        if let Some(arch) = &self.os.arch {
            ty.set_attr("arch", arch);
        }
        if let Some(machine) = &self.os.machine {
            ty.set_attr("machine", machine);
        }
        ty.attrs.extend(self.os.type_attrs.iter().cloned());
        let mut children: Vec<(usize, Element)> = vec![(0, ty.with_text(&self.os.os_type))];
        let text = |name: &str, value: &Option<String>| {
            value
                .as_ref()
                .map(|v| (rank(OS_ORDER, name), Element::new(name).with_text(v)))
        };
        children.extend(text("kernel", &self.os.kernel));
        children.extend(text("initrd", &self.os.initrd));
        children.extend(text("cmdline", &self.os.cmdline));
        for dev in &self.os.boot_devices {
            children.push((
                rank(OS_ORDER, "boot"),
                Element::new("boot").with_attr("dev", dev),
            ));
        }
        for e in &self.os.extra {
            children.push((rank(OS_ORDER, &e.name), e.clone()));
        }
        children.sort_by_key(|(r, _)| *r);
        os.children = children
            .into_iter()
            .map(|(_, e)| Node::Element(e))
            .collect();
        os
    }

    /// The disks, as typed views.
    pub fn disks(&self) -> Vec<devices::Disk> {
        self.devices
            .iter()
            .filter(|d| d.name == "disk")
            .map(devices::Disk::from_element)
            .collect()
    }

    /// The `<interface>`s, as typed views.
    pub fn interfaces(&self) -> Vec<devices::Interface> {
        self.devices
            .iter()
            .filter(|d| d.name == "interface")
            .map(devices::Interface::from_element)
            .collect()
    }

    /// Online vCPUs at boot.
    pub fn boot_vcpus(&self) -> u32 {
        self.current_vcpus.unwrap_or(self.vcpus)
    }

    /// Feature names enabled in `<features>`.
    pub fn features(&self) -> Vec<String> {
        self.extra
            .iter()
            .find(|e| e.name == "features")
            .map(|f| {
                f.elements()
                    .filter(|e| e.attr("state") != Some("off"))
                    .map(|e| e.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}
