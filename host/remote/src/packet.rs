//! Packets of libvirt's RPC protocol (`virnetprotocol.x`): a `u32` length
//! that counts itself, a 24-byte header, then an XDR payload.
//!
//! ```text
//! u32 len | u32 prog | u32 vers | i32 proc | i32 type | u32 serial | i32 status | payload
//! ```
//!
//! A call is `CALL`/OK with the procedure's args; its answer is `REPLY` with
//! the same prog, vers, proc and serial, and either OK and the `*_ret` or
//! ERROR and a [`MessageError`]. Events are `MESSAGE`/OK (serial 1, as
//! libvirtd sends them), and keepalive is program [`KEEPALIVE_PROGRAM`] with `MESSAGE` packets PING and
//! PONG. Streams (volume upload/download) reuse the call's proc and serial:
//! `STREAM`/CONTINUE packets carry raw bytes (an empty one marks end of
//! data), `STREAM`/OK finishes, `STREAM`/ERROR aborts (from the server with a
//! [`MessageError`], from the client empty), and `STREAM_HOLE`/CONTINUE
//! carries a [`StreamHole`].

use std::io::{self, Read, Write};

use thiserror::Error;

use super::protocol::{NonnullDomain, NonnullNetwork, REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION};
use super::xdr::{XdrDecode, XdrEncode, XdrError, XdrReader, XdrWriter, xdr_struct};

/// `VIR_NET_MESSAGE_MAX`: the largest message, not counting the length word.
pub const VIR_NET_MESSAGE_MAX: u32 = 33_554_432;
/// `VIR_NET_MESSAGE_HEADER_MAX`: the serialised header.
pub const VIR_NET_MESSAGE_HEADER_MAX: u32 = 24;
/// `VIR_NET_MESSAGE_PAYLOAD_MAX`.
pub const VIR_NET_MESSAGE_PAYLOAD_MAX: u32 = VIR_NET_MESSAGE_MAX - VIR_NET_MESSAGE_HEADER_MAX;
/// `VIR_NET_MESSAGE_LEN_MAX`: the length word.
pub const VIR_NET_MESSAGE_LEN_MAX: u32 = 4;
/// `VIR_NET_MESSAGE_NUM_FDS_MAX`: descriptors passed with one message.
pub const VIR_NET_MESSAGE_NUM_FDS_MAX: u32 = 32;
/// `VIR_NET_MESSAGE_INITIAL`: libvirt's first buffer size, a good read size.
pub const VIR_NET_MESSAGE_INITIAL: usize = 65_536;
/// Smallest valid `len`: the length word and the header.
pub const MIN_PACKET_LEN: u32 = VIR_NET_MESSAGE_LEN_MAX + VIR_NET_MESSAGE_HEADER_MAX;
/// Largest valid `len`: libvirt checks `len - 4 <= VIR_NET_MESSAGE_MAX`.
pub const MAX_PACKET_LEN: u32 = VIR_NET_MESSAGE_MAX + VIR_NET_MESSAGE_LEN_MAX;

/// Program number of keepalive ("keep").
pub const KEEPALIVE_PROGRAM: u32 = 0x6b65_6570;
/// Keepalive protocol version.
pub const KEEPALIVE_PROTOCOL_VERSION: u32 = 1;
/// `KEEPALIVE_PROC_PING`.
pub const KEEPALIVE_PROC_PING: i32 = 1;
/// `KEEPALIVE_PROC_PONG`.
pub const KEEPALIVE_PROC_PONG: i32 = 2;

/// The serial libvirtd puts on event messages.
pub const EVENT_SERIAL: u32 = 1;

/// `VIR_ERR_ERROR`, the `level` of every error libvirt sends.
pub const VIR_ERR_ERROR: i32 = 2;

