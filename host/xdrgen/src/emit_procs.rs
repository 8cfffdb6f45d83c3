//! Writes the procedure half of the generated file: the per-procedure facts
//! from the annotations (`PROCEDURE_INFO`, `stream_direction`, ...), and the
//! `Call` / `Reply` / `Event` enums in the shape of the hand-written
//! `call_table!` / `procedure_enum!` of `host/remote/src/protocol/call.rs`.

use std::fmt::Write as _;

use crate::annotations::Stream;
use crate::model::{Model, Procedure};

/// The fixed part: support types and the two table macros.
const PRELUDE: &str = r#"/// Which way a procedure's stream packets flow after its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamDirection {
    /// libvirt's `@writestream`: the client sends data (volume upload).
    Upload,
    /// libvirt's `@readstream`: the server sends data (volume download).
    Download,
}

/// libvirt's `@priority`: high-priority calls never touch a hypervisor
/// monitor, so libvirtd may run them while low-priority calls block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Low,
    High,
}

/// What libvirt's annotations say about one procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcedureInfo {
    pub number: i32,
    /// libvirt's name, e.g. `REMOTE_PROC_CONNECT_OPEN`.
    pub name: &'static str,
    /// The Rust type of the call's arguments, `()` for void.
    pub args: &'static str,
    /// The Rust type of the successful reply, `()` for void.
    pub ret: &'static str,
    /// For an event (`*_msg`, sent as a MESSAGE), its Rust type; such a
    /// procedure is never called, and `args` and `ret` are `()`.
    pub event: Option<&'static str>,
    pub stream: Option<StreamDirection>,
    pub priority: Priority,
    /// `@sparseflag`: the flag that makes the stream carry holes.
    pub sparse_flag: Option<&'static str>,
    /// `@acl` rules, e.g. `domain:write:VIR_DOMAIN_AFFECT_CONFIG`.
    pub acl: &'static [&'static str],
    /// `@aclfilter` rules applied to returned lists.
    pub acl_filter: &'static [&'static str],
}

/// Errors mapping procedure numbers and payloads to typed messages.
#[derive(Debug)]
pub enum ProtocolError {
    /// No message of this kind (call, reply or event) has that number.
    UnknownProcedure { procedure: i32 },
    /// The payload does not match the procedure's XDR type.
    Decode { procedure: i32, source: XdrError },
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownProcedure { procedure } => {
                write!(f, "procedure {procedure} ({}) is not supported", procedure_name(*procedure).unwrap_or("unknown"))
            }
            Self::Decode { procedure, .. } => {
                write!(f, "malformed payload for procedure {procedure} ({})", procedure_name(*procedure).unwrap_or("unknown"))
            }
        }
    }
}

impl std::error::Error for ProtocolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Decode { source, .. } => Some(source),
            Self::UnknownProcedure { .. } => None,
        }
    }
}

/// The libvirt name of `procedure` (e.g. `REMOTE_PROC_CONNECT_OPEN`), for
/// logs and error messages.
pub fn procedure_name(procedure: i32) -> Option<&'static str> {
    procedure_info(procedure).map(|p| p.name)
}

/// The annotations of `procedure`.
pub fn procedure_info(procedure: i32) -> Option<&'static ProcedureInfo> {
    let i = PROCEDURE_INFO.binary_search_by_key(&procedure, |p| p.number).ok()?;
    PROCEDURE_INFO.get(i)
}

/// Whether `procedure` is followed by stream packets after its OK reply, and
/// which way they flow (libvirt's `@readstream` / `@writestream`).
pub fn stream_direction(procedure: i32) -> Option<StreamDirection> {
    procedure_info(procedure)?.stream
}

/// libvirt's `@priority` of `procedure`.
pub fn priority(procedure: i32) -> Option<Priority> {
    procedure_info(procedure).map(|p| p.priority)
}

macro_rules! procedure_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $list:ident;
        $( $variant:ident = $proc:ident ($ty:ty); )*
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $(
                #[doc = concat!("`", stringify!($proc), "`")]
                $variant($ty),
            )*
        }

        /// The procedure numbers this enum covers.
        pub const $list: &[i32] = &[$($proc,)*];

        impl $name {
            /// The procedure number of this message.
            pub fn procedure(&self) -> i32 {
                match self {
                    $( Self::$variant(_) => $proc, )*
                }
            }

            /// Decodes the payload of `procedure` from `r`, leaving any
            /// trailing bytes unread.
            pub fn decode_from(procedure: i32, r: &mut XdrReader<'_>) -> Result<Self, ProtocolError> {
                let decoded = match procedure {
                    $( $proc => <$ty as XdrDecode>::decode(r).map(Self::$variant), )*
                    _ => return Err(ProtocolError::UnknownProcedure { procedure }),
                };
                decoded.map_err(|source| ProtocolError::Decode { procedure, source })
            }

            /// Decodes the whole `payload` of a packet for `procedure`.
            pub fn decode(procedure: i32, payload: &[u8]) -> Result<Self, ProtocolError> {
                let mut r = XdrReader::new(payload);
                let value = Self::decode_from(procedure, &mut r)?;
                r.finish().map_err(|source| ProtocolError::Decode { procedure, source })?;
                Ok(value)
            }

            /// `MIN_WIRE_SIZE` of the variant's type, for tests of that bound.
            #[cfg(test)]
            pub(crate) fn min_wire_size(&self) -> usize {
                match self {
                    $( Self::$variant(_) => <$ty as XdrDecode>::MIN_WIRE_SIZE, )*
                }
            }

            /// Arbitrary values of the one variant for `procedure`, so tests
            /// can cover every procedure rather than a random sample.
            #[cfg(test)]
            pub(crate) fn arbitrary_for(procedure: i32) -> Option<::proptest::strategy::BoxedStrategy<Self>> {
                use ::proptest::strategy::Strategy as _;
                match procedure {
                    $( $proc => Some(::proptest::prelude::any::<$ty>().prop_map(Self::$variant).boxed()), )*
                    _ => None,
                }
            }
        }

        impl XdrEncode for $name {
            fn encode(&self, w: &mut XdrWriter) -> Result<(), XdrError> {
                match self {
                    $( Self::$variant(v) => v.encode(w), )*
                }
            }
        }

        #[cfg(test)]
        impl ::proptest::arbitrary::Arbitrary for $name {
            type Parameters = ();
            type Strategy = ::proptest::strategy::BoxedStrategy<Self>;

            fn arbitrary_with(_: ()) -> Self::Strategy {
                use ::proptest::strategy::Strategy as _;
                ::proptest::strategy::Union::new(vec![
                    $( ::proptest::prelude::any::<$ty>().prop_map(Self::$variant).boxed(), )*
                ])
                .boxed()
            }
        }
    };
}

