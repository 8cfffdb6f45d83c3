//! Every generated `Call`, `Reply` and `Event` variant survives encode →
//! decode, each procedure tested on its own so none is left to chance.

use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, TestRunner};

use crate::generated::*;
use crate::xdr::{XdrDecode, XdrEncode, XdrError, from_bytes, to_bytes};

/// Cases per procedure: 443 procedures × 3 enums keeps this quick while
/// still reaching arrays, options and union arms of every type.
const CASES: u32 = 24;
/// `xdr_struct!` makes arrays of up to 100 elements before cutting them to
/// 8, so a few replies of arrays of arrays (all-domain stats, fsinfo,
/// interface addresses) take ~0.5 s a case; those get fewer cases, never
/// fewer than this.
const MIN_CASES: u32 = 4;
const BUDGET: std::time::Duration = std::time::Duration::from_millis(300);

fn check_all<T>(
    procedures: &[i32],
    strategy: impl Fn(i32) -> Option<BoxedStrategy<T>>,
    parts: impl Fn(&T) -> (i32, usize),
    decode: impl Fn(i32, &[u8]) -> Result<T, ProtocolError>,
) where
    T: XdrEncode + PartialEq + std::fmt::Debug,
{
    for &procedure in procedures {
        let strategy = strategy(procedure).unwrap_or_else(|| panic!("no strategy for {procedure}"));
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            ..Config::default()
        });
        let start = std::time::Instant::now();
        for case in 0..CASES {
            if case >= MIN_CASES && start.elapsed() > BUDGET {
                break;
            }
            let value = strategy.new_tree(&mut runner).unwrap().current();
            let (number, min) = parts(&value);
            assert_eq!(number, procedure);
            let bytes = to_bytes(&value).unwrap();
            assert_eq!(bytes.len() % 4, 0);
            assert!(
                bytes.len() >= min,
                "{value:?} is shorter than its MIN_WIRE_SIZE"
            );
            let back = decode(procedure, &bytes).unwrap_or_else(|e| panic!("{value:?}: {e}"));
            assert_eq!(back, value);
        }
    }
}

#[test]
fn every_call_roundtrips() {
    assert_eq!(CALL_PROCEDURES.len() + EVENT_PROCEDURES.len(), 443);
    check_all(
        CALL_PROCEDURES,
        Call::arbitrary_for,
        |c| (c.procedure(), c.min_wire_size()),
        Call::decode,
    );
}

#[test]
fn every_reply_roundtrips() {
    assert_eq!(REPLY_PROCEDURES, CALL_PROCEDURES);
    check_all(
        REPLY_PROCEDURES,
        Reply::arbitrary_for,
        |r| (r.procedure(), r.min_wire_size()),
        Reply::decode,
    );
}

#[test]
fn every_event_roundtrips() {
    check_all(
        EVENT_PROCEDURES,
        Event::arbitrary_for,
        |e| (e.procedure(), e.min_wire_size()),
        Event::decode,
    );
}

#[test]
fn procedure_table_matches_libvirt_9_0() {
    assert_eq!(PROCEDURE_INFO.len(), 443);
    assert_eq!(REMOTE_PROC_LAST, 443);
    for (i, info) in PROCEDURE_INFO.iter().enumerate() {
        assert_eq!(info.number, i as i32 + 1);
        assert_eq!(procedure_name(info.number), Some(info.name));
        assert_eq!(
            Procedure::try_from(info.number).map(i32::from).unwrap(),
            info.number
        );
    }
    assert_eq!(procedure_name(0), None);
    assert_eq!(procedure_name(444), None);
}

