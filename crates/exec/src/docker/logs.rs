//! The container's output as two pipes: Docker sends stdout and stderr frames on one
//! attach stream; each goes into its own in-memory pipe, which the same line splitter
//! and masking as the local executor's reads (so logs are identical on both).

use std::pin::Pin;

use bollard::container::LogOutput;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncWriteExt, DuplexStream};

/// How much of a stream may wait for the reader before the attach stream waits in turn.
const PIPE_BYTES: usize = 1 << 20;

pub(crate) type Frames = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// The readable ends of stdout and stderr, and the task that fills them; both end at
/// the attach stream's end (the container's end).
pub(crate) fn demux(mut frames: Frames) -> (DuplexStream, DuplexStream, tokio::task::JoinHandle<()>) {
    let (mut out_w, out_r) = tokio::io::duplex(PIPE_BYTES);
    let (mut err_w, err_r) = tokio::io::duplex(PIPE_BYTES);
    let task = tokio::spawn(async move {
        while let Some(frame) = frames.next().await {
            let written = match frame {
                Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                    out_w.write_all(&message).await
                }
                Ok(LogOutput::StdErr { message }) => err_w.write_all(&message).await,
                Ok(LogOutput::StdIn { .. }) => Ok(()),
                Err(e) => {
                    tracing::debug!("the container's output stream ended: {e}");
                    break;
                }
            };
            if written.is_err() {
                // A reader is gone; keep draining so the container never blocks.
                continue;
            }
        }
        let _ = out_w.shutdown().await;
        let _ = err_w.shutdown().await;
    });
    (out_r, err_r, task)
}
