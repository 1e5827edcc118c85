//! `terrace`: the one binary. Parses the command line, runs the command, and maps every
//! error once, here, to a message and an exit status (0 ok, 1 a run failed, 2 usage).

mod args;
mod client;
mod commands;
mod context;
mod examples;
mod exit;
mod out;
mod render;
mod server_args;

use crate::out::errln;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::args::{Cli, Command};
use crate::exit::CliError;

/// mimalloc instead of glibc's malloc: under API load the server spent a fifth of its time
/// in `malloc`/`free` and their arena locks (sqlx copies every column of every row;
/// docs/PERFORMANCE.md, E), and the log capture allocates a buffer per read.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The pod wrapper runs in a job's environment: parsed apart (see `attempt_wrap`).
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "attempt-wrap") {
        return commands::attempt_wrap::main(&args[2..]);
    }
    let cli = match examples::add(Cli::command()).try_get_matches().and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_tracing(&cli.global.log_level, cli.global.log_format);
    context::init_actor();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let ended = runtime.block_on(dispatch(cli));
    // The runtime ends its work-folder removals before the emptied folders kept for
    // next attempts go.
    drop(runtime);
    terrace_engine::work::remove_spares();
    match ended {
        Ok(code) => code,
        Err(exit::CliError::Closed) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("{e}");
            e.exit_code()
        }
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode, CliError> {
    let g = &cli.global;
    if g.server.is_some() && client::handles(&cli.command) {
        return client::dispatch(g, cli.command).await;
    }
    match cli.command {
        Command::Schema => commands::validate::schema(),
        Command::Validate(a) => commands::validate::validate(g, &a),
        Command::Up(a) => commands::lifecycle::event(g, a, terrace_model::Event::Start).await,
        Command::Down(a) => commands::lifecycle::event(g, a, terrace_model::Event::Stop).await,
        Command::Destroy(a) => commands::lifecycle::event(g, a, terrace_model::Event::Delete).await,
        Command::Plan(a) if a.all => commands::plan_all::plan_all(g, &a.exec).await,
        Command::Plan(a) => commands::lifecycle::event(g, a.single()?, terrace_model::Event::Plan).await,
        Command::Job(crate::args::JobCommand::Delete(a)) => commands::lifecycle::job_delete(g, a).await,
        Command::Run(a) => match a.action {
            Some(action) => commands::runs::action(g, action).await,
            None => commands::lifecycle::force_run(g, a).await,
        },
        Command::Template(t) => commands::template::template(&t),
        Command::Outputs(a) => commands::outputs::outputs(g, &a).await,
        Command::Status(a) => commands::status::status(g, &a).await,
        Command::Runs(a) => commands::runs::runs(g, &a).await,
        Command::Logs(a) => commands::logs::logs(g, &a).await,
        Command::Server(a) => commands::server::server(g, *a).await,
        Command::Token(t) => commands::token::token(g, t).await,
        Command::Agent(a) => commands::agent::agent(g, a).await,
        Command::Secret(s) => client::secrets::secret(g, s).await,
        Command::Env(e) => commands::envs::env(g, e).await,
        Command::Preview(p) => commands::previews::preview(g, p).await,
        Command::Tick(a) => commands::timed::tick(g, &a).await,
        Command::Drift(a) => commands::drift::drift(g, &a).await,
        Command::State(c) => commands::state::state(g, c).await,
        Command::Import(a) => commands::import::import(g, &a).await,
        Command::Approve(a) => commands::approvals::decide(g, a, terrace_store::Decision::Approve).await,
        Command::Reject(a) => commands::approvals::decide(g, a, terrace_store::Decision::Reject).await,
        Command::Approvals(a) => commands::approvals::list(g, &a).await,
        Command::Promote(a) => commands::promote::promote(g, a).await,
        Command::Promotions(a) => commands::promote::list(g, &a).await,
        Command::Audit(a) => commands::audit::audit(g, &a).await,
        Command::Request(_) | Command::Project(_) => Err(CliError::usage(
            "this command talks to a terrace server: pass --server URL or set TERRACE_SERVER (token in TERRACE_TOKEN)",
        )),
    }
}

fn init_tracing(level: &str, format: args::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(format!("terrace={level},warn"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colour codes only for a person at a terminal: a log file or a collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    let _ = match format {
        args::LogFormat::Text => builder.try_init(),
        args::LogFormat::Json => builder.json().try_init(),
    };
}
