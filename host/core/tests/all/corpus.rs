//! libvirt 9.0's own XML test files, with the verdict libvirt 9.0 gave each
//! one (`MANIFEST.tsv`: `accept`, `reject: <libvirt's message>` or `n/a`).
//!
//! For every file libvirt accepts: wirt parses it; `format(parse(x))` is a
//! fixed point after one round; nothing the user wrote is lost (every element
//! name, attribute and text of the input is still in the output, modulo the
//! normalisations libvirt makes too); and the output validates against
//! libvirt's RelaxNG schemas. For every file libvirt rejects: wirt rejects it
//! with libvirt's error class where wirt makes the same check.
//!
//! The counts are printed, and the test fails if one drops below the floor
//! recorded here: raise a floor when wirt gets better, never lower it.
//!
//! The corpus is vendored in `host/tests/corpus/libvirt-9.0/` (so a clean
//! clone is self-contained); the shared copy at `../../shared/corpus/` is the
//! fallback.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use wirt::ErrorCode;
use wirt::xml::pool::PoolSizes;
use wirt::xml::tree::Node;
use wirt::xml::{
    self, DomainDef, Element, FormatOptions, NetworkDef, ParseOptions, PoolDef, SnapshotDef,
    VolumeDef,
};

/// Files libvirt accepts (or does not judge) that wirt parses.
const FLOOR_PARSED: usize = 660;
/// Of those, the ones whose formatted output is a fixed point.
const FLOOR_FIXED_POINT: usize = 660;
/// Of those, the ones that keep everything the user wrote.
const FLOOR_LOSSLESS: usize = 660;
/// Of those, the ones whose formatted output validates against libvirt's schema.
const FLOOR_SCHEMA_VALID: usize = 658;
/// Files libvirt rejects that wirt rejects with libvirt's error class.
const FLOOR_REJECTED_MATCHING: usize = 56;

/// Where libvirt's RelaxNG schemas live (Debian's `libvirt0`, installed with
/// `libvirt-clients`, which ships `virt-xml-validate`).
const SCHEMA_DIR: &str = "/usr/share/libvirt/schemas";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Domain,
    Network,
    Pool,
    Volume,
    Snapshot,
}

impl Kind {
    pub(crate) const ALL: [Kind; 5] = [
        Kind::Domain,
        Kind::Network,
        Kind::Pool,
        Kind::Volume,
        Kind::Snapshot,
    ];

    pub(crate) fn dir(self) -> &'static str {
        match self {
            Kind::Domain => "domain",
            Kind::Network => "network",
            Kind::Pool => "pool",
            Kind::Volume => "volume",
            Kind::Snapshot => "snapshot",
        }
    }

    /// The schema `virt-xml-validate` picks for this kind of document.
    fn schema(self) -> &'static str {
        match self {
            Kind::Domain => "domain",
            Kind::Network => "network",
            Kind::Pool => "storagepool",
            Kind::Volume => "storagevol",
            Kind::Snapshot => "domainsnapshot",
        }
    }

    /// Parses a document the way libvirt's define (or create) reads it and
    /// formats it back.
    pub(crate) fn round_trip(self, text: &str) -> Result<String, xml::Error> {
        Ok(match self {
            Kind::Domain => {
                let mut def = DomainDef::parse(text, ParseOptions::default())?;
                def.fill_generic_defaults();
                def.to_xml(FormatOptions::default())
            }
            Kind::Network => NetworkDef::parse(text)?.to_xml(),
            Kind::Pool => PoolDef::parse(text)?.to_xml(PoolSizes::default()),
            // vol-create, or else vol-create-from (where libvirt takes the
            // capacity from the source volume).
            Kind::Volume => VolumeDef::parse(text)
                .or_else(|_| VolumeDef::parse_from(text))?
                .to_xml(),
            Kind::Snapshot => SnapshotDef::parse_stored(text)?.to_xml(),
        })
    }
}

