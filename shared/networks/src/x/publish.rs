//! X as the delivery worker sees it ([`Publisher`]): a part is a post, reconciliation
//! reads the account's timeline, a delete removes one post.

use super::error::classify;
use super::media::{still_processing, XMediaUploader};
use super::{read, XClient};
use crate::{PublishError, RemotePost};
use crosspost_core::{
    Candidate, LinkedAccount, Lookup, MediaItem, OutgoingPart, Publisher, Upload,
};
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
        let shown = if media > 0 {
            without_media_link(&self.text)
        } else {
            &self.text
        };
        crosspost_core::reconcile::same_text(lookup.text, shown)
            && parent == lookup.reply_to
            && media == lookup.media_count
    }
}

/// A post's text without the t.co link X appends for its media: a post with media
/// reads back as its text, a space and `https://t.co/…` (only that link when the
/// post has no text). Anything else is left as it is.
fn without_media_link(text: &str) -> &str {
    let trimmed = text.trim_end();
    match trimmed.rsplit_once(char::is_whitespace) {
        Some((before, last)) if last.starts_with("https://t.co/") => before.trim_end(),
        None if trimmed.starts_with("https://t.co/") => "",
        _ => text,
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
    ) -> Result<Option<Upload>, PublishError> {
        let (id, processing) = self.media.upload_one(&account.access_token, item).await?;
        Ok(Some(Upload { id, processing }))
    }

    /// Polls X's STATUS for media X was still processing (see
    /// [`XMediaUploader::processed`]).
    async fn media_processed(
        &self,
        account: &LinkedAccount,
        media_id: &str,
    ) -> Result<(), PublishError> {
        if self
            .media
            .processed(&account.access_token, media_id)
            .await?
        {
            return Err(still_processing(media_id));
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crosspost_core::Window;

    fn post(text: &str, media: usize) -> TimelinePost {
        TimelinePost {
            id: "1".into(),
            text: text.into(),
            created_at: None,
            referenced_posts: Vec::new(),
            attachments: (media > 0).then(|| Attachments {
                media_keys: (0..media).map(|i| format!("3_{i}")).collect(),
            }),
        }
    }

    fn lookup(text: &str, media_count: usize) -> Lookup<'_> {
        Lookup {
            text,
            reply_to: None,
            media_count,
            window: Window {
                since_unix: 0,
                until_unix: 1,
            },
        }
    }

    #[test]
    fn a_media_post_matches_without_the_media_link_x_appends() {
        let shown = post("西湖的秋天 https://t.co/AbCdEf1234", 1);
        assert!(shown.matches(&lookup("西湖的秋天", 1)));
        // A media-only part reads back as the link alone.
        assert!(post("https://t.co/AbCdEf1234", 4).matches(&lookup("", 4)));
        // The text's own link stays: only the last one is the media's.
        let linked = post("看 https://t.co/Link000001 https://t.co/Media00001", 1);
        assert!(linked.matches(&lookup("看 https://example.com/a", 1)));
        // Without media nothing is taken off, and the media count still decides.
        assert!(!post("西湖的秋天 https://t.co/AbCdEf1234", 0).matches(&lookup("西湖的秋天", 0)));
        assert!(!shown.matches(&lookup("西湖的秋天", 2)));
        assert!(!post("另一条 https://t.co/AbCdEf1234", 1).matches(&lookup("西湖的秋天", 1)));
    }
}