/// What can go wrong reading, writing or interpreting packets. After any
/// error but `Payload`, the byte stream is out of sync: drop the connection.
#[derive(Debug, Error)]
pub enum PacketError {
    /// `len` cannot even hold the header.
    #[error("packet length {len} is below the minimum of {MIN_PACKET_LEN}")]
    TooShort {
        /// The length word.
        len: u32,
    },
    /// `len`, or a packet being built, exceeds libvirt's limit.
    #[error("packet length {len} exceeds the maximum of {MAX_PACKET_LEN}")]
    TooLong {
        /// The length.
        len: usize,
    },
    /// A `*_WITH_FDS` packet announces more descriptors than allowed.
    #[error("packet announces {count} file descriptors, more than {VIR_NET_MESSAGE_NUM_FDS_MAX}")]
    TooManyFds {
        /// The count announced.
        count: u32,
    },
    /// The peer closed the connection in the middle of a packet.
    #[error("connection closed after {got} of {len} bytes of a packet")]
    Truncated {
        /// Bytes that arrived.
        got: usize,
        /// Bytes the length word announced.
        len: u32,
    },
    /// A buffer handed to [`Packet::from_bytes`] is not `len` bytes long.
    #[error("packet length word says {len} bytes but {actual} were given")]
    LengthMismatch {
        /// The length word.
        len: u32,
        /// The bytes there are.
        actual: usize,
    },
    /// Reading or writing the connection failed.
    #[error("RPC connection I/O failed")]
    Io(#[source] io::Error),
    /// The header or fd count could not be decoded.
    #[error("malformed packet header")]
    Header(#[source] XdrError),
    /// The payload does not match the expected type (the stream stays in sync).
    #[error("malformed payload for procedure {procedure}")]
    Payload {
        /// The procedure.
        procedure: i32,
        /// What the XDR codec found.
        #[source]
        source: XdrError,
    },
    /// A value could not be encoded (e.g. a list longer than its limit).
    #[error("cannot encode the payload for procedure {procedure}")]
    Encode {
        /// The procedure.
        procedure: i32,
        /// What the XDR codec found.
        #[source]
        source: XdrError,
    },
}

/// `virNetMessageType`. Unknown numbers are kept so a server can answer them
/// with an error instead of dropping the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// Client → server: a procedure call.
    Call,
    /// Server → client: its reply.
    Reply,
    /// Either way, unsolicited: events and keepalive.
    Message,
    /// Either way: stream data or control.
    Stream,
    /// A call followed by passed file descriptors.
    CallWithFds,
    /// A reply followed by passed file descriptors.
    ReplyWithFds,
    /// A hole (sparse region) in a stream.
    StreamHole,
    /// Any other number.
    Unknown(i32),
}

impl MessageType {
    /// The wire number.
    pub fn to_i32(self) -> i32 {
        match self {
            Self::Call => 0,
            Self::Reply => 1,
            Self::Message => 2,
            Self::Stream => 3,
            Self::CallWithFds => 4,
            Self::ReplyWithFds => 5,
            Self::StreamHole => 6,
            Self::Unknown(v) => v,
        }
    }

    /// From the wire number.
    pub fn from_i32(v: i32) -> Self {
        match v {
            0 => Self::Call,
            1 => Self::Reply,
            2 => Self::Message,
            3 => Self::Stream,
            4 => Self::CallWithFds,
            5 => Self::ReplyWithFds,
            6 => Self::StreamHole,
            v => Self::Unknown(v),
        }
    }

    /// Whether a descriptor count follows the header.
    pub fn has_fds(self) -> bool {
        matches!(self, Self::CallWithFds | Self::ReplyWithFds)
    }
}

/// `virNetMessageStatus`. Unknown numbers are kept, as for [`MessageType`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// Success, or a finished stream.
    Ok,
    /// The payload is a [`MessageError`] (or empty for a client's stream abort).
    Error,
    /// More stream data follows.
    Continue,
    /// Any other number.
    Unknown(i32),
}

impl MessageStatus {
    /// The wire number.
    pub fn to_i32(self) -> i32 {
        match self {
            Self::Ok => 0,
            Self::Error => 1,
            Self::Continue => 2,
            Self::Unknown(v) => v,
        }
    }

    /// From the wire number.
    pub fn from_i32(v: i32) -> Self {
        match v {
            0 => Self::Ok,
            1 => Self::Error,
            2 => Self::Continue,
            v => Self::Unknown(v),
        }
    }
}