#[test]
fn annotations_reach_the_table() {
    use StreamDirection::*;
    let streams: Vec<(i32, StreamDirection)> = PROCEDURE_INFO
        .iter()
        .filter_map(|p| Some((p.number, p.stream?)))
        .collect();
    // 304 has no annotation in the .x (libvirt sets its stream up by hand).
    let expected = [
        (REMOTE_PROC_DOMAIN_MIGRATE_PREPARE_TUNNEL, Upload),
        (REMOTE_PROC_DOMAIN_OPEN_CONSOLE, Download),
        (REMOTE_PROC_STORAGE_VOL_UPLOAD, Upload),
        (REMOTE_PROC_STORAGE_VOL_DOWNLOAD, Download),
        (REMOTE_PROC_DOMAIN_SCREENSHOT, Download),
        (REMOTE_PROC_DOMAIN_MIGRATE_PREPARE_TUNNEL3, Upload),
        (REMOTE_PROC_DOMAIN_OPEN_CHANNEL, Download),
        (REMOTE_PROC_DOMAIN_MIGRATE_PREPARE_TUNNEL3_PARAMS, Upload),
    ];
    assert_eq!(streams, expected);
    for (p, d) in expected {
        assert_eq!(stream_direction(p), Some(d));
    }
    assert_eq!(stream_direction(REMOTE_PROC_DOMAIN_CREATE), None);
    let upload = procedure_info(REMOTE_PROC_STORAGE_VOL_UPLOAD).unwrap();
    assert_eq!(
        upload.sparse_flag,
        Some("VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM")
    );
    assert_eq!(upload.acl, ["storage_vol:data_write"]);
    assert_eq!(priority(REMOTE_PROC_CONNECT_OPEN), Some(Priority::High));
    assert_eq!(priority(REMOTE_PROC_DOMAIN_CREATE), Some(Priority::Low));
    let list = procedure_info(REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS).unwrap();
    assert_eq!(list.acl_filter, ["domain:getattr"]);
    assert_eq!(list.args, "ConnectListAllDomainsArgs");
    assert_eq!(procedure_info(REMOTE_PROC_CONNECT_CLOSE).unwrap().ret, "()");
    let event = procedure_info(REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE).unwrap();
    assert_eq!(event.event, Some("DomainEventCallbackLifecycleMsg"));
    assert!(Call::decode(REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE, &[]).is_err());
}

#[test]
fn unknown_enum_values_and_discriminants_are_errors() {
    assert!(matches!(
        AuthType::try_from(3),
        Err(XdrError::InvalidDiscriminant { value: 3, .. })
    ));
    assert_eq!(AuthType::try_from(2).unwrap(), AuthType::Polkit);
    assert!(from_bytes::<AuthType>(&[0, 0, 0, 9]).is_err());
    assert!(Procedure::try_from(0).is_err());
    // A typed parameter with type 8 (no such VIR_TYPED_PARAM_*).
    let bytes = [0, 0, 0, 8, 0, 0, 0, 0];
    assert!(matches!(
        from_bytes::<TypedParamValue>(&bytes),
        Err(XdrError::InvalidDiscriminant {
            what: "remote_typed_param_value",
            value: 8
        })
    ));
    let d = TypedParamValue::Double(f64::NAN);
    assert_eq!(
        from_bytes::<TypedParamValue>(&to_bytes(&d).unwrap()).unwrap(),
        d
    );
    assert_eq!(<TypedParamValue as XdrDecode>::MIN_WIRE_SIZE, 4);
}

#[test]
fn limits_are_those_of_the_x_file() {
    assert_eq!(REMOTE_STRING_MAX, crate::xdr::REMOTE_STRING_MAX);
    assert_eq!(REMOTE_SECURITY_MODEL_MAX, 257);
    assert_eq!(REMOTE_SECURITY_LABEL_MAX, 4097);
    assert_eq!(REMOTE_PROGRAM, 0x2000_8086);
    // A list one longer than REMOTE_DOMAIN_LIST_MAX is refused from its count.
    let mut bytes = (REMOTE_DOMAIN_LIST_MAX + 1).to_be_bytes().to_vec();
    bytes.extend([0; 4]);
    let err = Reply::decode(REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS, &bytes).unwrap_err();
    assert!(
        matches!(
            err,
            ProtocolError::Decode {
                source: XdrError::TooLong { .. },
                ..
            }
        ),
        "{err}"
    );
    let label = DomainGetSecurityLabelRet {
        label: vec![1; 4098],
        enforcing: 0,
    };
    assert!(to_bytes(&label).is_err());
}
