//! Tag listing: `GET /v2/<name>/tags/list?n=N`, following the `Link: <...>; rel="next"`
//! pages the distribution spec describes until the registry stops sending one.

use serde::Deserialize;
use url::Url;

use crate::auth::repository_scope;
use crate::client::Client;
use crate::error::Error;
use crate::reference::Repository;
use crate::transport::Call;

/// A registry that keeps sending next pages past this is looping: stop with an error.
const MAX_PAGES: usize = 100_000;

#[derive(Deserialize)]
struct Page {
    // `null` when the repository exists but has no tag left.
    tags: Option<Vec<String>>,
}

impl Client {
    /// Every tag of `repository`, in the registry's order (the spec asks for lexical
    /// order, distribution 2.8 does not keep it across pages), fetched page by page. [`Error::NotFound`] (`NAME_UNKNOWN`) when the
    /// repository does not exist.
    pub async fn tags(&self, repository: &Repository) -> Result<Vec<String>, Error> {
        let page_size = self.transport.options.tag_page_size;
        let mut url = self.transport.url(repository.registry(), &format!("{}/tags/list", repository.path()));
        url.query_pairs_mut().append_pair("n", &page_size.to_string());
        let scopes = vec![repository_scope(repository.path(), false)];
        let mut tags = Vec::new();
        for _ in 0..MAX_PAGES {
            let call =
                Call::new("GET", repository.registry(), url.clone(), format!("tags of {repository}"), scopes.clone());
            let answer = self.transport.send(&call).await?;
            if answer.status.as_u16() != 200 {
                return Err(self.unexpected(&call, &answer));
            }
            let page: Page = serde_json::from_slice(&answer.body).map_err(|e| self.protocol(&call, e.to_string()))?;
            tags.extend(page.tags.unwrap_or_default());
            match answer.header("link").map(|link| next_page(&url, link)) {
                None => return Ok(tags),
                Some(Ok(Some(next))) => url = next,
                Some(Ok(None)) => return Ok(tags),
                Some(Err(reason)) => return Err(self.protocol(&call, reason)),
            }
        }
        let call = Call::new("GET", repository.registry(), url, format!("tags of {repository}"), scopes);
        Err(self.protocol(&call, format!("more than {MAX_PAGES} pages of tags")))
    }

    fn protocol(&self, call: &Call, reason: String) -> Error {
        Error::Protocol { registry: call.registry.clone(), method: call.method, what: call.what.clone(), reason }
    }
}

/// The `rel="next"` target of a Link header, resolved against the page it came with. A
/// next page on another origin is refused: following it would send the registry's
/// credentials elsewhere.
fn next_page(current: &Url, link: &str) -> Result<Option<Url>, String> {
    let links = parse_link_header::parse_with_rel(link).map_err(|e| format!("unreadable Link header `{link}`: {e}"))?;
    let Some(next) = links.get("next") else { return Ok(None) };
    let url = current.join(&next.raw_uri).map_err(|e| format!("Link target `{}`: {e}", next.raw_uri))?;
    if url.origin() != current.origin() {
        return Err(format!("the next page of tags is on another host ({})", url.origin().ascii_serialization()));
    }
    Ok(Some(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_relative_next_links_on_the_same_origin() {
        let current = Url::parse("http://127.0.0.1:5000/v2/app/tags/list?n=2").unwrap();
        let next = next_page(&current, r#"</v2/app/tags/list?last=b&n=2>; rel="next""#).unwrap().unwrap();
        assert_eq!(next.as_str(), "http://127.0.0.1:5000/v2/app/tags/list?last=b&n=2");
        assert_eq!(next_page(&current, r#"</v2/app/tags/list?last=b&n=2>; rel="prev""#).unwrap(), None);
        let e = next_page(&current, r#"<https://elsewhere.example/v2/app/tags/list>; rel="next""#).unwrap_err();
        assert!(e.contains("another host"), "{e}");
        assert!(next_page(&current, "garbage").is_err());
    }
}
