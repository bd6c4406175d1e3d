//! The one way Crosspost fetches a URL a user handed us (media, at intake and in every
//! network's worker): https only; no automatic redirects, at most [`MAX_REDIRECTS`]
//! followed by hand with every hop checked; every address a host resolves to checked
//! against [`crosspost_core::address`]; and the connection made to exactly the addresses
//! that were checked (the client's resolver is the check, so a name that answers a
//! public address to one lookup and loopback to the next cannot slip between them).
//!
//! A literal address in a URL never reaches a resolver, so each hop's host is checked
//! before its request leaves. Proxies from the environment are not used: the connection
//! goes to the checked address, nowhere else.

use crosspost_core::address::{self, NotPublic};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Most redirects followed for one URL.
pub const MAX_REDIRECTS: usize = 3;

/// Where fetches may go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchRules {
    /// Lets http and every address through (the local stack's own media server).
    pub allow_local: bool,
    /// Host names answered with a fixed address and taken for public hosts reachable
    /// over http: a test lets a local server stand in for a public host, so that every
    /// other hop meets the production rules (`MEDIA_STAND_INS`, `name=ip:port,…`).
    pub stand_ins: Vec<(String, SocketAddr)>,
}

impl FetchRules {
    /// Production: https to public addresses only.
    pub fn public() -> Self {
        FetchRules::default()
    }

    /// The rules a function is configured with: `MEDIA_HOSTS` read as `hosts`, and
    /// `MEDIA_STAND_INS` (tests only) when set.
    pub fn configured(
        hosts: crosspost_core::MediaHosts,
        stand_ins: Option<&str>,
    ) -> Result<Self, String> {
        Ok(FetchRules {
            allow_local: hosts == crosspost_core::MediaHosts::AllowLocal,
            stand_ins: Self::parse_stand_ins(stand_ins.unwrap_or_default())
                .map_err(|e| format!("MEDIA_STAND_INS: {e}"))?,
        })
    }

    /// Reads `name=ip:port` pairs separated by commas.
    pub fn parse_stand_ins(text: &str) -> Result<Vec<(String, SocketAddr)>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|pair| {
                let (name, addr) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("`{pair}` is not name=ip:port"))?;
                let addr = addr
                    .parse()
                    .map_err(|_| format!("`{addr}` is not an ip:port"))?;
                Ok((name.trim().to_ascii_lowercase(), addr))
            })
            .collect()
    }

    fn stand_in(&self, host: &str) -> Option<SocketAddr> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.stand_ins
            .iter()
            .find(|(name, _)| *name == host)
            .map(|(_, addr)| *addr)
    }
}

/// A DNS lookup: the addresses a host name has now.
pub type LookupFuture = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;

/// Resolves host names; the system resolver in production, a script in tests.
pub trait Lookup: Send + Sync {
    fn lookup(&self, host: &str) -> LookupFuture;
}

/// The system's resolver (getaddrinfo).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> LookupFuture {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// Why a fetch did not bring an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// A hop broke a rule: its scheme, its host, or an address it resolves to. `hop`
    /// names it (`the URL …` or `redirect 2 to …`), without its query.
    #[error("{hop} refused: {why}")]
    Refused { hop: String, why: String },
    /// The host could not be reached or answered too slowly.
    #[error("{hop}: {detail}")]
    Unreachable { hop: String, detail: String },
}

/// A host's addresses failed the check; carried through reqwest's error chain.
#[derive(Debug)]
enum AddressError {
    NotPublic(Box<NotPublic>),
    NoAddress(String),
    Lookup(String, std::io::Error),
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::NotPublic(n) => write!(f, "{n}"),
            AddressError::NoAddress(host) => write!(f, "{host} has no address"),
            AddressError::Lookup(host, e) => write!(f, "{host} does not resolve: {e}"),
        }
    }
}

impl std::error::Error for AddressError {}

