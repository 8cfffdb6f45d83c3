//! A progress bar on stderr for long operations, only on a terminal.

use std::io::Write;
use std::time::{Duration, Instant};

pub struct Progress {
    enabled: bool,
    label: &'static str,
    last: Option<Instant>,
}

impl Progress {
    pub fn new(label: &'static str, enabled: bool) -> Self {
        Progress {
            enabled,
            label,
            last: None,
        }
    }

    pub fn update(&mut self, done: u64, total: u64) {
        if !self.enabled {
            return;
        }
        // Redraw at most ten times a second.
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now - t < Duration::from_millis(100))
            && done < total
        {
            return;
        }
        self.last = Some(now);
        let pct = (done.min(total) * 100).checked_div(total).unwrap_or(100) as usize;
        let filled = pct * 30 / 100;
        let bar: String = "=".repeat(filled) + &" ".repeat(30 - filled);
        let mut err = std::io::stderr();
        let _ = write!(err, "\r{} [{bar}] {pct:>3} %", self.label);
        let _ = err.flush();
    }

    pub fn finish(&mut self) {
        if self.enabled && self.last.is_some() {
            let _ = writeln!(std::io::stderr());
        }
    }
}
