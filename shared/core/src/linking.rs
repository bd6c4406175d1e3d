//! Linking an account through the network's consent page (DESIGN section 8): the port
//! each network implements ([`Linker`]), the allow-list a return URL must match, the key
//! a pending link is stored under, and the address the browser is sent back to with
//! the outcome.

use crate::{AccountStatus, LinkedAccount, Network, PublishError, RefreshedTokens, Secret};
use sha2::{Digest, Sha256};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use url::{Host, Url};

/// The future a [`Linker`] answers with: boxed, because the connect function holds
/// one linker per network and picks one at run time.
pub type LinkFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The start of a link: the consent page to send the person to, and for networks that
/// use PKCE (RFC 7636; X) the code verifier to keep, sealed, with the pending link.
#[derive(Debug)]
pub struct Consent {
    pub authorize_url: String,
    /// Never put in a URL, a log or the table unsealed.
    pub verifier: Option<Secret>,
}

/// What the network's callback brings back to finish a link.
#[derive(Debug, Clone, Copy)]
pub struct Grant<'a> {
    /// Whose accounts the linked ones become.
    pub user_id: &'a str,
    /// The authorization code from the callback's query.
    pub code: &'a Secret,
    /// The verifier [`Linker::consent`] gave, opened again.
    pub verifier: Option<&'a Secret>,
    /// The callback URL the consent page was opened with, character for character.
    pub redirect_uri: &'a str,
    /// Now, in Unix seconds: the access token's expiry is counted from it.
    pub now_unix: i64,
}

impl Grant<'_> {
    /// A freshly linked account of this grant's user: ACTIVE, `token_version` 0, its
    /// access token expiring `tokens.expires_in_secs` from now (never, without one).
    pub fn account(
        &self,
        network: Network,
        account_id: impl Into<String>,
        display_name: impl Into<String>,
        tokens: RefreshedTokens,
    ) -> LinkedAccount {
        LinkedAccount {
            user_id: self.user_id.to_owned(),
            network,
            account_id: account_id.into(),
            display_name: display_name.into(),
            status: AccountStatus::Active,
            access_token: tokens.access_token,
            rate_limited_until: None,
            refresh_token: tokens.refresh_token,
            access_expires_at: tokens
                .expires_in_secs
                .map(|s| self.now_unix.saturating_add_unsigned(s)),
            token_version: 0,
        }
    }
}

/// One network's consent flow, as the connect function sees it: start, finish, and
/// withdraw the app's access when the person unlinks.
pub trait Linker: Send + Sync {
    /// The network this linker links accounts on.
    fn network(&self) -> Network;

    /// The consent page for `state` (the single-use value the callback must bring
    /// back), sending the person back to `redirect_uri`. Err: the page's URL cannot be
    /// built (configuration), in words for the log.
    fn consent(&self, redirect_uri: &str, state: &Secret) -> Result<Consent, String>;

    /// Exchanges the callback's code for tokens and names the accounts they reach: the
    /// accounts to store (one on X, every Page the person can publish on for Facebook),
    /// or why the link failed.
    fn finish<'a>(
        &'a self,
        grant: Grant<'a>,
    ) -> LinkFuture<'a, Result<Vec<LinkedAccount>, LinkFailure>>;

    /// Whether the network lets the app withdraw an account's tokens (RFC 7009 on X;
    /// Facebook offers the app no way to withdraw a Page token). Without it, unlinking
    /// only forgets the tokens.
    fn revokes_tokens(&self) -> bool {
        false
    }

    /// Withdraws the account's tokens at the network, where [`Linker::revokes_tokens`].
    /// A token the network does not know counts as withdrawn; Err is the last refusal.
    fn revoke<'a>(
        &'a self,
        _account: &'a LinkedAccount,
    ) -> LinkFuture<'a, Result<(), PublishError>> {
        Box::pin(async { Ok(()) })
    }
}

/// How long a pending link (its state and PKCE verifier) can be completed.
pub const STATE_LIFETIME_SECS: i64 = 600;
/// Longest return URL accepted.
const MAX_RETURN_URL: usize = 2048;

