//! Typed models of libvirt's XML documents: parse, validate, format.
//!
//! No I/O and no drivers here. Everything wirt does not model is kept
//! verbatim and written back, so no user's configuration is silently dropped.

pub mod cpuset;
pub mod devices;
pub mod domain;
mod domain_checks;
pub mod iface;
pub mod network;
pub mod node;
pub mod nodedev;
pub mod pool;
pub mod secret;
pub mod snapshot;
pub mod tree;
pub mod units;
pub mod volume;

pub use domain::{DomainDef, FormatOptions};
pub use network::NetworkDef;
pub use pool::{PoolDef, VolumeDef};
pub use snapshot::SnapshotDef;
pub use tree::Element;

use crate::error::ErrorCode;

/// Why a document was refused. The display text is the detail libvirt
/// would print after its class prefix; [`Error::code`] gives the class.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not well-formed: libvirt's layout, the line quoted and a caret under
    /// the column.
    #[error("({what}):{line}: {message}\n{snippet}\n{caret}^", caret = "-".repeat(column.saturating_sub(1)))]
    Syntax {
        what: String,
        line: usize,
        column: usize,
        message: String,
        snippet: String,
    },
    #[error("({what}): document of {size} bytes exceeds the {limit} byte limit")]
    TooLarge {
        what: String,
        size: usize,
        limit: usize,
    },
    #[error(
        "({what}): document nests deeper than {depth} levels or holds more than {elements} elements"
    )]
    TooDeep {
        what: String,
        depth: usize,
        elements: usize,
    },
    /// A value libvirt refuses with VIR_ERR_XML_ERROR.
    #[error("{0}")]
    Invalid(String),
    /// No `<name>`: libvirt says just "missing name information".
    #[error("")]
    NoName { what: &'static str },
    #[error("{0}")]
    NoTarget(String),
    /// An element or attribute the schema does not allow (`--validate`).
    #[error("{0}")]
    Schema(String),
    /// libvirt reports some structural problems as internal errors.
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    Unsupported(String),
    /// A value libvirt refuses with VIR_ERR_INVALID_ARG.
    #[error("{0}")]
    InvalidArg(String),
    /// A problem libvirt reports as VIR_ERR_XML_DETAIL, with no class prefix
    /// (firmware and hugepage settings, conflicting USB controllers).
    #[error("{0}")]
    Detail(String),
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Syntax { .. } | Error::TooLarge { .. } | Error::TooDeep { .. } => {
                ErrorCode::XML_DETAIL
            }
            Error::Invalid(_) => ErrorCode::XML_ERROR,
            Error::NoName { .. } => ErrorCode::NO_NAME,
            Error::NoTarget(_) => ErrorCode(20),
            Error::Schema(_) => ErrorCode::XML_INVALID_SCHEMA,
            Error::Internal(_) => ErrorCode::INTERNAL_ERROR,
            Error::Unsupported(_) => ErrorCode::CONFIG_UNSUPPORTED,
            Error::Detail(_) => ErrorCode::XML_DETAIL,
            Error::InvalidArg(_) => ErrorCode::INVALID_ARG,
        }
    }
}

/// How a definition is being read.
#[derive(Clone, Copy, Debug, Default)]
pub struct ParseOptions {
    /// `--validate`: refuse elements the schema does not know.
    pub validate: bool,
}
