//! Secrets over the wire. A value crosses only in `SecretSetValue` /
//! `SecretGetValue` and is wrapped in [`SecretValue`] as soon as it arrives.

use uuid::Uuid;

use super::RemoteConn;
use crate::protocol::*;
use crate::refs::{secret, wire_secret};
use wirt::connect::{Result, SecretBackend, SecretRef, SecretValue};

impl SecretBackend for RemoteConn {
    fn lookup_secret_by_uuid(&self, uuid: &Uuid) -> Result<SecretRef> {
        let args = SecretLookupByUuidArgs {
            uuid: *uuid.as_bytes(),
        };
        let ret: SecretLookupByUuidRet = self.call(REMOTE_PROC_SECRET_LOOKUP_BY_UUID, &args)?;
        Ok(secret(ret.secret))
    }

    fn lookup_secret_by_usage(&self, usage_type: i32, usage_id: &str) -> Result<SecretRef> {
        let args = SecretLookupByUsageArgs {
            usage_type,
            usage_id: usage_id.to_string(),
        };
        let ret: SecretLookupByUsageRet = self.call(REMOTE_PROC_SECRET_LOOKUP_BY_USAGE, &args)?;
        Ok(secret(ret.secret))
    }

    fn list_all_secrets(&self, flags: u32) -> Result<Vec<SecretRef>> {
        let args = ConnectListAllSecretsArgs {
            need_results: 1,
            flags,
        };
        let ret: ConnectListAllSecretsRet =
            self.call(REMOTE_PROC_CONNECT_LIST_ALL_SECRETS, &args)?;
        Ok(ret.secrets.into_iter().map(secret).collect())
    }

    fn define_secret_xml(&self, xml: &str, flags: u32) -> Result<SecretRef> {
        let args = SecretDefineXmlArgs {
            xml: xml.to_string(),
            flags,
        };
        let ret: SecretDefineXmlRet = self.call(REMOTE_PROC_SECRET_DEFINE_XML, &args)?;
        Ok(secret(ret.secret))
    }

    fn secret_xml_desc(&self, s: &SecretRef, flags: u32) -> Result<String> {
        let args = SecretGetXmlDescArgs {
            secret: wire_secret(s),
            flags,
        };
        let ret: SecretGetXmlDescRet = self.call(REMOTE_PROC_SECRET_GET_XML_DESC, &args)?;
        Ok(ret.xml)
    }

    fn secret_set_value(&self, s: &SecretRef, value: &[u8], flags: u32) -> Result<()> {
        let args = SecretSetValueArgs {
            secret: wire_secret(s),
            value: value.to_vec(),
            flags,
        };
        let result: std::result::Result<(), _> = self.call(REMOTE_PROC_SECRET_SET_VALUE, &args);
        // The copy made for the wire is wiped like any other value.
        drop(SecretValue::new(args.value));
        Ok(result?)
    }

    fn secret_value(&self, s: &SecretRef, flags: u32) -> Result<SecretValue> {
        let args = SecretGetValueArgs {
            secret: wire_secret(s),
            flags,
        };
        let ret: SecretGetValueRet = self.call(REMOTE_PROC_SECRET_GET_VALUE, &args)?;
        Ok(SecretValue::new(ret.value))
    }

    fn secret_undefine(&self, s: &SecretRef) -> Result<()> {
        let args = SecretUndefineArgs {
            secret: wire_secret(s),
        };
        Ok(self.call(REMOTE_PROC_SECRET_UNDEFINE, &args)?)
    }

    fn secret_events(&self) -> Result<wirt::events::EventStream<wirt::events::SecretEvent>> {
        Ok(self.subscribe_secrets()?)
    }
}
