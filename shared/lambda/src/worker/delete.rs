//! A delete: claim the DELETING delivery, delete every published part newest first,
//! and conclude (DELETED, still DELETING to try again, or back to PUBLISHED when the
//! network refused for good).

use super::DeliveryWorker;
use crosspost_core::delivery::rules::{self, Next};
use crosspost_core::delivery::Conclusion;
use crosspost_core::{
    AccountStore, Clock, DeliveryMessage, DeliveryOp, DeliveryStatus, DeliveryStore, EventSink,
    FailureReason, LastError, Publisher, StoreError,
};

impl<P, S, A, E, C> DeliveryWorker<P, S, A, E, C>
where
    P: Publisher,
    S: DeliveryStore,
    A: AccountStore,
    E: EventSink,
    C: Clock,
{
    pub(super) async fn delete(
        &self,
        msg: &DeliveryMessage,
        inv: &super::Invocation,
        receive_count: u32,
    ) -> Result<Next, StoreError> {
        let (lease, delivery, _) = match self.claim(DeliveryOp::Delete, msg, inv).await? {
            Ok(claimed) => claimed,
            Err(next) => return Ok(next),
        };
        let accounts = &self.ports.accounts;
        let sealed = accounts
            .get(&delivery.user_id, msg.network, &msg.account_id)
            .await?;
        let (conclusion, next) = match rules::usable_account(sealed) {
            Err(_) => (
                Conclusion::Delete {
                    status: DeliveryStatus::Published,
                    error: Some(LastError::new(
                        FailureReason::AccountNeedsReauth,
                        "the account must be linked again before the post can be deleted",
                    )),
                },
                Next::Done,
            ),
            Ok(sealed) => {
                let account = accounts.open(&sealed).await?;
                // A token that could not be refreshed fails the first delete as the
                // network would.
                let fresh = match &self.tokens {
                    Some(tokens) => tokens.fresh(&account, lease.owner(), false).await,
                    None => Ok(account),
                };
                let mut failure = None;
                match fresh {
                    Err(e) if !delivery.parts.is_empty() => failure = Some(e),
                    Err(_) => {}
                    Ok(account) => {
                        for part in delivery.parts.iter().rev() {
                            if let Err(e) =
                                self.publisher.delete_part(&account, &part.remote_id).await
                            {
                                tracing::warn!(kind = e.kind(), error = %e, remote_id = %part.remote_id, "delete failed");
                                failure = Some(e);
                                break;
                            }
                        }
                    }
                }
                match failure {
                    Some(e) => rules::after_delete_failure(
                        &e,
                        receive_count,
                        &self.policy,
                        (self.jitter)(),
                        self.ports.clock.now(),
                    ),
                    None => {
                        tracing::info!(parts = delivery.parts.len(), "deleted");
                        let done = Conclusion::Delete {
                            status: DeliveryStatus::Deleted,
                            error: None,
                        };
                        (done, Next::Done)
                    }
                }
            }
        };
        self.ports
            .deliveries
            .conclude(&lease, &conclusion, self.ports.clock.now())
            .await?;
        Ok(next)
    }
}
