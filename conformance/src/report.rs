//! The report: per property, cases run and passed and the first failure,
//! as a human summary and as JSON (format documented in README.md).

use serde::Serialize;

use crate::common::{Divergence, Script};

/// Version of the JSON layout; bumped when a field changes meaning.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    /// The target does not offer what the property needs.
    Skipped,
    /// The suite could not run the property (not a finding about the target).
    Error,
}

/// A shrunk failing case.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// The divergence on one line.
    pub message: String,
    /// Operations in the shrunk sequence.
    pub steps: usize,
    pub divergence: Divergence,
    /// The shrunk sequence as the suite's own operation values.
    pub operations: Vec<String>,
    pub script: Script,
    /// `script` rendered as text, ready to save as `repro.wirt`.
    pub script_text: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct PropertyReport {
    pub name: String,
    pub about: String,
    pub status: Status,
    pub cases: u32,
    pub cases_run: u32,
    pub cases_passed: u32,
    pub seed: u64,
    pub duration_ms: u64,
    /// Why the property was skipped, or what stopped it.
    pub note: Option<String>,
    pub failure: Option<Failure>,
}

impl PropertyReport {
    pub fn new(name: &str, about: &str, cases: u32, seed: u64) -> Self {
        PropertyReport {
            name: name.into(),
            about: about.into(),
            status: Status::Error,
            cases,
            cases_run: 0,
            cases_passed: 0,
            seed,
            duration_ms: 0,
            note: None,
            failure: None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub format_version: u32,
    pub target: String,
    pub seed: u64,
    pub cases: u32,
    /// Optional operations the target answers with no-support, which the
    /// run therefore did not generate (README: "Optional operations").
    pub unsupported_optional: Vec<String>,
    pub properties: Vec<PropertyReport>,
    /// No property failed or errored.
    pub passed: bool,
    pub duration_ms: u64,
}

impl Report {
    pub fn new(target: String, seed: u64, cases: u32, unsupported: Vec<String>) -> Self {
        Report {
            format_version: FORMAT_VERSION,
            target,
            seed,
            cases,
            unsupported_optional: unsupported,
            properties: Vec::new(),
            passed: true,
            duration_ms: 0,
        }
    }

    pub fn push(&mut self, property: PropertyReport) {
        if matches!(property.status, Status::Failed | Status::Error) {
            self.passed = false;
        }
        self.properties.push(property);
    }

    /// The property named `name`, if it ran.
    pub fn property(&self, name: &str) -> Option<&PropertyReport> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// The human summary.
    pub fn human(&self) -> String {
        let mut out = format!(
            "wirt-conformance: {}\nseed {}, {} cases per property\n",
            self.target, self.seed, self.cases
        );
        if !self.unsupported_optional.is_empty() {
            out.push_str(&format!(
                "optional operations the target does not support (not generated): {}\n",
                self.unsupported_optional.join(", ")
            ));
        }
        out.push('\n');
        for p in &self.properties {
            let status = match p.status {
                Status::Passed => "PASS",
                Status::Failed => "FAIL",
                Status::Skipped => "SKIP",
                Status::Error => "ERROR",
            };
            out.push_str(&format!(
                "{status:<5} {:<18} {:>5}/{:<5} cases passed  {:>6.1}s  {}\n",
                p.name,
                p.cases_passed,
                p.cases_run,
                p.duration_ms as f64 / 1000.0,
                p.about
            ));
            if let Some(note) = &p.note {
                out.push_str(&format!("      {note}\n"));
            }
            if let Some(f) = &p.failure {
                out.push_str(&format!(
                    "      first failure, shrunk to {} step(s): {}\n",
                    f.steps, f.message
                ));
                for line in f.script_text.lines() {
                    out.push_str(&format!("      | {line}\n"));
                }
            }
        }
        out.push_str(&format!(
            "\n{} in {:.1}s\n",
            if self.passed {
                "all properties hold"
            } else {
                "VIOLATIONS FOUND"
            },
            self.duration_ms as f64 / 1000.0
        ));
        out
    }
}