/// `virNetMessageHeader`: the 24 bytes after the length word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Program number, e.g. [`REMOTE_PROGRAM`].
    pub program: u32,
    /// Program version.
    pub version: u32,
    /// Procedure number within the program.
    pub procedure: i32,
    /// Message type.
    pub msg_type: MessageType,
    /// Chosen by the client for a call, echoed by replies and streams;
    /// [`EVENT_SERIAL`] for events, 0 for keepalive.
    pub serial: u32,
    /// Status.
    pub status: MessageStatus,
}

impl Header {
    /// A `CALL` of the remote program.
    pub fn call(procedure: i32, serial: u32) -> Self {
        Self {
            program: REMOTE_PROGRAM,
            version: REMOTE_PROTOCOL_VERSION,
            procedure,
            msg_type: MessageType::Call,
            serial,
            status: MessageStatus::Ok,
        }
    }

    /// A `MESSAGE` of the remote program: an event. libvirtd sends events
    /// with serial 1 (`remoteDispatchObjectEventSend`), though
    /// `virnetprotocol.x` says 0; clients ignore it, wirt matches the daemon.
    pub fn event(procedure: i32) -> Self {
        Self {
            msg_type: MessageType::Message,
            ..Self::call(procedure, EVENT_SERIAL)
        }
    }

    /// A keepalive `MESSAGE` (`KEEPALIVE_PROC_PING` or `_PONG`).
    pub fn keepalive(procedure: i32) -> Self {
        Self {
            program: KEEPALIVE_PROGRAM,
            version: KEEPALIVE_PROTOCOL_VERSION,
            procedure,
            msg_type: MessageType::Message,
            serial: 0,
            status: MessageStatus::Ok,
        }
    }

    /// The header answering this one: same program, version, procedure and
    /// serial, with the given type and status.
    pub fn answer(&self, msg_type: MessageType, status: MessageStatus) -> Self {
        Self {
            msg_type,
            status,
            ..*self
        }
    }

    /// The header of a successful reply to this call.
    pub fn reply(&self) -> Self {
        self.answer(MessageType::Reply, MessageStatus::Ok)
    }

    /// Whether this is a keepalive PING.
    pub fn is_ping(&self) -> bool {
        self.program == KEEPALIVE_PROGRAM
            && self.msg_type == MessageType::Message
            && self.procedure == KEEPALIVE_PROC_PING
    }
}

impl XdrEncode for Header {
    fn encode(&self, w: &mut XdrWriter) -> Result<(), XdrError> {
        w.put_u32(self.program);
        w.put_u32(self.version);
        w.put_i32(self.procedure);
        w.put_i32(self.msg_type.to_i32());
        w.put_u32(self.serial);
        w.put_i32(self.status.to_i32());
        Ok(())
    }
}

impl XdrDecode for Header {
    fn decode(r: &mut XdrReader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            program: r.get_u32()?,
            version: r.get_u32()?,
            procedure: r.get_i32()?,
            msg_type: MessageType::from_i32(r.get_i32()?),
            serial: r.get_u32()?,
            status: MessageStatus::from_i32(r.get_i32()?),
        })
    }
}

xdr_struct! {
    /// `virNetMessageError` (= `remote_error`): the payload of every ERROR.
    /// libvirt always sends `dom` and `net` as null.
    pub struct MessageError {
        /// `virErrorNumber`, e.g. 3 `VIR_ERR_NO_SUPPORT`, 42 `VIR_ERR_NO_DOMAIN`.
        pub code: i32,
        /// `virErrorDomain`: where it came from, e.g. 12 `VIR_FROM_TEST`.
        pub domain: i32,
        /// The full message, as clients print it.
        pub message: Option<String>,
        /// `virErrorLevel`; 2 (`VIR_ERR_ERROR`).
        pub level: i32,
        /// The domain the error concerns (libvirt sends null).
        pub dom: Option<NonnullDomain>,
        /// For most errors, the format string of the message.
        pub str1: Option<String>,
        /// For most errors, the detail inserted into `str1`.
        pub str2: Option<String>,
        /// A third string some errors carry.
        pub str3: Option<String>,
        /// A number some errors carry (-1 otherwise).
        pub int1: i32,
        /// A second number some errors carry (-1 otherwise).
        pub int2: i32,
        /// The network the error concerns (libvirt sends null).
        pub net: Option<NonnullNetwork>,
    }
}