/// The addresses of `host` when every one of them may be fetched.
async fn checked_addresses(
    rules: &FetchRules,
    lookup: &dyn Lookup,
    host: &str,
) -> Result<Vec<SocketAddr>, AddressError> {
    if let Some(addr) = rules.stand_in(host) {
        return Ok(vec![addr]);
    }
    let ips = lookup
        .lookup(host)
        .await
        .map_err(|e| AddressError::Lookup(host.to_owned(), e))?;
    if ips.is_empty() {
        return Err(AddressError::NoAddress(host.to_owned()));
    }
    if !rules.allow_local {
        for ip in &ips {
            address::check(*ip).map_err(AddressError::NotPublic)?;
        }
    }
    Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect())
}

/// The client's resolver: answers only addresses that passed the check, so the
/// connection goes to what was checked.
struct CheckingResolver {
    rules: Arc<FetchRules>,
    lookup: Arc<dyn Lookup>,
}

impl Resolve for CheckingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (rules, lookup) = (self.rules.clone(), self.lookup.clone());
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = checked_addresses(&rules, lookup.as_ref(), &host).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Fetches URLs under [`FetchRules`]; one per cold start, cheap to clone.
#[derive(Clone)]
pub struct CheckedFetcher {
    client: reqwest::Client,
    rules: Arc<FetchRules>,
    lookup: Arc<dyn Lookup>,
    /// Bounds a lookup and a connection.
    connect_timeout: Duration,
}

impl fmt::Debug for CheckedFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedFetcher")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

/// How a hop is named in errors: where it goes, without its query (a signed media URL
/// carries its credentials there).
fn hop_name(n: usize, url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let place = format!("{}://{host}{port}{}", url.scheme(), url.path());
    if n == 0 {
        format!("the URL {place}")
    } else {
        format!("redirect {n} to {place}")
    }
}

impl CheckedFetcher {
    /// A fetcher with the system's resolver; `connect_timeout` bounds each connection.
    pub fn new(rules: FetchRules, connect_timeout: Duration) -> Result<Self, reqwest::Error> {
        Self::with_lookup(rules, connect_timeout, Arc::new(SystemLookup))
    }

