//! Secret definitions (`<secret>`): what a secret is for, never its value.
//!
//! Parsing and wording follow libvirt 9.0's `virsecretobj.c` /
//! `secret_conf.c`: the usage's id element depends on its type
//! (`<volume>`, `<name>`, `<target>`), and a definition without a UUID
//! gets a fresh one.

use uuid::Uuid;

use super::Error;
use super::tree::{Element, escape_text};

/// libvirt's `virSecretUsageType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UsageType {
    /// `VIR_SECRET_USAGE_TYPE_NONE` (0): not bound to anything.
    None = 0,
    /// A storage volume's encryption (`<volume>` path).
    Volume = 1,
    /// A Ceph client (`<name>`).
    Ceph = 2,
    /// An iSCSI target's CHAP (`<target>`).
    Iscsi = 3,
    /// A TLS key's passphrase (`<name>`).
    Tls = 4,
    /// A vTPM's state encryption (`<name>`).
    Vtpm = 5,
}

impl UsageType {
    /// Every usage type, in libvirt's order.
    pub const ALL: [UsageType; 6] = [
        UsageType::None,
        UsageType::Volume,
        UsageType::Ceph,
        UsageType::Iscsi,
        UsageType::Tls,
        UsageType::Vtpm,
    ];

    /// The name in XML and in `secret-list` (`virSecretUsageTypeToString`).
    pub fn as_str(self) -> &'static str {
        match self {
            UsageType::None => "none",
            UsageType::Volume => "volume",
            UsageType::Ceph => "ceph",
            UsageType::Iscsi => "iscsi",
            UsageType::Tls => "tls",
            UsageType::Vtpm => "vtpm",
        }
    }

    /// The type named `s`, as libvirt's XML spells it.
    pub fn from_name(s: &str) -> Option<UsageType> {
        UsageType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The type numbered `n` on the wire.
    pub fn from_i32(n: i32) -> Option<UsageType> {
        UsageType::ALL.into_iter().find(|t| *t as i32 == n)
    }

    /// The element under `<usage>` that holds the usage id.
    fn id_element(self) -> Option<&'static str> {
        match self {
            UsageType::None => None,
            UsageType::Volume => Some("volume"),
            UsageType::Ceph | UsageType::Tls | UsageType::Vtpm => Some("name"),
            UsageType::Iscsi => Some("target"),
        }
    }

    /// libvirt's complaint when the id element is missing.
    fn missing(self) -> &'static str {
        match self {
            UsageType::None => "",
            UsageType::Volume => "volume usage specified, but volume path is missing",
            UsageType::Ceph => "Ceph usage specified, but name is missing",
            UsageType::Iscsi => "iSCSI usage specified, but target is missing",
            UsageType::Tls => "TLS usage specified, but name is missing",
            UsageType::Vtpm => "vTPM usage specified, but name is missing",
        }
    }
}

/// A secret's definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretDef {
    /// `<uuid>`.
    pub uuid: Uuid,
    /// Kept only in memory, never written to disk.
    pub ephemeral: bool,
    /// The value may not be read back through the API.
    pub private: bool,
    /// `<description>`.
    pub description: Option<String>,
    /// `<usage type>`.
    pub usage_type: UsageType,
    /// The usage's id (a volume path, a Ceph user, an iSCSI target...);
    /// empty for [`UsageType::None`].
    pub usage_id: String,
}

fn yes_no(root: &Element, attr: &str) -> Result<bool, Error> {
    match root.attr(attr) {
        None | Some("no") => Ok(false),
        Some("yes") => Ok(true),
        Some(other) => Err(Error::Invalid(format!(
            "Invalid value for attribute '{attr}' in element 'secret': '{other}'. Expected one of: yes, no"
        ))),
    }
}

impl SecretDef {
    /// Parses `<secret>` XML; a missing UUID is generated.
    pub fn parse(text: &str) -> Result<SecretDef, Error> {
        let root = Element::parse(text, "definition_of_secret")?;
        if root.name != "secret" {
            return Err(Error::Invalid(format!(
                "unexpected root element <{}>, expecting <secret>",
                root.name
            )));
        }
        let uuid = match root.child_text("uuid") {
            // libvirt reports a bad UUID as an internal error.
            Some(text) => super::domain::parse_uuid(&text)
                .map_err(|_| Error::Internal("malformed uuid element".into()))?,
            None => Uuid::new_v4(),
        };
        let (usage_type, usage_id) = match root.child("usage") {
            None => (UsageType::None, String::new()),
            Some(usage) => {
                let Some(name) = usage.attr("type") else {
                    return Err(Error::Invalid("unknown secret usage type".into()));
                };
                let Some(kind) = UsageType::from_name(name).filter(|t| *t != UsageType::None)
                else {
                    return Err(Error::Invalid(format!("unknown secret usage type {name}")));
                };
                let element = kind.id_element().unwrap_or_default();
                match usage.child(element) {
                    Some(e) => (kind, e.text()),
                    None => return Err(Error::Invalid(kind.missing().into())),
                }
            }
        };
        Ok(SecretDef {
            uuid,
            ephemeral: yes_no(&root, "ephemeral")?,
            private: yes_no(&root, "private")?,
            description: root.child("description").map(|d| d.text()),
            usage_type,
            usage_id,
        })
    }

    /// libvirt's `virSecretDefFormat` layout.
    pub fn to_xml(&self) -> String {
        let yn = |b: bool| if b { "yes" } else { "no" };
        let mut out = format!(
            "<secret ephemeral='{}' private='{}'>\n  <uuid>{}</uuid>\n",
            yn(self.ephemeral),
            yn(self.private),
            self.uuid
        );
        if let Some(d) = &self.description {
            out.push_str(&format!(
                "  <description>{}</description>\n",
                escape_text(d)
            ));
        }
        if let Some(element) = self.usage_type.id_element() {
            out.push_str(&format!(
                "  <usage type='{}'>\n    <{element}>{}</{element}>\n  </usage>\n",
                self.usage_type.as_str(),
                escape_text(&self.usage_id)
            ));
        }
        out.push_str("</secret>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_libvirt_layout() {
        let xml = "<secret ephemeral='no' private='yes'>\n  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n  <description>disk</description>\n  <usage type='iscsi'>\n    <target>libvirtiscsi</target>\n  </usage>\n</secret>\n";
        let def = SecretDef::parse(xml).unwrap();
        assert_eq!(def.usage_type, UsageType::Iscsi);
        assert_eq!(def.usage_id, "libvirtiscsi");
        assert!(def.private && !def.ephemeral);
        assert_eq!(def.to_xml(), xml);
    }

    #[test]
    fn refuses_like_libvirt() {
        let e = SecretDef::parse("<secret><usage type='ceph'/></secret>").unwrap_err();
        assert_eq!(e.to_string(), "Ceph usage specified, but name is missing");
        let e = SecretDef::parse("<secret><usage type='x'/></secret>").unwrap_err();
        assert_eq!(e.to_string(), "unknown secret usage type x");
        let e = SecretDef::parse("<domain/>").unwrap_err();
        assert!(e.to_string().contains("expecting <secret>"));
        assert!(SecretDef::parse("<secret><uuid>nope</uuid></secret>").is_err());
    }

    #[test]
    fn a_missing_uuid_is_generated() {
        let def = SecretDef::parse("<secret/>").unwrap();
        assert_eq!(def.usage_type, UsageType::None);
        assert!(def.to_xml().contains(&def.uuid.to_string()));
    }
}
