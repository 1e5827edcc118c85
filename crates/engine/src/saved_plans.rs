//! An approved `start` applies exactly the saved plans it was approved on: which plan each
//! job applies, and the check made before anything runs (each plan kept, for its job in
//! this environment, at the commit the job runs at, against the state as it is now). The
//! inputs are checked again as each job starts, since they may follow upstream outputs.

use std::collections::BTreeMap;

use terrace_model::RunId;
use terrace_store::StateKey;

use crate::error::EngineError;
use crate::{Engine, Request};

impl Engine {
    /// Per job, the `plan` run whose saved plan this request applies.
    pub(crate) fn saved_plans(&self, req: &Request) -> BTreeMap<String, RunId> {
        let mut plans = req.origin.saved_plans.clone();
        if let (Some(run), Some(job)) = (req.saved_plan, &req.job) {
            plans.insert(job.clone(), run);
        }
        plans
    }

    /// Refuses, before anything is applied, an approved set of plans of which one is
    /// missing, made at another commit, for another state, or stale against the state.
    pub(crate) async fn check_saved_plans(
        &self,
        req: &Request,
        commit_of: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<(), EngineError> {
        let mut refused = Vec::new();
        for (job, run) in &req.origin.saved_plans {
            let Some((plan, _)) = self.store.saved_plan(*run).await? else {
                refused.push(format!("job `{job}`: run {run} kept no saved plan"));
                continue;
            };
            let key = StateKey::new(&self.project.name, &req.env, job);
            if plan.key != key {
                refused.push(format!("job `{job}`: the plan of run {run} is for {}, not {key}", plan.key));
                continue;
            }
            let current = self.store.state_versions(&key).await?.first().map_or(0, |v| v.version);
            // The inputs are compared when the job starts: here only the commit and state.
            if let Some(why) = plan.staleness(commit_of(job).as_deref(), &plan.inputs_hash, current) {
                refused.push(format!("job `{job}`: {why}"));
            }
        }
        match refused.is_empty() {
            true => Ok(()),
            false => Err(EngineError::Refused(format!(
                "the approved plans of `{}` were not applied (nothing was): {}",
                req.env,
                refused.join("; ")
            ))),
        }
    }
}
