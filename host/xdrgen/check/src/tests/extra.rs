//! The constructs of `extra.x`, which libvirt's protocol does not use:
//! their generated code round-trips and keeps its limits.

use proptest::prelude::*;

use crate::generated_extra::*;
use crate::xdr::{XdrError, from_bytes, to_bytes};

proptest! {
    #[test]
    fn records_roundtrip(r: ExtraRecord) {
        let bytes = to_bytes(&r).unwrap();
        prop_assert_eq!(bytes.len() % 4, 0);
        prop_assert_eq!(from_bytes::<ExtraRecord>(&bytes).unwrap(), r);
    }
}

#[test]
fn default_arms_keep_unknown_discriminants() {
    let v = ExtraOpen::Default(99, ExtraBlob(vec![1, 2, 3]));
    let bytes = to_bytes(&v).unwrap();
    assert_eq!(bytes, [0, 0, 0, 99, 0, 0, 0, 3, 1, 2, 3, 0]);
    assert_eq!(from_bytes::<ExtraOpen>(&bytes).unwrap(), v);
    // A default arm may not claim a named case's number.
    let clash = ExtraOpen::Default(7, ExtraBlob(vec![]));
    assert!(matches!(
        to_bytes(&clash),
        Err(XdrError::InvalidDiscriminant { value: 7, .. })
    ));
    let v = ExtraOpenVoid::Default(-4);
    assert_eq!(
        from_bytes::<ExtraOpenVoid>(&to_bytes(&v).unwrap()).unwrap(),
        v
    );
    assert_eq!(
        from_bytes::<ExtraOpen>(&[0, 0, 0, 0]).unwrap(),
        ExtraOpen::Case0
    );
}

#[test]
fn enum_switched_unions_refuse_unknown_kinds() {
    let v = ExtraByKind::Negative(vec![ExtraName("a".into())]);
    assert_eq!(v.discriminant(), EXTRA_KIND_NEGATIVE);
    assert_eq!(to_bytes(&v).unwrap()[..4], (-3i32).to_be_bytes());
    assert_eq!(
        from_bytes::<ExtraByKind>(&to_bytes(&v).unwrap()).unwrap(),
        v
    );
    assert!(from_bytes::<ExtraByKind>(&[0, 0, 0, 4]).is_err());
    assert_eq!(ExtraKind::try_from(-3).unwrap(), ExtraKind::Negative);
}

#[test]
fn newtypes_carry_their_own_limits() {
    assert!(to_bytes(&ExtraName("x".repeat(12))).is_ok());
    assert!(matches!(
        to_bytes(&ExtraName("x".repeat(13))),
        Err(XdrError::TooLong { .. })
    ));
    assert!(to_bytes(&ExtraList(vec![0; 6])).is_err());
    let mut bytes = 6u32.to_be_bytes().to_vec();
    bytes.extend([0; 24]);
    assert!(matches!(
        from_bytes::<ExtraList>(&bytes),
        Err(XdrError::TooLong { .. })
    ));
    // An unsigned char array: each element a 4-byte unit, not packed.
    let r = ExtraRecord {
        uc: vec![1, 2],
        ..Default::default()
    };
    let bytes = to_bytes(&r).unwrap();
    assert_eq!(
        bytes[bytes.len() - 12..],
        [0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]
    );
}