/// What a pending link is stored under: the SHA-256 of its state (hex). The state itself
/// is never stored, so reading the table gives nothing that completes a link.
pub fn state_digest(state: &Secret) -> String {
    Sha256::digest(state.expose().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where the source app may have the browser sent back after linking: each entry is an
/// `https://` origin, optionally with a path (http only for loopback, for development).
/// A return URL matches an entry with the same scheme, host and port whose path is the
/// entry's path or lies under it. Nothing else is ever redirected to: no open redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnUrls {
    allowed: Vec<Url>,
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The checks an allow-list entry and a return URL share.
fn parse_web_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("is not an absolute URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err("must be https (http only for localhost)".into()),
        other => return Err(format!("has scheme `{other}`; only https is allowed")),
    }
    if url.host().is_none() {
        return Err("has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    Ok(url)
}

impl ReturnUrls {
    /// Entries separated by commas or white space. An empty list allows nothing.
    pub fn parse(list: &str) -> Result<Self, String> {
        let allowed = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
            .map(|entry| {
                let url = parse_web_url(entry).map_err(|e| format!("`{entry}` {e}"))?;
                if url.query().is_some() || url.fragment().is_some() {
                    return Err(format!("`{entry}` must not have a query or fragment"));
                }
                Ok(url)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ReturnUrls { allowed })
    }

    /// The return URL, when an entry allows it; otherwise what is wrong with it.
    pub fn check(&self, candidate: &str) -> Result<Url, String> {
        if candidate.len() > MAX_RETURN_URL {
            return Err(format!("is longer than {MAX_RETURN_URL} characters"));
        }
        let url = parse_web_url(candidate)?;
        let allowed = self.allowed.iter().any(|entry| {
            entry.scheme() == url.scheme()
                && entry.host() == url.host()
                && entry.port_or_known_default() == url.port_or_known_default()
                && under(entry.path(), url.path())
        });
        if allowed {
            Ok(url)
        } else {
            Err("is not on the return URL allow-list (RETURN_URL_ALLOW_LIST)".into())
        }
    }
}

/// `path` is `base` or a path below it (segment by segment: `/app` does not allow
/// `/application`).
fn under(base: &str, path: &str) -> bool {
    let base = base.trim_end_matches('/');
    base.is_empty()
        || path == base
        || path
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Why a link did not happen, as the return URL's `reason` tells the source app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFailure {
    /// The person said no on the consent page.
    AccessDenied,
    /// The network sent back another error instead of a code.
    AuthorizationFailed,
    /// The link was started more than 10 minutes ago.
    StateExpired,
    /// The network came back with neither a code nor an error.
    MissingCode,
    /// The network refused the code (spent, too old, or not ours).
    CodeRejected,
    /// The network could not be reached or failed; linking again may work.
    NetworkUnavailable,
    /// Facebook: the person manages no Page they can publish on.
    NoPages,
    /// Crosspost could not record the account; linking again may work.
    ServerError,
}

impl LinkFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkFailure::AccessDenied => "access_denied",
            LinkFailure::AuthorizationFailed => "authorization_failed",
            LinkFailure::StateExpired => "state_expired",
            LinkFailure::MissingCode => "missing_code",
            LinkFailure::CodeRejected => "code_rejected",
            LinkFailure::NetworkUnavailable => "network_unavailable",
            LinkFailure::NoPages => "no_pages",
            LinkFailure::ServerError => "server_error",
        }
    }
}

impl fmt::Display for LinkFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a link ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    /// Linked: one account on X, one or more Pages on Facebook.
    Linked {
        network: Network,
        account_ids: Vec<String>,
    },
    Failed {
        network: Network,
        reason: LinkFailure,
    },
}

