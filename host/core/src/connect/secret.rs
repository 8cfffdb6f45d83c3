//! Secrets: passphrases and keys that disks, pools and TLS use, defined
//! on the host (libvirt's secret driver). The definition says what a
//! secret is for; its value is set and read separately, and a private
//! secret's value is never read back.

use uuid::Uuid;

use super::{Connect, Error, Result};
use crate::error::ErrorCode;
use crate::events::{EventStream, SecretEvent};

/// libvirt's flag bits for secret calls.
pub mod secret_flags {
    use wirt_vocab::flags::ListSecrets;

    /// `VIR_CONNECT_LIST_SECRETS_EPHEMERAL`.
    pub const LIST_EPHEMERAL: u32 = ListSecrets::EPHEMERAL.bits();
    /// `VIR_CONNECT_LIST_SECRETS_NO_EPHEMERAL`.
    pub const LIST_NO_EPHEMERAL: u32 = ListSecrets::NO_EPHEMERAL.bits();
    /// `VIR_CONNECT_LIST_SECRETS_PRIVATE`.
    pub const LIST_PRIVATE: u32 = ListSecrets::PRIVATE.bits();
    /// `VIR_CONNECT_LIST_SECRETS_NO_PRIVATE`.
    pub const LIST_NO_PRIVATE: u32 = ListSecrets::NO_PRIVATE.bits();
    /// Every listing bit libvirt 9.0 defines.
    pub const LIST_ALL: u32 = ListSecrets::all().bits();
    /// `VIR_SECRET_DEFINE_VALIDATE`: wirt always validates.
    pub const DEFINE_VALIDATE: u32 = 1;
}

/// A secret as the API and the wire name it: UUID and usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    /// The secret's UUID, which identifies it.
    pub uuid: Uuid,
    /// `virSecretUsageType` (0: none).
    pub usage_type: i32,
    /// What it is used for (a volume path, a Ceph user...); may be empty.
    pub usage_id: String,
}

/// A secret's value. Its `Debug` shows only the length, so a value can
/// never end up in a log line or an error by accident; the bytes are
/// wiped when it is dropped.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretValue(Vec<u8>);

impl SecretValue {
    /// Wraps the bytes of a value.
    pub fn new(bytes: Vec<u8>) -> SecretValue {
        SecretValue(bytes)
    }

    /// The bytes, for whoever must use them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValue(<{} bytes redacted>)", self.0.len())
    }
}

impl Drop for SecretValue {
    fn drop(&mut self) {
        // Best effort (the allocator may have copied it before); black_box
        // keeps the wipe from being optimised away as a dead store.
        self.0.fill(0);
        std::hint::black_box(&self.0);
    }
}

fn unsupported<T>(function: &str) -> Result<T> {
    Err(Error::api(ErrorCode::NO_SUPPORT, function.to_string()))
}

/// Secrets: the host's secret store. Every call defaults to "not
/// supported", as a driver without secrets answers.
pub trait SecretBackend {
    /// The secret with UUID `uuid`.
    fn lookup_secret_by_uuid(&self, _uuid: &Uuid) -> Result<SecretRef> {
        unsupported("virSecretLookupByUUID")
    }
    /// The secret used for `usage_id` of `usage_type`.
    fn lookup_secret_by_usage(&self, _usage_type: i32, _usage_id: &str) -> Result<SecretRef> {
        unsupported("virSecretLookupByUsage")
    }
    /// Secrets matching `VIR_CONNECT_LIST_SECRETS_*` flags.
    fn list_all_secrets(&self, _flags: u32) -> Result<Vec<SecretRef>> {
        unsupported("virConnectListAllSecrets")
    }
    /// Defines or redefines a secret.
    fn define_secret_xml(&self, _xml: &str, _flags: u32) -> Result<SecretRef> {
        unsupported("virSecretDefineXML")
    }
    /// The secret's XML (never its value).
    fn secret_xml_desc(&self, _secret: &SecretRef, _flags: u32) -> Result<String> {
        unsupported("virSecretGetXMLDesc")
    }
    /// Sets the secret's value.
    fn secret_set_value(&self, _secret: &SecretRef, _value: &[u8], _flags: u32) -> Result<()> {
        unsupported("virSecretSetValue")
    }
    /// The secret's value; refused for a private secret.
    fn secret_value(&self, _secret: &SecretRef, _flags: u32) -> Result<SecretValue> {
        unsupported("virSecretGetValue")
    }
    /// Removes the secret and its value.
    fn secret_undefine(&self, _secret: &SecretRef) -> Result<()> {
        unsupported("virSecretUndefine")
    }
    /// Secret lifecycle and value-changed events, from now on.
    fn secret_events(&self) -> Result<EventStream<SecretEvent>> {
        unsupported("virConnectSecretEventRegisterAny")
    }
}

