//! The interactive shell: commands read from stdin, with virsh's banner and
//! prompt on a terminal.

use std::io::{BufRead, IsTerminal, Write};

use crate::command::Ctx;
use crate::run::run_string;

/// Reads commands until `quit` or the end of input; returns the exit status.
pub fn run(ctx: &mut Ctx, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
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
        ok = run_string(ctx, trimmed, out, err);
    }
    if interactive {
        let _ = writeln!(out);
    }
    // Like virsh's shell, reading stdin succeeds unless the last command failed.
    i32::from(!ok)
}
