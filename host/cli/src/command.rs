//! What a command is, the state commands share, and how they fail.

use std::io::IsTerminal;

use wirt::connect::Connect;
use wirt::error::ErrorCode;

use crate::output::Reply;
use crate::parse::{Args, Opt};

/// A failed command: the lines virsh prints after `error: `, and the code.
#[derive(Debug)]
pub struct CmdError {
    pub lines: Vec<String>,
    pub code: Option<ErrorCode>,
}

impl CmdError {
    pub fn msg(line: impl Into<String>) -> Self {
        CmdError {
            lines: vec![line.into()],
            code: None,
        }
    }

    /// `action` first, then the API error's own message, as virsh does.
    pub fn api(action: impl Into<String>, err: &wirt::Error) -> Self {
        CmdError {
            lines: vec![action.into(), err.message()],
            code: Some(err.code()),
        }
    }

    pub fn bare(err: &wirt::Error) -> Self {
        CmdError {
            lines: vec![err.message()],
            code: Some(err.code()),
        }
    }
}

pub type CmdResult = Result<Reply, CmdError>;

/// Attaches virsh's "Failed to ..." line to an API error.
pub trait Context<T> {
    fn ctx(self, action: impl FnOnce() -> String) -> Result<T, CmdError>;
}

impl<T> Context<T> for Result<T, wirt::Error> {
    fn ctx(self, action: impl FnOnce() -> String) -> Result<T, CmdError> {
        self.map_err(|e| CmdError::api(action(), &e))
    }
}

pub struct Command {
    pub name: &'static str,
    pub group: &'static str,
    pub help: &'static str,
    pub opts: &'static [Opt],
    pub run: fn(&mut Ctx, &Args) -> CmdResult,
}

/// Per-process CLI state: the connection (opened on first use) and modes.
pub struct Ctx {
    uri: Option<String>,
    conn: Option<Connect>,
    pub read_only: bool,
    pub json: bool,
    pub quiet: bool,
}

impl Ctx {
    /// A context whose connection opens on first use.
    pub fn new(uri: Option<String>, read_only: bool, json: bool, quiet: bool) -> Ctx {
        Ctx {
            uri,
            conn: None,
            read_only,
            json,
            quiet,
        }
    }

    /// The connection, if a command has opened it.
    pub fn open_conn(&self) -> Option<&Connect> {
        self.conn.as_ref()
    }

    pub fn conn(&mut self) -> Result<&Connect, CmdError> {
        if self.conn.is_none() {
            let uri = self.uri.clone().unwrap_or_else(default_uri);
            let conn = if self.read_only {
                Connect::open_read_only(&uri)
            } else {
                Connect::open(&uri)
            };
            let conn =
                conn.map_err(|e| CmdError::api("failed to connect to the hypervisor", &e))?;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_ref().expect("opened above"))
    }

    /// virsh's `connect`: opens `uri` (None: the default) and, once open,
    /// uses it from now on; a failure leaves the current one.
    pub fn reconnect(&mut self, uri: Option<String>, read_only: bool) -> Result<(), CmdError> {
        let target = uri.unwrap_or_else(default_uri);
        let conn = if read_only {
            Connect::open_read_only(&target)
        } else {
            Connect::open(&target)
        };
        let conn = conn.map_err(|e| CmdError::api("failed to connect to the hypervisor", &e))?;
        self.uri = Some(target);
        self.read_only = read_only;
        self.conn = Some(conn);
        Ok(())
    }

    /// The URI given with `-c`, if any.
    pub fn uri(&self) -> Option<&str> {
        self.uri.as_deref()
    }

    /// Whether progress bars belong on stderr.
    pub fn show_progress(&self) -> bool {
        !self.json && !self.quiet && std::io::stderr().is_terminal()
    }
}

/// The default URI: `WIRT_DEFAULT_URI`, `LIBVIRT_DEFAULT_URI`, else `test:///default`.
pub fn default_uri() -> String {
    ["WIRT_DEFAULT_URI", "LIBVIRT_DEFAULT_URI"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "test:///default".to_string())
}
