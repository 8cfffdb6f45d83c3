//! What a command produces: text in virsh's layouts, or JSON with `--json`.

use serde_json::{Map, Value, json};

/// A command's result, ready for either output mode.
#[derive(Debug, Default)]
pub struct Reply {
    pub text: String,
    pub json: Value,
    /// What `-q` prints instead of `text`, when it differs: messages are
    /// dropped, tables lose their header.
    pub quiet_text: Option<String>,
    /// No empty line after the text: the few virsh commands that end
    /// without one (`desc`).
    pub bare: bool,
}

impl Reply {
    pub fn empty() -> Self {
        Reply {
            text: String::new(),
            json: json!({"ok": true}),
            quiet_text: None,
            bare: false,
        }
    }

    /// A one-line message (`Domain 'vm1' started`).
    pub fn message(msg: impl Into<String>) -> Self {
        let msg = msg.into();
        Reply {
            json: json!({"ok": true, "message": msg}),
            text: format!("{msg}\n"),
            quiet_text: Some(String::new()),
            bare: false,
        }
    }

    /// Raw text (XML, a value) with a JSON form of the caller's choosing.
    pub fn text(text: impl Into<String>, json: Value) -> Self {
        let mut text = text.into();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        Reply {
            text,
            json,
            quiet_text: None,
            bare: false,
        }
    }

    /// A single value printed on its own line.
    pub fn value(key: &str, value: impl std::fmt::Display) -> Self {
        let v = value.to_string();
        Reply {
            text: format!("{v}\n"),
            json: json!({ key: v }),
            quiet_text: None,
            bare: false,
        }
    }

    /// virsh's `Key:           value` block; JSON keys are the labels in
    /// snake case.
    pub fn key_values(rows: &[(&str, String)]) -> Self {
        let mut text = String::new();
        let mut obj = Map::new();
        for (key, value) in rows {
            text.push_str(&format!("{:<15} {}\n", format!("{key}:"), value));
            obj.insert(snake(key), Value::String(value.clone()));
        }
        Reply {
            text,
            json: Value::Object(obj),
            quiet_text: None,
            bare: false,
        }
    }

    /// A virsh table; `json_rows` carries the typed form.
    pub fn table(headers: &[&str], rows: &[Vec<String>], json_rows: Vec<Value>) -> Self {
        Reply {
            text: table(headers, rows),
            json: Value::Array(json_rows),
            quiet_text: Some(table(&[], rows)),
            bare: false,
        }
    }
}

/// `CPU(s)` → `cpus`, `Max memory` → `max_memory`.
pub fn snake(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars() {
        match c {
            'A'..='Z' => out.push(c.to_ascii_lowercase()),
            'a'..='z' | '0'..='9' => out.push(c),
            _ if !out.ends_with('_') && !out.is_empty() => out.push('_'),
            _ => {}
        }
    }
    out.trim_end_matches('_').to_string()
}

/// virsh's `vshTable`: a space, columns padded to their widest cell and
/// separated by three spaces, a dash rule two longer than the padded
/// header, trailing spaces trimmed. With no headers (`-q`), just the rows.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let width = |s: &str| s.chars().count();
    let columns = headers.len().max(rows.first().map_or(0, Vec::len));
    let mut widths: Vec<usize> = (0..columns)
        .map(|i| headers.get(i).map_or(0, |h| width(h)))
        .collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(width(cell));
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, cell) in cells.enumerate() {
            s.push_str(if i == 0 { " " } else { "   " });
            s.push_str(cell);
            s.extend(std::iter::repeat_n(
                ' ',
                widths[i].saturating_sub(width(cell)),
            ));
        }
        s.trim_end().to_string()
    };
    let mut out = String::new();
    if !headers.is_empty() {
        out.push_str(&line(&mut headers.iter().copied()));
        out.push('\n');
        let total = 1 + widths.iter().sum::<usize>() + 3 * widths.len().saturating_sub(1) + 2;
        out.push_str(&"-".repeat(total));
        out.push('\n');
    }
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_keep_the_layout_pinned_from_virsh_9() {
        let t = table(
            &["Id", "Name", "State"],
            &[vec!["1".into(), "test".into(), "running".into()]],
        );
        assert_eq!(
            t,
            " Id   Name   State\n----------------------\n 1    test   running\n"
        );
        let t = table(
            &["Id", "Name", "State"],
            &[vec!["-".into(), "vm1".into(), "shut off".into()]],
        );
        assert_eq!(
            t,
            " Id   Name   State\n-----------------------\n -    vm1    shut off\n"
        );
        let quiet = table(&[], &[vec!["1".into(), "test".into(), "running".into()]]);
        assert_eq!(quiet, " 1   test   running\n");
    }

    #[test]
    fn key_values_keep_the_layout_pinned_from_virsh_9() {
        let r = Reply::key_values(&[("Id", "1".into()), ("Security DOI", String::new())]);
        assert_eq!(r.text, "Id:             1\nSecurity DOI:   \n");
        assert_eq!(r.json["security_doi"], "");
        assert_eq!(snake("CPU(s)"), "cpu_s");
    }
}
