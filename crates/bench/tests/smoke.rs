//! Every scenario at `tiny` size, checking correctness only (the chain's value arrives,
//! every run succeeds, no secret is stored, the seeded store reads back): never timing,
//! so the benchmarks cannot rot and the suite stays deterministic.

use std::path::PathBuf;

use terrace_bench::{Programs, Size};

fn programs() -> Programs {
    let helper = PathBuf::from(env!("CARGO_BIN_EXE_terrace-bench"));
    // The CLI parts run when a `terrace` is built in the same target folder.
    let terrace = helper.parent().map(|d| d.join("terrace")).filter(|p| p.is_file());
    Programs { helper, terrace }
}

async fn smoke(scenario: &str) {
    let checks = terrace_bench::run_scenario(scenario, Size::Tiny, &programs()).await.expect(scenario);
    assert!(checks.problems.is_empty(), "scenario {scenario}: {:#?}", checks.problems);
    assert!(!checks.rows.is_empty(), "scenario {scenario} reported nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain() {
    smoke("a").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_fan_out() {
    smoke("b").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_latency() {
    smoke("c").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_logs() {
    smoke("d").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_scale() {
    smoke("e").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f_docker() {
    smoke("f").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g_promotion() {
    smoke("g").await;
}
