//! Linking Facebook Pages ([`Linker`], on [`FacebookLogin`] itself): the login dialog,
//! the code for a user token, a long-lived one, and every Page the person can publish
//! on, each linked with its Page token (which does not expire).

use super::oauth::{FacebookLogin, LinkError};
use crosspost_core::linking::{Consent, Grant, LinkFailure, LinkFuture, Linker};
use crosspost_core::{LinkedAccount, Network, RefreshedTokens, Secret};

impl Linker for FacebookLogin {
    fn network(&self) -> Network {
        Network::Facebook
    }

    /// The login dialog; Facebook Login needs no PKCE verifier from a confidential app.
    fn consent(&self, redirect_uri: &str, state: &Secret) -> Result<Consent, String> {
        let authorize_url = self
            .authorize_url(redirect_uri, state.expose())
            .map_err(|e| e.to_string())?;
        Ok(Consent {
            authorize_url,
            verifier: None,
        })
    }

    /// No Page the person can publish on (task `CREATE_CONTENT` or `MANAGE`) is
    /// [`LinkFailure::NoPages`].
    fn finish<'a>(
        &'a self,
        grant: Grant<'a>,
    ) -> LinkFuture<'a, Result<Vec<LinkedAccount>, LinkFailure>> {
        Box::pin(async move {
            let short = self
                .exchange_code(grant.code, grant.redirect_uri)
                .await
                .map_err(failure)?;
            let long = self.long_lived(&short.token).await.map_err(failure)?;
            let pages: Vec<LinkedAccount> = self
                .pages(&long.token)
                .await
                .map_err(failure)?
                .into_iter()
                .filter(|p| p.can_publish())
                .map(|page| {
                    let tokens = RefreshedTokens {
                        access_token: page.page_token,
                        refresh_token: None,
                        expires_in_secs: None,
                    };
                    grant.account(Network::Facebook, page.page_id, page.name, tokens)
                })
                .collect();
            if pages.is_empty() {
                return Err(LinkFailure::NoPages);
            }
            Ok(pages)
        })
    }
}

fn failure(e: LinkError) -> LinkFailure {
    tracing::warn!(error = %e, "Facebook refused or failed the link");
    match e {
        LinkError::Refused { .. } => LinkFailure::CodeRejected,
        LinkError::Unavailable { .. } => LinkFailure::NetworkUnavailable,
        LinkError::Unexpected { .. } => LinkFailure::AuthorizationFailed,
    }
}