impl MessageError {
    /// An error as libvirt reports most of them: `level` error, the message,
    /// and `int1`/`int2` -1. Fill `str1`/`str2` for clients that read them.
    pub fn new(code: i32, domain: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            domain,
            message: Some(message.into()),
            level: VIR_ERR_ERROR,
            int1: -1,
            int2: -1,
            ..Self::default()
        }
    }
}

impl std::fmt::Display for MessageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.message {
            Some(m) => f.write_str(m),
            None => write!(f, "error code {} from domain {}", self.code, self.domain),
        }
    }
}

impl std::error::Error for MessageError {}

xdr_struct! {
    /// `virNetStreamHole`: the payload of a `STREAM_HOLE` packet.
    pub struct StreamHole {
        /// Bytes of the hole.
        pub length: i64,
        /// No flags are defined; 0.
        pub flags: u32,
    }
}

/// One whole packet. The payload is kept as bytes so the reader can decide
/// its type from the header (see `protocol::Call::decode`) or use it raw
/// (stream data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The header.
    pub header: Header,
    /// Descriptors passed with a `*_WITH_FDS` packet (the count only; the
    /// descriptors travel out of band). Always 0 for other types.
    pub num_fds: u32,
    /// The XDR payload, or raw bytes for stream data.
    pub payload: Vec<u8>,
}

impl Packet {
    /// A packet with `payload` as bytes.
    pub fn new(header: Header, payload: Vec<u8>) -> Self {
        Self {
            header,
            num_fds: 0,
            payload,
        }
    }

    /// A packet whose payload is `body` encoded.
    pub fn with_body<T: XdrEncode + ?Sized>(header: Header, body: &T) -> Result<Self, PacketError> {
        let payload = super::xdr::to_bytes(body).map_err(|source| PacketError::Encode {
            procedure: header.procedure,
            source,
        })?;
        check_len(payload.len())?;
        Ok(Self::new(header, payload))
    }

    /// A `CALL` of the remote program.
    pub fn call<T: XdrEncode + ?Sized>(
        procedure: i32,
        serial: u32,
        args: &T,
    ) -> Result<Self, PacketError> {
        Self::with_body(Header::call(procedure, serial), args)
    }

    /// The OK `REPLY` to `call`.
    pub fn reply<T: XdrEncode + ?Sized>(call: &Header, ret: &T) -> Result<Self, PacketError> {
        Self::with_body(call.reply(), ret)
    }

    /// The ERROR `REPLY` to `call`.
    pub fn error_reply(call: &Header, error: &MessageError) -> Result<Self, PacketError> {
        Self::with_body(call.answer(MessageType::Reply, MessageStatus::Error), error)
    }

    /// An event `MESSAGE` of the remote program.
    pub fn event<T: XdrEncode + ?Sized>(procedure: i32, msg: &T) -> Result<Self, PacketError> {
        Self::with_body(Header::event(procedure), msg)
    }

    /// Keepalive PING.
    pub fn ping() -> Self {
        Self::new(Header::keepalive(KEEPALIVE_PROC_PING), Vec::new())
    }

    /// Keepalive PONG, the answer to [`Packet::ping`].
    pub fn pong() -> Self {
        Self::new(Header::keepalive(KEEPALIVE_PROC_PONG), Vec::new())
    }

    /// `STREAM`/CONTINUE with raw `data` for the stream opened by `call`. Empty
    /// `data` from the sender of a download marks the end of the data.
    pub fn stream_data(call: &Header, data: Vec<u8>) -> Result<Self, PacketError> {
        check_len(data.len())?;
        Ok(Self::new(
            call.answer(MessageType::Stream, MessageStatus::Continue),
            data,
        ))
    }

    /// `STREAM`/OK: the sender finished; the receiver answers with the same.
    pub fn stream_finish(call: &Header) -> Self {
        Self::new(
            call.answer(MessageType::Stream, MessageStatus::Ok),
            Vec::new(),
        )
    }

