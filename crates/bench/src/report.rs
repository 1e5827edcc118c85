//! One row per figure: Terrace's value, its floor measured in the same run, the ratio
//! or overhead, the target and whether it is met; printed as a table or JSON.

use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub scenario: &'static str,
    pub metric: String,
    pub terrace: String,
    pub floor: String,
    /// Ratio or overhead above the floor.
    pub delta: String,
    pub target: String,
    /// `None` when the row has no target or was not measured.
    pub met: Option<bool>,
}

impl Row {
    pub fn new(scenario: &'static str, metric: impl Into<String>) -> Self {
        Row {
            scenario,
            metric: metric.into(),
            terrace: String::new(),
            floor: "-".into(),
            delta: "-".into(),
            target: "-".into(),
            met: None,
        }
    }

    pub fn terrace(mut self, v: impl Into<String>) -> Self {
        self.terrace = v.into();
        self
    }

    pub fn floor(mut self, v: impl Into<String>) -> Self {
        self.floor = v.into();
        self
    }

    pub fn delta(mut self, v: impl Into<String>) -> Self {
        self.delta = v.into();
        self
    }

    pub fn target(mut self, v: impl Into<String>, met: bool) -> Self {
        self.target = v.into();
        self.met = Some(met);
        self
    }
}

pub fn print_table(rows: &[Row]) {
    let header = ["scenario", "metric", "terrace", "floor", "ratio/overhead", "target", "met?"];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            [
                r.scenario.to_string(),
                r.metric.clone(),
                r.terrace.clone(),
                r.floor.clone(),
                r.delta.clone(),
                r.target.clone(),
                met.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: Vec<&str>| {
        let padded: Vec<String> = cols.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("| {} |", padded.join(" | "));
    };
    line(header.to_vec());
    println!("|{}|", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("|"));
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
}
