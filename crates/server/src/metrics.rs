//! Prometheus metrics: runs and requests by state and the queue depth (read from the
//! store at each scrape, so every replica reports the same), request durations, and API
//! latencies by route.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::app::ServerStore;

pub struct Metrics {
    registry: Registry,
    runs: IntGaugeVec,
    requests: IntGaugeVec,
    queue_depth: IntGauge,
    request_seconds: HistogramVec,
    http_seconds: HistogramVec,
    /// Project files parsed (a parse is costly: the cache keeps them until they change).
    pub project_parses: IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let runs = IntGaugeVec::new(Opts::new("terrace_runs", "Job runs by state"), &["state"]).expect("valid metric");
        let requests = IntGaugeVec::new(Opts::new("terrace_requests", "Event requests by state"), &["state"])
            .expect("valid metric");
        let queue_depth =
            IntGauge::new("terrace_queue_depth", "Event requests waiting to be claimed").expect("valid metric");
        let request_seconds = HistogramVec::new(
            HistogramOpts::new("terrace_request_duration_seconds", "How long an event request ran")
                .buckets(vec![0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0]),
            &["event", "state"],
        )
        .expect("valid metric");
        let http_seconds = HistogramVec::new(
            HistogramOpts::new("terrace_http_request_duration_seconds", "API latency by route"),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let project_parses =
            IntCounter::new("terrace_project_parses_total", "Project files read and parsed").expect("valid metric");
        for c in [
            Box::new(runs.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(requests.clone()),
            Box::new(queue_depth.clone()),
            Box::new(request_seconds.clone()),
            Box::new(http_seconds.clone()),
            Box::new(project_parses.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Metrics { registry, runs, requests, queue_depth, request_seconds, http_seconds, project_parses }
    }

    pub fn observe_request(&self, event: &str, state: &str, seconds: f64) {
        self.request_seconds.with_label_values(&[event, state]).observe(seconds);
    }

    pub fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_seconds.with_label_values(&[method, route, &status.to_string()]).observe(seconds);
    }

    /// The text exposition, with the gauges refreshed from the store.
    pub async fn render(&self, store: &dyn ServerStore) -> Result<String, terrace_store::StoreError> {
        self.runs.reset();
        for (state, n) in store.count_runs().await? {
            self.runs.with_label_values(&[&state]).set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.requests.reset();
        let mut queued = 0;
        for (state, n) in store.count_requests().await? {
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            if state == terrace_store::control::RequestState::Queued {
                queued = n;
            }
            self.requests.with_label_values(&[state.as_str()]).set(n);
        }
        self.queue_depth.set(queued);
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .map_err(|e| terrace_store::StoreError::Invalid(format!("encode metrics: {e}")))?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}
