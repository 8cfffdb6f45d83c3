//! `virDomainSetMetadata` / `virDomainGetMetadata` (virsh's `desc` and
//! `metadata`), `virDomainSetLifecycleAction` and
//! `virDomainGetControlInfo` on the local host, and what a test guest
//! answers without an agent (`virDomainGetHostname`, `virDomainGetTime`,
//! `virDomainFSFreeze`).

use super::Local;
use super::domain::persist;
use super::domain_config::{affected, checked};
use crate::connect::{
    ControlInfo, DomainRef, Error, LIFECYCLE_ACTIONS, Result, check_flags, domain_flags as flags,
    lifecycle_type, metadata_type,
};
use crate::error::ErrorCode;
use crate::registry::{DomainObj, Registry};
use crate::xml::DomainDef;
use crate::xml::tree::{Element, Node};

fn not_present() -> Error {
    Error::api(ErrorCode(80), "Requested metadata element is not present")
}

/// The namespace URI an element declares for its own prefix (or as the
/// default namespace).
fn namespace_of(e: &Element) -> Option<&str> {
    let attr = match e.name.split_once(':') {
        Some((prefix, _)) => format!("xmlns:{prefix}"),
        None => "xmlns".into(),
    };
    e.attr(&attr)
}

/// `e` with its own prefix gone from its name, its children's and its
/// namespace declaration.
fn without_prefix(e: &Element) -> Element {
    let Some((prefix, _)) = e.name.split_once(':') else {
        return e.clone();
    };
    let strip = |name: &str| {
        name.strip_prefix(prefix)
            .and_then(|n| n.strip_prefix(':'))
            .map_or(name.to_string(), str::to_string)
    };
    fn walk(e: &mut Element, strip: &dyn Fn(&str) -> String) {
        e.name = strip(&e.name);
        for n in &mut e.children {
            if let Node::Element(c) = n {
                walk(c, strip);
            }
        }
    }
    let mut out = e.clone();
    let decl = format!("xmlns:{prefix}");
    out.attrs.retain(|(k, _)| *k != decl);
    walk(&mut out, &strip);
    out
}

fn children_in<'a>(def: &'a DomainDef, uri: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
    def.metadata
        .iter()
        .flat_map(|m| m.elements())
        .filter(move |e| namespace_of(e) == Some(uri))
}

/// What `kind` is in `def`.
fn get(def: &DomainDef, kind: i32, uri: Option<&str>) -> Result<String> {
    match kind {
        metadata_type::DESCRIPTION => def.description.clone().ok_or_else(not_present),
        metadata_type::TITLE => def.title.clone().ok_or_else(not_present),
        metadata_type::ELEMENT => {
            let uri =
                uri.ok_or_else(|| invalid_arg("a metadata element needs its namespace URI"))?;
            // libvirt hands the element back without its namespace prefix.
            children_in(def, uri)
                .next()
                .map(|e| without_prefix(e).to_xml().trim_end().to_string())
                .ok_or_else(not_present)
        }
        other => Err(invalid_arg(format!("unknown metadata type {other}"))),
    }
}

fn invalid_arg(message: impl Into<String>) -> Error {
    Error::api(ErrorCode::INVALID_ARG, message.into())
}

