//! XML throughput: parse + format of every domain definition libvirt 9.0
//! accepts in its own test corpus (`host/core/tests/corpus/libvirt-9.0/domain`),
//! reported in documents per second. `parse` and `format` are also timed
//! apart, to show where the time goes.

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wirt::xml::{DomainDef, FormatOptions, ParseOptions};

/// The corpus domains libvirt accepts, as text.
fn corpus_domains() -> Vec<String> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/core/tests/corpus/libvirt-9.0/domain");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    manifest
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once('\t'))
        .filter(|(_, verdict)| verdict.trim() == "accept")
        .map(|(file, _)| std::fs::read_to_string(dir.join(file)).expect("corpus file"))
        .collect()
}

fn parse(text: &str) -> DomainDef {
    let mut def = DomainDef::parse(text, ParseOptions::default()).expect("libvirt accepts it");
    def.fill_generic_defaults();
    def
}

fn bench(c: &mut Criterion) {
    let docs = corpus_domains();
    let bytes: usize = docs.iter().map(String::len).sum();
    let defs: Vec<DomainDef> = docs.iter().map(|d| parse(d)).collect();
    eprintln!(
        "xml: {} corpus domains, {} KiB",
        docs.len(),
        bytes.div_ceil(1024)
    );

    let mut group = c.benchmark_group("xml");
    group.throughput(Throughput::Elements(docs.len() as u64));
    group.bench_function("parse+format", |b| {
        b.iter(|| {
            docs.iter()
                .map(|d| parse(d).to_xml(FormatOptions::default()).len())
                .sum::<usize>()
        })
    });
    group.bench_function("parse", |b| {
        b.iter(|| docs.iter().map(|d| parse(d).vcpus).sum::<u32>())
    });
    group.bench_function("format", |b| {
        b.iter(|| {
            defs.iter()
                .map(|d| d.to_xml(FormatOptions::default()).len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
