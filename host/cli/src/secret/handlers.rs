//! What the secret commands do. A value is printed only by
//! `secret-get-value`, the command whose purpose that is; nothing else
//! here shows or logs one.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde_json::json;
use wirt::connect::{Secret, SecretValue, secret_flags as sf};
use wirt::xml::secret::UsageType;

use crate::parse::Args;
use crate::{CmdError, CmdResult, Context, Ctx, Reply, common};

/// virsh's `virshCommandOptSecret`: by UUID only.
fn secret(ctx: &mut Ctx, arg: &str) -> Result<Secret, CmdError> {
    ctx.conn()?
        .lookup_secret_by_uuid_string(arg)
        .ctx(|| format!("failed to get secret '{arg}'"))
}

/// virsh's `secret-list` usage column: `volume /path`, or `Unused`.
fn usage(s: &Secret) -> String {
    match UsageType::from_i32(s.usage_type()).filter(|t| *t != UsageType::None) {
        Some(t) => format!("{} {}", t.as_str(), s.usage_id()),
        None => "Unused".into(),
    }
}

pub(super) fn define(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = common::read_file(file)?;
    let flags = args.flags(&[("validate", sf::DEFINE_VALIDATE)]);
    let s = ctx
        .conn()?
        .define_secret_xml(&xml, flags)
        .ctx(|| format!("Failed to set attributes from {file}"))?;
    Ok(Reply::message(format!("Secret {} created", s.uuid())))
}

pub(super) fn dumpxml(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let s = secret(ctx, args.req("secret"))?;
    let xml = s.xml_desc(0).map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}

pub(super) fn undefine(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let arg = args.req("secret");
    let s = secret(ctx, arg)?;
    s.undefine()
        .ctx(|| format!("Failed to delete secret {arg}"))?;
    Ok(Reply::message(format!("Secret {arg} deleted")))
}

pub(super) fn list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let flags = args.flags(&[
        ("ephemeral", sf::LIST_EPHEMERAL),
        ("no-ephemeral", sf::LIST_NO_EPHEMERAL),
        ("private", sf::LIST_PRIVATE),
        ("no-private", sf::LIST_NO_PRIVATE),
    ]);
    let secrets = ctx
        .conn()?
        .list_all_secrets(flags)
        .ctx(|| "Failed to list secrets".into())?;
    let rows: Vec<Vec<String>> = secrets
        .iter()
        .map(|s| vec![s.uuid().to_string(), usage(s)])
        .collect();
    let json_rows = secrets
        .iter()
        .map(|s| {
            let kind = UsageType::from_i32(s.usage_type()).unwrap_or(UsageType::None);
            json!({"uuid": s.uuid().to_string(), "usage_type": kind.as_str(), "usage_id": s.usage_id()})
        })
        .collect();
    Ok(Reply::table(&["UUID", "Usage"], &rows, json_rows))
}

/// glib's `g_base64_decode`, which virsh uses: characters outside the
/// alphabet (newlines, padding) are skipped.
fn decode_base64(text: &[u8]) -> Option<SecretValue> {
    let clean: Vec<u8> = text
        .iter()
        .copied()
        .filter(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        .collect();
    STANDARD_NO_PAD.decode(&clean).ok().map(SecretValue::new)
}

fn exclusive(args: &Args, a: &str, b: &str) -> Result<(), CmdError> {
    let given = |n: &str| args.has(n) || args.get(n).is_some();
    if given(a) && given(b) {
        return Err(CmdError::msg(format!(
            "Options --{a} and --{b} are mutually exclusive"
        )));
    }
    Ok(())
}

/// Reads one line from the terminal with echo off (virsh's `virGetPassword`).
fn read_password() -> std::io::Result<SecretValue> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    use std::io::BufRead as _;
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).ok();
    if let Some(saved) = &saved {
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        let _ = tcsetattr(&stdin, SetArg::TCSAFLUSH, &quiet);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = &saved {
        let _ = tcsetattr(&stdin, SetArg::TCSAFLUSH, saved);
        println!();
    }
    read?;
    let value = SecretValue::new(line.trim_end_matches(['\n', '\r']).as_bytes().to_vec());
    // The String's own copy is wiped too.
    drop(SecretValue::new(line.into_bytes()));
    Ok(value)
}

