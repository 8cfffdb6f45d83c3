//! libvirt's error numbering, shared by every module's error enum: each
//! module has its own `thiserror` enum, and every one of them can say which
//! [`ErrorCode`] it is. The numbers themselves live in `wirt-vocab`.

pub use wirt_vocab::{ErrorCode, ErrorDomain};
