//! The `wirt` command line: virsh's commands, arguments, output layouts,
//! error lines and exit codes, plus `--json` for scripts.
//!
//! Modes: a command on the command line (several may be joined with `;`),
//! or none, which reads commands from stdin (with virsh's prompt on a
//! terminal). State lives as long as the process, as with virsh.

mod console;
mod domain;
mod host;
mod network;
mod output;
mod parse;
mod plugins;
mod progress;
mod snapshot;
mod storage;

use std::io::{BufRead, IsTerminal, Write};

pub use output::Reply;
use parse::{Args, Opt};
use wirt::connect::Connect;
use wirt::error::ErrorCode;

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

pub fn commands() -> Vec<&'static Command> {
    let mut all: Vec<&'static Command> = Vec::new();
    all.extend(host::COMMANDS.iter());
    all.extend(domain::COMMANDS.iter());
    all.extend(snapshot::COMMANDS.iter());
    all.extend(network::COMMANDS.iter());
    all.extend(storage::COMMANDS.iter());
    all.extend(plugins::COMMANDS.iter());
    all
}

fn find(name: &str) -> Option<&'static Command> {
    commands().into_iter().find(|c| c.name == name)
}

const USAGE: &str = "\
wirt [options]... [<command_string>]
wirt [options]... <command> [args...]

  options:
    -c | --connect=URI      hypervisor connection URI
    -r | --readonly         connect readonly
    -q | --quiet            quiet mode
    -h | --help             this help
    -v | --version          program version
         --json             machine-readable output (JSON)

  commands (non interactive mode): see 'wirt help'
";

/// Runs one command (its words) and prints its output. Returns success.
fn run_words(ctx: &mut Ctx, words: &[String], out: &mut dyn Write, err: &mut dyn Write) -> bool {
    let Some((name, rest)) = words.split_first() else {
        return true;
    };
    // A command that cannot even be parsed prints only its error, as in virsh.
    let parsed = match find(name) {
        None => Err(format!("unknown command: '{name}'")),
        Some(cmd) => parse::parse_args(cmd.name, cmd.opts, rest).map(|args| (cmd, args)),
    };
    let (cmd, args) = match parsed {
        Ok(ok) => ok,
        Err(e) => {
            if ctx.json {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::json!({"error": {"code": null, "name": "usage", "message": e}})
                );
            }
            let _ = writeln!(err, "error: {e}");
            return false;
        }
    };
    let result = (cmd.run)(ctx, &args);
    match result {
        Ok(reply) => {
            let _ = if ctx.json {
                writeln!(out, "{}", reply.json)
            } else if ctx.quiet {
                out.write_all(
                    reply
                        .quiet_text
                        .as_deref()
                        .unwrap_or(&reply.text)
                        .as_bytes(),
                )
            } else {
                // virsh ends every command's output with an empty line.
                out.write_all(reply.text.as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
            };
            let _ = out.flush();
            true
        }
        Err(e) => {
            if !ctx.json && !ctx.quiet {
                let _ = out.write_all(b"\n");
            }
            let _ = out.flush();
            if ctx.json {
                let obj = serde_json::json!({
                    "error": {
                        "code": e.code.map(|c| c.0),
                        "name": e.code.map(|c| c.name()),
                        "message": e.lines.last(),
                        "context": e.lines.first(),
                    }
                });
                let _ = writeln!(out, "{obj}");
                let _ = out.flush();
            }
            for line in &e.lines {
                let _ = writeln!(err, "error: {line}");
            }
            false
        }
    }
}

/// Runs a command string (`;`-joined commands). Returns the last command's success.
fn run_string(ctx: &mut Ctx, line: &str, out: &mut dyn Write, err: &mut dyn Write) -> bool {
    match parse::split_commands(line) {
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            false
        }
        Ok(commands) => {
            let mut ok = true;
            for words in commands {
                if matches!(words[0].as_str(), "quit" | "exit") {
                    break;
                }
                ok = run_words(ctx, &words, out, err);
            }
            ok
        }
    }
}

/// The `wirt` program. Returns the process exit status (0 or 1).
pub fn main(args: Vec<String>) -> i32 {
    wirt_remote::install();
    let mut ctx = Ctx {
        uri: None,
        conn: None,
        read_only: false,
        json: false,
        quiet: false,
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let mut i = 1;
    while i < args.len() {
        let arg = &args[i];
        match arg.as_str() {
            "-c" | "--connect" => {
                i += 1;
                match args.get(i) {
                    Some(uri) => ctx.uri = Some(uri.clone()),
                    None => {
                        let _ = writeln!(err, "error: option '{arg}' requires an argument");
                        return 1;
                    }
                }
            }
            s if s.starts_with("--connect=") => ctx.uri = Some(s["--connect=".len()..].to_string()),
            "-r" | "--readonly" => ctx.read_only = true,
            "-q" | "--quiet" => ctx.quiet = true,
            "--json" => ctx.json = true,
            "-h" | "--help" => {
                let _ = out.write_all(USAGE.as_bytes());
                return 0;
            }
            "-v" | "--version" => {
                let _ = writeln!(out, "{}", env!("CARGO_PKG_VERSION"));
                return 0;
            }
            s if s.starts_with('-') && s != "-" => {
                let _ = writeln!(err, "error: unsupported option '{s}'. See --help.");
                return 1;
            }
            _ => break,
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.len() == 1 {
        return i32::from(!run_string(&mut ctx, &rest[0], &mut out, &mut err));
    }
    if !rest.is_empty() {
        return i32::from(!run_words(&mut ctx, rest, &mut out, &mut err));
    }
    // No command: read commands from stdin, with virsh's prompt on a terminal.
    let interactive = std::io::stdin().is_terminal();
    if interactive && !ctx.quiet {
        let _ = writeln!(
            out,
            "Welcome to wirt, the virtualization interactive terminal.\n\nType:  'help' for help with commands\n       'quit' to quit\n"
        );
    }
    let stdin = std::io::stdin();
    let mut ok = true;
    let mut line = String::new();
    loop {
        if interactive {
            let _ = write!(out, "virsh # ");
            let _ = out.flush();
        }
        line.clear();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let trimmed = line.trim();
        if matches!(trimmed, "quit" | "exit") {
            break;
        }
        if trimmed.is_empty() {
            continue;
        }
        ok = run_string(&mut ctx, trimmed, &mut out, &mut err);
    }
    if interactive {
        let _ = writeln!(out);
    }
    // Like virsh's shell, reading stdin succeeds unless the last command failed.
    i32::from(!ok)
}
