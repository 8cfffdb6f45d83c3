//! `wirt-conformance`: runs the suite against a URI or a plugin file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use wirt_conformance::{Options, Target};

#[derive(Debug, Parser)]
#[command(
    name = "wirt-conformance",
    version,
    about = "Property-based conformance suite for wirt drivers"
)]
struct Cli {
    /// Connection URI to check (test:///default, kvm:///session...).
    #[arg(long, conflicts_with = "plugin", required_unless_present = "plugin")]
    uri: Option<String>,
    /// Driver plugin (.wasm component) to check, loaded directly.
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// URI the plugin's `open` receives.
    #[arg(long, default_value = "test:///default", requires = "plugin")]
    plugin_uri: String,
    /// Generated cases per property.
    #[arg(long, default_value_t = 256)]
    cases: u32,
    /// Seed of the generator (default: from the clock; printed in the report).
    #[arg(long)]
    seed: Option<u64>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Directory for the storage property's pool target directories.
    #[arg(long)]
    pool_dir: Option<PathBuf>,
    /// Pool type the storage property defines.
    #[arg(long, default_value = "dir")]
    pool_type: String,
    /// Run every case on the URI's own host (with clean-up) even where a
    /// fresh private host per case is possible.
    #[arg(long)]
    shared: bool,
    /// Run only this property (repeatable): domain-lifecycle, storage,
    /// network, snapshots, driver-contract, migration.
    #[arg(long = "property", value_name = "NAME",
          value_parser = clap::builder::PossibleValuesParser::new(wirt_conformance::PROPERTIES))]
    properties: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let target = match (&cli.uri, &cli.plugin) {
        (Some(uri), _) => Target::Uri(uri.clone()),
        (None, Some(path)) => Target::Plugin {
            path: path.clone(),
            uri: cli.plugin_uri.clone(),
        },
        (None, None) => unreachable!("clap requires one of them"),
    };
    let mut opts = Options::new(target);
    opts.pool_dir = cli.pool_dir.clone();
    opts.pool_type = cli.pool_type.clone();
    opts.shared = cli.shared;
    opts.properties = cli.properties.clone();
    let seed = cli.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    let report = match wirt_conformance::run(&opts, cli.cases, seed) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wirt-conformance: {}", wirt_conformance::error::chain(&e));
            return ExitCode::from(2);
        }
    };
    print!("{}", report.human());
    if let Some(path) = &cli.json {
        let text = match serde_json::to_string_pretty(&report) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("wirt-conformance: cannot encode the report: {e}");
                return ExitCode::from(2);
            }
        };
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("wirt-conformance: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
