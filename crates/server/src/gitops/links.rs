//! Links to runs in what Terrace writes on a forge (comments, commit statuses): the
//! server's public URL (`--public-url`, `TERRACE_PUBLIC_URL`, `public-url`) and the run's
//! API path. Without a public URL there are no links.

/// Where runs and requests are read, under the server's public URL.
#[derive(Clone, Debug, Default)]
pub(crate) struct Links {
    base: Option<String>,
}

impl Links {
    pub(crate) fn new(public_url: Option<&str>) -> Links {
        Links { base: public_url.map(|u| u.trim_end_matches('/').to_string()) }
    }

    /// A job run: `GET /api/v1/runs/{id}` (its log under `/logs`).
    pub(crate) fn run(&self, id: &str) -> Option<String> {
        self.base.as_ref().map(|b| format!("{b}/api/v1/runs/{id}"))
    }

    /// A pipeline run (one environment's event, its job runs listed): `/api/v1/requests/{id}`.
    pub(crate) fn request(&self, id: &str) -> Option<String> {
        self.base.as_ref().map(|b| format!("{b}/api/v1/requests/{id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_sit_under_the_public_url_or_are_absent() {
        let links = Links::new(Some("https://terrace.example.com/"));
        assert_eq!(links.run("r1").as_deref(), Some("https://terrace.example.com/api/v1/runs/r1"));
        assert_eq!(links.request("q1").as_deref(), Some("https://terrace.example.com/api/v1/requests/q1"));
        assert_eq!(Links::new(None).run("r1"), None);
    }
}
