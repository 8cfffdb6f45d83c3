//! The suite's own failures (not violations: those are findings, reported
//! in the [`crate::report::Report`]).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open {target}")]
    Open {
        target: String,
        // Boxed: wirt's error is large and this one is rare.
        #[source]
        source: Box<wirt::Error>,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create a scratch directory")]
    Scratch(#[source] std::io::Error),
    #[error("cannot encode the JSON report")]
    Json(#[from] serde_json::Error),
}

/// An error with its whole source chain on one line, for reports.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let next = s.to_string();
        // wirt's transparent variants repeat their source's text.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}
