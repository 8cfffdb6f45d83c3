//! virsh's command-line grammar: words with shell-like quoting, commands
//! separated by `;` or newlines, options as `--name value`, `--name=value`
//! or positionally in the order the command declares them.

use std::collections::HashMap;

/// Splits a command string into commands, each a list of words.
pub fn split_commands(line: &str) -> Result<Vec<Vec<String>>, String> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err("missing '".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch) => word.push(ch),
                            None => return Err("dangling \\".into()),
                        },
                        Some(ch) => word.push(ch),
                        None => return Err("missing \"".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(ch) => word.push(ch),
                    None => return Err("dangling \\".into()),
                }
            }
            '#' if !in_word && word.is_empty() => {
                // A comment runs to the end of the line.
                for ch in chars.by_ref() {
                    if ch == '\n' {
                        break;
                    }
                }
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            ';' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if !words.is_empty() {
        commands.push(words);
    }
    Ok(commands)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `--name` alone.
    Bool,
    /// A value, which may also be given positionally.
    Data,
    /// A value given only as `--name value`.
    Named,
    /// Every positional word left over (virsh's `VSH_OT_ARGV`).
    Argv,
}

#[derive(Clone, Copy, Debug)]
pub struct Opt {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub help: &'static str,
}

pub const fn flag(name: &'static str, help: &'static str) -> Opt {
    Opt {
        name,
        kind: Kind::Bool,
        required: false,
        help,
    }
}
pub const fn data(name: &'static str, help: &'static str) -> Opt {
    Opt {
        name,
        kind: Kind::Data,
        required: true,
        help,
    }
}
pub const fn data_opt(name: &'static str, help: &'static str) -> Opt {
    Opt {
        name,
        kind: Kind::Data,
        required: false,
        help,
    }
}
pub const fn argv(name: &'static str, help: &'static str) -> Opt {
    Opt {
        name,
        kind: Kind::Argv,
        required: false,
        help,
    }
}
pub const fn named(name: &'static str, help: &'static str) -> Opt {
    Opt {
        name,
        kind: Kind::Named,
        required: false,
        help,
    }
}

/// A command's parsed options.
#[derive(Debug, Default)]
pub struct Args {
    values: HashMap<&'static str, String>,
    flags: Vec<&'static str>,
    /// The words an `Argv` option collected, in order.
    rest: Vec<String>,
}

impl Args {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A required option (the parser has already checked it is present).
    pub fn req(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }

    /// The words an `Argv` option collected.
    pub fn rest(&self) -> &[String] {
        &self.rest
    }

    pub fn has(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }

    /// The bits of the boolean options given: `(option, bit)` per option.
    pub fn flags(&self, table: &[(&str, u32)]) -> u32 {
        table
            .iter()
            .filter(|(name, _)| self.has(name))
            .fold(0, |flags, (_, bit)| flags | bit)
    }

    pub fn u64(&self, name: &str) -> Result<Option<u64>, String> {
        self.get(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    format!("Numeric value '{v}' for <{name}> option is malformed or out of range")
                })
            })
            .transpose()
    }
}

/// Parses `words` (without the command name) against `opts`.
pub fn parse_args(command: &str, opts: &'static [Opt], words: &[String]) -> Result<Args, String> {
    let mut args = Args::default();
    let find = |name: &str| opts.iter().find(|o| o.name == name);
    let mut i = 0;
    let mut only_positional = false;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        if !only_positional && word == "--" {
            only_positional = true;
            continue;
        }
        if let Some(spec) = word.strip_prefix("--").filter(|_| !only_positional) {
            let (name, inline) = match spec.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (spec, None),
            };
            let opt = find(name)
                .ok_or_else(|| format!("command '{command}' doesn't support option --{name}"))?;
            if opt.kind == Kind::Bool {
                if inline.is_some() {
                    return Err(format!("option --{name} takes no value"));
                }
                if !args.flags.contains(&opt.name) {
                    args.flags.push(opt.name);
                }
                continue;
            }
            let value = match inline {
                Some(v) => v,
                None => {
                    let v = words
                        .get(i)
                        .ok_or_else(|| format!("expected syntax: --{name} <string>"))?;
                    i += 1;
                    v.clone()
                }
            };
            // virsh's argv options may also be named, once per value.
            if opt.kind == Kind::Argv {
                args.rest.push(value);
                continue;
            }
            if args.values.insert(opt.name, value).is_some() {
                return Err(format!("option --{name} already seen"));
            }
            continue;
        }
        let slot = opts
            .iter()
            .find(|o| o.kind == Kind::Data && !args.values.contains_key(o.name));
        match slot {
            Some(slot) => {
                args.values.insert(slot.name, word.clone());
            }
            None if opts.iter().any(|o| o.kind == Kind::Argv) => args.rest.push(word.clone()),
            None => return Err(format!("unexpected data '{word}'")),
        }
    }
    for opt in opts {
        if opt.required && !args.values.contains_key(opt.name) {
            return Err(format!(
                "command '{command}' requires <{}> option",
                opt.name
            ));
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_semicolons_newlines_quotes_and_comments() {
        let cmds = split_commands("define a.xml; start 'my vm' ;list --all\nuri # note").unwrap();
        assert_eq!(
            cmds,
            vec![
                vec!["define".to_string(), "a.xml".into()],
                vec!["start".into(), "my vm".into()],
                vec!["list".into(), "--all".into()],
                vec!["uri".into()],
            ]
        );
        assert!(split_commands("start 'x").is_err());
        let cmds =
            split_commands(r#"net-update n add ip-dhcp-host "<host mac='a' ip='b'/>""#).unwrap();
        assert_eq!(cmds[0][4], "<host mac='a' ip='b'/>");
    }

    #[test]
    fn parses_options() {
        static OPTS: &[Opt] = &[
            data("domain", ""),
            data_opt("file", ""),
            flag("paused", ""),
            named("timeout", ""),
        ];
        let words: Vec<String> = ["--paused", "vm", "--timeout=3", "f.xml"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let a = parse_args("x", OPTS, &words).unwrap();
        assert_eq!(a.get("domain"), Some("vm"));
        assert_eq!(a.get("file"), Some("f.xml"));
        assert_eq!(a.get("timeout"), Some("3"));
        assert!(a.has("paused"));
        let words: Vec<String> = vec!["--domain".into(), "vm".into()];
        assert_eq!(
            parse_args("x", OPTS, &words).unwrap().get("domain"),
            Some("vm")
        );
        assert!(
            parse_args("x", OPTS, &[])
                .unwrap_err()
                .contains("requires <domain>")
        );
        assert!(
            parse_args("x", OPTS, &["--nope".into()])
                .unwrap_err()
                .contains("doesn't support option --nope")
        );
        assert!(
            parse_args("x", OPTS, &["a".into(), "b".into(), "c".into()])
                .unwrap_err()
                .contains("unexpected data 'c'")
        );
    }
}
