//! Migration parameters between libvirt's typed-parameter lists and the
//! API's [`MigrateParams`], both ways, with libvirt's names.

use wirt::connect::{Error, MigrateParams, Result, param_names as names};
use wirt::error::ErrorCode;

use crate::protocol::{TypedParam, TypedParamValue};

fn string(field: &str, value: &TypedParamValue) -> Result<String> {
    match value {
        TypedParamValue::String(s) => Ok(s.clone()),
        _ => Err(mistyped(field)),
    }
}

fn mistyped(field: &str) -> Error {
    Error::api(
        ErrorCode::INVALID_ARG,
        format!("invalid type for parameter '{field}'"),
    )
}

/// Reads a list as libvirt's drivers validate it: unknown names refused.
pub(crate) fn from_wire(params: &[TypedParam]) -> Result<MigrateParams> {
    let mut out = MigrateParams::default();
    for p in params {
        let v = &p.value;
        match p.field.as_str() {
            names::URI => out.uri = Some(string(&p.field, v)?),
            names::DEST_NAME => out.dest_name = Some(string(&p.field, v)?),
            names::DEST_XML => out.dest_xml = Some(string(&p.field, v)?),
            names::PERSIST_XML => out.persist_xml = Some(string(&p.field, v)?),
            names::LISTEN_ADDRESS => out.listen_address = Some(string(&p.field, v)?),
            names::BANDWIDTH => {
                out.bandwidth_mib_s = Some(match v {
                    TypedParamValue::Ullong(n) => *n,
                    TypedParamValue::Uint(n) => u64::from(*n),
                    _ => return Err(mistyped(&p.field)),
                })
            }
            other => {
                return Err(Error::api(
                    ErrorCode::ARGUMENT_UNSUPPORTED,
                    format!("parameter '{other}' not supported"),
                ));
            }
        }
    }
    Ok(out)
}

/// The list a libvirt client would send for `params`.
pub(crate) fn to_wire(params: &MigrateParams) -> Vec<TypedParam> {
    let mut out = Vec::new();
    let mut s = |field: &str, value: &Option<String>| {
        if let Some(v) = value {
            out.push(TypedParam {
                field: field.to_string(),
                value: TypedParamValue::String(v.clone()),
            });
        }
    };
    s(names::URI, &params.uri);
    s(names::DEST_NAME, &params.dest_name);
    s(names::DEST_XML, &params.dest_xml);
    s(names::PERSIST_XML, &params.persist_xml);
    s(names::LISTEN_ADDRESS, &params.listen_address);
    if let Some(b) = params.bandwidth_mib_s {
        out.push(TypedParam {
            field: names::BANDWIDTH.to_string(),
            value: TypedParamValue::Ullong(b),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_go_both_ways_and_unknown_names_are_refused() {
        let p = MigrateParams {
            uri: Some("tcp://h:1".into()),
            dest_name: Some("d".into()),
            bandwidth_mib_s: Some(5),
            ..Default::default()
        };
        assert_eq!(from_wire(&to_wire(&p)).unwrap(), p);
        let bad = [TypedParam {
            field: "compression".into(),
            value: TypedParamValue::String("xbzrle".into()),
        }];
        assert_eq!(
            from_wire(&bad).unwrap_err().code(),
            ErrorCode::ARGUMENT_UNSUPPORTED
        );
    }
}
