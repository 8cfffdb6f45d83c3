//! Fuzz target: the XML parsers of every object kind, seeded with libvirt's
//! corpus. Whatever parses must format to a document that parses again and
//! formats to the same text (so `dumpxml | define` never fails or drifts).
//! A bounded slice runs here; `scripts/fuzz.sh` runs it for minutes.

use std::time::{Duration, Instant};

use wirt_testkit::fuzz;

use crate::corpus::{Kind, corpus_dir};

fn seeds(kind: Kind) -> Vec<Vec<u8>> {
    let dir = corpus_dir().join(kind.dir());
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    seeds.sort();
    seeds
}

/// Parses never panic and never take long; a parsed document round-trips.
fn check(kind: Kind, input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let started = Instant::now();
    let first = kind.round_trip(text);
    // Linear checks: a document this small parses in microseconds.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{kind:?}: {} bytes took {:?}",
        input.len(),
        started.elapsed()
    );
    let Ok(formatted) = first else { return };
    let again = kind
        .round_trip(&formatted)
        .unwrap_or_else(|e| panic!("{kind:?}: formatted output does not parse: {e}\n{formatted}"));
    assert_eq!(
        again, formatted,
        "{kind:?}: formatting is not a fixed point"
    );
}

#[test]
fn fuzz_xml_parsers() {
    for kind in Kind::ALL {
        fuzz::run(
            &format!("xml-{}", kind.dir()),
            fuzz::inputs(seeds(kind)),
            |input| check(kind, &input),
        );
    }
}
