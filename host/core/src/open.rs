//! Opening connections: local URIs are served in this process
//! (`crate::local`); URIs with a transport (`test+unix:///default`,
//! `kvm+tcp://host/session`) by a daemon, through the transport a crate such
//! as `wirt-remote` installs, so the core needs no network code of its own.

use std::sync::{Arc, OnceLock};

use crate::connect::{Backend, Connect, Error, ParsedUri, Result};
use crate::error::ErrorCode;
use crate::local;

/// Opens a backend for a URI with a transport: `(uri, parsed, read_only)`.
pub type TransportOpener = fn(&str, &ParsedUri, bool) -> Result<Arc<dyn Backend>>;

static TRANSPORT: OnceLock<TransportOpener> = OnceLock::new();

/// Makes `Connect::open` reach daemons through `opener` (once per process;
/// later calls are ignored). `wirt_remote::install()` calls this.
pub fn set_transport(opener: TransportOpener) {
    let _ = TRANSPORT.set(opener);
}

impl Connect {
    /// Opens a connection. `test:///default` is shared by the connections
    /// open at the same time, as with libvirt, and starts afresh when the
    /// last one closes; `test:///ABS/PATH.xml` gets a private host seeded
    /// from that node file; a URI with a transport (`test+unix:///default`)
    /// reaches a daemon.
    pub fn open(uri: &str) -> Result<Connect> {
        Self::open_flags(uri, false)
    }

    /// Opens a connection that refuses every call that changes something.
    pub fn open_read_only(uri: &str) -> Result<Connect> {
        Self::open_flags(uri, true)
    }

    fn open_flags(uri: &str, read_only: bool) -> Result<Connect> {
        let parsed = ParsedUri::parse(uri)?;
        let backend = if let Some(transport) = &parsed.transport {
            let opener = TRANSPORT.get().ok_or_else(|| {
                Error::api(
                    ErrorCode::NO_CONNECT,
                    format!("{uri}: transport '{transport}' needs the wirt-remote crate"),
                )
            })?;
            opener(uri, &parsed, read_only)?
        } else {
            local::open(uri, &parsed)?
        };
        Ok(Connect::from_backend(backend, read_only))
    }

    /// Opens a private connection served by the driver plugin in `wasm`
    /// (a component implementing `wirt:driver@0.1.0`), for driver authors
    /// and the conformance suite. The plugin's `open` receives `uri`.
    pub fn open_plugin(wasm: &std::path::Path, uri: &str) -> Result<Connect> {
        Ok(Connect::from_backend(local::open_plugin(wasm, uri)?, false))
    }
}