    /// `STREAM`/ERROR with no payload: the client aborts the stream.
    pub fn stream_abort(call: &Header) -> Self {
        Self::new(
            call.answer(MessageType::Stream, MessageStatus::Error),
            Vec::new(),
        )
    }

    /// `STREAM`/ERROR with an error: the server reports the stream failed.
    pub fn stream_error(call: &Header, error: &MessageError) -> Result<Self, PacketError> {
        Self::with_body(
            call.answer(MessageType::Stream, MessageStatus::Error),
            error,
        )
    }

    /// `STREAM_HOLE`/CONTINUE: a sparse region of `hole.length` bytes.
    pub fn stream_hole(call: &Header, hole: &StreamHole) -> Result<Self, PacketError> {
        Self::with_body(
            call.answer(MessageType::StreamHole, MessageStatus::Continue),
            hole,
        )
    }

    /// Decodes the whole payload as a `T`.
    pub fn decode<T: XdrDecode>(&self) -> Result<T, PacketError> {
        super::xdr::from_bytes(&self.payload).map_err(|source| PacketError::Payload {
            procedure: self.header.procedure,
            source,
        })
    }

    /// The error carried by an ERROR packet; `None` for any other status and
    /// for a client's empty stream abort.
    pub fn error(&self) -> Option<Result<MessageError, PacketError>> {
        (self.header.status == MessageStatus::Error && !self.payload.is_empty())
            .then(|| self.decode())
    }

    /// The `len` word of this packet.
    pub fn wire_len(&self) -> usize {
        MIN_PACKET_LEN as usize
            + usize::from(self.header.msg_type.has_fds()) * 4
            + self.payload.len()
    }

    /// The packet as it goes on the wire, length word included.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PacketError> {
        let len = self.wire_len();
        if len > MAX_PACKET_LEN as usize {
            return Err(PacketError::TooLong { len });
        }
        let mut w = XdrWriter::from_vec(Vec::with_capacity(len));
        w.put_u32(len as u32);
        // Header encoding cannot fail; it only writes words.
        self.header.encode(&mut w).map_err(PacketError::Header)?;
        if self.header.msg_type.has_fds() {
            w.put_u32(self.num_fds);
        }
        let mut buf = w.into_inner();
        buf.extend_from_slice(&self.payload);
        Ok(buf)
    }

    /// Parses one complete packet, `bytes` being exactly `len` long with the
    /// length word first.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PacketError> {
        let mut r = XdrReader::new(bytes);
        let len = r.get_u32().map_err(PacketError::Header)?;
        check_wire_len(len)?;
        if len as usize != bytes.len() {
            return Err(PacketError::LengthMismatch {
                len,
                actual: bytes.len(),
            });
        }
        let header = Header::decode(&mut r).map_err(PacketError::Header)?;
        let num_fds = if header.msg_type.has_fds() {
            let count = r.get_u32().map_err(PacketError::Header)?;
            if count > VIR_NET_MESSAGE_NUM_FDS_MAX {
                return Err(PacketError::TooManyFds { count });
            }
            count
        } else {
            0
        };
        Ok(Self {
            header,
            num_fds,
            payload: r.rest().to_vec(),
        })
    }
}

fn check_len(payload_len: usize) -> Result<(), PacketError> {
    let len = MIN_PACKET_LEN as usize + payload_len;
    if len > MAX_PACKET_LEN as usize {
        return Err(PacketError::TooLong { len });
    }
    Ok(())
}

fn check_wire_len(len: u32) -> Result<(), PacketError> {
    if len < MIN_PACKET_LEN {
        return Err(PacketError::TooShort { len });
    }
    if len > MAX_PACKET_LEN {
        return Err(PacketError::TooLong { len: len as usize });
    }
    Ok(())
}

