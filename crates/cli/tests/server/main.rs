//! `terrace server` end to end: the real binary on 127.0.0.1, real HTTP.

mod agents;
mod agents_docker;
mod agents_docker_kill;
mod api;
mod approvals;
mod approved_plans;
mod busy;
mod client;
mod deliveries;
mod environment;
mod errors;
mod hooks;
mod hosts;
mod import_secrets;
#[allow(dead_code)]
#[path = "../../../exec/tests/kubernetes/fake.rs"]
mod k8s_fake;
mod kubernetes_outputs;
mod limits;
mod master_key;
mod paging;
mod parity;
mod plan_all;
mod pool_tokens;
mod previews;
mod project_secrets;
mod promotion;
mod recovery;
#[allow(dead_code)]
#[path = "../common/registry.rs"]
mod registry;
mod removed_jobs;
mod replicas;
mod replicas_previews;
mod replicas_promotion;
mod replicas_terraform;
mod roles;
mod runtime_envs;
mod shutdown;
mod support;
mod terraform;
