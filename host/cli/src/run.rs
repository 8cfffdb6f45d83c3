//! Running command strings: `;`-joined commands, each parsed against its
//! table entry, run, and printed as text or JSON.

use std::io::Write;

use crate::command::Ctx;
use crate::parse;
use crate::table::find;

/// Runs one command (its words) and prints its output. Returns success.
pub(crate) fn run_words(
    ctx: &mut Ctx,
    words: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> bool {
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
                // virsh ends nearly every command's output with an empty line.
                out.write_all(reply.text.as_bytes()).and_then(|()| {
                    if reply.bare {
                        Ok(())
                    } else {
                        out.write_all(b"\n")
                    }
                })
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
pub(crate) fn run_string(
    ctx: &mut Ctx,
    line: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> bool {
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