#[derive(Clone, Debug)]
enum Verdict {
    Accept,
    /// libvirt's error message, class prefix included.
    Reject(String),
    /// Not judged by libvirt's test driver. libvirt's own test suite parses
    /// these (volumes, snapshots); the ones named `*-invalid` are inputs its
    /// schema test expects the schema to refuse, which its parser reads.
    NotJudged,
}

struct Entry {
    kind: Kind,
    file: String,
    text: String,
    verdict: Verdict,
}

pub(crate) fn corpus_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let vendored = manifest.join("tests/corpus/libvirt-9.0");
    if vendored.is_dir() {
        return vendored;
    }
    manifest.join("../../shared/corpus/libvirt-9.0")
}

fn load() -> Vec<Entry> {
    let root = corpus_dir();
    let mut entries = Vec::new();
    for kind in Kind::ALL {
        let dir = root.join(kind.dir());
        let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv"))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join("MANIFEST.tsv").display()));
        for line in manifest.lines().skip(1) {
            let Some((file, verdict)) = line.split_once('\t') else {
                continue;
            };
            let verdict = match verdict.trim() {
                "accept" => Verdict::Accept,
                "n/a" => Verdict::NotJudged,
                other => match other.strip_prefix("reject:") {
                    Some(message) => Verdict::Reject(message.trim().to_string()),
                    None => panic!("{file}: unknown verdict {other:?}"),
                },
            };
            let text = std::fs::read_to_string(dir.join(file))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()));
            entries.push(Entry {
                kind,
                file: file.to_string(),
                text,
                verdict,
            });
        }
    }
    entries
}

/// libvirt's error class, from the prefix of its message.
fn expected_class(message: &str) -> ErrorCode {
    const PREFIXES: &[(&str, ErrorCode)] = &[
        ("XML error:", ErrorCode::XML_ERROR),
        ("internal error:", ErrorCode::INTERNAL_ERROR),
        ("unsupported configuration:", ErrorCode::CONFIG_UNSUPPORTED),
        ("invalid argument:", ErrorCode::INVALID_ARG),
        ("missing target information for device", ErrorCode(20)),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| message.starts_with(prefix))
        .map(|(_, code)| *code)
        // VIR_ERR_XML_DETAIL prints its detail with no prefix.
        .unwrap_or(ErrorCode::XML_DETAIL)
}

/// What a document says, as comparable facts with their counts: element
/// names, attributes and leaf text. Values libvirt normalises (sizes into
/// one unit, UUIDs into one spelling, paths it derives) and the live-only
/// figures it ignores are left out.
fn facts(root: &Element, kind: Kind) -> BTreeMap<String, usize> {
    let mut normalised: Vec<&str> = match kind {
        Kind::Domain => vec!["domain/memory", "domain/currentMemory", "domain/uuid"],
        Kind::Network => vec!["network/uuid"],
        // Live figures: recomputed by the driver, not part of a definition.
        Kind::Pool => vec![
            "pool/uuid",
            "pool/capacity",
            "pool/allocation",
            "pool/available",
        ],
        Kind::Volume => vec!["volume/capacity", "volume/allocation"],
        Kind::Snapshot => vec![],
    };
    // The target of a volume group or ZFS pool is derived from its source.
    if kind == Kind::Pool && matches!(root.attr("type"), Some("logical" | "zfs")) {
        normalised.push("pool/target/path");
    }
    let mut out = BTreeMap::new();
    collect_facts(root, "", &normalised, &mut out);
    out
}

fn collect_facts(
    e: &Element,
    parent: &str,
    normalised: &[&str],
    out: &mut BTreeMap<String, usize>,
) {
    let path = if parent.is_empty() {
        e.name.clone()
    } else {
        format!("{parent}/{}", e.name)
    };
    let skip_value = normalised.contains(&path.as_str());
    let mut add = |fact: String| *out.entry(fact).or_default() += 1;
    add(format!("<{path}>"));
    for (name, value) in &e.attrs {
        // A running domain's id is not part of its definition.
        if (skip_value && name == "unit") || (path == "domain" && name == "id") {
            continue;
        }
        add(format!("<{path}> @{name}={value:?}"));
    }
    let text = e.text();
    if !e.has_element_children() && !skip_value && !text.trim().is_empty() {
        add(format!("<{path}> text {:?}", text.trim()));
    }
    for child in &e.children {
        if let Node::Element(c) = child {
            collect_facts(c, &path, normalised, out);
        }
    }
}