/// Frames `body` behind `header` in one buffer, without an intermediate
/// payload vector: the fast path for replies and events.
pub fn encode_message<T: XdrEncode + ?Sized>(
    header: &Header,
    body: &T,
) -> Result<Vec<u8>, PacketError> {
    let encode_err = |source| PacketError::Encode {
        procedure: header.procedure,
        source,
    };
    let mut w = XdrWriter::from_vec(Vec::with_capacity(256));
    w.put_u32(0); // patched below, once the length is known
    header.encode(&mut w).map_err(encode_err)?;
    body.encode(&mut w).map_err(encode_err)?;
    let mut buf = w.into_inner();
    let len = buf.len();
    if len > MAX_PACKET_LEN as usize {
        return Err(PacketError::TooLong { len });
    }
    buf[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(buf)
}

/// Writes one packet with a single `write_all`.
pub fn write_packet<W: Write + ?Sized>(w: &mut W, packet: &Packet) -> Result<(), PacketError> {
    w.write_all(&packet.to_bytes()?).map_err(PacketError::Io)
}

/// Reads one packet. Returns `Ok(None)` if the peer closed the connection
/// cleanly between packets. The buffer grows with the data that actually
/// arrives, so a forged length does not reserve 32 MiB up front.
pub fn read_packet<R: Read + ?Sized>(r: &mut R) -> Result<Option<Packet>, PacketError> {
    let mut len_buf = [0u8; 4];
    let got = read_full(r, &mut len_buf)?;
    if got == 0 {
        return Ok(None);
    }
    if got < 4 {
        return Err(PacketError::Truncated { got, len: 0 });
    }
    let len = u32::from_be_bytes(len_buf);
    check_wire_len(len)?;
    let mut buf = Vec::with_capacity((len as usize).min(VIR_NET_MESSAGE_INITIAL));
    buf.extend_from_slice(&len_buf);
    let want = u64::from(len - 4);
    let got = r
        .take(want)
        .read_to_end(&mut buf)
        .map_err(PacketError::Io)?;
    if (got as u64) < want {
        return Err(PacketError::Truncated {
            got: buf.len(),
            len,
        });
    }
    Packet::from_bytes(&buf).map(Some)
}

/// Reads until `buf` is full or EOF; returns how many bytes arrived.
fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> Result<usize, PacketError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PacketError::Io(e)),
        }
    }
    Ok(got)
}

/// Splits a byte stream into packets, for event loops that read whatever is
/// available (e.g. tokio): [`feed`](Self::feed) the bytes, then call
/// [`next_packet`](Self::next_packet) until it returns `None`. A bad length
/// is reported as soon as its 4 bytes are in, before the body is buffered.
#[derive(Debug, Default)]
pub struct PacketDecoder {
    buf: Vec<u8>,
    // Start of the unconsumed bytes; consumed packets are dropped lazily so
    // that many small packets from one read cost no memmove each.
    start: usize,
}

impl PacketDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the connection.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start >= VIR_NET_MESSAGE_INITIAL && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes fed but not yet returned as packets.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// How many more bytes the current packet needs (at least 1 while its
    /// length is unknown); 0 if a whole packet is buffered. A hint for the
    /// size of the next read.
    pub fn wanted(&self) -> usize {
        let pending = &self.buf[self.start..];
        match pending.get(..4) {
            None => 4 - pending.len(),
            Some(word) => {
                let len = u32::from_be_bytes([word[0], word[1], word[2], word[3]]) as usize;
                len.saturating_sub(pending.len())
            }
        }
    }

    /// The next complete packet, `Ok(None)` if more bytes are needed. After an
    /// error the stream is out of sync and the connection should be closed.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, PacketError> {
        let pending = &self.buf[self.start..];
        let Some(word) = pending.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        check_wire_len(len)?;
        let Some(bytes) = pending.get(..len as usize) else {
            return Ok(None);
        };
        let packet = Packet::from_bytes(bytes)?;
        self.start += len as usize;
        Ok(Some(packet))
    }
}

#[cfg(test)]
impl proptest::arbitrary::Arbitrary for Header {
    type Parameters = ();
    type Strategy = proptest::strategy::BoxedStrategy<Self>;

    fn arbitrary_with(_: ()) -> Self::Strategy {
        use proptest::prelude::*;
        (
            any::<u32>(),
            any::<u32>(),
            any::<i32>(),
            any::<i32>(),
            any::<u32>(),
            any::<i32>(),
        )
            .prop_map(|(program, version, procedure, t, serial, s)| Self {
                program,
                version,
                procedure,
                msg_type: MessageType::from_i32(t),
                serial,
                status: MessageStatus::from_i32(s),
            })
            .boxed()
    }
}
