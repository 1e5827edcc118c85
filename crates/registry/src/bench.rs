//! The measure terrace-bench reports beside promotion time: how many registry round trips a
//! re-tag needs, on a fresh client (challenges and token requests included) and once warm.

use serde::Serialize;

use crate::client::ClientBuilder;
use crate::error::Error;
use crate::reference::Reference;

/// Round trips (HTTP requests, token requests included) of one re-tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetagRoundTrips {
    /// On a client that has not spoken to the registry yet.
    pub cold: u64,
    /// The same re-tag again on that client (tokens cached, scheme known).
    pub warm: u64,
}

/// Re-tags `source` as `tag` twice on a client built from `builder` and counts the round
/// trips of each. Moves the tag, so point it at a tag that may move.
pub async fn retag_round_trips(
    builder: ClientBuilder,
    source: &Reference,
    tag: &str,
) -> Result<RetagRoundTrips, Error> {
    let client = builder.build()?;
    client.retag(source, tag).await?;
    let cold = client.round_trips();
    client.retag(source, tag).await?;
    Ok(RetagRoundTrips { cold, warm: client.round_trips() - cold })
}
