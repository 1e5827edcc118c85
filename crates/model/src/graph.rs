//! The job graph: dependency order for an event, reverse order for stop and delete,
//! cycle detection, and the dependents a failure skips.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;

use crate::event::Event;
use crate::project::Job;

/// Finds one dependency cycle, as the list of job names along it (first repeated last).
pub fn find_cycle(deps: &IndexMap<String, Vec<String>>) -> Option<Vec<&str>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        node: &'a str,
        deps: &'a IndexMap<String, Vec<String>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|n| *n == node).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(node);
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node, Mark::Visiting);
        stack.push(node);
        for dep in deps.get(node).into_iter().flatten() {
            if deps.contains_key(dep.as_str())
                && let Some(c) = visit(dep, deps, marks, stack)
            {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(node, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in deps.keys() {
        let mut stack = Vec::new();
        if let Some(c) = visit(node, deps, &mut marks, &mut stack) {
            return Some(c);
        }
    }
    None
}

/// The jobs of one event and, for each, the jobs it must wait for. Dependencies pass
/// through jobs that do not run on the event (A → B → C with B idle: A waits for C).
/// For `stop` and `delete` the edges are reversed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventPlan {
    /// Job name → the selected jobs it waits for.
    pub waits_for: BTreeMap<String, BTreeSet<String>>,
    /// A deterministic order consistent with `waits_for` (for display).
    pub order: Vec<String>,
}

impl EventPlan {
    /// Plans `event` over `jobs`; `only` restricts it to the named jobs (a force run).
    pub fn new(jobs: &IndexMap<String, Job>, event: Event, only: Option<&str>) -> Self {
        let selected: BTreeSet<&str> = jobs
            .values()
            .filter(|j| match (only, event) {
                (Some(name), _) => j.name == name,
                (None, Event::Plan) => j.template.supports_plan(),
                (None, _) => j.runs_on(event),
            })
            .map(|j| j.name.as_str())
            .collect();
        // Forward edges: job → selected jobs reachable through its dependencies.
        let mut forward: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for name in &selected {
            let mut reach = BTreeSet::new();
            let mut stack: Vec<&str> = jobs[*name].depends_on.iter().map(String::as_str).collect();
            let mut seen = BTreeSet::new();
            while let Some(dep) = stack.pop() {
                if !seen.insert(dep) {
                    continue;
                }
                if selected.contains(dep) {
                    reach.insert(dep.to_string());
                } else if let Some(j) = jobs.get(dep) {
                    stack.extend(j.depends_on.iter().map(String::as_str));
                }
            }
            forward.insert(name.to_string(), reach);
        }
        let waits_for = if event.reverse_order() {
            let mut rev: BTreeMap<String, BTreeSet<String>> =
                selected.iter().map(|n| (n.to_string(), BTreeSet::new())).collect();
            for (job, deps) in &forward {
                for dep in deps {
                    rev.get_mut(dep).expect("selected").insert(job.clone());
                }
            }
            rev
        } else {
            forward
        };
        // Kahn's algorithm, ties broken by declaration order.
        let mut order = Vec::new();
        let mut done = BTreeSet::new();
        while order.len() < waits_for.len() {
            let next = jobs.keys().find(|n| {
                waits_for.get(*n).is_some_and(|deps| !done.contains(*n) && deps.iter().all(|d| done.contains(d)))
            });
            match next {
                Some(n) => {
                    done.insert(n.clone());
                    order.push(n.clone());
                }
                None => break, // a cycle: the parser refuses those, so this is unreachable in practice
            }
        }
        EventPlan { waits_for, order }
    }

    /// Every job that waits, directly or not, on `failed`.
    pub fn dependents_of(&self, failed: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut frontier = vec![failed.to_string()];
        while let Some(f) = frontier.pop() {
            for (job, deps) in &self.waits_for {
                if deps.contains(&f) && out.insert(job.clone()) {
                    frontier.push(job.clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::TemplateKind;

    fn job(name: &str, deps: &[&str], events: &[Event]) -> (String, Job) {
        let mut job = Job::new(name, TemplateKind::Shell);
        job.events = events.to_vec();
        job.depends_on = deps.iter().map(|d| d.to_string()).collect();
        (name.to_string(), job)
    }

    const ALL: &[Event] = &[Event::Start, Event::Stop, Event::Delete];

    #[test]
    fn start_is_dependency_order_and_delete_is_reverse() {
        let jobs: IndexMap<_, _> = [job("app", &["db"], ALL), job("db", &["net"], ALL), job("net", &[], ALL)].into();
        assert_eq!(EventPlan::new(&jobs, Event::Start, None).order, ["net", "db", "app"]);
        let del = EventPlan::new(&jobs, Event::Delete, None);
        assert_eq!(del.order, ["app", "db", "net"]);
        assert!(del.waits_for["net"].contains("db"));
    }

    #[test]
    fn dependencies_pass_through_idle_jobs() {
        let jobs: IndexMap<_, _> = [job("a", &["b"], ALL), job("b", &["c"], &[Event::Stop]), job("c", &[], ALL)].into();
        let plan = EventPlan::new(&jobs, Event::Start, None);
        assert_eq!(plan.waits_for["a"], BTreeSet::from(["c".to_string()]));
        assert!(!plan.waits_for.contains_key("b"));
    }

    #[test]
    fn dependents_are_transitive() {
        let jobs: IndexMap<_, _> =
            [job("a", &[], ALL), job("b", &["a"], ALL), job("c", &["b"], ALL), job("d", &[], ALL)].into();
        let plan = EventPlan::new(&jobs, Event::Start, None);
        assert_eq!(plan.dependents_of("a"), BTreeSet::from(["b".to_string(), "c".to_string()]));
    }

    #[test]
    fn cycles_are_named() {
        let deps: IndexMap<String, Vec<String>> = [
            ("a".to_string(), vec!["b".to_string()]),
            ("b".to_string(), vec!["c".to_string()]),
            ("c".to_string(), vec!["a".to_string()]),
        ]
        .into();
        assert_eq!(find_cycle(&deps).unwrap(), ["a", "b", "c", "a"]);
    }
}
