//! Fuzz targets that run as ordinary tests: a bounded slice in CI, as long
//! as you like from `scripts/fuzz.sh`.
//!
//! A target is a function of bytes that must not panic (and may assert more:
//! a round trip, a bound). [`run`] feeds it inputs made by proptest: seeds
//! (a corpus checked into the repository) with a few mutations each, and
//! plain random bytes. proptest shrinks a failure to the fewest, smallest
//! mutations that still fail, and prints them with the seed to replay.
//!
//! `WIRT_FUZZ_SECS` (default 2) bounds each target's time; `WIRT_FUZZ_SEED`
//! (a number) replays a run. Each run prints its case count and rate to
//! stderr.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Seconds each target runs unless `WIRT_FUZZ_SECS` says otherwise.
pub const DEFAULT_SECS: u64 = 2;

/// One edit of an input.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// Flip bits of the byte at (position mod length).
    Flip(usize, u8),
    /// Set a byte to one of the values parsers trip on.
    Interesting(usize, u8),
    /// Insert bytes.
    Insert(usize, Vec<u8>),
    /// Delete up to `n` bytes.
    Delete(usize, usize),
    /// Repeat a range `times` times (deep nesting, long lists).
    Repeat(usize, usize, u8),
    /// Write a big-endian u32 (XDR lengths and counts).
    Word(usize, u32),
}

const INTERESTING: [u8; 12] = [
    0, 0x7f, 0x80, 0xff, b'<', b'>', b'&', b'"', b'\'', b'/', b'=', b'\n',
];
const WORDS: [u32; 8] = [
    0,
    1,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1000,
    0x10_0000,
    0xffff,
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, bits)| Mutation::Flip(at, bits)),
        (any::<usize>(), 0..INTERESTING.len() as u8)
            .prop_map(|(at, i)| Mutation::Interesting(at, INTERESTING[i as usize])),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<usize>(), 1..64usize).prop_map(|(at, n)| Mutation::Delete(at, n)),
        (any::<usize>(), 1..64usize, 2..64u8).prop_map(|(at, n, t)| Mutation::Repeat(at, n, t)),
        (any::<usize>(), 0..WORDS.len() as u8, any::<u32>()).prop_map(|(at, i, w)| {
            Mutation::Word(at, if i == 0 { w } else { WORDS[i as usize] })
        }),
    ]
}

/// Applies `m` to `data`.
pub fn apply(data: &mut Vec<u8>, m: &Mutation) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match m {
        Mutation::Flip(i, bits) => {
            if !data.is_empty() {
                let i = at(*i, data.len());
                data[i] ^= bits;
            }
        }
        Mutation::Interesting(i, v) => {
            if !data.is_empty() {
                let i = at(*i, data.len());
                data[i] = *v;
            }
        }
        Mutation::Insert(i, bytes) => {
            let i = at(*i, data.len() + 1);
            data.splice(i..i, bytes.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let i = at(*i, data.len() + 1);
            let end = (i + n).min(data.len());
            data.drain(i..end);
        }
        Mutation::Repeat(i, n, times) => {
            let i = at(*i, data.len() + 1);
            let end = (i + n).min(data.len());
            let piece = data[i..end].to_vec();
            for _ in 1..*times {
                data.splice(end..end, piece.iter().copied());
            }
        }
        Mutation::Word(i, w) => {
            let i = at(*i, data.len() + 1);
            let end = (i + 4).min(data.len());
            data.splice(i..end, w.to_be_bytes());
        }
    }
}

/// Inputs: a seed with up to eight mutations, or (one in eight) random bytes.
pub fn inputs(seeds: Vec<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
    let random = prop::collection::vec(any::<u8>(), 0..512);
    if seeds.is_empty() {
        return random.boxed();
    }
    let mutated = (
        prop::sample::select(seeds),
        prop::collection::vec(mutation(), 0..8),
    )
        .prop_map(|(mut seed, edits)| {
            for m in &edits {
                apply(&mut seed, m);
            }
            seed
        });
    prop_oneof![7 => mutated, 1 => random].boxed()
}

fn budget() -> Duration {
    let secs = std::env::var("WIRT_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SECS);
    Duration::from_secs(secs)
}

/// Runs `target` on inputs from `strategy` until the time budget is spent.
/// Panics (after shrinking) with the smallest failing input.
pub fn run<S: Strategy>(name: &str, strategy: S, target: impl Fn(S::Value)) {
    let deadline = Instant::now() + budget();
    let mut seed: u64 = std::env::var("WIRT_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let started = Instant::now();
    let mut cases = 0u64;
    loop {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
        let config = Config {
            cases: 64,
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner = TestRunner::new_with_rng(config, rng);
        let result = runner.run(&strategy, |input| {
            target(input);
            Ok(())
        });
        cases += 64;
        if let Err(e) = result {
            panic!("fuzz target {name} failed (replay: WIRT_FUZZ_SEED={seed}): {e}");
        }
        if Instant::now() >= deadline {
            break;
        }
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "fuzz {name}: {cases} cases in {secs:.1} s ({:.0}/s)",
        cases as f64 / secs
    );
}
