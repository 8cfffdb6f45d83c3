//! Hostile input: arbitrary and mutated bytes must never panic, and decoding
//! must never reserve memory out of proportion to the bytes received.

use std::io::Cursor;

use proptest::prelude::*;

use super::ALLOC_PER_BYTE;
use crate::packet::{
    MAX_PACKET_LEN, MessageError, Packet, PacketDecoder, PacketError, read_packet,
};
use crate::protocol::*;
use crate::xdr::{XdrDecode, XdrReader, to_bytes};

/// Replies holding C `char`s, which accept two spellings of bytes >= 0x80.
const HAS_CHARS: &[i32] = &[
    REMOTE_PROC_NODE_GET_INFO,
    REMOTE_PROC_NODE_GET_SECURITY_MODEL,
    REMOTE_PROC_DOMAIN_GET_SECURITY_LABEL,
    REMOTE_PROC_DOMAIN_GET_SECURITY_LABEL_LIST,
    REMOTE_PROC_STORAGE_VOL_GET_INFO,
    REMOTE_PROC_STORAGE_VOL_GET_INFO_FLAGS,
];

/// Runs every typed decoder over `bytes`; checks the allocation bound.
fn decode_everything(bytes: &[u8]) {
    let bound = ALLOC_PER_BYTE * bytes.len();
    for &procedure in CALL_PROCEDURES {
        let mut r = XdrReader::new(bytes);
        let _ = Call::decode_from(procedure, &mut r);
        assert!(
            r.allocated() <= bound,
            "call {procedure}: {} > {bound}",
            r.allocated()
        );
        let mut r = XdrReader::new(bytes);
        let _ = Reply::decode_from(procedure, &mut r);
        assert!(
            r.allocated() <= bound,
            "reply {procedure}: {} > {bound}",
            r.allocated()
        );
        // The public entry points too (they add the trailing-bytes check), and
        // decoding is canonical: whatever decodes re-encodes to the same bytes.
        if let Ok(call) = Call::decode(procedure, bytes) {
            assert_eq!(to_bytes(&call).unwrap(), bytes, "{call:?}");
        }
        if let Ok(reply) = Reply::decode(procedure, bytes)
            && !HAS_CHARS.contains(&procedure)
        {
            assert_eq!(to_bytes(&reply).unwrap(), bytes, "{reply:?}");
        }
    }
    for &procedure in EVENT_PROCEDURES {
        let mut r = XdrReader::new(bytes);
        let _ = Event::decode_from(procedure, &mut r);
        assert!(r.allocated() <= bound);
        if let Ok(event) = Event::decode(procedure, bytes) {
            assert_eq!(to_bytes(&event).unwrap(), bytes);
        }
    }
    let mut r = XdrReader::new(bytes);
    let _ = MessageError::decode(&mut r);
    assert!(r.allocated() <= bound);
}

/// Feeds `bytes` to the incremental decoder in `chunk`-sized reads.
fn decode_stream(bytes: &[u8], chunk: usize) {
    let mut dec = PacketDecoder::new();
    for piece in bytes.chunks(chunk.max(1)) {
        dec.feed(piece);
        loop {
            match dec.next_packet() {
                Ok(Some(p)) => decode_everything(&p.payload),
                Ok(None) => break,
                // Out of sync: a real connection is dropped here.
                Err(_) => return,
            }
        }
        assert!(dec.buffered() <= bytes.len());
    }
    let _ = read_packet(&mut Cursor::new(bytes));
}

/// Overwrites the 4-byte word at `at` (rounded to alignment) with `value`.
fn poke(bytes: &mut [u8], at: usize, value: u32) {
    if bytes.len() >= 4 {
        let at = (at % (bytes.len() / 4)) * 4;
        bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
    }
}

