//! Runs a property: proptest generates operation sequences from the
//! reference model, each is replayed on the system under test and compared
//! step by step, and a failing sequence is shrunk and turned into a script.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use proptest_state_machine::ReferenceStateMachine;

use crate::common::{Divergence, Script};
use crate::report::{Failure, PropertyReport, Status};
use crate::target::{Env, with_settings};

/// A property: a reference model plus the way to drive and observe the
/// system under test.
pub trait Property: ReferenceStateMachine {
    /// What one case drives: a connection, a driver instance...
    type Sut;
    const NAME: &'static str;
    const ABOUT: &'static str;
    /// Longest generated sequence.
    const MAX_STEPS: usize = 32;

    /// Whether the property applies to the target (Err: why it is skipped).
    fn applies(_env: &Env) -> Result<(), String> {
        Ok(())
    }

    /// A system under test for one case, in the model's initial state.
    fn setup(env: &Env) -> Result<Self::Sut, String>;

    /// Applies `op` (the `step`-th operation) to the system and compares
    /// everything observable with `after`, the model once `op` is applied.
    fn step(
        sut: &mut Self::Sut,
        env: &Env,
        step: usize,
        op: &Self::Transition,
        after: &Self::State,
    ) -> Result<(), Divergence>;

    /// Ends a case. On a shared host the suite's objects are removed, so
    /// that nothing (a running guest...) outlives the run.
    fn teardown(_sut: Self::Sut, _env: &Env) {}

    /// `op` as one script command, registering the files it needs.
    fn command(env: &Env, op: &Self::Transition, script: &mut Script) -> String;

    /// The script's first line: how to replay it.
    fn how(env: &Env) -> String {
        env.how_to_run()
    }
}

/// Replays one case. `seen` counts the operations reached, which lets
/// proptest drop the ones after a failure before shrinking.
fn run_case<P: Property>(
    env: &Env,
    init: P::State,
    ops: &[P::Transition],
    seen: Option<&AtomicUsize>,
) -> Result<(), Divergence> {
    let mut sut = P::setup(env).map_err(|e| Divergence::new(0, "setup", "a usable host", e))?;
    let mut state = init;
    let mut result = Ok(());
    for (i, op) in ops.iter().enumerate() {
        if let Some(seen) = seen {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        state = P::apply(state, op);
        result = P::step(&mut sut, env, i + 1, op, &state);
        if result.is_err() {
            break;
        }
    }
    P::teardown(sut, env);
    result
}

thread_local! {
    /// The last panic message on this thread while a property runs.
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once) a panic hook that keeps panics of the system under test
/// quiet on threads running a property, and prints the others as usual.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{location}")));
            } else {
                default(info);
            }
        }));
    });
}

/// Runs a case, turning a panic of the system under test into a divergence.
fn guarded<P: Property>(
    env: &Env,
    init: P::State,
    ops: &[P::Transition],
    seen: Option<&AtomicUsize>,
) -> Result<(), Divergence> {
    let steps = AtomicUsize::new(0);
    let counter = seen.unwrap_or(&steps);
    match catch_unwind(AssertUnwindSafe(|| {
        run_case::<P>(env, init, ops, Some(counter))
    })) {
        Ok(result) => result,
        Err(_) => {
            let msg = PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "panic".into());
            Err(Divergence::new(
                counter.load(Ordering::SeqCst),
                "panic",
                "no panic",
                msg,
            ))
        }
    }
}

fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let word = seed
            .wrapping_add(i as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// Runs `P` for `cases` generated cases from `seed`.
pub fn run_property<P: Property>(env: &Env, cases: u32, seed: u64) -> PropertyReport {
    let started = Instant::now();
    let mut report = PropertyReport::new(P::NAME, P::ABOUT, cases, seed);
    if let Err(why) = P::applies(env) {
        report.status = Status::Skipped;
        report.note = Some(why);
        return report;
    }
    install_panic_hook();
    let previous_quiet = QUIET.with(|q| q.replace(true));
    with_settings(&env.settings, || {
        let config = Config {
            cases,
            failure_persistence: None,
            max_shrink_iters: 20_000,
            max_shrink_time: 120_000,
            max_local_rejects: 1 << 16,
            max_global_rejects: 1 << 14,
            verbose: 0,
            ..Config::default()
        };
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(seed));
        let mut runner = TestRunner::new_with_rng(config, rng);
        let calls = Cell::new(0u32);
        let first_failure = Cell::new(None::<u32>);
        let strategy = P::sequential_strategy(1..=P::MAX_STEPS);
        let result = runner.run(&strategy, |(init, ops, seen)| {
            calls.set(calls.get() + 1);
            match guarded::<P>(env, init, &ops, seen.as_deref()) {
                Ok(()) => Ok(()),
                Err(d) => {
                    if first_failure.get().is_none() {
                        first_failure.set(Some(calls.get()));
                    }
                    Err(TestCaseError::fail(d.line()))
                }
            }
        });
        match result {
            Ok(()) => {
                report.status = Status::Passed;
                report.cases_run = calls.get();
                report.cases_passed = calls.get();
            }
            Err(TestError::Fail(reason, (init, ops, _))) => {
                let run = first_failure.get().unwrap_or(calls.get());
                report.status = Status::Failed;
                report.cases_run = run;
                report.cases_passed = run.saturating_sub(1);
                let ops = drop_steps::<P>(env, &init, ops);
                // Replay the minimal sequence to get its divergence in full.
                let divergence = guarded::<P>(env, init, &ops, None)
                    .err()
                    .unwrap_or_else(|| {
                        Divergence::new(
                            ops.len(),
                            "flaky",
                            "a repeatable failure",
                            reason.to_string(),
                        )
                    });
                report.failure = Some(failure::<P>(env, &ops, divergence));
            }
            Err(TestError::Abort(reason)) => {
                report.status = Status::Error;
                report.cases_run = calls.get();
                report.cases_passed = calls.get();
                report.note = Some(format!("proptest gave up: {reason}"));
            }
        }
    });
    QUIET.with(|q| q.set(previous_quiet));
    report.duration_ms = started.elapsed().as_millis() as u64;
    report
}

/// Whether `ops` is a sequence the model could have generated from `init`.
fn acceptable<P: Property>(init: &P::State, ops: &[P::Transition]) -> bool {
    let mut state = init.clone();
    for op in ops {
        if !P::preconditions(&state, op) {
            return false;
        }
        state = P::apply(state, op);
    }
    true
}

/// proptest deletes steps only before it simplifies them, so a step can
/// become removable afterwards: drop single steps while the case still
/// fails, for a script with nothing left to remove.
fn drop_steps<P: Property>(
    env: &Env,
    init: &P::State,
    mut ops: Vec<P::Transition>,
) -> Vec<P::Transition> {
    let mut budget = 200;
    let mut i = 0;
    while i < ops.len() && budget > 0 {
        let mut candidate = ops.clone();
        candidate.remove(i);
        budget -= 1;
        if acceptable::<P>(init, &candidate)
            && guarded::<P>(env, init.clone(), &candidate, None).is_err()
        {
            ops = candidate;
        } else {
            i += 1;
        }
    }
    ops
}

fn failure<P: Property>(env: &Env, ops: &[P::Transition], divergence: Divergence) -> Failure {
    let mut script = Script {
        how: P::how(env),
        ..Script::default()
    };
    for (i, op) in ops.iter().enumerate() {
        let mut line = P::command(env, op, &mut script);
        if i + 1 == divergence.step {
            line.push_str(&format!(
                "    # diverged: {}: expected {}, observed {}",
                divergence.what, divergence.expected, divergence.observed
            ));
        }
        script.commands.push(line);
    }
    let operations = ops.iter().map(|op| format!("{op:?}")).collect();
    Failure {
        message: divergence.line(),
        steps: ops.len(),
        script_text: script.render(),
        script,
        divergence,
        operations,
    }
}

/// How often each kind of operation succeeds and fails in `sequences`
/// generated sequences, by the model's own account: a check that the
/// generator reaches the interesting rules.
pub fn coverage<P: Property>(
    sequences: usize,
    succeeded: impl Fn(&P::State) -> bool,
) -> std::collections::BTreeMap<String, (u32, u32)> {
    use proptest::strategy::{Strategy, ValueTree};
    let mut runner = TestRunner::deterministic();
    let strategy = P::sequential_strategy(1..=P::MAX_STEPS);
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..sequences {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let (mut state, ops, _) = tree.current();
        for op in &ops {
            state = P::apply(state, op);
            let kind = format!("{op:?}");
            let kind = kind.split([' ', '{']).next().unwrap_or("").to_string();
            let entry: &mut (u32, u32) = seen.entry(kind).or_default();
            if succeeded(&state) {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
    }
    seen
}