/// `def` with `kind` set to `value` (none or empty: removed).
fn set(
    def: &DomainDef,
    kind: i32,
    value: Option<&str>,
    key: Option<&str>,
    uri: Option<&str>,
) -> Result<DomainDef> {
    let mut new = def.clone();
    let value = value.filter(|v| !v.is_empty());
    match kind {
        metadata_type::DESCRIPTION => new.description = value.map(str::to_string),
        metadata_type::TITLE => {
            if value.is_some_and(|v| v.contains('\n')) {
                return Err(invalid_arg("title can't contain newlines"));
            }
            new.title = value.map(str::to_string);
        }
        metadata_type::ELEMENT => {
            let uri =
                uri.ok_or_else(|| invalid_arg("a metadata element needs its namespace URI"))?;
            let meta = new.metadata.get_or_insert_with(|| Element::new("metadata"));
            meta.children.retain(|n| match n {
                Node::Element(e) => namespace_of(e) != Some(uri),
                _ => true,
            });
            if let Some(xml) = value {
                let key =
                    key.ok_or_else(|| invalid_arg("a metadata element needs a key (prefix)"))?;
                let mut element = Element::parse(xml, "metadata element")?;
                let local = element
                    .name
                    .split_once(':')
                    .map_or(element.name.clone(), |(_, l)| l.to_string());
                element.name = format!("{key}:{local}");
                element.attrs.retain(|(k, _)| !k.starts_with("xmlns"));
                element.set_attr(&format!("xmlns:{key}"), uri);
                meta.children.push(Node::Element(element));
            }
            if !meta.has_element_children() {
                new.metadata = None;
            }
        }
        other => return Err(invalid_arg(format!("unknown metadata type {other}"))),
    }
    checked(&new)
}

impl Local {
    pub(super) fn get_metadata(
        &self,
        dom: &DomainRef,
        kind: i32,
        uri: Option<&str>,
        flags: u32,
    ) -> Result<String> {
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "virDomainGetMetadata",
        )?;
        if flags & flags::AFFECT_LIVE != 0 && flags & flags::AFFECT_CONFIG != 0 {
            return Err(invalid_arg(
                "--live and --config are mutually exclusive here",
            ));
        }
        self.with(dom, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            let def = if flags & flags::AFFECT_CONFIG != 0 {
                obj.inactive_def()
            } else {
                obj.def()
            };
            get(def, kind, uri)
        })
    }

    pub(super) fn set_metadata(
        &self,
        dom: &DomainRef,
        kind: i32,
        value: Option<&str>,
        key: Option<&str>,
        uri: Option<&str>,
        flags: u32,
    ) -> Result<()> {
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "virDomainSetMetadata",
        )?;
        self.change_definitions(
            dom,
            flags,
            |def| set(def, kind, value, key, uri),
            |_, _, _| Ok(()),
        )
    }

    /// `change` made to the definitions `flags` name (the live one, the
    /// persistent one, or as `affected` decides), both computed before
    /// either is stored; `on_live` gets the new live definition first (a
    /// driver applies it) and may refuse it.
    fn change_definitions(
        &self,
        dom: &DomainRef,
        flags: u32,
        change: impl Fn(&DomainDef) -> Result<DomainDef>,
        on_live: impl Fn(&Registry, &DomainObj, &DomainDef) -> Result<()>,
    ) -> Result<()> {
        let state = &self.state;
        self.with(dom, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            let (live, config) = affected(obj, flags)?;
            let new_live = match (live, &obj.live) {
                (true, Some(def)) => Some(change(def)?),
                _ => None,
            };
            let new_config = match (config, &obj.config) {
                (true, Some(def)) => Some(change(def)?),
                _ => None,
            };
            if let Some(def) = &new_live {
                on_live(reg, obj, def)?;
            }
            let obj = reg.domain_mut(uuid).expect("checked");
            if let Some(def) = new_live {
                obj.live = Some(def);
                reg.record_runtime(uuid)?;
            }
            if let Some(def) = new_config {
                reg.domain_mut(uuid).expect("checked").config = Some(def);
            }
            persist(state, reg, uuid)
        })
    }

    pub(super) fn set_lifecycle_action(
        &self,
        dom: &DomainRef,
        kind: u32,
        action: u32,
        flags: u32,
    ) -> Result<()> {
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "virDomainSetLifecycleAction",
        )?;
        let (element, name) = match kind {
            lifecycle_type::POWEROFF => ("on_poweroff", "poweroff"),
            lifecycle_type::REBOOT => ("on_reboot", "reboot"),
            lifecycle_type::CRASH => ("on_crash", "crash"),
            other => return Err(invalid_arg(format!("unknown lifecycle type {other}"))),
        };
        let action_name = LIFECYCLE_ACTIONS
            .iter()
            .find(|(n, _)| *n == action)
            .map(|(_, a)| *a)
            .ok_or_else(|| invalid_arg(format!("unknown lifecycle action {action}")))?;
        if kind != lifecycle_type::CRASH && action_name.starts_with("coredump") {
            return Err(Error::api(
                ErrorCode::CONFIG_UNSUPPORTED,
                format!("Lifecycle event '{name}' doesn't support '{action_name}' action"),
            ));
        }
        let change = |def: &DomainDef| -> Result<DomainDef> {
            let mut new = def.clone();
            match element {
                "on_poweroff" => new.on_poweroff = action_name.into(),
                "on_reboot" => new.on_reboot = action_name.into(),
                _ => new.on_crash = action_name.into(),
            }
            checked(&new)
        };
        let hv = self.hv();
        self.change_definitions(dom, flags, change, |reg, obj, def| {
            let config = self.driver_config(reg, def, obj.id)?;
            match hv.set_lifecycle_actions(&config) {
                Ok(()) => Ok(()),
                // libvirt's test driver only records the action.
                Err(crate::driver::Error::Unsupported { .. })
                    if self.state.info.type_name == "TEST" =>
                {
                    Ok(())
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    pub(super) fn control_info(&self, dom: &DomainRef) -> Result<ControlInfo> {
        self.with(dom, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            if !obj.is_active() {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    "domain is not running",
                ));
            }
            // Calls wait on the registry rather than on a busy monitor:
            // the channel is always free when one gets here.
            Ok(ControlInfo::default())
        })
    }
}