/// The return URL with the outcome added to its query:
/// `status=linked&network=…&account_id=…` (one `account_id` per account) or
/// `status=error&network=…&reason=…`.
pub fn return_to(return_url: &Url, outcome: &LinkOutcome) -> String {
    let mut url = return_url.clone();
    {
        let mut q = url.query_pairs_mut();
        match outcome {
            LinkOutcome::Linked {
                network,
                account_ids,
            } => {
                q.append_pair("status", "linked");
                q.append_pair("network", network.as_str());
                for id in account_ids {
                    q.append_pair("account_id", id);
                }
            }
            LinkOutcome::Failed { network, reason } => {
                q.append_pair("status", "error");
                q.append_pair("network", network.as_str());
                q.append_pair("reason", reason.as_str());
            }
        }
    }
    url.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> ReturnUrls {
        ReturnUrls::parse(
            "https://app.example.com/settings/linked, https://m.example.com http://localhost:5173",
        )
        .unwrap()
    }

    #[test]
    fn return_urls_on_the_list_are_allowed() {
        let l = list();
        for ok in [
            "https://app.example.com/settings/linked",
            "https://app.example.com/settings/linked/x?tab=2",
            "https://APP.example.com:443/settings/linked",
            "https://m.example.com/anything#frag",
            "http://localhost:5173/cb",
        ] {
            assert!(l.check(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn everything_else_is_refused_with_the_reason() {
        let l = list();
        for (bad, why) in [
            ("https://evil.example.com/settings/linked", "allow-list"),
            ("https://app.example.com/settings/linkedin", "allow-list"),
            ("https://app.example.com/other", "allow-list"),
            (
                "https://app.example.com.evil.io/settings/linked",
                "allow-list",
            ),
            ("https://app.example.com:8443/settings/linked", "allow-list"),
            ("http://app.example.com/settings/linked", "https"),
            ("http://localhost:5174/cb", "allow-list"),
            ("https://user:pw@m.example.com/", "user name"),
            ("javascript:alert(1)", "scheme"),
            ("//m.example.com/x", "absolute"),
            ("/relative", "absolute"),
        ] {
            let e = l.check(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(l
            .check(&format!("https://m.example.com/{}", "a".repeat(3000)))
            .is_err());
        assert!(ReturnUrls::parse("")
            .unwrap()
            .check("https://m.example.com")
            .is_err());
    }

    #[test]
    fn a_bad_list_entry_is_named() {
        let e = ReturnUrls::parse("https://ok.example.com, http://plain.example.com").unwrap_err();
        assert!(e.contains("http://plain.example.com"), "{e}");
        assert!(ReturnUrls::parse("https://a.example.com/?x=1").is_err());
    }

    #[test]
    fn the_outcome_is_added_to_the_return_url() {
        let url = Url::parse("https://app.example.com/linked?tab=accounts").unwrap();
        let linked = LinkOutcome::Linked {
            network: Network::Facebook,
            account_ids: vec!["1".into(), "2".into()],
        };
        assert_eq!(
            return_to(&url, &linked),
            "https://app.example.com/linked?tab=accounts&status=linked&network=facebook&account_id=1&account_id=2"
        );
        let failed = LinkOutcome::Failed {
            network: Network::X,
            reason: LinkFailure::AccessDenied,
        };
        assert_eq!(
            return_to(
                &Url::parse("https://app.example.com/l#top").unwrap(),
                &failed
            ),
            "https://app.example.com/l?status=error&network=x&reason=access_denied#top"
        );
    }

    #[test]
    fn a_granted_account_starts_active_with_its_expiry_counted_from_now() {
        let code = Secret::new("c");
        let grant = Grant {
            user_id: "u1",
            code: &code,
            verifier: None,
            redirect_uri: "https://api.example.com/v1/oauth/x/callback",
            now_unix: 1_800_000_000,
        };
        let tokens = |expires_in_secs| RefreshedTokens {
            access_token: Secret::new("a"),
            refresh_token: None,
            expires_in_secs,
        };
        let x = grant.account(Network::X, "42", "@p", tokens(Some(7200)));
        assert_eq!(
            (x.user_id.as_str(), x.account_id.as_str(), x.status),
            ("u1", "42", AccountStatus::Active)
        );
        assert_eq!(x.access_expires_at, Some(1_800_007_200));
        assert_eq!((x.token_version, x.rate_limited_until), (0, None));
        let page = grant.account(Network::Facebook, "104", "Tea House", tokens(None));
        assert_eq!(page.access_expires_at, None, "Page tokens do not expire");
    }

    #[test]
    fn the_state_is_stored_only_as_its_digest() {
        let d = state_digest(&Secret::new("abc"));
        assert_eq!(
            d,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
