//! Cron jobs (`schedule:` on a job): its `start` runs on the schedule in every deployed
//! environment, once per tick, and once only after ticks were missed; recorded with
//! trigger and command `schedule`; shown by `status`. Time moves through
//! TERRACE_CLOCK_OFFSET; the schedule (1 January, 03:00 UTC) is never reached by the
//! real clock while a test runs.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use crate::support::*;
use crate::ttl::terrace;

const CRON: &str = "0 3 1 1 *";

/// One job `report`, on the schedule, that appends a line to `ran` in the fixture.
fn fixture() -> Fixture {
    let f = Fixture::new(&format!(
        "project: shop\nenvironments:\n  dev: {{}}\n  stage: {{}}\njobs:\n  report:\n    source: report\n    \
         events: [start]\n    schedule: \"{CRON}\"\n    commands:\n      start: ./report.sh\n"
    ));
    let ran = f.dir.path().join("ran");
    f.write("proj/report/report.sh", &format!("#!/bin/sh\necho \"$TERRACE_ENVIRONMENT\" >> '{}'\n", ran.display()));
    f
}

fn ran(f: &Fixture) -> Vec<String> {
    std::fs::read_to_string(f.dir.path().join("ran")).unwrap_or_default().lines().map(str::to_string).collect()
}