/// A handle to a secret.
#[derive(Clone, Debug)]
pub struct Secret {
    conn: Connect,
    r: SecretRef,
}

impl Connect {
    /// A handle to the secret `r` names, without a lookup.
    pub fn secret(&self, r: SecretRef) -> Secret {
        Secret {
            conn: self.clone(),
            r,
        }
    }

    /// The secret with UUID `uuid`.
    pub fn lookup_secret_by_uuid(&self, uuid: &Uuid) -> Result<Secret> {
        Ok(self.secret(self.backend().lookup_secret_by_uuid(uuid)?))
    }

    /// The secret with the UUID written in `text`, as
    /// `virSecretLookupByUUIDString` parses it.
    pub fn lookup_secret_by_uuid_string(&self, text: &str) -> Result<Secret> {
        let uuid = crate::xml::domain::parse_uuid(text).map_err(|_| {
            super::invalid_arg("uuidstr in virSecretLookupByUUIDString must be a valid UUID")
        })?;
        self.lookup_secret_by_uuid(&uuid)
    }

    /// The secret used for `usage_id` of `usage_type` (`virSecretUsageType`).
    pub fn lookup_secret_by_usage(&self, usage_type: i32, usage_id: &str) -> Result<Secret> {
        Ok(self.secret(
            self.backend()
                .lookup_secret_by_usage(usage_type, usage_id)?,
        ))
    }

    /// Secrets matching `VIR_CONNECT_LIST_SECRETS_*` flags, by UUID.
    pub fn list_all_secrets(&self, flags: u32) -> Result<Vec<Secret>> {
        super::check_flags(flags, secret_flags::LIST_ALL, "virConnectListAllSecrets")?;
        let mut refs = self.backend().list_all_secrets(flags)?;
        refs.sort_by_key(|r| r.uuid);
        Ok(refs.into_iter().map(|r| self.secret(r)).collect())
    }

    /// Defines a secret, or changes the definition of the one with the
    /// same UUID. flags: `VIR_SECRET_DEFINE_VALIDATE`.
    pub fn define_secret_xml(&self, xml: &str, flags: u32) -> Result<Secret> {
        self.check_writable()?;
        super::check_flags(flags, secret_flags::DEFINE_VALIDATE, "virSecretDefineXML")?;
        Ok(self.secret(self.backend().define_secret_xml(xml, flags)?))
    }

    /// Secret events (defined, undefined, value changed) of this
    /// connection's host, from now on.
    pub fn secret_events(&self) -> Result<EventStream<SecretEvent>> {
        self.backend().secret_events()
    }
}

impl Secret {
    /// The secret's UUID.
    pub fn uuid(&self) -> Uuid {
        self.r.uuid
    }

    /// `virSecretUsageType` (0: none).
    pub fn usage_type(&self) -> i32 {
        self.r.usage_type
    }

    /// What the secret is used for; empty for none.
    pub fn usage_id(&self) -> &str {
        &self.r.usage_id
    }

    /// What this handle names.
    pub fn reference(&self) -> &SecretRef {
        &self.r
    }

    /// The secret's XML: its definition, never its value.
    pub fn xml_desc(&self, flags: u32) -> Result<String> {
        super::check_flags(flags, 0, "virSecretGetXMLDesc")?;
        self.conn.backend().secret_xml_desc(&self.r, flags)
    }

    /// Sets the secret's value.
    pub fn set_value(&self, value: &[u8], flags: u32) -> Result<()> {
        self.conn.check_writable()?;
        super::check_flags(flags, 0, "virSecretSetValue")?;
        self.conn.backend().secret_set_value(&self.r, value, flags)
    }

    /// The secret's value. A private secret refuses ("secret is private");
    /// a read-only connection may not read any.
    pub fn value(&self, flags: u32) -> Result<SecretValue> {
        self.conn.check_writable()?;
        super::check_flags(flags, 0, "virSecretGetValue")?;
        self.conn.backend().secret_value(&self.r, flags)
    }

    /// Removes the secret and its value.
    pub fn undefine(&self) -> Result<()> {
        self.conn.check_writable()?;
        self.conn.backend().secret_undefine(&self.r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_never_shows_in_debug_output() {
        let value = SecretValue::new(b"hunter2".to_vec());
        let shown = format!("{value:?} {:?}", Some(&value));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("7 bytes redacted"), "{shown}");
        assert_eq!(value.expose(), b"hunter2");
    }
}
