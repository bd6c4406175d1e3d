//! Facebook Pages as the delivery worker sees it ([`Publisher`]): a post is one part
//! (a Page has no threads), reconciliation reads the Page's published posts (and its
//! videos, for a post with media), a delete removes one post or video.

use super::error::{classify, GraphErrorBody};
use super::video::{video_post, VideoStatus};
use super::{parse, remote_post, FacebookClient};
use crate::{nothing_published, PublishError, RemotePost};
use crosspost_core::{Candidate, LinkedAccount, Lookup, OutgoingPart, Publisher};
use serde::Deserialize;
use std::collections::HashSet;

#[derive(Deserialize)]
struct Videos {
    #[serde(default)]
    data: Vec<ListedVideo>,
}

#[derive(Deserialize)]
struct ListedVideo {
    id: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    created_time: Option<String>,
    #[serde(default)]
    status: VideoStatus,
    /// The Page post that shows the video, once it is published.
    #[serde(default)]
    post_id: Option<String>,
}

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
    /// The URL of the post's picture (PagePost's `full_picture`): "the Photo published
    /// in the Post or scraped from a link in the Post", so a link post may have one.
    #[serde(default)]
    full_picture: Option<String>,
    /// What kind of story the post is (PagePost's `status_type`): `added_photos` and
    /// `added_video` for posts that show their own photos or video.
    #[serde(default)]
    status_type: Option<String>,
}

impl PublishedPost {
    /// Whether the post may be a part with `media_count` media: a part with media shows
    /// a picture and (when Graph says its kind) photos or video of its own; a part
    /// without shows none of its own (a picture scraped from a link, which any post
    /// with a URL may show, does not count).
    fn may_hold(&self, media_count: usize) -> bool {
        // Only the kinds known for certain decide; any other (Graph publishes no
        // complete list) leaves it to the picture.
        let own_media = match self.status_type.as_deref() {
            Some("added_photos" | "added_video") => Some(true),
            Some("mobile_status_update" | "shared_story") => Some(false),
            _ => None,
        };
        if media_count > 0 {
            self.full_picture.is_some() && own_media != Some(false)
        } else {
            own_media != Some(true)
        }
    }
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
    /// whose message is the lookup's text and that may hold the part's media
    /// ([`PublishedPost::may_hold`]: PagePost's `full_picture` for a part with media,
    /// its `status_type` for one without; Graph's published specs describe no
    /// attachment count, so a photo post matches any number of photos):
    /// `GET /{page-id}/published_posts` with `created_time`, up to 100. Photo posts are
    /// listed with their caption. For a post
    /// with media, the Page's videos of that window whose description is the text too
    /// (`GET /{page-id}/videos`): a ready one is a candidate (by its video id, in place
    /// of the post that shows it); one still processing makes the lookup a `Retryable`
    /// error, as whether it will be published is not known yet; a failed one is none.
    /// A Page has no threads, so there is no reply parent to match.
    async fn reconcile(
        &self,
        page: &LinkedAccount,
        lookup: Lookup<'_>,
    ) -> Result<Vec<Candidate>, PublishError> {
        let (message, window) = (lookup.text, lookup.window);
        let since = (window.since_unix - 5).to_string();
        let until = (window.until_unix + 5).to_string();
        let bounds = [
            ("since", since.as_str()),
            ("until", until.as_str()),
            ("limit", "100"),
        ];
        let request = self
            .http
            .get(self.url(&format!("{}/published_posts", page.account_id)))
            .query(&[("fields", "message,created_time,full_picture,status_type")])
            .query(&bounds);
        let answer = self
            .send_publishing_nothing(request, &page.access_token)
            .await?;
        let published: Published = parse(&answer.body).map_err(nothing_published)?;
        let created = |id: &str, time: Option<&str>| {
            time.and_then(graph_time)
                .ok_or_else(|| PublishError::Retryable {
                    after: None,
                    detail: format!("Facebook listed {id} without a created_time"),
                })
        };
        let mut candidates = published
            .data
            .into_iter()
            .filter(|p| {
                p.message
                    .as_deref()
                    .is_some_and(|m| crosspost_core::reconcile::same_text(message, m))
                    && p.may_hold(lookup.media_count)
            })
            .map(|p| {
                Ok(Candidate {
                    created_unix: created(&p.id, p.created_time.as_deref())?,
                    post: remote_post(p.id, &answer.headers),
                })
            })
            .collect::<Result<Vec<_>, PublishError>>()?;
        if lookup.media_count == 0 {
            return Ok(candidates);
        }
        let request = self
            .http
            .get(self.url(&format!("{}/videos", page.account_id)))
            .query(&[("fields", "description,created_time,status,post_id")])
            .query(&bounds);
        let answer = self
            .send_publishing_nothing(request, &page.access_token)
            .await?;
        let videos: Videos = parse(&answer.body).map_err(nothing_published)?;
        // A published video is listed twice: as itself and as the post that shows it.
        let shown: HashSet<&str> = videos
            .data
            .iter()
            .filter_map(|v| v.post_id.as_deref())
            .collect();
        candidates.retain(|c| !shown.contains(c.post.id.as_str()));
        let (mut processing, mut ready) = (None, false);
        for video in &videos.data {
            let same = video
                .description
                .as_deref()
                .is_some_and(|d| crosspost_core::reconcile::same_text(message, d));
            if !same {
                continue;
            }
            match video.status.video_status.as_str() {
                "ready" => {
                    ready = true;
                    candidates.push(Candidate {
                        created_unix: created(&video.id, video.created_time.as_deref())?,
                        post: video_post(
                            &page.account_id,
                            video.id.clone(),
                            super::error::usage_hold(&answer.headers),
                        ),
                    });
                }
                "error" => {
                    tracing::info!(video_id = %video.id, reason = %video.status.failure(), "a matching video failed processing; not a candidate")
                }
                _ => processing = Some(video.id.as_str()),
            }
        }
        if let (Some(id), false) = (processing, ready) {
            return Err(PublishError::Retryable {
                after: None,
                detail: format!("Facebook is still processing video {id}"),
            });
        }
        candidates.sort_by_key(|c| std::cmp::Reverse(c.created_unix));
        Ok(candidates)
    }

