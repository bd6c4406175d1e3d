//! Facebook Pages as the delivery worker sees it ([`Publisher`]): a post is one part
//! (a Page has no threads), reconciliation reads the Page's published posts, a delete
//! removes one post.

use super::error::{classify, GraphErrorBody};
use super::{parse, remote_post, FacebookClient};
use crate::{nothing_published, PublishError, RemotePost};
use crosspost_core::{Candidate, LinkedAccount, Lookup, OutgoingPart, Publisher};
use serde::Deserialize;

#[derive(Deserialize)]
struct Published {
    #[serde(default)]
    data: Vec<PublishedPost>,
}

#[derive(Deserialize)]
struct PublishedPost {
    id: String,
    #[serde(default)]
    message: Option<String>,
    /// ISO 8601 with a `+0000` offset, as Graph writes it.
    #[serde(default)]
    created_time: Option<String>,
}

/// Graph's `created_time` (`2026-11-30T05:30:50+0000`, ISO 8601 with a colon-less
/// offset) as Unix seconds.
fn graph_time(text: &str) -> Option<i64> {
    let split = text.len().checked_sub(2)?;
    let (head, minutes) = (text.get(..split)?, text.get(split..)?);
    let rfc3339 = format!("{head}:{minutes}");
    crosspost_core::clock::parse_rfc3339(&rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

impl Publisher for FacebookClient {
    /// [`FacebookClient::publish`] on the account's Page with its Page token: the whole
    /// post (up to 63,206 characters) with its link and photos; `reply_to` is never set.
    async fn publish_part(
        &self,
        page: &LinkedAccount,
        part: OutgoingPart<'_>,
        _reply_to: Option<&str>,
    ) -> Result<RemotePost, PublishError> {
        self.keyed(part.key)
            .publish(
                &page.account_id,
                &page.access_token,
                part.text,
                part.link,
                part.media,
            )
            .await
    }

    /// The Page's posts made within the lookup's window (widened by 5 s each side)
    /// whose message is the lookup's text: `GET /{page-id}/published_posts` with
    /// `created_time`, up to 100. Photo posts are listed with their caption. A Page has
    /// no threads, so there is no reply parent to match.
    async fn reconcile(
        &self,
        page: &LinkedAccount,
        lookup: Lookup<'_>,
    ) -> Result<Vec<Candidate>, PublishError> {
        let (message, window) = (lookup.text, lookup.window);
        let since = (window.since_unix - 5).to_string();
        let until = (window.until_unix + 5).to_string();
        let request = self
            .http
            .get(self.url(&format!("{}/published_posts", page.account_id)))
            .query(&[
                ("fields", "message,created_time"),
                ("since", since.as_str()),
                ("until", until.as_str()),
                ("limit", "100"),
            ]);
        let answer = self
            .send_publishing_nothing(request, &page.access_token)
            .await?;
        let published: Published = parse(&answer.body).map_err(nothing_published)?;
        published
            .data
            .into_iter()
            .filter(|p| {
                p.message
                    .as_deref()
                    .is_some_and(|m| crosspost_core::reconcile::same_text(message, m))
            })
            .map(|p| {
                let created_unix =
                    p.created_time
                        .as_deref()
                        .and_then(graph_time)
                        .ok_or_else(|| PublishError::Retryable {
                            after: None,
                            detail: format!("Facebook listed post {} without a created_time", p.id),
                        })?;
                Ok(Candidate {
                    post: remote_post(p.id, &answer.headers),
                    created_unix,
                })
            })
            .collect()
    }

    /// `DELETE /{post-id}`; a post Facebook no longer has counts as deleted.
    async fn delete_part(&self, page: &LinkedAccount, post_id: &str) -> Result<(), PublishError> {
        let request = self.http.delete(self.url(post_id));
        let answer = self
            .send(request, &page.access_token)
            .await
            .map_err(nothing_published)?;
        if answer.ok() {
            return Ok(());
        }
        // Code 100 with subcode 33: the object does not exist (already deleted).
        if let Ok(GraphErrorBody { error }) = serde_json::from_str::<GraphErrorBody>(&answer.body) {
            if error.code == 100 && error.error_subcode == Some(33) {
                return Ok(());
            }
        }
        Err(classify(answer.status, &answer.headers, &answer.body))
    }
}
