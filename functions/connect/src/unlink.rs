//! `DELETE /v1/users/{user_id}/accounts/{network}/{account_id}`: revoke at the network
//! where it can be done, remove the account, fail the deliveries still waiting for it.

use crate::App;
use crosspost_core::{DeliveryRecord, Event, FailureReason, LastError, Network};
use crosspost_lambda::problem::{json, problem, unavailable};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Serialize)]
struct Unlinked {
    user_id: String,
    network: Network,
    account_id: String,
    /// Whether the network withdrew the tokens (X; Bluesky ends the session); Facebook
    /// Page tokens cannot be withdrawn by the app: the person removes the app in
    /// Facebook's settings.
    revoked_at_network: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoke_error: Option<String>,
    /// Deliveries that were waiting for this account and are now FAILED
    /// (`account_unlinked`).
    deliveries_failed: usize,
}

impl App {
    /// Withdraws the account's tokens at the network: the linker's revocation, or
    /// Bluesky's `deleteSession`.
    async fn revoke(
        &self,
        linker: Option<&dyn crosspost_core::linking::Linker>,
        account: &crosspost_core::LinkedAccount,
    ) -> Result<(), crosspost_core::PublishError> {
        match linker {
            Some(linker) => linker.revoke(account).await,
            None => {
                let refresh = account.refresh_token.as_ref().ok_or_else(|| {
                    crosspost_core::PublishError::Permanent {
                        reason: "the account has no Bluesky session to end".into(),
                    }
                })?;
                let creds = crosspost_networks::bluesky::SessionCredentials::from_secret(refresh)?;
                self.bluesky.sessions.delete_session(&creds).await
            }
        }
    }

    pub async fn unlink(
        &self,
        user_id: &str,
        network: &str,
        account_id: &str,
        now: OffsetDateTime,
    ) -> Response<Body> {
        // Bluesky links without a consent page, so it has no linker: its session is
        // ended with `deleteSession`.
        // An X or Facebook account whose app credentials are unusable is still unlinked:
        // its tokens cannot be revoked at the network, which the answer says.
        let (network, linker, unusable) = if network == Network::Bluesky.as_str() {
            (Network::Bluesky, None, None)
        } else {
            match self.find_linker(network).await {
                Ok(Ok(linker)) => (linker.network(), Some(linker), None),
                Ok(Err(unusable)) => (unusable.0, None, Some(unusable)),
                Err(resp) => return *resp,
            }
        };
        let sealed = match self.vault.store().get(user_id, network, account_id).await {
            Ok(Some(a)) => a,
            Ok(None) => {
                return problem(
                    StatusCode::NOT_FOUND,
                    &format!("user {user_id} has no linked {network} account {account_id}"),
                    &[],
                )
            }
            Err(e) => return unavailable(&e),
        };
        // Revoke first: if removing the account then fails, the call can be repeated.
        let (revoked_at_network, revoke_error) = if let Some(unusable) = unusable {
            (
                false,
                Some(format!(
                    "the {} app credentials are unusable, so the tokens were not revoked there",
                    unusable.0
                )),
            )
        } else if linker.is_some_and(|l| !l.revokes_tokens()) {
            (false, None)
        } else {
            match self.vault.open(&sealed).await {
                Ok(account) => match self.revoke(linker, &account).await {
                    Ok(()) => (true, None),
                    Err(e) => (false, Some(e.to_string())),
                },
                Err(e) => {
                    tracing::error!(error = %e, "the account's tokens do not open");
                    (
                        false,
                        Some("the stored tokens could not be opened".to_owned()),
                    )
                }
            }
        };
        if let Err(e) = self
            .vault
            .store()
            .delete(user_id, network, account_id)
            .await
        {
            return unavailable(&e);
        }
        let failed = match self.fail_waiting(user_id, network, account_id, now).await {
            Ok(n) => n,
            Err(e) => return unavailable(&e),
        };
        tracing::info!(%network, %user_id, %account_id, revoked_at_network, failed, "unlinked");
        json(
            StatusCode::OK,
            &Unlinked {
                user_id: user_id.to_owned(),
                network,
                account_id: account_id.to_owned(),
                revoked_at_network,
                revoke_error,
                deliveries_failed: failed,
            },
        )
    }

    /// Fails every waiting delivery of the account, with a `delivery.failed` event each.
    async fn fail_waiting(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
        now: OffsetDateTime,
    ) -> Result<usize, crosspost_aws::StoreError> {
        let error = LastError::new(
            FailureReason::AccountUnlinked,
            "the account was unlinked before the post reached it",
        );
        let mut failed = 0;
        for (post_id, key) in self
            .posts
            .open_deliveries_of(user_id, network, account_id)
            .await?
        {
            if let Some(d) = self.posts.fail_waiting(&post_id, &key, &error, now).await? {
                failed += 1;
                self.event_failed(&d, &error, now).await;
            }
        }
        Ok(failed)
    }

    async fn event_failed(&self, d: &DeliveryRecord, error: &LastError, now: OffsetDateTime) {
        if self.events.is_none() {
            return;
        }
        let source_id = match self.posts.get_post(&d.post_id).await {
            Ok(Some(p)) => Some(p.source_id),
            _ => None,
        };
        let event = Event::failed(d, source_id.as_deref(), d.status, error);
        crosspost_lambda::events::send(self.events.as_ref(), event, now).await;
    }
}