/// Whether a program answers `--version`.
fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Validates many documents with one `xmllint --relaxng` run per schema.
/// `virt-xml-validate FILE TYPE` is a shell script running exactly that
/// for one file (about 50 ms each); one run per schema validates the whole
/// corpus in well under a second. Returns, for each (kind, file, input,
/// output), whether the input and the output validate; None when
/// `virt-xml-validate` and its tools are not installed.
fn schema_check(outputs: &[(Kind, String, String, String)]) -> Option<Vec<(bool, bool)>> {
    if !installed("virt-xml-validate")
        || !installed("xmllint")
        || !Path::new(SCHEMA_DIR).join("domain.rng").is_file()
    {
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut paths = Vec::new();
    for (i, (kind, _, input, output)) in outputs.iter().enumerate() {
        let input_path = dir.path().join(format!("{i}-in.xml"));
        let output_path = dir.path().join(format!("{i}-out.xml"));
        std::fs::write(&input_path, input).expect("write input");
        std::fs::write(&output_path, output).expect("write output");
        paths.push((*kind, input_path, output_path));
    }
    let mut valid: BTreeSet<PathBuf> = BTreeSet::new();
    for kind in Kind::ALL {
        let files: Vec<&PathBuf> = paths
            .iter()
            .filter(|(k, ..)| *k == kind)
            .flat_map(|(_, i, o)| [i, o])
            .collect();
        let schema = Path::new(SCHEMA_DIR).join(format!("{}.rng", kind.schema()));
        // Batches keep each command line short.
        for batch in files.chunks(200) {
            let run = Command::new("xmllint")
                .arg("--noout")
                .arg("--relaxng")
                .arg(&schema)
                .args(batch)
                .output()
                .expect("run xmllint");
            for line in String::from_utf8_lossy(&run.stderr).lines() {
                if let Some(path) = line.strip_suffix(" validates") {
                    valid.insert(PathBuf::from(path));
                }
            }
        }
    }
    Some(
        paths
            .iter()
            .map(|(_, i, o)| (valid.contains(i), valid.contains(o)))
            .collect(),
    )
}

#[test]
fn libvirt_corpus() {
    let entries = load();
    assert!(entries.len() > 600, "corpus incomplete: {}", entries.len());

    let mut should_parse = 0;
    let mut parsed = 0;
    let mut fixed = 0;
    let mut lossless = 0;
    let mut outputs = Vec::new();
    let mut rejects = 0;
    let mut rejected_matching = 0;
    let mut problems: Vec<String> = Vec::new();
    // Per kind: (parsed, to parse, rejected with libvirt's class, rejects).
    let mut per_kind: BTreeMap<&str, [usize; 4]> = BTreeMap::new();

    for entry in &entries {
        let name = format!("{}/{}", entry.kind.dir(), entry.file);
        let result = entry.kind.round_trip(&entry.text);
        let tally = per_kind.entry(entry.kind.dir()).or_default();
        if let Verdict::Reject(message) = &entry.verdict {
            rejects += 1;
            tally[3] += 1;
            let want = expected_class(message);
            match &result {
                Err(e) if e.code() == want => {
                    rejected_matching += 1;
                    tally[2] += 1;
                }
                Err(e) => problems.push(format!(
                    "{name}: rejected as {} ({e}), libvirt: {message}",
                    e.code()
                )),
                Ok(_) => problems.push(format!("{name}: accepted, libvirt: {message}")),
            }
            continue;
        }
        should_parse += 1;
        tally[1] += 1;
        let first = match result {
            Ok(text) => text,
            Err(e) => {
                problems.push(format!("{name}: not parsed: {} {e}", e.code()));
                continue;
            }
        };
        parsed += 1;
        tally[0] += 1;
        match entry.kind.round_trip(&first) {
            Ok(second) if second == first => fixed += 1,
            Ok(second) => problems.push(format!(
                "{name}: not a fixed point:\n{}",
                first_difference(&first, &second)
            )),
            Err(e) => problems.push(format!("{name}: own output not parsed: {e}")),
        }
        let input = Element::parse(&entry.text, "input").expect("parsed above");
        let output = Element::parse(&first, "output").expect("formatted output is XML");
        let kept = facts(&output, entry.kind);
        let missing: Vec<String> = facts(&input, entry.kind)
            .into_iter()
            .filter(|(fact, n)| kept.get(fact).copied().unwrap_or(0) < *n)
            .map(|(fact, n)| format!("{fact} x{n}"))
            .collect();
        if missing.is_empty() {
            lossless += 1;
        } else {
            problems.push(format!("{name}: dropped {missing:?}"));
        }
        outputs.push((entry.kind, entry.file.clone(), entry.text.clone(), first));
    }

    let schema = schema_check(&outputs).map(|results| {
        let mut valid_inputs = 0;
        let mut valid_outputs = 0;
        for ((kind, file, ..), (input_ok, output_ok)) in outputs.iter().zip(results) {
            match (input_ok, output_ok) {
                (true, true) => {
                    valid_inputs += 1;
                    valid_outputs += 1;
                }
                (true, false) => {
                    valid_inputs += 1;
                    problems.push(format!(
                        "{}/{file}: output fails libvirt's schema",
                        kind.dir()
                    ));
                }
                (false, _) => println!(
                    "{}/{file}: input itself fails libvirt's schema (not counted)",
                    kind.dir()
                ),
            }
        }
        (valid_outputs, valid_inputs)
    });

    for problem in &problems {
        println!("{problem}");
    }
    println!("libvirt 9.0 corpus ({} files):", entries.len());
    println!("  accepted files parsed:        {parsed}/{should_parse}");
    println!("  format(parse(x)) fixed point: {fixed}/{parsed}");
    println!("  nothing dropped:              {lossless}/{parsed}");
    match schema {
        Some((n, m)) => println!(
            "  output valid against schema:  {n}/{m} (of the parsed files whose input validates)"
        ),
        None => {
            println!("  output valid against schema:  SKIPPED (see stderr)");
            wirt_testkit::require(
                "virt-xml-validate/xmllint/libvirt schemas",
                "the corpus output is not validated against libvirt's schemas \
                 (Debian: libvirt-clients, libxml2-utils)",
            );
        }
    }
    println!("  rejected with libvirt's class: {rejected_matching}/{rejects}");
    for (kind, [ok, total, matching, rejected]) in &per_kind {
        println!(
            "    {kind:<9} parsed {ok}/{total}, rejected with libvirt's class {matching}/{rejected}"
        );
    }

    assert!(parsed >= FLOOR_PARSED, "parsed {parsed} < {FLOOR_PARSED}");
    assert!(
        fixed >= FLOOR_FIXED_POINT,
        "fixed point {fixed} < {FLOOR_FIXED_POINT}"
    );
    assert!(
        lossless >= FLOOR_LOSSLESS,
        "lossless {lossless} < {FLOOR_LOSSLESS}"
    );
    if let Some((n, _)) = schema {
        assert!(
            n >= FLOOR_SCHEMA_VALID,
            "schema-valid {n} < {FLOOR_SCHEMA_VALID}"
        );
    }
    assert!(
        rejected_matching >= FLOOR_REJECTED_MATCHING,
        "rejected with matching class {rejected_matching} < {FLOOR_REJECTED_MATCHING}"
    );
}

/// The first differing line of two texts, with its line number.
fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("  line {}: {x:?}\n       vs {y:?}", i + 1);
        }
    }
    format!(
        "  lengths differ: {} vs {} lines",
        a.lines().count(),
        b.lines().count()
    )
}
