//! What every property shares: error classes, expected outcomes,
//! divergences and reproduction scripts.

use serde::Serialize;

/// libvirt error numbers (`virErrorNumber`) the suite expects.
pub mod code {
    pub const INVALID_ARG: u32 = 8;
    pub const OPERATION_FAILED: u32 = 9;
    pub const NO_NAME: u32 = 21;
    pub const XML_ERROR: u32 = 27;
    pub const XML_DETAIL: u32 = 35;
    pub const SYSTEM_ERROR: u32 = 38;
    pub const NO_DOMAIN: u32 = 42;
    pub const NO_NETWORK: u32 = 43;
    pub const NO_STORAGE_POOL: u32 = 49;
    pub const NO_STORAGE_VOL: u32 = 50;
    pub const OPERATION_INVALID: u32 = 55;
    pub const NO_DOMAIN_SNAPSHOT: u32 = 72;
    pub const OPERATION_UNSUPPORTED: u32 = 84;
    pub const STORAGE_VOL_EXIST: u32 = 90;
    pub const XML_INVALID_SCHEMA: u32 = 92;
    /// Not a libvirt number: "must fail, with a code the driver chooses".
    pub const ANY: u32 = u32::MAX;

    /// libvirt's symbolic name, for reports.
    pub fn name(code: u32) -> &'static str {
        match code {
            3 => "no-support",
            INVALID_ARG => "invalid-arg",
            OPERATION_FAILED => "operation-failed",
            NO_NAME => "no-name",
            XML_ERROR => "xml-error",
            XML_DETAIL => "xml-detail",
            SYSTEM_ERROR => "system-error",
            NO_DOMAIN => "no-domain",
            NO_NETWORK => "no-network",
            NO_STORAGE_POOL => "no-storage-pool",
            NO_STORAGE_VOL => "no-storage-vol",
            OPERATION_INVALID => "operation-invalid",
            NO_DOMAIN_SNAPSHOT => "no-domain-snapshot",
            OPERATION_UNSUPPORTED => "operation-unsupported",
            STORAGE_VOL_EXIST => "storage-vol-exist",
            XML_INVALID_SCHEMA => "xml-invalid-schema",
            ANY => "any error",
            _ => "other",
        }
    }
}

/// An operation's result as the suite compares it: a value, or the error
/// class (libvirt code, or [`code::ANY`]).
pub type Outcome<V> = Result<V, u32>;

/// Whether an observed outcome is what the model expected.
pub fn outcome_matches<V: PartialEq>(expected: &Outcome<V>, observed: &Outcome<V>) -> bool {
    match (expected, observed) {
        (Ok(e), Ok(o)) => e == o,
        (Err(code::ANY), Err(_)) => true,
        (Err(e), Err(o)) => e == o,
        _ => false,
    }
}

/// Formats an outcome for a report: `ok: <value>` or `error 55 (operation-invalid)`.
pub fn describe_outcome<V: std::fmt::Debug>(outcome: &Outcome<V>) -> String {
    match outcome {
        Ok(v) => format!("ok: {v:?}"),
        Err(code::ANY) => "an error (any code)".to_string(),
        Err(c) => format!("error {c} ({})", code::name(*c)),
    }
}

/// Where the system under test first disagreed with the reference model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// 1-based position of the operation in the sequence (0: before any).
    pub step: usize,
    /// What was compared: "result", "events", "domain wconf-d0 state"...
    pub what: String,
    pub expected: String,
    pub observed: String,
}

impl Divergence {
    pub fn new(
        step: usize,
        what: impl Into<String>,
        expected: impl Into<String>,
        observed: impl Into<String>,
    ) -> Self {
        Divergence {
            step,
            what: what.into(),
            expected: expected.into(),
            observed: observed.into(),
        }
    }

    /// One line, for `# ...` comments and summaries.
    pub fn line(&self) -> String {
        format!(
            "step {}: {}: expected {}, observed {}",
            self.step, self.what, self.expected, self.observed
        )
    }
}

/// A file a reproduction script needs (domain XML, upload data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScriptFile {
    pub name: String,
    pub content: String,
}

/// A shrunk failing sequence as commands that reproduce it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Script {
    /// How to run it (`wirt -c URI < repro.wirt`, or "driver calls").
    pub how: String,
    /// One command per operation; the diverging one carries a comment.
    pub commands: Vec<String>,
    pub files: Vec<ScriptFile>,
}

impl Script {
    /// Number of operations (commands) in the script.
    pub fn steps(&self) -> usize {
        self.commands.len()
    }

    /// Registers a file once and returns its name.
    pub fn file(&mut self, name: String, content: String) -> String {
        if !self.files.iter().any(|f| f.name == name) {
            self.files.push(ScriptFile {
                name: name.clone(),
                content,
            });
        }
        name
    }

    /// The script as text: the run instruction, the commands, then the files.
    pub fn render(&self) -> String {
        let mut out = format!("# {}\n", self.how);
        for c in &self.commands {
            out.push_str(c);
            out.push('\n');
        }
        for f in &self.files {
            out.push_str(&format!("# --- file {} ---\n", f.name));
            for line in f.content.lines() {
                out.push_str(&format!("#   {line}\n"));
            }
        }
        out
    }
}

/// The model expects `expected`, the system answered `observed`: a
/// divergence on the operation's result, or None when they agree.
pub fn check_outcome<V: PartialEq + std::fmt::Debug>(
    step: usize,
    expected: &Outcome<V>,
    observed: &Outcome<V>,
) -> Result<(), Divergence> {
    if outcome_matches(expected, observed) {
        Ok(())
    } else {
        Err(Divergence::new(
            step,
            "result",
            describe_outcome(expected),
            describe_outcome(observed),
        ))
    }
}

/// Compares one observed field with the model's value.
pub fn check_field<T: PartialEq + std::fmt::Debug>(
    step: usize,
    what: impl FnOnce() -> String,
    expected: &T,
    observed: &T,
) -> Result<(), Divergence> {
    if expected == observed {
        Ok(())
    } else {
        Err(Divergence::new(
            step,
            what(),
            format!("{expected:?}"),
            format!("{observed:?}"),
        ))
    }
}

/// libvirt list filters: groups of bits where a set bit selects and an
/// empty group selects everything; groups combine with AND.
pub fn filter_groups_match(flags: u32, groups: &[(u32, u32)]) -> bool {
    groups
        .iter()
        .all(|&(group, hit)| flags & group == 0 || flags & hit != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_error_matches_every_code() {
        assert!(outcome_matches::<()>(&Err(code::ANY), &Err(9)));
        assert!(!outcome_matches::<()>(&Err(code::ANY), &Ok(())));
        assert!(!outcome_matches::<()>(&Err(55), &Err(9)));
    }

    #[test]
    fn filter_groups() {
        // Active bit set, domain inactive: filtered out.
        assert!(!filter_groups_match(1, &[(3, 2)]));
        assert!(filter_groups_match(0, &[(3, 2)]));
        assert!(filter_groups_match(3, &[(3, 2)]));
    }
}
