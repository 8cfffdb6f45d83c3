//! Secret procedures. A value is read from the store only for
//! `SecretGetValue`, which read-only clients may not call (`access.rs`).

use super::wire::{Routed, check_list_len};
use crate::protocol::*;
use crate::refs::{secret, wire_secret};
use wirt::connect::{Connect, Result, Secret};

fn wire(s: &Secret) -> NonnullSecret {
    wire_secret(s.reference())
}

fn uuids(conn: &Connect, max: i32) -> Result<Vec<String>> {
    let uuids: Vec<String> = conn
        .list_all_secrets(0)?
        .iter()
        .map(|s| s.uuid().to_string())
        .take(usize::try_from(max).unwrap_or(0))
        .collect();
    check_list_len(uuids.len(), REMOTE_SECRET_LIST_MAX, "secrets")?;
    Ok(uuids)
}

pub(super) fn dispatch(conn: &Connect, call: Call) -> Routed {
    let result = match call {
        Call::ConnectListAllSecrets(a) => conn.list_all_secrets(a.flags).and_then(|list| {
            check_list_len(list.len(), REMOTE_SECRET_LIST_MAX, "secrets")?;
            Ok(Reply::ConnectListAllSecrets(ConnectListAllSecretsRet {
                ret: list.len() as u32,
                secrets: if a.need_results != 0 {
                    list.iter().map(wire).collect()
                } else {
                    Vec::new()
                },
            }))
        }),
        Call::ConnectNumOfSecrets(()) => conn.list_all_secrets(0).map(|l| {
            Reply::ConnectNumOfSecrets(ConnectNumOfSecretsRet {
                num: l.len() as i32,
            })
        }),
        Call::ConnectListSecrets(a) => uuids(conn, a.maxuuids)
            .map(|uuids| Reply::ConnectListSecrets(ConnectListSecretsRet { uuids })),
        Call::SecretLookupByUuid(a) => conn
            .lookup_secret_by_uuid(&uuid::Uuid::from_bytes(a.uuid))
            .map(|s| Reply::SecretLookupByUuid(SecretLookupByUuidRet { secret: wire(&s) })),
        Call::SecretLookupByUsage(a) => conn
            .lookup_secret_by_usage(a.usage_type, &a.usage_id)
            .map(|s| Reply::SecretLookupByUsage(SecretLookupByUsageRet { secret: wire(&s) })),
        Call::SecretDefineXml(a) => conn
            .define_secret_xml(&a.xml, a.flags)
            .map(|s| Reply::SecretDefineXml(SecretDefineXmlRet { secret: wire(&s) })),
        Call::SecretGetXmlDesc(a) => conn
            .secret(secret(a.secret))
            .xml_desc(a.flags)
            .map(|xml| Reply::SecretGetXmlDesc(SecretGetXmlDescRet { xml })),
        Call::SecretSetValue(a) => conn
            .secret(secret(a.secret))
            .set_value(&a.value, a.flags)
            .map(Reply::SecretSetValue),
        Call::SecretGetValue(a) => conn.secret(secret(a.secret)).value(a.flags).map(|v| {
            Reply::SecretGetValue(SecretGetValueRet {
                value: v.expose().to_vec(),
            })
        }),
        Call::SecretUndefine(a) => conn
            .secret(secret(a.secret))
            .undefine()
            .map(Reply::SecretUndefine),
        other => return Routed::Pass(other),
    };
    Routed::Done(result)
}
