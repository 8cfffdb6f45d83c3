//! The interactive shell: commands read from stdin, with virsh's banner and
//! prompt on a terminal. There, lines are edited as in virsh (a readline:
//! history kept across sessions, Tab completing commands, options and
//! object names); piped input is read line by line.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Editor, Helper};
use wirt::connect::Connect;

use crate::command::Ctx;
use crate::complete::{self, Object};
use crate::run::run_string;

/// Reads commands until `quit` or the end of input; returns the exit status.
pub fn run(ctx: &mut Ctx, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let interactive = std::io::stdin().is_terminal();
    if !interactive {
        return run_piped(ctx, out, err);
    }
    if !ctx.quiet {
        let _ = writeln!(
            out,
            "Welcome to wirt, the virtualization interactive terminal.\n\nType:  'help' for help with commands\n       'quit' to quit\n"
        );
    }
    let config = Config::builder()
        .auto_add_history(true)
        .history_ignore_dups(true)
        .and_then(|c| c.max_history_size(500))
        .map(|c| c.completion_type(CompletionType::List).build());
    let editor = config.and_then(Editor::<ShellHelper, FileHistory>::with_config);
    let mut editor = match editor {
        Ok(e) => e,
        // No usable terminal after all: read as from a pipe.
        Err(_) => return run_piped(ctx, out, err),
    };
    let conn = Arc::new(Mutex::new(None));
    editor.set_helper(Some(ShellHelper { conn: conn.clone() }));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let mut ok = true;
    loop {
        let _ = out.flush();
        let line = match editor.readline("virsh # ") {
            Ok(line) => line,
            // Ctrl-C drops the line being typed, as in virsh.
            Err(ReadlineError::Interrupted) => continue,
            Err(_) => break,
        };
        let trimmed = line.trim();
        if matches!(trimmed, "quit" | "exit") {
            break;
        }
        if trimmed.is_empty() {
            continue;
        }
        ok = run_string(ctx, trimmed, out, err);
        // Completion lists names through the connection the commands use.
        *conn.lock().unwrap_or_else(|p| p.into_inner()) = ctx.open_conn().cloned();
        if let Some(path) = &history {
            let _ = save_history(&mut editor, path);
        }
    }
    let _ = writeln!(out);
    i32::from(!ok)
}

fn run_piped(ctx: &mut Ctx, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let stdin = std::io::stdin();
    let mut ok = true;
    let mut line = String::new();
    loop {
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
    // Like virsh's shell, reading stdin succeeds unless the last command failed.
    i32::from(!ok)
}

/// `$XDG_CACHE_HOME/wirt/history` (virsh keeps `~/.cache/virsh/history`).
fn history_path() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("wirt").join("history"))
}

fn save_history(
    editor: &mut Editor<ShellHelper, FileHistory>,
    path: &PathBuf,
) -> rustyline::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    editor.save_history(path)?;
    // Commands may name secrets' files or passwords: the file is the user's alone.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// Completes from the command table and the connection's objects.
struct ShellHelper {
    conn: Arc<Mutex<Option<Connect>>>,
}

impl ShellHelper {
    fn names(&self, kind: &Object) -> Vec<String> {
        let Some(conn) = self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            return Vec::new();
        };
        match kind {
            Object::Domain => conn
                .list_all_domains(0)
                .map(|d| d.iter().map(|d| d.name().to_string()).collect())
                .unwrap_or_default(),
            Object::Network => conn
                .list_all_networks(0)
                .map(|n| n.iter().map(|n| n.name().to_string()).collect())
                .unwrap_or_default(),
            Object::Pool => conn
                .list_all_pools(0)
                .map(|p| p.iter().map(|p| p.name().to_string()).collect())
                .unwrap_or_default(),
            Object::Volume(pool) => {
                let pools = match pool {
                    Some(p) => conn.lookup_pool_by_name(p).map(|p| vec![p]),
                    None => conn.list_all_pools(0),
                };
                pools
                    .unwrap_or_default()
                    .iter()
                    .flat_map(|p| p.list_all_volumes().unwrap_or_default())
                    .map(|v| v.name().to_string())
                    .collect()
            }
            Object::Snapshot(Some(dom)) => conn
                .lookup_domain_by_name(dom)
                .and_then(|d| d.list_all_snapshots(0))
                .map(|s| s.iter().map(|s| s.name().to_string()).collect())
                .unwrap_or_default(),
            Object::Snapshot(None) => Vec::new(),
        }
    }
}

impl Completer for ShellHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(complete::complete(&line[..pos], &|k| self.names(k)))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}
