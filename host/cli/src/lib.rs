//! The `wirt` command line: virsh's commands, arguments, output layouts,
//! error lines and exit codes, plus `--json` for scripts.
//!
//! Modes: a command on the command line (several may be joined with `;`),
//! or none, which reads commands from stdin (with virsh's prompt on a
//! terminal). State lives as long as the process, as with virsh.
//!
//! Each command group is a folder: its `mod.rs` holds the command table
//! (names, options, help), its other files the handlers.

mod command;
mod common;
mod complete;
mod console;
mod domain;
mod event_loop;
mod host;
mod iface;
mod lookup;
mod network;
mod nodedev;
mod options;
mod output;
mod parse;
mod plugins;
mod pool;
mod progress;
mod run;
mod secret;
mod shell;
mod snapshot;
mod table;
mod volume;

pub use command::{CmdError, CmdResult, Command, Context, Ctx, default_uri};
pub use output::Reply;
pub use table::commands;

/// The `wirt` program. Returns the process exit status (0 or 1).
pub fn main(args: Vec<String>) -> i32 {
    use clap::Parser;
    use std::io::Write;

    wirt_remote::install();
    let options = match options::Options::try_parse_from(&args) {
        Ok(o) => o,
        Err(e) => {
            // --help and --version are not failures; usage errors are.
            let failed = e.use_stderr();
            let _ = e.print();
            return i32::from(failed);
        }
    };
    if options.version {
        println!("{}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let mut ctx = Ctx::new(
        options.connect,
        options.readonly,
        options.json,
        options.quiet,
    );
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let status = match options.command.as_slice() {
        [] => shell::run(&mut ctx, &mut out, &mut err),
        [line] => i32::from(!run::run_string(&mut ctx, line, &mut out, &mut err)),
        words => i32::from(!run::run_words(&mut ctx, words, &mut out, &mut err)),
    };
    let _ = out.flush();
    status
}
