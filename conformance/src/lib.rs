//! wirt's conformance suite: property-based checks that a driver, seen
//! through the wirt API (any URI or plugin file), behaves as
//! `docs/lifecycle.md` and libvirt say, plus a driver-contract layer
//! that calls a plugin's own interfaces.
//!
//! Each property is a reference model ([`proptest_state_machine::ReferenceStateMachine`])
//! written from the spec, an executor for the system under test, and a
//! renderer that turns a shrunk failing sequence into a `wirt` script.
//! See `README.md` for the report format.
#![forbid(unsafe_code)]

pub mod common;
pub mod contract;
pub mod domain;
pub mod error;
pub mod migration;
pub mod network;
pub mod report;
pub mod runner;
pub mod snapshot;
pub mod storage;
pub mod target;

pub use error::Error;
pub use report::{PropertyReport, Report, Status};
pub use target::{Env, Options, Target};

use std::time::Instant;

use runner::{Property, run_property};

/// Every property, in the order they run.
pub const PROPERTIES: &[&str] = &[
    "domain-lifecycle",
    "storage",
    "network",
    "snapshots",
    "driver-contract",
    "migration",
];

/// Runs every property that applies to `opts.target`.
pub fn run(opts: &Options, cases: u32, seed: u64) -> Result<Report, Error> {
    let started = Instant::now();
    let env = Env::new(opts)?;
    let mut report = Report::new(env.describe(), seed, cases, env.settings.support.missing());
    let wanted =
        |name: &str| opts.properties.is_empty() || opts.properties.iter().any(|p| p == name);
    // Each property gets its own stream, so running one alone reproduces it.
    let property_seed = |i: u64| seed.wrapping_add(i.wrapping_mul(0x9e37_79b9));
    if wanted(domain::DomainLifecycle::NAME) {
        report.push(run_property::<domain::DomainLifecycle>(
            &env,
            cases,
            property_seed(0),
        ));
    }
    if wanted(storage::Storage::NAME) {
        report.push(run_property::<storage::Storage>(
            &env,
            cases,
            property_seed(1),
        ));
    }
    if wanted(network::Networks::NAME) {
        report.push(run_property::<network::Networks>(
            &env,
            cases,
            property_seed(2),
        ));
    }
    if wanted(snapshot::Snapshots::NAME) {
        report.push(run_property::<snapshot::Snapshots>(
            &env,
            cases,
            property_seed(4),
        ));
    }
    if wanted(contract::DriverContract::NAME) {
        report.push(run_property::<contract::DriverContract>(
            &env,
            cases,
            property_seed(3),
        ));
    }
    if wanted(migration::Migration::NAME) {
        report.push(run_property::<migration::Migration>(
            &env,
            cases,
            property_seed(4),
        ));
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}
