//! Hostile bytes: decoding any payload as any procedure's message returns
//! an error or a value, never panics, and a value re-encodes to the bytes
//! it came from (decoding is canonical).

use proptest::prelude::*;

use crate::generated::*;
use crate::xdr::XdrReader;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        for &p in CALL_PROCEDURES {
            if let Ok(call) = Call::decode(p, &bytes) {
                prop_assert_eq!(crate::xdr::to_bytes(&call).unwrap(), bytes.clone());
            }
            let mut r = XdrReader::new(&bytes);
            let _ = Reply::decode_from(p, &mut r);
        }
        for &p in EVENT_PROCEDURES {
            let _ = Event::decode(p, &bytes);
        }
    }
}