/// Values that make lengths and counts interesting.
fn nasty_word() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(2),
        Just(0xffff_ffff),
        Just(0x8000_0000),
        Just(16_384),
        Just(16_385),
        Just(4_194_304),
        Just(4_194_305),
        Just(MAX_PACKET_LEN),
        Just(MAX_PACKET_LEN + 1),
        any::<u32>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
    }

    #[test]
    fn arbitrary_streams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                                     chunk in 1usize..64) {
        decode_stream(&bytes, chunk);
    }

    /// Valid messages with one word replaced reach far deeper than noise.
    #[test]
    fn mutated_calls_never_panic(call: Call, at: usize, value in nasty_word(), cut: usize) {
        let mut payload = to_bytes(&call).unwrap();
        poke(&mut payload, at, value);
        decode_everything(&payload);
        payload.truncate(cut % (payload.len() + 1));
        decode_everything(&payload);
    }

    #[test]
    fn mutated_replies_never_panic(reply: Reply, at: usize, value in nasty_word()) {
        let mut payload = to_bytes(&reply).unwrap();
        poke(&mut payload, at, value);
        decode_everything(&payload);
    }

    #[test]
    fn mutated_packets_never_panic(call: Call, serial: u32, at: usize, value in nasty_word(),
                                   chunk in 1usize..256) {
        let mut bytes = Packet::call(call.procedure(), serial, &call).unwrap().to_bytes().unwrap();
        poke(&mut bytes, at, value);
        decode_stream(&bytes, chunk);
    }
}

#[test]
fn bad_lengths_are_refused_from_the_length_word_alone() {
    for (len, short) in [
        (0u32, true),
        (27, true),
        (MAX_PACKET_LEN + 1, false),
        (u32::MAX, false),
    ] {
        let mut dec = PacketDecoder::new();
        dec.feed(&len.to_be_bytes());
        let err = dec.next_packet().unwrap_err();
        if short {
            assert!(matches!(err, PacketError::TooShort { .. }), "{err}");
        } else {
            assert!(matches!(err, PacketError::TooLong { .. }), "{err}");
        }
        assert!(read_packet(&mut Cursor::new(len.to_be_bytes())).is_err());
    }
}

#[test]
fn a_maximal_length_claim_buffers_only_what_arrives() {
    let mut dec = PacketDecoder::new();
    dec.feed(&MAX_PACKET_LEN.to_be_bytes());
    assert!(dec.next_packet().unwrap().is_none());
    assert_eq!(dec.buffered(), 4);
    assert_eq!(dec.wanted(), MAX_PACKET_LEN as usize - 4);
    // The blocking reader reports the truncation without a 32 MiB buffer.
    let mut bytes = MAX_PACKET_LEN.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0; 24]);
    assert!(matches!(
        read_packet(&mut Cursor::new(bytes)),
        Err(PacketError::Truncated { got: 28, .. })
    ));
}

#[test]
fn maximal_lists_decode_and_one_more_is_refused() {
    use crate::protocol::{ConnectListDomainsRet, REMOTE_DOMAIN_LIST_MAX};
    let ids = ConnectListDomainsRet {
        ids: (0..REMOTE_DOMAIN_LIST_MAX as i32).collect(),
    };
    let bytes = to_bytes(&ids).unwrap();
    let back = Reply::decode(crate::protocol::REMOTE_PROC_CONNECT_LIST_DOMAINS, &bytes).unwrap();
    assert_eq!(back, Reply::ConnectListDomains(ids.clone()));
    let mut too_many = ids;
    too_many.ids.push(0);
    assert!(to_bytes(&too_many).is_err());
}

#[test]
fn oversized_messages_are_refused_when_built() {
    let header = crate::packet::Header::call(1, 0);
    let big = vec![0u8; MAX_PACKET_LEN as usize];
    assert!(matches!(
        Packet::stream_data(&header, big),
        Err(PacketError::TooLong { .. })
    ));
    // The largest payload that fits is accepted.
    let fits = vec![0u8; (MAX_PACKET_LEN - 28) as usize];
    let packet = Packet::stream_data(&header, fits).unwrap();
    assert_eq!(packet.to_bytes().unwrap().len(), MAX_PACKET_LEN as usize);
}
