//! Linking an X account ([`Linker`]): X's consent page with PKCE S256, the code and
//! verifier exchanged for tokens, `GET /2/users/me` for the account, and revocation of
//! both tokens on unlink (`POST /2/oauth2/revoke`).

use super::oauth::{new_pkce_verifier, TokenKind, XOAuth};
use super::XClient;
use crate::PublishError;
use crosspost_core::linking::{Consent, Grant, LinkFailure, LinkFuture, Linker};
use crosspost_core::{LinkedAccount, Network};

/// X as the connect function sees it: the OAuth client, and the API client that names
/// the account a token speaks for.
pub struct XLinker {
    oauth: XOAuth,
    api: XClient,
}

impl XLinker {
    pub fn new(oauth: XOAuth, api: XClient) -> Self {
        XLinker { oauth, api }
    }
}

impl Linker for XLinker {
    fn network(&self) -> Network {
        Network::X
    }

    /// X's consent page with a fresh PKCE verifier's S256 challenge; the verifier is
    /// kept with the pending link.
    fn consent(
        &self,
        redirect_uri: &str,
        state: &crosspost_core::Secret,
    ) -> Result<Consent, String> {
        let verifier = new_pkce_verifier()?;
        let authorize_url = self
            .oauth
            .authorize_url(redirect_uri, state, &verifier)
            .map_err(|e| e.to_string())?;
        Ok(Consent {
            authorize_url,
            verifier: Some(verifier),
        })
    }

    /// The code and the stored verifier for tokens (the code lives 30 s), then
    /// `users/me` for the account: `@username` is its display name.
    fn finish<'a>(
        &'a self,
        grant: Grant<'a>,
    ) -> LinkFuture<'a, Result<Vec<LinkedAccount>, LinkFailure>> {
        Box::pin(async move {
            let verifier = grant.verifier.ok_or(LinkFailure::ServerError)?;
            let tokens = self
                .oauth
                .exchange_code(grant.code, verifier, grant.redirect_uri)
                .await
                .map_err(failure)?;
            let me = self.api.me(&tokens.access_token).await.map_err(failure)?;
            let display_name = format!("@{}", me.username);
            Ok(vec![grant.account(Network::X, me.id, display_name, tokens)])
        })
    }

    fn revokes_tokens(&self) -> bool {
        true
    }

    /// Revokes the access token, then the refresh token; each refusal is logged.
    fn revoke<'a>(
        &'a self,
        account: &'a LinkedAccount,
    ) -> LinkFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            let tokens = std::iter::once((&account.access_token, TokenKind::Access)).chain(
                account
                    .refresh_token
                    .as_ref()
                    .map(|r| (r, TokenKind::Refresh)),
            );
            let mut outcome = Ok(());
            for (token, kind) in tokens {
                if let Err(e) = self.oauth.revoke(token, kind).await {
                    tracing::warn!(error = %e, "X did not revoke a token");
                    outcome = Err(e);
                }
            }
            outcome
        })
    }
}

/// A refused code (spent, older than 30 s, another verifier) or token; anything else
/// may work if the person links again.
fn failure(e: PublishError) -> LinkFailure {
    tracing::warn!(error = %e, "X refused or failed the link");
    match e {
        PublishError::Permanent { .. } | PublishError::AuthRevoked { .. } => {
            LinkFailure::CodeRejected
        }
        _ => LinkFailure::NetworkUnavailable,
    }
}
