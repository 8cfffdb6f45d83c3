//! The driver's error: one variant per libvirt error number it answers with.

use std::io;

use crate::code;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The uuid is not one this driver could ever serve (malformed).
    #[error("no storage pool with matching uuid '{0}'")]
    NoPool(String),
    /// The pool is not started in this plugin instance (or not granted).
    #[error("storage pool '{0}' is not active")]
    NotActive(String),
    #[error("no storage vol with matching name '{0}'")]
    NoVolume(String),
    #[error("storage vol '{0}' already exists")]
    VolumeExists(String),
    #[error("{0}")]
    InvalidArg(String),
    #[error("{0}")]
    NoSupport(String),
    #[error("{0}")]
    OperationFailed(String),
    #[error("{0}")]
    OperationInvalid(String),
    /// An I/O error, reported as libvirt does: what failed, then the errno text.
    #[error("{what}: {}", errno_text(.source))]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// libvirt's `virErrorNumber` for this error.
    pub fn code(&self) -> u32 {
        match self {
            Error::NoPool(_) => code::NO_STORAGE_POOL,
            Error::NotActive(_) | Error::OperationInvalid(_) => code::OPERATION_INVALID,
            Error::NoVolume(_) => code::NO_STORAGE_VOL,
            Error::VolumeExists(_) => code::STORAGE_VOL_EXIST,
            Error::InvalidArg(_) => code::INVALID_ARG,
            Error::NoSupport(_) => code::NO_SUPPORT,
            Error::OperationFailed(_) => code::OPERATION_FAILED,
            Error::Io { .. } => code::SYSTEM_ERROR,
        }
    }

    /// Wraps an I/O error with a description of what failed.
    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

/// The errno text of an I/O error, without Rust's " (os error N)" suffix
/// (whose number is WASI's, not the host's, inside the component).
pub fn errno_text(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}
