//! virsh's shell builtins that call no API but `connect`: echo and connect.

use serde_json::json;

use crate::parse::{Args, argv, data_opt, flag};
use crate::{CmdResult, Command, Ctx, Reply};

pub static BUILTINS: &[Command] = &[
    Command {
        name: "connect",
        group: "Virsh itself",
        help: "(re)connect to hypervisor",
        opts: &[
            data_opt("name", "hypervisor connection URI"),
            flag("readonly", "read-only connection"),
        ],
        run: connect,
    },
    Command {
        name: "echo",
        group: "Virsh itself",
        help: "echo arguments. Used for internal testing.",
        opts: &[
            flag("shell", "escape for shell use"),
            flag("xml", "escape for XML use"),
            flag(
                "split",
                "split each argument on ','; ',,' is an escape sequence",
            ),
            flag("err", "output to stderr"),
            argv("string", "arguments to echo"),
        ],
        run: echo,
    },
];

fn connect(ctx: &mut Ctx, args: &Args) -> CmdResult {
    ctx.reconnect(args.get("name").map(str::to_string), args.has("readonly"))?;
    Ok(Reply::empty())
}

/// libvirt's `virBufferEscapeShell`: quoted only when needed.
fn shell_quote(s: &str) -> String {
    const SPECIAL: &str = "\r\t\n !\"#$&'()*;<>?[\\]^`{|}~";
    if !s.is_empty() && !s.chars().any(|c| SPECIAL.contains(c)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// libvirt's `virBufferEscapeString` for text and attributes.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// virsh's `vshStringToArray`: split on ',', with ',,' for a comma.
fn split(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ',' {
            if chars.peek() == Some(&',') {
                chars.next();
                out.last_mut().expect("never empty").push(',');
            } else {
                out.push(String::new());
            }
        } else {
            out.last_mut().expect("never empty").push(c);
        }
    }
    out
}

fn echo(_: &mut Ctx, args: &Args) -> CmdResult {
    let words: Vec<String> = if args.has("split") {
        args.rest().iter().flat_map(|w| split(w)).collect()
    } else {
        args.rest().to_vec()
    };
    let shown: Vec<String> = words
        .iter()
        .map(|w| {
            let w = if args.has("xml") {
                xml_escape(w)
            } else {
                w.clone()
            };
            if args.has("shell") {
                shell_quote(&w)
            } else {
                w
            }
        })
        .collect();
    let sep = if args.has("split") { "\n" } else { " " };
    let text = shown.join(sep);
    // virsh reports it as an error line, and the command still succeeds.
    if args.has("err") {
        eprintln!("error: {text}");
        return Ok(Reply::empty());
    }
    Ok(Reply::text(format!("{text}\n"), json!(shown)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_libvirt() {
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("plain"), "plain");
        assert_eq!(xml_escape("<&>'"), "&lt;&amp;&gt;&apos;");
        assert_eq!(split("a,,b,c"), ["a,b", "c"]);
    }
}
