//! Typed parameters of the statistics procedures, read back into the
//! API's records.

use crate::protocol::{TypedParam, TypedParamValue};
use wirt::connect::{BlockStats, StatValue};

/// A counter of any integer type; what does not fit (or is no number) is 0.
fn counter(v: &TypedParamValue) -> u64 {
    match v {
        TypedParamValue::Int(v) => u64::try_from(*v).unwrap_or(0),
        TypedParamValue::Uint(v) => u64::from(*v),
        TypedParamValue::Llong(v) => u64::try_from(*v).unwrap_or(0),
        TypedParamValue::Ullong(v) => *v,
        _ => 0,
    }
}

/// `virDomainBlockStatsFlags`' parameters by libvirt's names; ones a
/// daemon does not send stay 0.
pub(super) fn block_stats(params: Vec<TypedParam>) -> BlockStats {
    let mut s = BlockStats::default();
    for p in params {
        let v = counter(&p.value);
        match p.field.as_str() {
            "rd_operations" => s.rd_req = v,
            "rd_bytes" => s.rd_bytes = v,
            "rd_total_times" => s.rd_total_ns = v,
            "wr_operations" => s.wr_req = v,
            "wr_bytes" => s.wr_bytes = v,
            "wr_total_times" => s.wr_total_ns = v,
            "flush_operations" => s.flush_req = v,
            "flush_total_times" => s.flush_total_ns = v,
            "errs" => s.errors = v,
            _ => {}
        }
    }
    s
}

/// A domain's statistics as named values; types the API has no variant
/// for are carried as text.
pub(super) fn values(params: Vec<TypedParam>) -> Vec<(String, StatValue)> {
    params
        .into_iter()
        .map(|p| {
            let v = match p.value {
                TypedParamValue::Int(v) => StatValue::Int(v),
                TypedParamValue::Uint(v) => StatValue::UInt(v),
                TypedParamValue::Ullong(v) => StatValue::ULLong(v),
                TypedParamValue::Llong(v) => StatValue::String(v.to_string()),
                TypedParamValue::Double(v) => StatValue::String(v.to_string()),
                TypedParamValue::Boolean(v) => StatValue::String(v.to_string()),
                TypedParamValue::String(v) => StatValue::String(v),
            };
            (p.field, v)
        })
        .collect()
}
