//! Byte-exact replays of `rpc-traces-libvirt-9.0.txt`: packets that virsh,
//! python-libvirt and a real libvirtd 9.0 exchanged, captured by a logging
//! proxy. Every complete packet is parsed, decoded into its typed message,
//! re-encoded and compared with the original bytes.

use super::hex;
use crate::packet::{
    EVENT_SERIAL, Header, KEEPALIVE_PROC_PING, KEEPALIVE_PROGRAM, MessageError, MessageStatus,
    MessageType, Packet, PacketDecoder, encode_message,
};
use crate::protocol::*;

const TRACES: &str = include_str!("rpc-traces-libvirt-9.0.txt");

/// One line of the trace file.
struct TraceLine {
    conn: String,
    from_client: bool,
    header: Header,
    len: Option<u32>,
    payload: Vec<u8>,
    /// The capture cut the payload short ("...").
    truncated: bool,
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|tok| tok.strip_prefix(key)?.strip_prefix('='))
}

/// `66(AUTH_LIST)` → 66; `REMOTE(0x20008086)` → 0x20008086.
fn number(value: &str) -> i64 {
    if let Some(hex) = value
        .split_once("(0x")
        .map(|(_, h)| h.trim_end_matches(')'))
    {
        return i64::from_str_radix(hex, 16).unwrap();
    }
    value.split('(').next().unwrap().parse().unwrap()
}

fn parse(line: &str) -> Option<TraceLine> {
    let mut words = line.split_whitespace();
    let conn = words.next()?.to_owned();
    let dir = words.next()?;
    if !dir.contains("->") {
        return None;
    }
    let msg_type = match field(line, "type")? {
        "CALL" => MessageType::Call,
        "REPLY" => MessageType::Reply,
        "MESSAGE" => MessageType::Message,
        "STREAM" => MessageType::Stream,
        other => panic!("type {other}"),
    };
    let status = match field(line, "status")? {
        "OK" => MessageStatus::Ok,
        "ERROR" => MessageStatus::Error,
        "CONTINUE" => MessageStatus::Continue,
        other => panic!("status {other}"),
    };
    let raw = field(line, "payload").unwrap_or("");
    let truncated = raw.ends_with("...");
    Some(TraceLine {
        conn,
        from_client: dir == "C->S",
        header: Header {
            program: number(field(line, "prog")?) as u32,
            version: field(line, "vers").map_or(1, |v| v.parse().unwrap()),
            procedure: number(field(line, "proc")?) as i32,
            msg_type,
            serial: field(line, "serial")?.parse().unwrap(),
            status,
        },
        len: field(line, "len").map(|v| v.parse().unwrap()),
        payload: hex(raw.trim_end_matches("...")),
        truncated,
    })
}

fn lines() -> Vec<TraceLine> {
    TRACES.lines().filter_map(parse).collect()
}

fn frame(t: &TraceLine) -> Vec<u8> {
    let bytes = Packet::new(t.header, t.payload.clone()).to_bytes().unwrap();
    if let Some(len) = t.len {
        assert_eq!(
            len as usize,
            bytes.len(),
            "len word of {}",
            t.header.procedure
        );
    }
    // Independently built header bytes, so `to_bytes` is checked too.
    let mut expect = (bytes.len() as u32).to_be_bytes().to_vec();
    for word in [
        t.header.program,
        t.header.version,
        t.header.procedure as u32,
        t.header.msg_type.to_i32() as u32,
        t.header.serial,
        t.header.status.to_i32() as u32,
    ] {
        expect.extend_from_slice(&word.to_be_bytes());
    }
    expect.extend_from_slice(&t.payload);
    assert_eq!(bytes, expect);
    bytes
}

