//! What an agent tells the server about a step: its log in batches, its lease renewed
//! (the answer may ask it to stop), its end. A report the server refuses with 409 means
//! the step was taken back: the step is stopped and nothing more is sent for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use terrace_exec::ExecEvent;
use terrace_server::agents::protocol::{
    FinishBody, LogsBody, RenewAnswer, RenewBody, StepPayload, StepResult, WireBatch,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Link, message};
use crate::out::errln;

/// Set once the server refused a report: the step is no longer this agent's.
#[derive(Clone, Default)]
pub(super) struct Lost(Arc<AtomicBool>);

impl Lost {
    pub(super) fn is_lost(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn set(&self, cancel: &CancellationToken, step: &str, why: &str) {
        if !self.0.swap(true, Ordering::SeqCst) {
            errln!("step {step}: the server refused a report ({why}); stopping it");
        }
        cancel.cancel();
    }
}

/// At most this many batches go in one request.
const MAX_BATCHES: usize = 256;

/// Sends the step's log as it comes, until the step's log channel closes.
pub(super) async fn send_logs(
    link: Link,
    step: String,
    token: u64,
    mut rx: mpsc::Receiver<ExecEvent>,
    lost: Lost,
    cancel: CancellationToken,
) {
    let path = format!("/steps/{step}/logs");
    while let Some(ExecEvent::Lines(first)) = rx.recv().await {
        let mut batches = vec![WireBatch::from_batch(&first)];
        while batches.len() < MAX_BATCHES {
            match rx.try_recv() {
                Ok(ExecEvent::Lines(b)) => batches.push(WireBatch::from_batch(&b)),
                Err(_) => break,
            }
        }
        if lost.is_lost() {
            continue; // drained unread, so the step is never blocked on its pipe
        }
        let body = LogsBody { token, batches };
        // A network cut is retried a few times; lines are never sent twice on purpose.
        for attempt in 0..5u64 {
            match link.post(&path, &body).await {
                Ok((204, _)) => break,
                Ok((409 | 404, b)) => {
                    lost.set(&cancel, &step, &message(&b));
                    break;
                }
                Ok((status, b)) => {
                    errln!("step {step}: the server refused its log ({status}): {}", message(&b));
                    break;
                }
                Err(e) => {
                    errln!("step {step}: {e}");
                    tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                }
            }
        }
    }
}

/// Renews the step's lease until aborted; stops the step when the server asks it to or
/// no longer holds the step for this agent.
pub(super) async fn renew(link: Link, step: String, token: u64, every_ms: u64, lost: Lost, cancel: CancellationToken) {
    let path = format!("/steps/{step}/renew");
    loop {
        tokio::time::sleep(Duration::from_millis(every_ms.max(100))).await;
        match link.post(&path, &RenewBody { token }).await {
            Ok((200, body)) => {
                if serde_json::from_slice::<RenewAnswer>(&body).is_ok_and(|a| a.cancel) {
                    errln!("step {step}: cancelled on the server; stopping it");
                    cancel.cancel();
                }
            }
            Ok((409 | 404, body)) => {
                lost.set(&cancel, &step, &message(&body));
                return;
            }
            Ok((status, body)) => errln!("step {step}: renewing its lease failed ({status}): {}", message(&body)),
            // The lease outlives a few missed renewals; past it, the server takes it back.
            Err(e) => errln!("step {step}: {e}"),
        }
    }
}

/// Reports the step's end (retried while the server cannot be reached, within reason).
pub(super) async fn finish(link: &Link, step: &StepPayload, result: StepResult, output: Option<&[u8]>) {
    let path = format!("/steps/{}/finish", step.step);
    let output = output.map(|o| base64::engine::general_purpose::STANDARD.encode(o));
    let body = FinishBody { token: step.token, result, output };
    for attempt in 0..10u64 {
        match link.post(&path, &body).await {
            Ok((204, _)) => return,
            Ok((status, b)) => {
                errln!("step {}: the server refused its end ({status}): {}", step.step, message(&b));
                return;
            }
            Err(e) => {
                errln!("step {}: {e}", step.step);
                tokio::time::sleep(Duration::from_millis(300 * (attempt + 1))).await;
            }
        }
    }
}
