//! A client and a server talking over a socket pair with this API, as the
//! daemon and the remote client will: the connect sequence virsh uses, a
//! typed call, an error reply for an unknown procedure, keepalive, an event,
//! and a volume upload and download with streams.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::thread;

use crate::packet::{
    Header, MessageError, MessageStatus, MessageType, Packet, PacketDecoder, encode_message,
    read_packet, write_packet,
};
use crate::protocol::*;

const VIR_ERR_NO_SUPPORT: i32 = 3;
const VIR_FROM_RPC: i32 = 7;

fn test_domain() -> NonnullDomain {
    NonnullDomain {
        name: "test".into(),
        uuid: [1; 16],
        id: 1,
    }
}

fn test_vol() -> NonnullStorageVol {
    NonnullStorageVol {
        pool: "sp".into(),
        name: "s.raw".into(),
        key: "/tmp/sp/s.raw".into(),
    }
}

/// The procedures [`serve`] answers.
const SERVES: &[i32] = &[
    REMOTE_PROC_AUTH_LIST,
    REMOTE_PROC_CONNECT_OPEN,
    REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS,
    REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
    REMOTE_PROC_STORAGE_VOL_UPLOAD,
    REMOTE_PROC_STORAGE_VOL_DOWNLOAD,
    REMOTE_PROC_CONNECT_CLOSE,
];

/// A tiny server: reads calls, answers them, streams for upload/download.
fn serve(mut sock: UnixStream) {
    let mut uploaded = Vec::new();
    while let Some(packet) = read_packet(&mut sock).unwrap() {
        let h = packet.header;
        if h.is_ping() {
            write_packet(&mut sock, &Packet::pong()).unwrap();
            continue;
        }
        match (h.msg_type, h.status) {
            (MessageType::Call, _) => {}
            // Upload data: collect until the client's STREAM/OK, then confirm.
            (MessageType::Stream, MessageStatus::Continue) => {
                uploaded.extend_from_slice(&packet.payload);
                continue;
            }
            (MessageType::Stream, MessageStatus::Ok) => {
                write_packet(&mut sock, &Packet::stream_finish(&h)).unwrap();
                continue;
            }
            other => panic!("server got {other:?}"),
        }
        // What it does not serve it refuses before reading the payload, as
        // wirtd does: every libvirt procedure would decode.
        if !SERVES.contains(&h.procedure) {
            let err = MessageError::new(
                VIR_ERR_NO_SUPPORT,
                VIR_FROM_RPC,
                format!("unknown procedure: {}", h.procedure),
            );
            write_packet(&mut sock, &Packet::error_reply(&h, &err).unwrap()).unwrap();
            continue;
        }
        let reply = match Call::decode(h.procedure, &packet.payload) {
            Ok(Call::AuthList(())) => Reply::AuthList(AuthListRet {
                types: vec![AuthType::None],
            }),
            Ok(Call::ConnectOpen(_)) => Reply::ConnectOpen(()),
            Ok(Call::ConnectListAllDomains(_)) => {
                Reply::ConnectListAllDomains(ConnectListAllDomainsRet {
                    domains: vec![test_domain()],
                    ret: 1,
                })
            }
            Ok(Call::ConnectDomainEventCallbackRegisterAny(_)) => {
                // Reply first, then the event: ordering on one socket.
                let reply = Packet::reply(
                    &h,
                    &ConnectDomainEventCallbackRegisterAnyRet { callback_id: 7 },
                )
                .unwrap();
                write_packet(&mut sock, &reply).unwrap();
                let event = DomainEventCallbackLifecycleMsg {
                    callback_id: 7,
                    msg: DomainEventLifecycleMsg {
                        dom: test_domain(),
                        event: 3,
                        detail: 0,
                    },
                };
                write_packet(
                    &mut sock,
                    &Packet::event(REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE, &event).unwrap(),
                )
                .unwrap();
                continue;
            }
            Ok(Call::StorageVolUpload(_)) => Reply::StorageVolUpload(()),
            Ok(Call::StorageVolDownload(args)) => {
                sock.write_all(&encode_message(&h.reply(), &()).unwrap())
                    .unwrap();
                let data = uploaded[args.offset as usize..].to_vec();
                write_packet(&mut sock, &Packet::stream_data(&h, data).unwrap()).unwrap();
                // Empty CONTINUE: end of data. The client then sends STREAM/OK.
                write_packet(&mut sock, &Packet::stream_data(&h, Vec::new()).unwrap()).unwrap();
                continue;
            }
            Ok(Call::ConnectClose(())) => {
                write_packet(&mut sock, &Packet::reply(&h, &()).unwrap()).unwrap();
                return;
            }
            Ok(other) => panic!("unexpected call {other:?}"),
            Err(e) => panic!("{e}"),
        };
        write_packet(&mut sock, &Packet::reply(&h, &reply).unwrap()).unwrap();
    }
}

/// The client side: one call, one typed reply.
struct Client {
    sock: UnixStream,
    dec: PacketDecoder,
    serial: u32,
}

impl Client {
    fn recv(&mut self) -> Packet {
        let mut buf = [0u8; 7]; // deliberately small reads
        loop {
            if let Some(p) = self.dec.next_packet().unwrap() {
                return p;
            }
            let n = std::io::Read::read(&mut self.sock, &mut buf).unwrap();
            assert!(n > 0, "server hung up");
            self.dec.feed(&buf[..n]);
        }
    }

