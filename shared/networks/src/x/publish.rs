//! X as the delivery worker sees it ([`Publisher`]): a part is a post, reconciliation
//! reads the account's timeline, a delete removes one post.

use super::error::classify;
use super::media::XMediaUploader;
use super::{read, XClient};
use crate::{PublishError, RemotePost};
use crosspost_core::{Candidate, LinkedAccount, Lookup, MediaItem, OutgoingPart, Publisher};
use serde::Deserialize;

/// Pages of the timeline read when reconciling.
const RECONCILE_PAGES: usize = 10;

#[derive(Deserialize)]
struct Timeline {
    #[serde(default)]
    data: Vec<TimelinePost>,
    #[serde(default)]
    meta: Option<TimelineMeta>,
}

#[derive(Deserialize)]
struct TimelineMeta {
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Deserialize)]
struct TimelinePost {
    id: String,
    text: String,
    /// RFC 3339.
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    referenced_posts: Vec<Reference>,
    #[serde(default)]
    attachments: Option<Attachments>,
}

#[derive(Deserialize)]
struct Reference {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Deserialize)]
struct Attachments {
    #[serde(default)]
    media_keys: Vec<String>,
}

impl TimelinePost {
    /// Whether this post is the one `lookup` describes, as far as X shows: the same
    /// text (after X's rewriting), a reply to the same parent, as many media.
    fn matches(&self, lookup: &Lookup<'_>) -> bool {
        let parent = self
            .referenced_posts
            .iter()
            .find(|r| r.kind == "replied_to")
            .map(|r| r.id.as_str());
        let media = self.attachments.as_ref().map_or(0, |a| a.media_keys.len());
        crosspost_core::reconcile::same_text(lookup.text, &self.text)
            && parent == lookup.reply_to
            && media == lookup.media_count
    }
}

/// X as the delivery worker sees it: the API client, and the media uploader for the
/// first part of a post.
pub struct XPublisher {
    api: XClient,
    media: XMediaUploader,
}

impl XPublisher {
    pub fn new(api: XClient, media: XMediaUploader) -> Self {
        XPublisher { api, media }
    }
}

impl Publisher for XPublisher {
    /// X's media plan from the files' bytes: images 4 per part in the post's order, or
    /// one GIF or video alone on the first part (`crosspost_core::media`).
    async fn media_parts(&self, media: &[MediaItem]) -> Result<Vec<Vec<usize>>, PublishError> {
        if media.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.media.plan(media).await?.per_part())
    }

    /// One image, GIF or video uploaded ahead of its part (see
    /// [`XMediaUploader::upload_one`]): X's media id.
    async fn upload_media(
        &self,
        account: &LinkedAccount,
        item: &MediaItem,
    ) -> Result<Option<String>, PublishError> {
        self.media
            .upload_one(&account.access_token, item)
            .await
            .map(Some)
    }

    /// `POST /2/tweets` with the part's media (uploaded ahead, or now when not), uploaded first with their alt text (at
    /// most 4 images, or 1 GIF, or 1 video), and its text (none for a part that only
    /// carries media); later parts reply to `reply_to`.
    async fn publish_part(
        &self,
        account: &LinkedAccount,
        part: OutgoingPart<'_>,
        reply_to: Option<&str>,
    ) -> Result<RemotePost, PublishError> {
        let media_ids = if part.media.is_empty() || part.media_ids.len() == part.media.len() {
            part.media_ids.to_vec()
        } else {
            self.media
                .upload_part(&account.access_token, part.media)
                .await?
        };
        self.api
            .post_tweet(
                &account.access_token,
                part.text,
                reply_to,
                &media_ids,
                Some(part.key),
            )
            .await
    }

    /// The account's posts made within the lookup's window (widened by 5 s each side)
    /// with its text as X shows it, replying to its parent, with as many media:
    /// `GET /2/users/{id}/tweets` with start and end times and `post.fields`
    /// `created_at,attachments` and the `referenced_posts` expansion, following `next_token` for up to 10
    /// pages of 100 (an account may have posted a lot in that window). More than that
    /// is a retry, never a guess.
    async fn reconcile(
        &self,
        account: &LinkedAccount,
        lookup: Lookup<'_>,
    ) -> Result<Vec<Candidate>, PublishError> {
        let window = lookup.window;
        let rfc3339 = |unix: i64| {
            crosspost_core::clock::rfc3339(crosspost_core::clock::from_unix_ms(unix * 1000))
        };
        // X refuses an end time in the future.
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let start = rfc3339(window.since_unix - 5);
        let end = rfc3339((window.until_unix + 5).min(now - 1).max(window.since_unix));
        let mut page_token: Option<String> = None;
        let mut found = Vec::new();
        for _ in 0..RECONCILE_PAGES {
            let mut query = vec![
                ("start_time", start.clone()),
                ("end_time", end.clone()),
                ("max_results", "100".to_owned()),
                // The names in X's OpenAPI description (2.167): `post.fields`, and
                // the reply parent through the `referenced_posts` expansion.
                ("post.fields", "created_at,attachments".to_owned()),
                ("expansions", "referenced_posts".to_owned()),
            ];
            if let Some(t) = page_token.take() {
                query.push(("pagination_token", t));
            }
            let request = self
                .api
                .http
                .get(format!(
                    "{}/2/users/{}/tweets",
                    self.api.base_url, account.account_id
                ))
                .bearer_auth(account.access_token.expose())
                .query(&query);
            let (status, headers, body) = read(request).await?;
            if !status.is_success() {
                // A lookup that failed cannot have posted anything.
                return Err(crate::nothing_published(classify(status, &headers, &body)));
            }
            let timeline: Timeline =
                serde_json::from_str(&body).map_err(|e| PublishError::Retryable {
                    after: None,
                    detail: format!("unexpected timeline from X ({e})"),
                })?;
            for p in timeline.data.into_iter().filter(|p| p.matches(&lookup)) {
                let created_unix = p
                    .created_at
                    .as_deref()
                    .and_then(|t| crosspost_core::clock::parse_rfc3339(t).ok())
                    .map(time::OffsetDateTime::unix_timestamp)
                    .ok_or_else(|| PublishError::Retryable {
                        after: None,
                        detail: format!("X's timeline gave post {} without created_at", p.id),
                    })?;
                found.push(Candidate {
                    post: RemotePost {
                        url: format!("https://x.com/i/web/status/{}", p.id),
                        id: p.id,
                        hold: None,
                    },
                    created_unix,
                });
            }
            match timeline.meta.and_then(|m| m.next_token) {
                Some(t) => page_token = Some(t),
                None => return Ok(found),
            }
        }
        // More posts in the window than we read: not finding ours is not proof it is
        // absent. Publishing again could double it, so try again later.
        Err(PublishError::Retryable {
            after: None,
            detail: format!("more than {RECONCILE_PAGES} pages of posts in the reconcile window"),
        })
    }

    /// `DELETE /2/tweets/{id}`; a post X no longer has (404) counts as deleted.
    async fn delete_part(
        &self,
        account: &LinkedAccount,
        remote_id: &str,
    ) -> Result<(), PublishError> {
        let resp = self
            .api
            .http
            .delete(format!("{}/2/tweets/{remote_id}", self.api.base_url))
            .bearer_auth(account.access_token.expose())
            .send()
            .await
            .map_err(|e| crate::from_transport(&e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        match status.as_u16() {
            200 | 404 => Ok(()),
            _ => Err(classify(status, &headers, &text)),
        }
    }
}