/// virsh 9.0's `secret-set-value`: the value from `--file` (base64, or raw
/// with `--plain`), from the terminal (`--interactive`, raw), or as the
/// `--base64` argument (with virsh's warning: it shows in `ps`).
pub(super) fn set_value(ctx: &mut Ctx, args: &Args) -> CmdResult {
    exclusive(args, "file", "base64")?;
    exclusive(args, "plain", "base64")?;
    exclusive(args, "interactive", "base64")?;
    exclusive(args, "interactive", "plain")?;
    exclusive(args, "interactive", "file")?;
    let s = secret(ctx, args.req("secret"))?;
    let (base64, file, interactive) = (
        args.get("base64"),
        args.get("file"),
        args.has("interactive"),
    );
    if base64.is_none() && file.is_none() && !interactive {
        return Err(CmdError::msg("Input secret value is missing"));
    }
    if base64.is_some() {
        eprintln!("warning: Passing secret value as command-line argument is insecure!");
    }
    let value = if let Some(path) = file {
        let bytes = read_value_file(path)?;
        if args.has("plain") {
            bytes
        } else {
            decode_base64(bytes.expose())
                .ok_or_else(|| CmdError::msg("Failed to set secret value"))?
        }
    } else if interactive {
        use std::io::Write as _;
        print!("Enter new value for secret:");
        let _ = std::io::stdout().flush();
        read_password().map_err(|_| CmdError::msg("Failed to read secret"))?
    } else {
        decode_base64(base64.unwrap_or_default().as_bytes())
            .ok_or_else(|| CmdError::msg("Failed to set secret value"))?
    };
    s.set_value(value.expose(), 0)
        .ctx(|| "Failed to set secret value".into())?;
    Ok(Reply::message("Secret value set"))
}

/// virsh reads at most 1024 bytes of a value file.
fn read_value_file(path: &str) -> Result<SecretValue, CmdError> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| {
        CmdError::msg(format!(
            "Failed to open file '{path}': {}",
            common::io_reason(&e)
        ))
    })?;
    let mut bytes = Vec::new();
    let read = file.take(1025).read_to_end(&mut bytes);
    let bytes = SecretValue::new(bytes);
    let fail = |e: &std::io::Error| {
        CmdError::msg(format!(
            "Failed to read file '{path}': {}",
            common::io_reason(e)
        ))
    };
    read.map_err(|e| fail(&e))?;
    if bytes.len() > 1024 {
        return Err(fail(&std::io::Error::from_raw_os_error(libc::EOVERFLOW)));
    }
    Ok(bytes)
}

/// `secret-get-value`: the value in base64, or raw with `--plain`. A
/// private secret refuses (libvirt's "secret is private").
pub(super) fn get_value(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let s = secret(ctx, args.req("secret"))?;
    let value = s.value(0).map_err(|e| CmdError::bare(&e))?;
    let encoded = STANDARD.encode(value.expose());
    let json = json!({"uuid": s.uuid().to_string(), "value": encoded});
    // virsh prints the value without a newline of its own: the empty line
    // that ends every command's output ends it.
    if !args.has("plain") || ctx.json {
        return Ok(Reply {
            quiet_text: Some(format!("{encoded}\n")),
            text: encoded,
            json,
            bare: false,
        });
    }
    let text = match std::str::from_utf8(value.expose()) {
        Ok(text) => text.to_string(),
        Err(_) => {
            // Bytes that are not text go out as they are.
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            out.write_all(value.expose())
                .and_then(|()| out.flush())
                .map_err(|_| CmdError::msg("failed to write secret"))?;
            String::new()
        }
    };
    Ok(Reply {
        quiet_text: Some(text.clone()),
        text,
        json,
        bare: false,
    })
}

/// virsh's secret event types.
const EVENT_TYPES: [&str; 2] = ["lifecycle", "value-changed"];

pub(super) fn event(ctx: &mut Ctx, args: &Args) -> CmdResult {
    use wirt::events::SecretLifecycle;
    let kind = match crate::event_loop::one_type(args, &EVENT_TYPES) {
        Ok(kind) => kind,
        Err(done) => return done,
    };
    let filter = match args.get("secret") {
        Some(arg) => Some(secret(ctx, arg)?.uuid()),
        None => None,
    };
    let stream = ctx
        .conn()?
        .secret_events()
        .ctx(|| "failed to register secret event callback".into())?;
    crate::event_loop::run(
        args,
        !ctx.json,
        stream,
        |e| {
            let value_changed = e.event == SecretLifecycle::ValueChanged;
            filter.is_none_or(|u| u == e.uuid) && (kind == "value-changed") == value_changed
        },
        |e| e.virsh_line(),
    )
}