/// Where every guest clock of libvirt's test driver starts.
const TEST_GUEST_TIME: i64 = 627_319_920;

/// The two filesystems a test guest has, as libvirt's test driver.
const TEST_MOUNTPOINTS: [&str; 2] = ["/", "/boot"];

/// What a test guest's agent would answer, as libvirt's test driver keeps it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TestGuest {
    /// Seconds and nanoseconds, as `virDomainSetTime` left them.
    clock: (i64, u32),
    /// Whether `/` and `/boot` are frozen.
    frozen: [bool; 2],
}

impl Default for TestGuest {
    fn default() -> Self {
        TestGuest {
            clock: (TEST_GUEST_TIME, 0),
            frozen: [false; 2],
        }
    }
}

impl Local {
    /// A running domain of a test host: the test driver answers for its
    /// guest; other drivers have no guest agent to ask. Flags are checked
    /// as the test driver checks them, naming its own function
    /// (`virDomainGetTime` is its `testDomainGetTime`).
    fn test_guest(&self, dom: &DomainRef, function: &str, flags: u32, allowed: u32) -> Result<()> {
        if self.state.info.type_name != "TEST" {
            return Err(Error::api(ErrorCode::NO_SUPPORT, function.to_string()));
        }
        if flags & !allowed != 0 {
            let own = function.replacen("vir", "test", 1);
            return Err(crate::connect::invalid_arg(&format!(
                "unsupported flags (0x{:x}) in function {own}",
                flags & !allowed
            )));
        }
        if !self.obj(dom, |o| o.is_active())? {
            return Err(Error::api(
                ErrorCode::OPERATION_INVALID,
                "domain is not running",
            ));
        }
        Ok(())
    }

    /// The guest's state, changed by `f`.
    fn with_test_guest<R>(&self, dom: &DomainRef, f: impl FnOnce(&mut TestGuest) -> R) -> R {
        let mut guests = self
            .state
            .test_guests
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f(guests.entry(dom.uuid).or_default())
    }

    /// `virDomainGetHostname` as the test driver answers it.
    pub(super) fn guest_hostname(&self, dom: &DomainRef, flags: u32) -> Result<String> {
        self.test_guest(dom, "virDomainGetHostname", flags, 0)?;
        Ok("testhost".into())
    }