    /// `DELETE /{post-id}` (or `/{video-id}`, which takes the video's post too); a post
    /// Facebook no longer has counts as deleted.
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

#[cfg(test)]
mod tests {
    use super::PublishedPost;

    fn post(picture: bool, kind: Option<&str>) -> PublishedPost {
        PublishedPost {
            id: "p".into(),
            message: Some("m".into()),
            created_time: None,
            full_picture: picture.then(|| "https://scontent.example/p.jpg".into()),
            status_type: kind.map(str::to_owned),
        }
    }

    #[test]
    fn a_post_holds_media_by_its_picture_and_kind() {
        // A link post with a scraped picture is a text part's, not a photo part's.
        let link = post(true, Some("shared_story"));
        assert!(link.may_hold(0));
        assert!(!link.may_hold(1));
        // Photos and video are a photo part's only.
        for kind in ["added_photos", "added_video"] {
            assert!(post(true, Some(kind)).may_hold(2));
            assert!(!post(true, Some(kind)).may_hold(0));
        }
        // A text post.
        assert!(post(false, Some("mobile_status_update")).may_hold(0));
        assert!(!post(false, Some("mobile_status_update")).may_hold(1));
        // Without a kind, or one not known for certain, the picture decides for a photo
        // part; a text part takes it.
        assert!(post(true, None).may_hold(1));
        assert!(post(true, Some("published_story")).may_hold(1));
        assert!(post(true, Some("published_story")).may_hold(0));
        assert!(!post(false, Some("published_story")).may_hold(1));
        assert!(!post(false, None).may_hold(1));
        assert!(post(true, None).may_hold(0));
    }
}
