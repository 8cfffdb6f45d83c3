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
        /// What was being read (`domain_definition`).
        what: String,
        /// The line, from 1.
        line: usize,
        /// The column, from 1.
        column: usize,
        /// The parser's message.
        message: String,
        /// The line quoted.
        snippet: String,
    },
    /// Larger than a document may be.
    #[error("({what}): document of {size} bytes exceeds the {limit} byte limit")]
    TooLarge {
        /// What was being read.
        what: String,
        /// Its size, bytes.
        size: usize,
        /// The limit, bytes.
        limit: usize,
    },
    /// Nested deeper, or with more elements, than a document may be.
    #[error(
        "({what}): document nests deeper than {depth} levels or holds more than {elements} elements"
    )]
    TooDeep {
        /// What was being read.
        what: String,
        /// The nesting limit.
        depth: usize,
        /// The element count limit.
        elements: usize,
    },
    /// A value libvirt refuses with VIR_ERR_XML_ERROR.
    #[error("{0}")]
    Invalid(String),
    /// No `<name>`: libvirt says just "missing name information".
    #[error("")]
    NoName {
        /// What lacks it (`domain`, `network`...).
        what: &'static str,
    },
    /// A device with no target: VIR_ERR_NO_TARGET.
    #[error("{0}")]
    NoTarget(String),
    /// An element or attribute the schema does not allow (`--validate`).
    #[error("{0}")]
    Schema(String),
    /// libvirt reports some structural problems as internal errors.
    #[error("{0}")]
    Internal(String),
    /// A configuration libvirt refuses with VIR_ERR_CONFIG_UNSUPPORTED.
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
    /// libvirt's error class (`virErrorNumber`).
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
