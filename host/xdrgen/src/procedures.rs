//! The procedure table: the `*_procedure` enum's values, their
//! annotations, and the `*_args` / `*_ret` / `*_msg` structs that carry them.

use std::collections::{HashMap, HashSet};

use crate::Error;
use crate::annotations::{self, Stream};
use crate::ast::Definition;
use crate::model::{Ctx, Procedure};
use crate::names::camel;

/// Procedures whose stream libvirt sets up by hand (`@generate: none`, no
/// stream annotation), so the annotations alone would miss it. A procedure
/// listed here that gains an annotation is an error, to be looked at.
const HAND_CODED_STREAMS: &[(&str, Stream)] = &[
    // libvirt 9.0: remoteDispatchDomainMigratePrepareTunnel3Params in
    // src/remote/remote_daemon_dispatch.c and remoteDomainMigratePrepareTunnel3Params
    // in src/remote/remote_driver.c create the stream; the client sends.
    (
        "REMOTE_PROC_DOMAIN_MIGRATE_PREPARE_TUNNEL3_PARAMS",
        Stream::Write,
    ),
];

/// What [`Ctx::procedures`] finds: the procedures, the enum's C name, and
/// the message structs no procedure claims.
type ProcedureTable = (Vec<Procedure>, Option<String>, Vec<String>);

impl Ctx<'_> {
    /// The procedure table, matched to `*_args`/`*_ret`/`*_msg` structs as
    /// gendispatch.pl matches them: by name, case and underscores ignored.
    pub(crate) fn procedures(&self, defs: &[Definition]) -> Result<ProcedureTable, Error> {
        let enums: Vec<&Definition> = defs
            .iter()
            .filter(|d| matches!(d, Definition::Enum { name, .. } if name.ends_with("_procedure")))
            .collect();
        let values = match enums.as_slice() {
            [] => return Ok((Vec::new(), None, Vec::new())),
            [Definition::Enum { values, .. }] => values,
            [_, second, ..] => {
                return Err(Error::at(second.line(), "more than one `*_procedure` enum"));
            }
            [_] => unreachable!("filtered to enums"),
        };
        let key = |s: &str| s.replace('_', "").to_ascii_lowercase();
        let mut messages: HashMap<String, [Option<(String, String)>; 3]> = HashMap::new();
        for d in defs {
            let Definition::Struct { name, line, .. } = d else {
                continue;
            };
            let Some(rest) = name.strip_prefix(&self.prefix) else {
                continue;
            };
            for (slot, suffix) in ["_args", "_ret", "_msg"].iter().enumerate() {
                if let Some(stem) = rest.strip_suffix(suffix) {
                    let entry = messages.entry(key(stem)).or_default();
                    if entry[slot].is_some() {
                        return Err(Error::at(
                            *line,
                            format!("second `{suffix}` struct for `{stem}`"),
                        ));
                    }
                    entry[slot] = Some((name.clone(), self.rust_type_name(name)));
                }
            }
        }
        let proc_prefix = format!("{}PROC_", self.prefix.to_ascii_uppercase());
        let mut procedures = Vec::new();
        let mut numbers = HashSet::new();
        let mut used = HashSet::new();
        for v in values {
            let Some(stem) = v.name.strip_prefix(&proc_prefix) else {
                return Err(Error::at(
                    v.line,
                    format!("procedure `{}` does not start with `{proc_prefix}`", v.name),
                ));
            };
            let number = self.values[&v.name].0;
            if number <= 0 || !numbers.insert(number) {
                return Err(Error::at(
                    v.line,
                    format!("procedure number {number} is not positive or repeated"),
                ));
            }
            let Some((doc_line, doc)) = &v.doc else {
                return Err(Error::at(
                    v.line,
                    format!("'@generate' annotation missing for {}", v.name),
                ));
            };
            let mut annotations = annotations::parse(&v.name, *doc_line, doc)?;
            if let Some(&(_, dir)) = HAND_CODED_STREAMS.iter().find(|(name, _)| *name == v.name) {
                if annotations.stream.is_some() {
                    return Err(Error::at(
                        v.line,
                        format!(
                            "{} is annotated now; drop it from HAND_CODED_STREAMS",
                            v.name
                        ),
                    ));
                }
                // The stream is the C API's first parameter after the connection.
                annotations.stream = Some((dir, 1));
            }
            let k = key(stem);
            let [args, ret, msg] = messages.get(&k).cloned().unwrap_or_default();
            used.insert(k);
            if msg.is_some() && (args.is_some() || ret.is_some()) {
                return Err(Error::at(
                    v.line,
                    format!("{} has both a `_msg` and `_args`/`_ret` struct", v.name),
                ));
            }
            procedures.push(Procedure {
                number,
                c_name: v.name.clone(),
                variant: camel(stem),
                args: args.map(|a| a.1),
                ret: ret.map(|r| r.1),
                msg: msg.map(|m| m.1),
                annotations,
            });
        }
        let mut unmatched: Vec<String> = messages
            .iter()
            .filter(|(k, _)| !used.contains(*k))
            .flat_map(|(_, slots)| slots.iter().flatten().map(|(c, _)| c.clone()))
            .collect();
        unmatched.sort();
        procedures.sort_by_key(|p| p.number);
        Ok((procedures, Some(enums[0].name().to_owned()), unmatched))
    }
}
