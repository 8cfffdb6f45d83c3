//! The public API's error: one enum wrapping each module's own, every one
//! with libvirt's code and wording.

use crate::error::{ErrorCode, ErrorDomain};
use crate::{driver, lifecycle, plugin, registry, xml};

/// Any failure of the public API. [`Error::code`] is libvirt's number and
/// [`Error::message`] libvirt's wording.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The XML was refused.
    #[error(transparent)]
    Xml(#[from] xml::Error),
    /// The lifecycle rules refused the operation in the domain's state.
    #[error(transparent)]
    Denied(#[from] lifecycle::Denied),
    /// The driver refused or failed.
    #[error(transparent)]
    Driver(#[from] driver::Error),
    /// A plugin could not be loaded or failed.
    #[error(transparent)]
    Plugin(#[from] plugin::Error),
    /// The state directory could not be read or written.
    #[error(transparent)]
    Store(#[from] registry::Error),
    /// A refusal of the API itself (unknown object, conflict, bad argument).
    #[error("{message}")]
    Api {
        /// libvirt's error number.
        code: ErrorCode,
        /// The detail, without libvirt's class wording.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A call to a daemon failed: refused by it, or never answered.
    #[error("{message}")]
    Remote {
        /// libvirt's error number (the daemon's own for its refusals).
        code: ErrorCode,
        /// The subsystem that raised it.
        domain: ErrorDomain,
        /// The whole message, as the daemon or transport gives it.
        message: String,
        /// The transport's own error, if it was one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    /// A refusal of the API with libvirt's `code`.
    pub fn api(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Api {
            code,
            message: message.into(),
        }
    }

    /// libvirt's error number.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Xml(e) => e.code(),
            Error::Denied(e) => e.code(),
            Error::Driver(e) => e.code(),
            Error::Plugin(e) => e.code(),
            Error::Store(e) => e.code(),
            Error::Api { code, .. } => *code,
            Error::Io { .. } => ErrorCode::SYSTEM_ERROR,
            Error::Remote { code, .. } => *code,
        }
    }

    /// The subsystem that raised the error, for the wire.
    pub fn domain(&self) -> ErrorDomain {
        match self {
            Error::Xml(_) => ErrorDomain::DOMAIN,
            Error::Driver(_) | Error::Plugin(_) => ErrorDomain::TEST,
            Error::Remote { domain, .. } => *domain,
            _ => ErrorDomain::DOMAIN,
        }
    }

    /// libvirt's full message: the class's wording with this error's detail
    /// (`Requested operation is not valid: domain is not running`).
    pub fn message(&self) -> String {
        if let Error::Remote { message, .. } = self {
            // A daemon sends its message whole; transport failures carry their cause.
            return message.clone();
        }
        let mut detail = self.to_string();
        // The plugin errors carry their cause in the source chain; show it.
        let mut source = std::error::Error::source(self);
        if matches!(
            self,
            Error::Plugin(_) | Error::Driver(driver::Error::Plugin(_))
        ) {
            while let Some(s) = source {
                detail.push_str(": ");
                detail.push_str(&s.to_string());
                source = s.source();
            }
        }
        self.code().describe(&detail)
    }
}

/// The public API's result.
pub type Result<T> = std::result::Result<T, Error>;