/// The offset that puts the clock `after` past the next tick of `0 3 1 1 *` (1 January, 03:00 UTC).
pub(crate) fn past_next_tick(after: Duration) -> String {
    let now = OffsetDateTime::now_utc();
    let this_year = now
        .replace_date(time::Date::from_ordinal_date(now.year(), 1).unwrap())
        .replace_time(time::macros::time!(03:00));
    let next = if this_year > now { this_year } else { this_year.replace_year(now.year() + 1).unwrap() };
    format!("{}s", (next - now).whole_seconds() + after.as_secs() as i64)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn local_mode_runs_a_cron_job_once_per_tick_and_once_after_missed_ticks() {
    let f = fixture();
    let (code, out, err) = terrace(&f, &["up", "dev"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ran(&f), ["dev"], "up runs it once");

    // Not due: nothing runs; status shows the next tick.
    let ticked = json(&terrace(&f, &["tick", "--json"], None).1);
    assert_eq!(ticked["ran"], serde_json::json!([]), "{ticked}");
    let (_, out, _) = terrace(&f, &["status", "dev", "--json"], None);
    let status = json(&out);
    assert_eq!(status["schedules"][0]["job"], "report", "{status:#}");
    assert_eq!(status["schedules"][0]["cron"], CRON);
    assert!(status["schedules"][0]["last_fired_at"].is_null());
    let (_, out, _) = terrace(&f, &["status", "dev"], None);
    assert!(out.contains(&format!("schedule of `report` ({CRON}): next at")), "{out}");

    // Past the tick: it runs in dev (stage was never deployed), once.
    let offset = past_next_tick(Duration::from_secs(60));
    let (code, out, err) = terrace(&f, &["tick", "--json"], Some(&offset));
    assert_eq!(code, 0, "{out}{err}");
    let ticked = json(&out);
    let [one] = ticked["ran"].as_array().unwrap().clone().try_into().unwrap_or_else(|_| panic!("{ticked:#}"));
    assert_eq!((one["environment"].as_str(), one["job"].as_str()), (Some("dev"), Some("report")), "{one}");
    assert_eq!((one["trigger"].as_str(), one["state"].as_str()), (Some("schedule"), Some("succeeded")), "{one}");
    assert_eq!(ran(&f), ["dev", "dev"]);
    let again = json(&terrace(&f, &["tick", "--json"], Some(&offset)).1);
    assert_eq!(again["ran"], serde_json::json!([]), "a tick fires once: {again}");

    // The run says why it ran.
    let (_, out, _) = terrace(&f, &["runs", "--env", "dev", "--json"], None);
    let runs = json(&out);
    let run = &runs.as_array().unwrap()[0];
    assert_eq!(
        (run["trigger"].as_str(), run["inputs"]["command"].as_str()),
        (Some("schedule"), Some("schedule")),
        "{run:#}"
    );
    assert_eq!(run["inputs"]["trigger"], "schedule", "{run:#}");

    // Three years of missed ticks: one run, not three.
    let later = past_next_tick(Duration::from_secs(3 * 366 * 86_400));
    let ticked = json(&terrace(&f, &["tick", "--json"], Some(&later)).1);
    assert_eq!(ticked["ran"].as_array().map(Vec::len), Some(1), "{ticked:#}");
    assert_eq!(ran(&f).len(), 3);
    let status = json(&terrace(&f, &["status", "dev", "--json"], None).1);
    assert!(status["schedules"][0]["last_fired_at"].is_string(), "{status:#}");

    // A stopped environment runs no cron job.
    let (code, _, err) = terrace(&f, &["down", "dev"], None);
    assert_eq!(code, 0, "{err}");
    let much_later = past_next_tick(Duration::from_secs(5 * 366 * 86_400));
    let ticked = json(&terrace(&f, &["tick", "--json"], Some(&much_later)).1);
    assert_eq!(ticked["ran"], serde_json::json!([]), "{ticked}");
    assert_eq!(ran(&f).len(), 3);
}

/// A clone runs the cron jobs of the environment it copies, on their schedule.
#[test]
fn a_clone_runs_its_cron_jobs_on_their_schedule() {
    let f = fixture();
    let (code, out, err) = terrace(&f, &["env", "clone", "dev", "--to", "dev-2"], None);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = terrace(&f, &["up", "dev-2"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ran(&f), ["dev-2"], "up runs it once");
    let status = json(&terrace(&f, &["status", "dev-2", "--json"], None).1);
    assert_eq!(status["schedules"][0]["job"], "report", "{status:#}");
    let offset = past_next_tick(Duration::from_secs(60));
    let (code, out, err) = terrace(&f, &["tick", "--json"], Some(&offset));
    assert_eq!(code, 0, "{out}{err}");
    let ticked = json(&out);
    let [one] = ticked["ran"].as_array().unwrap().clone().try_into().unwrap_or_else(|_| panic!("{ticked:#}"));
    assert_eq!((one["environment"].as_str(), one["trigger"].as_str()), (Some("dev-2"), Some("schedule")), "{one}");
    assert_eq!(ran(&f), ["dev-2", "dev-2"]);
}

#[test]
fn a_server_runs_a_cron_job_on_its_schedule() {
    let f = fixture();
    let offset = f.dir.path().join("clock-offset");
    let clock = format!("file:{}", offset.display());
    let operator = f.token("operator", "deployer");
    let server = Server::start_with_env(&f.project(), &f.data(), &[], &[("TERRACE_CLOCK_OFFSET", clock.as_str())]);
    let op = server.api(Some(&operator));
    let (status, accepted) = op.json("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#));
    assert_eq!(status, 202, "{accepted}");
    let request = op.wait_request(accepted["request_id"].as_str().unwrap(), Duration::from_secs(60));
    assert_eq!(request["state"], "succeeded", "{request}");
    let shown = op.ok("GET", "/projects/shop/environments/dev", None);
    assert_eq!(shown["schedules"][0]["job"], "report", "{shown:#}");

    std::fs::write(&offset, past_next_tick(Duration::from_secs(60))).unwrap();
    let scheduled = |op: &Api| {
        let runs = op.ok("GET", "/runs?project=shop&environment=dev", None);
        runs["items"].as_array().unwrap().iter().filter(|r| r["trigger"] == "schedule").cloned().collect::<Vec<_>>()
    };
    let first = eventually(Duration::from_secs(60), "the scheduled run", || {
        let s = scheduled(&op);
        s.iter().any(|r| r["state"] == "succeeded").then_some(s)
    });
    assert_eq!(first.len(), 1, "{first:#?}");
    assert_eq!((first[0]["job"].as_str(), first[0]["inputs"]["command"].as_str()), (Some("report"), Some("schedule")));

    // Years of missed ticks later: one more run.
    std::fs::write(&offset, past_next_tick(Duration::from_secs(3 * 366 * 86_400))).unwrap();
    eventually(Duration::from_secs(60), "the second scheduled run", || {
        let s = scheduled(&op);
        (s.len() == 2 && s.iter().all(|r| r["state"] == "succeeded")).then_some(())
    });
    let shown = eventually(Duration::from_secs(30), "the schedule to move on", || {
        let e = op.ok("GET", "/projects/shop/environments/dev", None);
        e["schedules"][0]["last_fired_at"].is_string().then_some(e)
    });
    assert_eq!(shown["schedules"][0]["cron"], CRON);
    assert_eq!(ran(&f), ["dev", "dev", "dev"]);
}
