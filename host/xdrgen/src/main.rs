//! `wirt-xdrgen [--constants TABLE] INPUT.x OUTPUT.rs`: generates wirt's
//! Rust wire types from a libvirt `.x` file. See host/xdrgen/README.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use wirt_xdrgen::{Provenance, generate, summary};

/// `input/c-constants.txt` as it was when this binary was built.
const BUILT_IN_TABLE: &str = include_str!("../input/c-constants.txt");

const USAGE: &str = "usage: wirt-xdrgen [--constants TABLE] INPUT.x OUTPUT.rs\n\
    TABLE defaults to the built-in copy of input/c-constants.txt; OUTPUT `-` writes to stdout.";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("wirt-xdrgen: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut constants: Option<PathBuf> = None;
    let mut positional = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--constants" => constants = Some(it.next().ok_or(USAGE)?.into()),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ => positional.push(arg),
        }
    }
    let [input, output] = <[String; 2]>::try_from(positional).map_err(|_| USAGE.to_owned())?;
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let x_source = read(Path::new(&input))?;
    // The table is built in, so the binary does not depend on where the
    // source tree was when it was compiled.
    let (table, constants) = match &constants {
        Some(path) => (read(path)?, path.as_path()),
        None => (BUILT_IN_TABLE.to_owned(), Path::new("c-constants.txt")),
    };
    // File names only, so the output does not depend on where it was run.
    let name = |p: &Path| {
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let provenance = Provenance {
        input: name(Path::new(&input)),
        constants: name(constants),
    };
    let (rust, model) =
        generate(&x_source, &table, &provenance).map_err(|e| format!("{input}: {e}"))?;
    eprintln!("wirt-xdrgen: {}", summary(&model));
    if output == "-" {
        print!("{rust}");
        Ok(())
    } else {
        std::fs::write(&output, rust).map_err(|e| format!("{output}: {e}"))
    }
}
