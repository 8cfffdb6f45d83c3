//! The driver's error: one variant per libvirt error number it answers with.

use crate::code;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("network '{0}' is not active")]
    NotActive(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
    /// The host refused or failed a `netcap` call: its code and words.
    #[error("{message}")]
    Host { code: u32, message: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn code(&self) -> u32 {
        match self {
            Error::NotActive(_) => code::OPERATION_INVALID,
            Error::Unsupported(_) => code::CONFIG_UNSUPPORTED,
            Error::Invalid(_) => code::INVALID_ARG,
            Error::Host { code, .. } => *code,
            Error::Io { .. } => code::SYSTEM_ERROR,
        }
    }

    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}