/// Decodes the payload by the header, re-encodes it and checks the bytes.
/// Returns a label of what it checked.
fn replay(t: &TraceLine) -> &'static str {
    let bytes = frame(t);
    let packet = Packet::from_bytes(&bytes).unwrap();
    assert_eq!(packet.header, t.header);
    let h = &t.header;
    if h.program == KEEPALIVE_PROGRAM {
        assert!(t.payload.is_empty());
        assert!(matches!(h.procedure, 1 | 2));
        let expect = if h.procedure == 1 {
            Packet::ping()
        } else {
            Packet::pong()
        };
        assert_eq!(expect.to_bytes().unwrap(), bytes);
        return "keepalive";
    }
    assert_eq!(h.program, REMOTE_PROGRAM);
    match (h.msg_type, h.status) {
        (MessageType::Call, MessageStatus::Ok) => {
            let call = Call::decode(h.procedure, &t.payload).unwrap();
            assert_eq!(encode_message(h, &call).unwrap(), bytes);
            assert_eq!(
                Packet::call(h.procedure, h.serial, &call)
                    .unwrap()
                    .to_bytes()
                    .unwrap(),
                bytes
            );
            "call"
        }
        (MessageType::Reply, MessageStatus::Ok) => {
            let reply = Reply::decode(h.procedure, &t.payload).unwrap();
            let call = Header::call(h.procedure, h.serial);
            assert_eq!(
                Packet::reply(&call, &reply).unwrap().to_bytes().unwrap(),
                bytes
            );
            "reply"
        }
        (MessageType::Reply, MessageStatus::Error) => {
            let err: MessageError = packet.decode().unwrap();
            let call = Header::call(h.procedure, h.serial);
            assert_eq!(
                Packet::error_reply(&call, &err)
                    .unwrap()
                    .to_bytes()
                    .unwrap(),
                bytes
            );
            "error"
        }
        (MessageType::Message, MessageStatus::Ok) => {
            let event = Event::decode(h.procedure, &t.payload).unwrap();
            assert_eq!(h.serial, EVENT_SERIAL);
            assert_eq!(
                Packet::event(h.procedure, &event)
                    .unwrap()
                    .to_bytes()
                    .unwrap(),
                bytes
            );
            "event"
        }
        (MessageType::Stream, MessageStatus::Continue) => {
            let call = Header::call(h.procedure, h.serial);
            let data = Packet::stream_data(&call, t.payload.clone()).unwrap();
            assert_eq!(data.to_bytes().unwrap(), bytes);
            "stream"
        }
        (MessageType::Stream, MessageStatus::Ok) => {
            assert_eq!(
                Packet::stream_finish(&Header::call(h.procedure, h.serial))
                    .to_bytes()
                    .unwrap(),
                bytes
            );
            "stream"
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn every_complete_packet_replays_byte_exact() {
    let mut counts = std::collections::BTreeMap::new();
    for t in lines().iter().filter(|t| !t.truncated) {
        *counts.entry(replay(t)).or_insert(0) += 1;
    }
    // The file holds 226 packets, 4 of them cut short by the capture.
    assert_eq!(counts.values().sum::<usize>(), 222, "{counts:?}");
    assert!(counts["call"] >= 100 && counts["reply"] >= 90, "{counts:?}");
    assert_eq!(counts["error"], 1);
    assert_eq!(counts["event"], 1);
    assert_eq!(counts["keepalive"], 8);
    assert!(counts["stream"] >= 5, "{counts:?}");
}

/// The capture printed only the start of long payloads. Stream data was all
/// 'A's, so those packets can be rebuilt in full from their length.
#[test]
fn truncated_stream_data_rebuilds_from_its_length() {
    let mut seen = 0;
    for t in lines()
        .iter()
        .filter(|t| t.truncated && t.header.msg_type == MessageType::Stream)
    {
        assert!(t.payload.iter().all(|&b| b == b'A'));
        let len = t.len.unwrap() as usize;
        let full = TraceLine {
            payload: vec![b'A'; len - 28],
            truncated: false,
            ..clone_line(t)
        };
        assert_eq!(replay(&full), "stream");
        seen += 1;
    }
    assert_eq!(seen, 2);
}

fn clone_line(t: &TraceLine) -> TraceLine {
    TraceLine {
        conn: t.conn.clone(),
        from_client: t.from_client,
        header: t.header,
        len: t.len,
        payload: t.payload.clone(),
        truncated: t.truncated,
    }
}

/// Each direction of each connection, concatenated and fed to the
/// incremental decoder in odd-sized reads, comes back packet for packet.
#[test]
fn whole_connections_split_back_into_packets() {
    let all = lines();
    let mut conns: Vec<(&str, bool)> = all
        .iter()
        .map(|t| (t.conn.as_str(), t.from_client))
        .collect();
    conns.sort_unstable();
    conns.dedup();
    for (conn, from_client) in conns {
        let ours: Vec<&TraceLine> = all
            .iter()
            .filter(|t| t.conn == conn && t.from_client == from_client && !t.truncated)
            .collect();
        let stream: Vec<u8> = ours.iter().flat_map(|t| frame(t)).collect();
        let mut dec = PacketDecoder::new();
        let mut got = Vec::new();
        for chunk in stream.chunks(13) {
            dec.feed(chunk);
            while let Some(p) = dec.next_packet().unwrap() {
                got.push(p);
            }
        }
        assert_eq!(got.len(), ours.len(), "{conn}");
        for (p, t) in got.iter().zip(&ours) {
            assert_eq!(p.header, t.header);
            assert_eq!(p.payload, t.payload);
        }
    }
}

fn find(proc_: i32, msg_type: MessageType, status: MessageStatus) -> TraceLine {
    lines()
        .into_iter()
        .find(|t| {
            t.header.procedure == proc_
                && t.header.msg_type == msg_type
                && t.header.status == status
        })
        .unwrap_or_else(|| panic!("no {proc_} {msg_type:?} {status:?} in the trace"))
}

const TEST_UUID: Uuid = [
    0x66, 0x95, 0xeb, 0x01, 0xf6, 0xa4, 0x83, 0x04, 0x79, 0xaa, 0x97, 0xf2, 0x50, 0x2e, 0x19, 0x3f,
];

fn test_domain() -> NonnullDomain {
    NonnullDomain {
        name: "test".into(),
        uuid: TEST_UUID,
        id: 1,
    }
}

#[test]
fn connect_open_call() {
    let t = find(
        REMOTE_PROC_CONNECT_OPEN,
        MessageType::Call,
        MessageStatus::Ok,
    );
    let expect = ConnectOpenArgs {
        name: Some("test:///default".into()),
        flags: 0,
    };
    assert_eq!(
        Call::decode(1, &t.payload).unwrap(),
        Call::ConnectOpen(expect.clone())
    );
    let built = Packet::call(REMOTE_PROC_CONNECT_OPEN, t.header.serial, &expect).unwrap();
    assert_eq!(built.to_bytes().unwrap().len(), 56);
    assert_eq!(built.payload, t.payload);
}

#[test]
fn auth_list_and_features() {
    let t = find(REMOTE_PROC_AUTH_LIST, MessageType::Reply, MessageStatus::Ok);
    assert_eq!(
        t.payload,
        crate::xdr::to_bytes(&AuthListRet {
            types: vec![AuthType::None]
        })
        .unwrap()
    );
    let t = find(
        REMOTE_PROC_CONNECT_SUPPORTS_FEATURE,
        MessageType::Call,
        MessageStatus::Ok,
    );
    let call = Call::decode(t.header.procedure, &t.payload).unwrap();
    assert_eq!(
        call,
        Call::ConnectSupportsFeature(ConnectSupportsFeatureArgs {
            feature: VIR_DRV_FEATURE_PROGRAM_KEEPALIVE
        })
    );
}

#[test]
fn list_all_domains_reply() {
    let t = find(
        REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS,
        MessageType::Reply,
        MessageStatus::Ok,
    );
    let ret: ConnectListAllDomainsRet = Packet::new(t.header, t.payload.clone()).decode().unwrap();
    assert_eq!(
        ret,
        ConnectListAllDomainsRet {
            domains: vec![test_domain()],
            ret: 1
        }
    );
    let call = find(
        REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS,
        MessageType::Call,
        MessageStatus::Ok,
    );
    let args: ConnectListAllDomainsArgs = Packet::new(call.header, call.payload).decode().unwrap();
    assert_eq!(args.need_results, 1);
    assert_eq!(
        args.flags,
        VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_INACTIVE
    );
}

#[test]
fn error_reply_matches_libvirt_fields() {
    let t = find(
        REMOTE_PROC_DOMAIN_SUSPEND,
        MessageType::Reply,
        MessageStatus::Error,
    );
    let packet = Packet::from_bytes(&frame(&t)).unwrap();
    let err = packet.error().unwrap().unwrap();
    let mut expect = MessageError::new(1, 12, "internal error: domain 'test' not running");
    expect.str1 = Some("internal error: %s".into());
    expect.str2 = Some("domain 'test' not running".into());
    assert_eq!(err, expect);
    assert_eq!(err.to_string(), "internal error: domain 'test' not running");
    // Built from scratch, the error reply is the captured packet.
    let call = Header::call(REMOTE_PROC_DOMAIN_SUSPEND, 28);
    assert_eq!(
        Packet::error_reply(&call, &expect)
            .unwrap()
            .to_bytes()
            .unwrap(),
        frame(&t)
    );
}

#[test]
fn lifecycle_event_message() {
    let t = find(
        REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE,
        MessageType::Message,
        MessageStatus::Ok,
    );
    let msg = DomainEventCallbackLifecycleMsg {
        callback_id: 0,
        msg: DomainEventLifecycleMsg {
            dom: test_domain(),
            event: 3,
            detail: 0,
        },
    };
    assert_eq!(
        Event::decode(t.header.procedure, &t.payload).unwrap(),
        Event::DomainEventCallbackLifecycle(msg.clone())
    );
    let built = Packet::event(REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE, &msg).unwrap();
    assert_eq!(built.to_bytes().unwrap(), frame(&t));
    // And the registration that asked for it: lifecycle events of `test`.
    let reg = find(
        REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
        MessageType::Call,
        MessageStatus::Ok,
    );
    assert_eq!(
        Call::decode(reg.header.procedure, &reg.payload).unwrap(),
        Call::ConnectDomainEventCallbackRegisterAny(ConnectDomainEventCallbackRegisterAnyArgs {
            event_id: VIR_DOMAIN_EVENT_ID_LIFECYCLE,
            dom: Some(test_domain()),
        })
    );
}

#[test]
fn domain_get_info_reply() {
    let t = find(
        REMOTE_PROC_DOMAIN_GET_INFO,
        MessageType::Reply,
        MessageStatus::Ok,
    );
    let Reply::DomainGetInfo(info) = Reply::decode(t.header.procedure, &t.payload).unwrap() else {
        panic!("wrong variant");
    };
    assert_eq!(
        (info.state, info.max_mem, info.memory, info.nr_virt_cpu),
        (1, 8_388_608, 2_097_152, 2)
    );
}

#[test]
fn host_facts_replies() {
    let ty = find(
        REMOTE_PROC_CONNECT_GET_TYPE,
        MessageType::Reply,
        MessageStatus::Ok,
    );
    assert_eq!(
        Reply::decode(ty.header.procedure, &ty.payload).unwrap(),
        Reply::ConnectGetType(ConnectGetTypeRet {
            r#type: "TEST".into()
        })
    );
    let lib = find(
        REMOTE_PROC_CONNECT_GET_LIB_VERSION,
        MessageType::Reply,
        MessageStatus::Ok,
    );
    assert_eq!(
        Reply::decode(lib.header.procedure, &lib.payload).unwrap(),
        Reply::ConnectGetLibVersion(ConnectGetLibVersionRet { lib_ver: 9_000_000 })
    );
}

#[test]
fn define_reply_has_id_minus_one_and_create_returns_the_id() {
    let t = find(
        REMOTE_PROC_DOMAIN_DEFINE_XML,
        MessageType::Reply,
        MessageStatus::Ok,
    );
    let Reply::DomainDefineXml(DomainDefineXmlRet { dom }) =
        Reply::decode(t.header.procedure, &t.payload).unwrap()
    else {
        panic!("wrong variant");
    };
    assert_eq!((dom.name.as_str(), dom.id), ("vm1", -1));
    let t = find(
        REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS,
        MessageType::Reply,
        MessageStatus::Ok,
    );
    let Reply::DomainCreateWithFlags(DomainCreateWithFlagsRet { dom }) =
        Reply::decode(t.header.procedure, &t.payload).unwrap()
    else {
        panic!("wrong variant");
    };
    assert_eq!(dom.id, 2);
}

#[test]
fn storage_upload_call_and_stream() {
    let t = find(
        REMOTE_PROC_STORAGE_VOL_UPLOAD,
        MessageType::Call,
        MessageStatus::Ok,
    );
    let Call::StorageVolUpload(args) = Call::decode(t.header.procedure, &t.payload).unwrap() else {
        panic!("wrong variant");
    };
    assert_eq!(args.vol.pool, "sp");
    assert_eq!(args.vol.name, "s.raw");
    assert_eq!((args.offset, args.length, args.flags), (0, 8192, 0));
    assert_eq!(
        stream_direction(t.header.procedure),
        Some(StreamDirection::Upload)
    );
    assert_eq!(
        stream_direction(REMOTE_PROC_STORAGE_VOL_DOWNLOAD),
        Some(StreamDirection::Download)
    );
    // The download's end-of-data marker is an empty STREAM/CONTINUE.
    let eof = lines()
        .into_iter()
        .find(|t| {
            t.header.procedure == REMOTE_PROC_STORAGE_VOL_DOWNLOAD
                && t.header.status == MessageStatus::Continue
                && t.payload.is_empty()
        })
        .unwrap();
    let call = Header::call(REMOTE_PROC_STORAGE_VOL_DOWNLOAD, eof.header.serial);
    assert_eq!(
        Packet::stream_data(&call, Vec::new())
            .unwrap()
            .to_bytes()
            .unwrap(),
        frame(&eof)
    );
}

#[test]
fn keepalive_ping_pong() {
    // Procedure 1 is also CONNECT_OPEN, but that is never a MESSAGE.
    let ping = find(KEEPALIVE_PROC_PING, MessageType::Message, MessageStatus::Ok);
    assert!(ping.header.is_ping());
    assert_eq!(Packet::ping().to_bytes().unwrap(), frame(&ping));
}