macro_rules! call_table {
    ($( $variant:ident = $proc:ident ($args:ty) -> $ret:ty; )*) => {
        procedure_enum! {
            /// A decoded `CALL`: one variant per procedure, holding its
            /// `*_args` (`()` for void).
            #[allow(clippy::large_enum_variant)] // decoded once per call; boxing would only add noise
            Call, CALL_PROCEDURES;
            $( $variant = $proc($args); )*
        }

        procedure_enum! {
            /// The successful `REPLY` to a [`Call`] with the same variant
            /// name, holding its `*_ret` (`()` for void).
            #[allow(clippy::large_enum_variant)] // as for `Call`
            Reply, REPLY_PROCEDURES;
            $( $variant = $proc($ret); )*
        }
    };
}

impl Call {
    /// See [`stream_direction`].
    pub fn stream(&self) -> Option<StreamDirection> {
        stream_direction(self.procedure())
    }
}
"#;

pub fn emit(out: &mut String, model: &Model) {
    out.push_str(PRELUDE);
    let procs = &model.procedures;
    out.push_str("\n/// Every procedure, ordered by number.\npub const PROCEDURE_INFO: &[ProcedureInfo] = &[\n");
    for p in procs {
        info(out, p);
    }
    out.push_str("];\n\n/// Every procedure as (number, libvirt name), ordered by number.\npub const PROCEDURES: &[(i32, &str)] = &[\n");
    for p in procs {
        let _ = writeln!(out, "    ({}, \"{}\"),", p.number, p.c_name);
    }
    if let Some(last) = procs.last() {
        let stem = last
            .c_name
            .find("PROC_")
            .map_or("", |i| &last.c_name[..i + 5]);
        let _ = writeln!(
            out,
            "];\n\n/// The highest procedure number.\npub const {stem}LAST: i32 = {};",
            last.c_name
        );
    }

    out.push_str("\ncall_table! {\n");
    for p in procs.iter().filter(|p| p.msg.is_none()) {
        let _ = writeln!(
            out,
            "    {} = {}({}) -> {};",
            p.variant,
            p.c_name,
            ty(&p.args),
            ty(&p.ret)
        );
    }
    out.push_str("}\n");

    let events: Vec<&Procedure> = procs.iter().filter(|p| p.msg.is_some()).collect();
    if !events.is_empty() {
        out.push_str(
            "\nprocedure_enum! {\n    /// An event: a `MESSAGE` packet the server sends unasked, holding a `*_msg`.\n    \
             #[allow(clippy::large_enum_variant)] // as for `Call`\n    Event, EVENT_PROCEDURES;\n",
        );
        for p in events {
            let _ = writeln!(out, "    {} = {}({});", p.variant, p.c_name, ty(&p.msg));
        }
        out.push_str("}\n");
    }
}

fn ty(t: &Option<String>) -> &str {
    t.as_deref().unwrap_or("()")
}

fn info(out: &mut String, p: &Procedure) {
    let a = &p.annotations;
    let stream = match a.stream {
        Some((Stream::Read, _)) => "Some(StreamDirection::Download)",
        Some((Stream::Write, _)) => "Some(StreamDirection::Upload)",
        None => "None",
    };
    let priority = if a.high_priority { "High" } else { "Low" };
    let list = |items: &[String]| {
        items
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let opt = |v: &Option<String>| {
        v.as_ref()
            .map_or("None".to_owned(), |s| format!("Some(\"{s}\")"))
    };
    let _ = writeln!(
        out,
        "    ProcedureInfo {{ number: {}, name: \"{}\", args: \"{}\", ret: \"{}\", event: {}, stream: {stream}, \
         priority: Priority::{priority}, sparse_flag: {}, acl: &[{}], acl_filter: &[{}] }},",
        p.number,
        p.c_name,
        ty(&p.args),
        ty(&p.ret),
        opt(&p.msg),
        opt(&a.sparse_flag),
        list(&a.acl),
        list(&a.acl_filter),
    );
}
