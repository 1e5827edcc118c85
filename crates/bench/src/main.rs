//! `terrace-bench [--scenario a|b|c|d|e|f|g|all] [--size tiny|full] [--json]`: runs the
//! benchmarks of docs/PERFORMANCE.md and prints each figure beside its floor. Its
//! `stamp` and `emit` modes are the job programs the scenarios spawn; `peak-rss` measures
//! the peak memory of a `terrace` process for scenario E.

use std::path::PathBuf;
use std::process::ExitCode;

use terrace_bench::{Programs, Size, jobprog, report, stats};

/// The allocator `terrace` ships with (crates/cli/src/main.rs), so the engine measured in
/// process is the engine users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: terrace-bench [--scenario a|b|c|d|e|f|g|all] [--size tiny|full] [--json]";

fn main() -> ExitCode {
    // First thing: the `stamp` job's start time must not include argument parsing.
    let now = stats::realtime_ns();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let helper = match args.first().map(String::as_str) {
        Some("stamp") => Some(jobprog::stamp(now)),
        Some("peak-rss") => Some(jobprog::peak_rss(&args[1..])),
        Some("emit") => Some(match args.get(1).and_then(|b| b.parse().ok()) {
            Some(bytes) => jobprog::emit(bytes),
            None => Err(std::io::Error::other("usage: terrace-bench emit BYTES")),
        }),
        _ => None,
    };
    if let Some(result) = helper {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("terrace-bench: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match parse(&args) {
        Ok((scenarios, size, json)) => run(scenarios, size, json),
        Err(e) => {
            eprintln!("terrace-bench: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn parse(args: &[String]) -> Result<(Vec<&'static str>, Size, bool), String> {
    let (mut scenarios, mut size, mut json) = (terrace_bench::SCENARIOS.to_vec(), Size::Full, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--scenario" => {
                let v = it.next().ok_or("--scenario needs a value")?;
                scenarios = match v.as_str() {
                    "all" => terrace_bench::SCENARIOS.to_vec(),
                    s => vec![*terrace_bench::SCENARIOS.iter().find(|x| **x == s).ok_or(format!("no scenario `{s}`"))?],
                };
            }
            "--size" => {
                size = match it.next().map(String::as_str) {
                    Some("tiny") => Size::Tiny,
                    Some("full") => Size::Full,
                    other => return Err(format!("--size is tiny or full, not {other:?}")),
                }
            }
            "--json" => json = true,
            "-h" | "--help" => return Err("help".into()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok((scenarios, size, json))
}

fn programs() -> Programs {
    let helper = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("terrace-bench"));
    // `TERRACE_BIN`, else the `terrace` built beside this binary (same cargo profile).
    let terrace = std::env::var_os("TERRACE_BIN")
        .map(PathBuf::from)
        .or_else(|| helper.parent().map(|d| d.join("terrace")))
        .filter(|p| p.is_file());
    Programs { helper, terrace }
}

fn run(scenarios: Vec<&'static str>, size: Size, json: bool) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("terrace-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let programs = programs();
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for s in scenarios {
        eprintln!("terrace-bench: scenario {} ({size:?})...", s.to_uppercase());
        let t = std::time::Instant::now();
        match rt.block_on(terrace_bench::run_scenario(s, size, &programs)) {
            Ok(checks) => {
                rows.extend(checks.rows);
                problems.extend(checks.problems);
            }
            Err(e) => problems.push(format!("scenario {s}: {e:#}")),
        }
        eprintln!("terrace-bench: scenario {} took {:.1} s", s.to_uppercase(), t.elapsed().as_secs_f64());
    }
    if json {
        let v = serde_json::json!({"rows": rows, "problems": problems});
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        report::print_table(&rows);
        for p in &problems {
            println!("PROBLEM: {p}");
        }
    }
    if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
