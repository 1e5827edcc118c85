//! Terrace's benchmarks (issue #5): each scenario measures what Terrace adds around a
//! job's process beside a floor doing the same work without Terrace, in the same run.
//! `docs/PERFORMANCE.md` says how to run them and records the latest figures.

pub mod fixture;
pub mod jobprog;
pub mod report;
pub mod scenario_a;
pub mod scenario_b;
pub mod scenario_c;
pub mod scenario_d;
pub mod scenario_e;
pub mod scenario_f;
pub mod scenario_g;
mod seed;
pub mod server;
pub mod stats;

pub use fixture::Programs;
pub use report::Row;

/// How big a run is: `Tiny` checks that every scenario still works, `Full` is the issue's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    Tiny,
    Full,
}

/// What a scenario found besides its timings, for the smoke test to check.
#[derive(Debug, Default)]
pub struct Checks {
    /// Every failure of correctness seen (a wrong chain value, a failed run, a leaked secret).
    pub problems: Vec<String>,
    pub rows: Vec<Row>,
}

impl Checks {
    pub fn check(&mut self, ok: bool, problem: impl FnOnce() -> String) {
        if !ok {
            self.problems.push(problem());
        }
    }
}

/// A plain engine observer that ignores progress.
pub fn silent() -> std::sync::Arc<dyn terrace_engine::Observer> {
    std::sync::Arc::new(terrace_engine::progress::Silent)
}

/// The scenarios, by letter.
pub const SCENARIOS: [&str; 7] = ["a", "b", "c", "d", "e", "f", "g"];

/// Runs one scenario (`a`..`g`).
pub async fn run_scenario(name: &str, size: Size, programs: &Programs) -> anyhow::Result<Checks> {
    match name {
        "a" => scenario_a::run(size).await,
        "b" => scenario_b::run(size).await,
        "c" => scenario_c::run(size, programs).await,
        "d" => scenario_d::run(size, programs).await,
        "e" => scenario_e::run(size, programs).await,
        "f" => scenario_f::run(size).await,
        "g" => scenario_g::run(size).await,
        other => anyhow::bail!("no scenario `{other}` (a, b, c, d, e, f, g or all)"),
    }
}