    fn call<A: crate::xdr::XdrEncode, R: crate::xdr::XdrDecode>(
        &mut self,
        procedure: i32,
        args: &A,
    ) -> Result<R, Box<MessageError>> {
        self.serial += 1;
        write_packet(
            &mut self.sock,
            &Packet::call(procedure, self.serial, args).unwrap(),
        )
        .unwrap();
        let reply = self.recv();
        assert_eq!(reply.header.serial, self.serial);
        assert_eq!(reply.header.procedure, procedure);
        match reply.error() {
            // Boxed: the error struct is 200 bytes, too big for a Result.
            Some(err) => Err(Box::new(err.unwrap())),
            None => Ok(reply.decode().unwrap()),
        }
    }
}

#[test]
fn client_and_server_talk() {
    let (client_sock, server_sock) = UnixStream::pair().unwrap();
    let server = thread::spawn(move || serve(server_sock));
    let mut c = Client {
        sock: client_sock,
        dec: PacketDecoder::new(),
        serial: 0,
    };

    let auth: AuthListRet = c.call(REMOTE_PROC_AUTH_LIST, &()).unwrap();
    assert_eq!(auth.types, [AuthType::None]);
    let open = ConnectOpenArgs {
        name: Some("test:///default".into()),
        flags: 0,
    };
    c.call::<_, ()>(REMOTE_PROC_CONNECT_OPEN, &open).unwrap();
    let list: ConnectListAllDomainsRet = c
        .call(
            REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS,
            &ConnectListAllDomainsArgs {
                need_results: 1,
                flags: 0,
            },
        )
        .unwrap();
    assert_eq!(list.domains, [test_domain()]);

    // A procedure the server does not know: NO_SUPPORT, connection intact.
    let err = c
        .call::<_, ()>(REMOTE_PROC_DOMAIN_MIGRATE_PREPARE, &())
        .unwrap_err();
    assert_eq!(err.code, VIR_ERR_NO_SUPPORT);
    assert_eq!(
        err.to_string(),
        format!("unknown procedure: {REMOTE_PROC_DOMAIN_MIGRATE_PREPARE}")
    );

    write_packet(&mut c.sock, &Packet::ping()).unwrap();
    let pong = c.recv();
    assert_eq!(pong.header, Packet::pong().header);

    // Events arrive as MESSAGE packets after the registration's reply.
    let reg = ConnectDomainEventCallbackRegisterAnyArgs {
        event_id: VIR_DOMAIN_EVENT_ID_LIFECYCLE,
        dom: None,
    };
    let id: ConnectDomainEventCallbackRegisterAnyRet = c
        .call(REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, &reg)
        .unwrap();
    let event = c.recv();
    assert_eq!(event.header.msg_type, MessageType::Message);
    let Event::DomainEventCallbackLifecycle(msg) =
        Event::decode(event.header.procedure, &event.payload).unwrap()
    else {
        panic!("wrong event");
    };
    assert_eq!((msg.callback_id, msg.msg.event), (id.callback_id, 3));

    // Upload: call, reply, data packets, STREAM/OK each way.
    let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    let args = StorageVolUploadArgs {
        vol: test_vol(),
        offset: 0,
        length: data.len() as u64,
        flags: 0,
    };
    c.call::<_, ()>(REMOTE_PROC_STORAGE_VOL_UPLOAD, &args)
        .unwrap();
    let upload = Header::call(REMOTE_PROC_STORAGE_VOL_UPLOAD, c.serial);
    for chunk in data.chunks(4096) {
        write_packet(
            &mut c.sock,
            &Packet::stream_data(&upload, chunk.to_vec()).unwrap(),
        )
        .unwrap();
    }
    write_packet(&mut c.sock, &Packet::stream_finish(&upload)).unwrap();
    let done = c.recv();
    assert_eq!(
        (done.header.msg_type, done.header.status),
        (MessageType::Stream, MessageStatus::Ok)
    );

    // Download: call, reply, data until an empty CONTINUE, then STREAM/OK.
    c.call::<_, ()>(
        REMOTE_PROC_STORAGE_VOL_DOWNLOAD,
        &StorageVolDownloadArgs {
            vol: args.vol.clone(),
            offset: 100,
            length: args.length,
            flags: args.flags,
        },
    )
    .unwrap();
    let mut got = Vec::new();
    loop {
        let p = c.recv();
        assert_eq!(p.header.msg_type, MessageType::Stream);
        if p.payload.is_empty() {
            break;
        }
        got.extend_from_slice(&p.payload);
    }
    assert_eq!(got, data[100..]);
    let download = Header::call(REMOTE_PROC_STORAGE_VOL_DOWNLOAD, c.serial);
    write_packet(&mut c.sock, &Packet::stream_finish(&download)).unwrap();
    let done = c.recv();
    assert_eq!(done.header.status, MessageStatus::Ok);

    c.call::<_, ()>(REMOTE_PROC_CONNECT_CLOSE, &()).unwrap();
    server.join().unwrap();
}

#[test]
fn node_info_model_is_a_c_string() {
    let mut info = NodeGetInfoRet::default();
    info.set_model("x86_64");
    assert_eq!(info.model_str(), "x86_64");
    info.set_model(&"y".repeat(40));
    assert_eq!(info.model_str().len(), 31);
    // 32 chars of 4 bytes each, then hyper + 6 ints.
    assert_eq!(crate::xdr::to_bytes(&info).unwrap().len(), 128 + 8 + 24);
    let label = string_to_c_chars("unconfined");
    assert_eq!(label.last(), Some(&0));
    assert_eq!(c_chars_to_string(&label), "unconfined");
}
