//! Facebook Pages as the delivery worker sees it ([`Publisher`]): a post is one part
//! (a Page has no threads), reconciliation reads the Page's published posts, a delete
//! removes one post.

use super::error::{classify, GraphErrorBody};
use super::{parse, remote_post, FacebookClient};
use crate::{nothing_published, PublishError, RemotePost};
use crosspost_core::{LinkedAccount, OutgoingPart, Publisher, Window};
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
        self.publish(
            &page.account_id,
            &page.access_token,
            part.text,
            part.link,
            part.media,
        )
        .await
    }

    /// The Page's post made within `window` (widened by 5 s each side) whose message is
    /// `message`: `GET /{page-id}/published_posts`, up to 100. Photo posts are listed
    /// with their caption.
    async fn reconcile(
        &self,
        page: &LinkedAccount,
        message: &str,
        window: Window,
    ) -> Result<Option<RemotePost>, PublishError> {
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
        Ok(published
            .data
            .into_iter()
            .find(|p| {
                p.message
                    .as_deref()
                    .is_some_and(|m| crosspost_core::reconcile::same_text(message, m))
            })
            .map(|p| remote_post(p.id, &answer.headers)))
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