    pub(super) fn guest_time(&self, dom: &DomainRef, flags: u32) -> Result<(i64, u32)> {
        self.test_guest(dom, "virDomainGetTime", flags, 0)?;
        Ok(self.with_test_guest(dom, |g| g.clock))
    }

    /// The test driver keeps what it is given, `VIR_DOMAIN_TIME_SYNC` or not.
    pub(super) fn set_guest_time(
        &self,
        dom: &DomainRef,
        seconds: i64,
        nseconds: u32,
        flags: u32,
    ) -> Result<()> {
        // VIR_DOMAIN_TIME_SYNC.
        self.test_guest(dom, "virDomainSetTime", flags, 1)?;
        self.with_test_guest(dom, |g| g.clock = (seconds, nseconds));
        Ok(())
    }

    /// `virDomainFSFreeze` (`freeze`) or `virDomainFSThaw` as the test
    /// driver does them: `/` and `/boot` (both when none is named), each
    /// counted only if this call changed it.
    pub(super) fn guest_freeze(
        &self,
        dom: &DomainRef,
        mountpoints: &[String],
        flags: u32,
        freeze: bool,
    ) -> Result<i32> {
        let function = if freeze {
            "virDomainFSFreeze"
        } else {
            "virDomainFSThaw"
        };
        self.test_guest(dom, function, flags, 0)?;
        let mut wanted = [mountpoints.is_empty(); 2];
        for point in mountpoints {
            let at = TEST_MOUNTPOINTS
                .iter()
                .position(|m| m == point)
                .ok_or_else(|| {
                    Error::api(
                        ErrorCode::OPERATION_INVALID,
                        format!("mount point not found: {point}"),
                    )
                })?;
            wanted[at] = true;
        }
        Ok(self.with_test_guest(dom, |g| {
            let mut changed = 0;
            for (frozen, _) in g.frozen.iter_mut().zip(wanted).filter(|(_, w)| *w) {
                if *frozen != freeze {
                    *frozen = freeze;
                    changed += 1;
                }
            }
            changed
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{FormatOptions, ParseOptions};

    #[test]
    fn metadata_elements_are_found_and_replaced_by_namespace() {
        let def = DomainDef::parse(
            "<domain type='test'><name>m</name><memory>1024</memory><os><type>hvm</type></os>\
             <metadata><app1:foo xmlns:app1='http://app1/'>one</app1:foo></metadata></domain>",
            ParseOptions { validate: true },
        )
        .unwrap();
        assert_eq!(
            get(&def, metadata_type::ELEMENT, Some("http://app1/")).unwrap(),
            "<foo>one</foo>"
        );
        assert!(get(&def, metadata_type::ELEMENT, Some("http://other/")).is_err());
        let new = set(
            &def,
            metadata_type::ELEMENT,
            Some("<bar>two</bar>"),
            Some("x"),
            Some("http://app1/"),
        )
        .unwrap();
        let got = get(&new, metadata_type::ELEMENT, Some("http://app1/")).unwrap();
        assert_eq!(got, "<bar>two</bar>");
        let stored = new.to_xml(FormatOptions::default());
        assert!(
            stored.contains("<x:bar xmlns:x='http://app1/'>two</x:bar>"),
            "{stored}"
        );
        let gone = set(
            &new,
            metadata_type::ELEMENT,
            None,
            None,
            Some("http://app1/"),
        )
        .unwrap();
        assert!(gone.metadata.is_none());
        assert_eq!(
            get(&gone, metadata_type::TITLE, None).unwrap_err().code(),
            ErrorCode(80)
        );
        let titled = set(&gone, metadata_type::TITLE, Some("web"), None, None).unwrap();
        assert_eq!(get(&titled, metadata_type::TITLE, None).unwrap(), "web");
        assert!(set(&titled, metadata_type::TITLE, Some("a\nb"), None, None).is_err());
    }
}
