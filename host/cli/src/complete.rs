//! Completion for the interactive shell: command names, a command's
//! `--options`, and the names of the objects its arguments take (domains,
//! networks, pools, volumes, snapshots), as virsh completes them.

use crate::parse::{Kind, Opt};
use crate::table;

/// What kind of name an argument takes, by its option name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    Domain,
    Network,
    Pool,
    /// Volumes of the pool given so far (`--pool`), if any.
    Volume(Option<String>),
    /// Snapshots of the domain given so far.
    Snapshot(Option<String>),
}

fn object(option: &str, words: &[&str], opts: &[Opt]) -> Option<Object> {
    match option {
        "domain" => Some(Object::Domain),
        "network" => Some(Object::Network),
        "pool" => Some(Object::Pool),
        "vol" => Some(Object::Volume(value_of("pool", words, opts))),
        "snapshotname" | "snapshot" => Some(Object::Snapshot(value_of("domain", words, opts))),
        _ => None,
    }
}

/// The value `words` (after the command name) give option `name`, named
/// (`--name value`) or by position.
fn value_of(name: &str, words: &[&str], opts: &[Opt]) -> Option<String> {
    let mut positional = opts.iter().filter(|o| o.kind == Kind::Data);
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if let Some(opt) = w.strip_prefix("--") {
            let takes_value = opts
                .iter()
                .any(|o| o.name == opt && matches!(o.kind, Kind::Data | Kind::Named));
            if takes_value {
                if opt == name {
                    return words.get(i + 1).map(|s| s.to_string());
                }
                i += 1;
            }
        } else if positional.next().is_some_and(|o| o.name == name) {
            return Some(w.to_string());
        }
        i += 1;
    }
    None
}

/// What to complete in `line` (the text before the cursor): where the
/// word being completed starts, and the candidates, `names` giving the
/// objects of a kind.
pub fn complete(line: &str, names: &dyn Fn(&Object) -> Vec<String>) -> (usize, Vec<String>) {
    // Only the last command of a `;`-separated line.
    let line_start = line.rfind(';').map_or(0, |i| i + 1);
    let current = &line[line_start..];
    let start = current.rfind(char::is_whitespace).map_or(0, |i| i + 1) + line_start;
    let word = &line[start..];
    let before: Vec<&str> = line[line_start..start].split_whitespace().collect();
    let matching = |all: Vec<String>| -> Vec<String> {
        let mut v: Vec<String> = all.into_iter().filter(|c| c.starts_with(word)).collect();
        v.sort();
        v.dedup();
        v
    };
    let Some((&command, args)) = before.split_first() else {
        let mut all: Vec<String> = table::commands()
            .iter()
            .map(|c| c.name.to_string())
            .collect();
        all.extend(["quit".into(), "exit".into()]);
        return (start, matching(all));
    };
    let Some(cmd) = table::find(command) else {
        return (start, Vec::new());
    };
    if word.starts_with('-') {
        let given: Vec<&str> = args.iter().filter_map(|w| w.strip_prefix("--")).collect();
        let all = cmd
            .opts
            .iter()
            .filter(|o| !given.contains(&o.name))
            .map(|o| format!("--{}", o.name))
            .collect();
        return (start, matching(all));
    }
    // The option this word is the value of: named just before, or the next
    // positional one.
    let option = match args.last().and_then(|w| w.strip_prefix("--")) {
        Some(opt)
            if cmd
                .opts
                .iter()
                .any(|o| o.name == opt && o.kind != Kind::Bool) =>
        {
            Some(opt)
        }
        _ => {
            let given: Vec<&str> = args.iter().filter_map(|w| w.strip_prefix("--")).collect();
            let mut values = 0;
            let mut i = 0;
            while i < args.len() {
                match args[i].strip_prefix("--") {
                    Some(opt)
                        if cmd
                            .opts
                            .iter()
                            .any(|o| o.name == opt && o.kind != Kind::Bool) =>
                    {
                        i += 1
                    }
                    Some(_) => {}
                    None => values += 1,
                }
                i += 1;
            }
            cmd.opts
                .iter()
                .filter(|o| o.kind == Kind::Data && !given.contains(&o.name))
                .nth(values)
                .map(|o| o.name)
        }
    };
    match option.and_then(|o| object(o, args, cmd.opts)) {
        Some(kind) => (start, matching(names(&kind))),
        None => (start, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(kind: &Object) -> Vec<String> {
        let v: &[&str] = match kind {
            Object::Domain => &["web", "db", "test"],
            Object::Network => &["default"],
            Object::Pool => &["default", "images"],
            Object::Volume(Some(p)) if p == "images" => &["a.qcow2", "b.img"],
            Object::Volume(_) => &[],
            Object::Snapshot(Some(d)) if d == "web" => &["before-upgrade"],
            Object::Snapshot(_) => &[],
        };
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn commands_options_and_object_names() {
        assert_eq!(complete("net-li", &names), (0, vec!["net-list".into()]));
        let (at, c) = complete("start --pa", &names);
        assert_eq!((at, c), (6, vec!["--paused".into()]));
        assert_eq!(complete("start w", &names), (6, vec!["web".into()]));
        assert_eq!(
            complete("list; dominfo ", &names).1,
            vec!["db", "test", "web"]
        );
        assert_eq!(complete("net-start d", &names).1, vec!["default"]);
        assert_eq!(
            complete("vol-info --pool images ", &names).1,
            vec!["a.qcow2", "b.img"]
        );
        assert_eq!(complete("vol-info a --pool i", &names).1, vec!["images"]);
        assert_eq!(
            complete("snapshot-revert web ", &names).1,
            vec!["before-upgrade"]
        );
        assert_eq!(
            complete("snapshot-revert --domain web b", &names).1,
            vec!["before-upgrade"]
        );
        // A flag already given is not offered again; unknown commands get nothing.
        assert!(
            !complete("start web --paused --p", &names)
                .1
                .contains(&"--paused".to_string())
        );
        assert!(complete("frobnicate x", &names).1.is_empty());
    }
}