    /// A fetcher resolving names with `lookup` (tests script DNS answers with it).
    pub fn with_lookup(
        rules: FetchRules,
        connect_timeout: Duration,
        lookup: Arc<dyn Lookup>,
    ) -> Result<Self, reqwest::Error> {
        let rules = Arc::new(rules);
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::tls_config())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(connect_timeout)
            .dns_resolver(Arc::new(CheckingResolver {
                rules: rules.clone(),
                lookup: lookup.clone(),
            }))
            .user_agent(concat!("crosspost/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(CheckedFetcher {
            client,
            rules,
            lookup,
            connect_timeout,
        })
    }

    /// The rules of one hop that need no lookup: scheme, credentials, a literal address.
    fn check_hop(&self, n: usize, url: &Url) -> Result<(), FetchError> {
        let refuse = |why: String| FetchError::Refused {
            hop: hop_name(n, url),
            why,
        };
        let host = url.host_str().unwrap_or_default();
        let stand_in = !host.is_empty() && self.rules.stand_in(host).is_some();
        match url.scheme() {
            "https" => {}
            "http" if self.rules.allow_local || stand_in => {}
            other => return Err(refuse(format!("only https is fetched, not {other}"))),
        }
        if host.is_empty() {
            return Err(refuse("it has no host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("it carries credentials".into()));
        }
        if self.rules.allow_local {
            return Ok(());
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal {
            address::check(ip).map_err(|e| refuse(e.to_string()))?;
        }
        Ok(())
    }

    /// Checks `url` without fetching it: the hop rules and every address its host has
    /// now (intake's check; the fetch checks again when it connects). A host that does
    /// not resolve, or not within the connect timeout, is `Unreachable`.
    pub async fn check(&self, url: &str) -> Result<(), FetchError> {
        let url = Url::parse(url).map_err(|e| FetchError::Refused {
            hop: "the URL".into(),
            why: format!("not a URL: {e}"),
        })?;
        self.check_hop(0, &url)?;
        if let Some(url::Host::Domain(host)) = url.host() {
            if !self.rules.allow_local {
                let lookup = checked_addresses(&self.rules, self.lookup.as_ref(), host);
                tokio::time::timeout(self.connect_timeout, lookup)
                    .await
                    .map_err(|_| FetchError::Unreachable {
                        hop: hop_name(0, &url),
                        detail: format!("{host} did not resolve in time"),
                    })?
                    .map_err(|e| self.address_error(0, &url, e))?;
            }
        }
        Ok(())
    }

    fn address_error(&self, n: usize, url: &Url, e: AddressError) -> FetchError {
        let hop = hop_name(n, url);
        match e {
            AddressError::NotPublic(_) => FetchError::Refused {
                hop,
                why: e.to_string(),
            },
            other => FetchError::Unreachable {
                hop,
                detail: other.to_string(),
            },
        }
    }

    /// GETs `url`, following at most [`MAX_REDIRECTS`] redirects, each hop checked. The
    /// answer of the last hop is returned whatever its status; `timeout` bounds the
    /// whole fetch, every hop and the last answer's body included.
    pub async fn get(&self, url: &str, timeout: Duration) -> Result<reqwest::Response, FetchError> {
        let mut current = Url::parse(url).map_err(|e| FetchError::Refused {
            hop: "the URL".into(),
            why: format!("not a URL: {e}"),
        })?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut n = 0;
        loop {
            self.check_hop(n, &current)?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(FetchError::Unreachable {
                    hop: hop_name(n, &current),
                    detail: "timed out".into(),
                });
            }
            let resp = self
                .client
                .get(current.clone())
                .timeout(left)
                .send()
                .await
                .map_err(|e| self.transport_error(n, &current, e))?;
            let status = resp.status();
            if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Ok(resp);
            }
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| FetchError::Unreachable {
                    hop: hop_name(n, &current),
                    detail: format!("answered {} without a Location", status.as_u16()),
                })?;
            let next = current.join(location).map_err(|e| FetchError::Refused {
                hop: format!("redirect {} from {}", n + 1, hop_name(n, &current)),
                why: format!("its Location is not a URL: {e}"),
            })?;
            n += 1;
            if n > MAX_REDIRECTS {
                return Err(FetchError::Refused {
                    hop: hop_name(n, &next),
                    why: format!("more than {MAX_REDIRECTS} redirects"),
                });
            }
            current = next;
        }
    }

    /// A failed request: refused when the resolver refused the host's addresses.
    fn transport_error(&self, n: usize, url: &Url, e: reqwest::Error) -> FetchError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if let Some(refused) = err.downcast_ref::<AddressError>() {
                if let AddressError::NotPublic(n_p) = refused {
                    return FetchError::Refused {
                        hop: hop_name(n, url),
                        why: n_p.to_string(),
                    };
                }
                return FetchError::Unreachable {
                    hop: hop_name(n, url),
                    detail: refused.to_string(),
                };
            }
            source = err.source();
        }
        let detail = if e.is_timeout() {
            "timed out".to_owned()
        } else {
            // The URL is cut out: it may carry credentials in its query.
            let mut text = e.to_string();
            if let Some(u) = e.url() {
                text = text.replace(u.as_str(), "<url>");
            }
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            text
        };
        FetchError::Unreachable {
            hop: hop_name(n, url),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crosspost_fakes::{tiny_png, MediaHost};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// DNS answers given in turn; the last one repeats.
    struct Script(Mutex<Vec<Vec<IpAddr>>>);

    impl Script {
        fn new(answers: &[&[&str]]) -> Arc<Self> {
            Arc::new(Script(Mutex::new(
                answers
                    .iter()
                    .rev()
                    .map(|a| a.iter().map(|ip| ip.parse().unwrap()).collect())
                    .collect(),
            )))
        }
    }

    impl Lookup for Script {
        fn lookup(&self, _host: &str) -> LookupFuture {
            let mut answers = self.0.lock().unwrap();
            let next = if answers.len() > 1 {
                answers.pop().unwrap()
            } else {
                answers[0].clone()
            };
            Box::pin(async move { Ok(next) })
        }
    }

    /// A TCP listener on loopback counting the connections it accepts.
    async fn counting_listener() -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        tokio::spawn(async move {
            while let Ok((_socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        (addr, count)
    }

    /// Production rules, with `media.test` standing in for a public host served by `host`.
    fn fetcher(host: &MediaHost, lookup: Arc<dyn Lookup>) -> CheckedFetcher {
        let rules = FetchRules {
            allow_local: false,
            stand_ins: vec![("media.test".into(), host.addr())],
        };
        CheckedFetcher::with_lookup(rules, Duration::from_secs(2), lookup).unwrap()
    }

    fn public_url(host: &MediaHost, path: &str) -> String {
        format!("http://media.test:{}{path}", host.addr().port())
    }

    fn refused(e: FetchError) -> (String, String) {
        match e {
            FetchError::Refused { hop, why } => (hop, why),
            other => panic!("refused expected, got {other:?}"),
        }
    }

    const T: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_redirect_to_loopback_or_metadata_is_refused_before_any_request() {
        let public = MediaHost::start().await.unwrap();
        let internal = MediaHost::start().await.unwrap();
        internal.serve(
            "/latest/meta-data/iam/security-credentials/",
            "text/plain",
            b"role".to_vec(),
        );
        let f = fetcher(&public, Script::new(&[&["93.184.216.34"]]));
        for (path, location, named, why) in [
            (
                "/to-loopback",
                internal.url("/latest/meta-data/iam/security-credentials/"),
                format!(
                    "redirect 1 to http://127.0.0.1:{}/latest/meta-data/iam/security-credentials/",
                    internal.addr().port()
                ),
                "only https is fetched, not http",
            ),
            (
                "/to-loopback-https",
                format!(
                    "https://127.0.0.1:{}/latest/meta-data/",
                    internal.addr().port()
                ),
                format!(
                    "redirect 1 to https://127.0.0.1:{}/latest/meta-data/",
                    internal.addr().port()
                ),
                "127.0.0.1 is in 127.0.0.0/8 (loopback, RFC 1122)",
            ),
            (
                "/to-metadata",
                "https://169.254.169.254/latest/meta-data/".to_owned(),
                "redirect 1 to https://169.254.169.254/latest/meta-data/".to_owned(),
                "169.254.169.254 is in 169.254.0.0/16 (link local, RFC 3927)",
            ),
        ] {
            public.redirect(path, 302, &location);
            let (hop, reason) = refused(f.get(&public_url(&public, path), T).await.unwrap_err());
            assert_eq!(hop, named);
            assert_eq!(reason, why);
        }
        assert_eq!(internal.total_hits(), 0);
    }

    #[tokio::test]
    async fn an_internal_middle_hop_stops_the_chain() {
        let public = MediaHost::start().await.unwrap();
        let (internal, connections) = counting_listener().await;
        // public → internal.example (resolves to loopback) → public again.
        public.serve("/final.png", "image/png", tiny_png());
        public.redirect(
            "/start",
            307,
            &format!("https://internal.example:{}/hop", internal.port()),
        );
        let f = fetcher(&public, Script::new(&[&["127.0.0.1"]]));
        let (hop, why) = refused(f.get(&public_url(&public, "/start"), T).await.unwrap_err());
        assert_eq!(
            hop,
            format!(
                "redirect 1 to https://internal.example:{}/hop",
                internal.port()
            )
        );
        assert!(why.contains("loopback"), "{why}");
        assert_eq!(
            connections.load(Ordering::SeqCst),
            0,
            "no connection to the internal hop"
        );
        assert_eq!(public.hits("/final.png"), 0);
    }

    #[tokio::test]
    async fn a_name_that_rebinds_to_loopback_is_refused_on_the_connect() {
        let (inside, connections) = counting_listener().await;
        let public = MediaHost::start().await.unwrap();
        let f = fetcher(&public, Script::new(&[&["93.184.216.34"], &["127.0.0.1"]]));
        let url = format!("https://rebind.example:{}/a.png", inside.port());
        f.check(&url).await.expect("the first answer is public");
        let (hop, why) = refused(f.get(&url, T).await.unwrap_err());
        assert_eq!(
            hop,
            format!("the URL https://rebind.example:{}/a.png", inside.port())
        );
        assert!(why.starts_with("127.0.0.1 is in 127.0.0.0/8"), "{why}");
        assert_eq!(connections.load(Ordering::SeqCst), 0);
        // One internal address among public ones is enough to refuse.
        let mixed = fetcher(&public, Script::new(&[&["93.184.216.34", "10.0.0.7"]]));
        let (_, why) = refused(
            mixed
                .check("https://mixed.example/a.png")
                .await
                .unwrap_err(),
        );
        assert!(why.contains("private-use"), "{why}");
    }

    #[tokio::test]
    async fn three_redirects_are_followed_and_a_fourth_is_refused() {
        let public = MediaHost::start().await.unwrap();
        public.serve("/end.png", "image/png", tiny_png());
        for (from, to) in [("/r1", "/r2"), ("/r2", "/r3"), ("/r3", "/end.png")] {
            public.redirect(from, 301, to);
        }
        let f = fetcher(&public, Script::new(&[&["93.184.216.34"]]));
        let resp = f.get(&public_url(&public, "/r1"), T).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.bytes().await.unwrap().as_ref(), tiny_png().as_slice());

        public.redirect("/r0", 302, "/r1");
        let (hop, why) = refused(f.get(&public_url(&public, "/r0"), T).await.unwrap_err());
        assert!(hop.starts_with("redirect 4 to http://media.test:"), "{hop}");
        assert_eq!(why, "more than 3 redirects");
        assert_eq!(
            public.hits("/end.png"),
            1,
            "the fourth redirect was not followed"
        );
    }

    /// `url` is refused, checked or fetched, at its first hop, for a reason holding `why`.
    async fn refused_at_the_first_hop(f: &CheckedFetcher, url: &str, why: &str) {
        let (hop, reason) = refused(f.check(url).await.unwrap_err());
        assert!(hop.starts_with("the URL "), "{hop}");
        assert!(reason.contains(why), "{url}: {reason}");
        let (_, reason) = refused(f.get(url, T).await.unwrap_err());
        assert!(reason.contains(why), "{url}: {reason}");
    }

    #[tokio::test]
    async fn literal_internal_hosts_and_http_are_refused_at_the_first_hop() {
        let public = MediaHost::start().await.unwrap();
        let f = fetcher(&public, Script::new(&[&["93.184.216.34"]]));
        for (url, why) in [
            ("https://[::127.0.0.1]/a.png", "IPv4-compatible"),
            (
                "https://[64:ff9b::a9fe:a9fe]/a.png",
                "reaches 169.254.169.254",
            ),
            ("https://[2002:7f00:1::]/a.png", "6to4"),
            ("https://[fec0::1]/a.png", "site-local"),
            ("https://192.0.0.192/a.png", "IETF protocol assignments"),
            ("https://198.18.0.1/a.png", "benchmarking"),
            ("https://224.0.0.1/a.png", "multicast"),
            ("https://192.0.2.1/a.png", "documentation"),
            ("http://cdn.example/a.png", "only https"),
            ("https://user:pw@cdn.example/a.png", "credentials"),
        ] {
            refused_at_the_first_hop(&f, url, why).await;
        }
        // The hop is named without its query (signed URLs carry credentials there).
        let (hop, _) = refused(
            f.check("https://10.0.0.1/a.png?X-Amz-Signature=secret")
                .await
                .unwrap_err(),
        );
        assert_eq!(hop, "the URL https://10.0.0.1/a.png");
    }

    #[tokio::test]
    async fn other_spellings_of_internal_addresses_are_refused() {
        let public = MediaHost::start().await.unwrap();
        let f = fetcher(&public, Script::new(&[&["93.184.216.34"]]));
        for (url, why) in [
            // Decimal, hexadecimal, octal and short IPv4 forms (WHATWG URL parsing).
            ("https://2130706433/a.png", "127.0.0.1 is in 127.0.0.0/8"),
            ("https://0x7f.1/a.png", "127.0.0.1 is in 127.0.0.0/8"),
            ("https://017700000001/a.png", "127.0.0.1 is in 127.0.0.0/8"),
            ("https://0177.0.0.1/a.png", "127.0.0.1 is in 127.0.0.0/8"),
            ("https://127.1/a.png", "127.0.0.1 is in 127.0.0.0/8"),
            ("https://0xa9fea9fe/a.png", "169.254.169.254 is in"),
            ("https://0/a.png", "0.0.0.0 is in 0.0.0.0/8"),
            // IPv6 forms carrying an internal IPv4 address.
            ("https://[::ffff:7f00:1]/a.png", "reaches 127.0.0.1"),
            ("https://[::ffff:0:7f00:1]/a.png", "reserved by IETF"),
            ("https://[64:ff9b::7f00:1]/a.png", "reaches 127.0.0.1"),
            ("https://[2002:a9fe:a9fe::]/a.png", "6to4"),
            (
                "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/a.png",
                "TEREDO",
            ),
            ("https://[::1]/a.png", "loopback address"),
            ("https://[::]/a.png", "unspecified address"),
            ("https://[fe80::1]/a.png", "link-local unicast"),
            // Userinfo in front of an internal host, and a backslash before `@`.
            ("https://public.example@127.0.0.1/a.png", "credentials"),
            ("https://public.example:443@127.0.0.1/a.png", "credentials"),
            (
                "https://127.0.0.1\\@public.example/a.png",
                "127.0.0.1 is in",
            ),
            // A port does not make an internal address public.
            ("https://127.0.0.1:8443/a.png", "127.0.0.1 is in"),
            (
                "https://[::ffff:169.254.169.254]:80/a.png",
                "reaches 169.254.169.254",
            ),
        ] {
            refused_at_the_first_hop(&f, url, why).await;
        }
        // A zone id is not a URL host at all.
        for url in [
            "https://[fe80::1%25eth0]/a.png",
            "https://[fe80::1%eth0]/a.png",
        ] {
            let (_, reason) = refused(f.check(url).await.unwrap_err());
            assert!(reason.starts_with("not a URL"), "{url}: {reason}");
        }
    }

    #[tokio::test]
    async fn redirects_to_other_schemes_and_scheme_relative_internal_hosts_are_refused() {
        let public = MediaHost::start().await.unwrap();
        let internal = MediaHost::start().await.unwrap();
        let f = fetcher(&public, Script::new(&[&["93.184.216.34"]]));
        for (path, location, why) in [
            (
                "/relative",
                format!("//127.0.0.1:{}/x", internal.addr().port()),
                "only https is fetched, not http".to_owned(),
            ),
            (
                "/file",
                "file:///etc/passwd".to_owned(),
                "not file".to_owned(),
            ),
            (
                "/gopher",
                "gopher://127.0.0.1:6379/_INFO".to_owned(),
                "not gopher".to_owned(),
            ),
            (
                "/decimal",
                "https://2852039166/latest/meta-data/".to_owned(),
                "169.254.169.254 is in".to_owned(),
            ),
        ] {
            public.redirect(path, 302, &location);
            let (hop, reason) = refused(f.get(&public_url(&public, path), T).await.unwrap_err());
            assert!(hop.starts_with("redirect 1 to "), "{path}: {hop}");
            assert!(reason.contains(&why), "{path}: {reason}");
        }
        assert_eq!(internal.total_hits(), 0);
    }

    /// DNS that never answers.
    struct Silent;

    impl Lookup for Silent {
        fn lookup(&self, _host: &str) -> LookupFuture {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test]
    async fn a_name_whose_dns_never_answers_is_unreachable_not_a_hang() {
        let public = MediaHost::start().await.unwrap();
        let f = fetcher(&public, Arc::new(Silent));
        for result in [
            f.check("https://slow-dns.example/a.png").await,
            f.get("https://slow-dns.example/a.png", T).await.map(|_| ()),
        ] {
            match result {
                Err(FetchError::Unreachable { hop, .. }) => {
                    assert_eq!(hop, "the URL https://slow-dns.example/a.png")
                }
                other => panic!("unreachable expected, got {other:?}"),
            }
        }
    }

    /// A host on loopback whose every answer takes `delay`: `/hop0` to `/hop2` redirect
    /// to the next, `/hop3` is a PNG.
    async fn slow_redirect_chain(delay: Duration) -> SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let n = socket.read(&mut request).await.unwrap_or(0);
                    let line = String::from_utf8_lossy(&request[..n]).into_owned();
                    let hop: u8 = line
                        .split_once("/hop")
                        .and_then(|(_, rest)| rest.get(..1))
                        .and_then(|d| d.parse().ok())
                        .unwrap_or(0);
                    tokio::time::sleep(delay).await;
                    let answer = if hop < 3 {
                        format!(
                            "HTTP/1.1 302 Found\r\nlocation: /hop{}\r\n\
                             content-length: 0\r\nconnection: close\r\n\r\n",
                            hop + 1
                        )
                        .into_bytes()
                    } else {
                        let png = tiny_png();
                        let mut a = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\n\
                             content-length: {}\r\nconnection: close\r\n\r\n",
                            png.len()
                        )
                        .into_bytes();
                        a.extend_from_slice(&png);
                        a
                    };
                    let _ = socket.write_all(&answer).await;
                });
            }
        });
        addr
    }

    /// The timeout bounds the whole fetch, redirects included: a chain of hops each
    /// answering just inside it used to take four times as long (past the webhook's own
    /// 15 s for a preview).
    #[tokio::test]
    async fn the_timeout_bounds_the_whole_chain_not_each_hop() {
        let addr = slow_redirect_chain(Duration::from_millis(600)).await;
        let f = CheckedFetcher::new(
            FetchRules {
                allow_local: true,
                stand_ins: Vec::new(),
            },
            Duration::from_secs(2),
        )
        .unwrap();
        let url = format!("http://{addr}/hop0");
        match f.get(&url, Duration::from_secs(1)).await {
            Err(FetchError::Unreachable { detail, .. }) => {
                assert!(detail.contains("timed out"), "{detail}")
            }
            other => panic!("a timeout expected, got {other:?}"),
        }
        // With time for every hop it arrives.
        let resp = f.get(&url, Duration::from_secs(30)).await.unwrap();
        assert_eq!(resp.status(), 200);
    }

    #[tokio::test]
    async fn allow_local_lets_the_local_stack_fetch_its_own_server() {
        let host = MediaHost::start().await.unwrap();
        host.serve("/a.png", "image/png", tiny_png());
        let f = CheckedFetcher::new(
            FetchRules {
                allow_local: true,
                stand_ins: Vec::new(),
            },
            Duration::from_secs(2),
        )
        .unwrap();
        let resp = f.get(&host.url("/a.png"), T).await.unwrap();
        assert_eq!(resp.status(), 200);
    }

    #[test]
    fn stand_ins_parse_and_bad_ones_are_named() {
        assert_eq!(
            FetchRules::parse_stand_ins("Media.Test=127.0.0.1:8080, b.test=[::1]:9").unwrap(),
            vec![
                ("media.test".to_owned(), "127.0.0.1:8080".parse().unwrap()),
                ("b.test".to_owned(), "[::1]:9".parse().unwrap())
            ]
        );
        assert!(FetchRules::parse_stand_ins("").unwrap().is_empty());
        assert!(FetchRules::parse_stand_ins("media.test")
            .unwrap_err()
            .contains("media.test"));
        assert!(FetchRules::parse_stand_ins("a=b")
            .unwrap_err()
            .contains("`b`"));
    }
}
