//! The annotations libvirt writes in the `/** ... */` comment above each
//! `REMOTE_PROC_*` value, read with the rules of libvirt's
//! `src/rpc/gendispatch.pl`: one `@key: value` per line, `@acl` and
//! `@aclfilter` repeatable, `@generate` required, priority low unless `high`.
//! A line it cannot read is an error, as it is for gendispatch.

use crate::Error;

/// Which way a procedure's stream flows, seen from the client (libvirt's
/// `src/remote` point of view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// `@readstream`: the server sends data (e.g. volume download).
    Read,
    /// `@writestream`: the client sends data (e.g. volume upload).
    Write,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Annotations {
    /// `@generate`: none, client, server or both.
    pub generate: String,
    /// `@priority: high`.
    pub high_priority: bool,
    /// `@readstream` / `@writestream` and the parameter offset they name.
    pub stream: Option<(Stream, u32)>,
    /// `@sparseflag`: the flag that turns on sparse streaming.
    pub sparse_flag: Option<String>,
    /// `@acl` rules, in order.
    pub acl: Vec<String>,
    /// `@aclfilter` rules, in order.
    pub acl_filter: Vec<String>,
}

/// Reads the comment `text` that starts on `line`, above procedure `proc_name`.
pub fn parse(proc_name: &str, line: usize, text: &str) -> Result<Annotations, Error> {
    let body = text
        .strip_prefix("/**")
        .and_then(|t| t.strip_suffix("*/"))
        .ok_or_else(|| Error::at(line, "annotation comment must be /** ... */"))?;
    let mut out = Annotations::default();
    let mut generate = None;
    let mut priority = None;
    for (i, raw) in body.lines().enumerate() {
        let at = line + i;
        let text = raw.trim();
        let text = text.strip_prefix('*').unwrap_or(text).trim();
        if text.is_empty() {
            continue;
        }
        let Some((key, value)) = text.strip_prefix('@').and_then(|kv| kv.split_once(':')) else {
            return Err(Error::at(
                at,
                format!("cannot read annotation line `{text}` of {proc_name}"),
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        let valid = !value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_:!|".contains(c));
        if !valid {
            return Err(Error::at(
                at,
                format!("invalid value `{value}` for @{key} of {proc_name}"),
            ));
        }
        let once = |slot: &mut Option<String>| {
            if slot.replace(value.to_owned()).is_some() {
                Err(Error::at(at, format!("@{key} given twice for {proc_name}")))
            } else {
                Ok(())
            }
        };
        match key {
            "generate" => once(&mut generate)?,
            "priority" => once(&mut priority)?,
            "sparseflag" => once(&mut out.sparse_flag)?,
            "acl" => out.acl.push(value.to_owned()),
            "aclfilter" => out.acl_filter.push(value.to_owned()),
            "readstream" | "writestream" => {
                let dir = if key == "readstream" {
                    Stream::Read
                } else {
                    Stream::Write
                };
                let offset = value.parse().map_err(|_| {
                    Error::at(
                        at,
                        format!("@{key} of {proc_name} needs a parameter number"),
                    )
                })?;
                if out.stream.replace((dir, offset)).is_some() {
                    return Err(Error::at(
                        at,
                        format!("{proc_name} has more than one stream annotation"),
                    ));
                }
            }
            other => {
                return Err(Error::at(
                    at,
                    format!("unknown annotation @{other} for {proc_name}"),
                ));
            }
        }
    }
    out.generate = generate.ok_or_else(|| {
        Error::at(
            line,
            format!("@generate annotation missing for {proc_name}"),
        )
    })?;
    if !matches!(out.generate.as_str(), "both" | "server" | "client" | "none") {
        return Err(Error::at(
            line,
            format!("@generate value `{}` invalid for {proc_name}", out.generate),
        ));
    }
    out.high_priority = match priority.as_deref() {
        None | Some("low") => false,
        Some("high") => true,
        Some(other) => {
            return Err(Error::at(
                line,
                format!("@priority value `{other}` invalid for {proc_name}"),
            ));
        }
    };
    if out.sparse_flag.is_some() && out.stream.is_none() {
        return Err(Error::at(
            line,
            format!("@sparseflag of {proc_name} requires a stream"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libvirt_annotations() {
        let text = "/**\n     * @generate: both\n     * @readstream: 1\n     * @sparseflag: VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM\n     * @acl: storage_vol:data_read\n     * @acl: domain:write:VIR_DOMAIN_AFFECT_CONFIG\n     * @priority: high\n     */";
        let a = parse("REMOTE_PROC_X", 10, text).unwrap();
        assert_eq!(a.generate, "both");
        assert!(a.high_priority);
        assert_eq!(a.stream, Some((Stream::Read, 1)));
        assert_eq!(a.acl.len(), 2);
        assert_eq!(
            a.sparse_flag.as_deref(),
            Some("VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM")
        );
    }

    #[test]
    fn refuses_what_gendispatch_refuses() {
        let bad = [
            ("/**\n * @acl: none\n */", 1, "missing"),
            (
                "/**\n * @generate: both\n * @colour: blue\n */",
                3,
                "unknown",
            ),
            (
                "/**\n * @generate: both\n * free text\n */",
                3,
                "cannot read",
            ),
            ("/**\n * @generate: sometimes\n */", 1, "invalid"),
            (
                "/**\n * @generate: both\n * @priority: urgent\n */",
                1,
                "invalid",
            ),
            (
                "/**\n * @generate: both\n * @sparseflag: X\n */",
                1,
                "requires",
            ),
        ];
        for (text, line, what) in bad {
            let err = parse("P", 1, text).unwrap_err();
            assert_eq!(err.line, Some(line), "{text}");
            assert!(err.message.contains(what), "{err}");
        }
    }
}
