//! Fault injection: "the next N requests matching M get fault F".
//!
//! Both fakes keep a [`Faults`] queue; the shared server code consults it for every
//! request before the fake's own handler runs (see `server::entry`).

use std::sync::Mutex;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde_json::Value;

use crate::server::lock;

/// What a fake does to a request that matches a [`FaultRule`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status and JSON body instead; the request has no effect.
    /// `headers` are set on the answer (replacing a header of the same name).
    Respond {
        status: u16,
        body: Value,
        headers: Vec<(String, String)>,
    },
    /// Answer this (5xx) status with the network's own error body; the request has no
    /// effect. X: problem JSON. Facebook: `{"error":{...}}` with code 1 for 500 and
    /// code 2 ("temporarily unavailable") for any other status.
    ServerError(u16),
    /// Answer as the network does when a rate limit is hit; the request has no effect.
    /// X: 429 with `x-rate-limit-limit`, `x-rate-limit-remaining: 0` and
    /// `x-rate-limit-reset: <reset_unix>`. Facebook: 400 with error code 32 and an
    /// `X-Business-Use-Case-Usage` header at 100% (with `estimated_time_to_regain_access`
    /// in minutes until `reset_unix`) when the request carries a known Page token,
    /// otherwise error code 4 and an `X-App-Usage` header at 100%.
    RateLimited { reset_unix: i64 },
    /// Apply the request when it arrives, but send the (normal) answer only after this
    /// delay — or at once when the server shuts down.
    Slow(Duration),
    /// Close the connection without writing a byte of answer (the fake sends a TCP
    /// reset); the request has no effect. Recorded with status 0.
    ResetConnection,
    /// Apply the request (e.g. the post IS created and recorded) but never answer: the
    /// connection is held open until the client gives up or the server shuts down (the
    /// fake then drops it without an answer). Recorded with status 0.
    AcceptThenHang,
    /// Never answer and never apply the request (a network that stalls before doing
    /// anything): the connection is held until the client gives up or the server shuts
    /// down. Recorded with status 0.
    Hang,
    /// Like [`Fault::RateLimited`], with the window ending this long after the request
    /// arrives (for faults injected ahead of time, e.g. at random).
    RateLimitedFor(Duration),
    /// Apply the request (the post IS created), then answer this 5xx status with the
    /// network's server-error body, as a network that fails after doing the work.
    AppliedThenServerError(u16),
    /// Apply the request, then reset the connection without an answer. Recorded with
    /// status 0.
    AppliedThenReset,
    /// Apply the request and answer normally, with these extra headers (replacing a
    /// header of the same name), e.g. Facebook usage headers at 95%.
    WithHeaders(Vec<(String, String)>),
}

impl Fault {
    /// [`Fault::RateLimited`] with the limit window ending at `unix_secs`.
    pub fn rate_limited_until(unix_secs: i64) -> Fault {
        Fault::RateLimited {
            reset_unix: unix_secs,
        }
    }

    fn headers(&self) -> &[(String, String)] {
        match self {
            Fault::Respond { headers, .. } | Fault::WithHeaders(headers) => headers,
            _ => &[],
        }
    }
}

/// Which requests get a [`Fault`], and how many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// HTTP method to match (case-insensitive); `None` matches any.
    pub method: Option<String>,
    /// Substring the request path (without the query string) must contain; `None`
    /// matches any.
    pub path_contains: Option<String>,
    /// How many matching requests still get the fault. A rule is dropped when it
    /// reaches 0 (a rule injected with 0 never fires).
    pub times: usize,
    /// Matching requests let through untouched before the fault starts.
    pub skip: usize,
    pub fault: Fault,
}

impl FaultRule {
    /// `fault` for the next request, whatever it is.
    pub fn new(fault: Fault) -> Self {
        FaultRule {
            method: None,
            path_contains: None,
            times: 1,
            skip: 0,
            fault,
        }
    }

    /// Let the first `n` matching requests through untouched (e.g. the fault hits the
    /// third part of a thread).
    pub fn after(mut self, n: usize) -> Self {
        self.skip = n;
        self
    }

    /// Only requests with this method whose path contains `path_contains`.
    pub fn on(mut self, method: &str, path_contains: &str) -> Self {
        self.method = Some(method.to_owned());
        self.path_contains = Some(path_contains.to_owned());
        self
    }

    /// The next `n` matching requests instead of only the next one.
    pub fn times(mut self, n: usize) -> Self {
        self.times = n;
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.times > 0
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

/// Faults for a share of the matching requests, drawn from a seeded generator so a
/// run can be repeated.
#[derive(Debug, Clone)]
pub struct RandomFaults {
    /// Share of matching requests that get a fault, from 0 to 1.
    pub probability: f64,
    /// The kinds to draw from, equally likely.
    pub faults: Vec<Fault>,
    pub method: Option<String>,
    pub path_contains: Option<String>,
    pub seed: u64,
}

/// Injected rules of one fake, in injection order, and random faults if any.
#[derive(Default)]
pub(crate) struct Faults(Mutex<Vec<FaultRule>>, Mutex<Option<(RandomFaults, u64)>>);

impl Faults {
    /// Appends a rule.
    ///
    /// # Panics
    ///
    /// When a header name or value of the fault is not valid HTTP: a bug in the test,
    /// better reported where the rule is made than as a broken answer later.
    pub fn push(&self, rule: FaultRule) {
        for (name, value) in rule.fault.headers() {
            assert!(
                HeaderName::from_bytes(name.as_bytes()).is_ok()
                    && HeaderValue::from_str(value).is_ok(),
                "invalid header in fault rule: {name:?}: {value:?}"
            );
        }
        if rule.times > 0 {
            lock(&self.0).push(rule);
        }
    }

    /// Faults still to be delivered (the sum of the rules' remaining `times`).
    pub fn pending(&self) -> usize {
        lock(&self.0).iter().map(|rule| rule.times).sum()
    }

    /// The fault for a request: from the first rule that matches it, which is used up
    /// by one.
    pub fn take(&self, method: &str, path: &str) -> Option<Fault> {
        let mut rules = lock(&self.0);
        let Some(index) = rules.iter().position(|rule| rule.matches(method, path)) else {
            drop(rules);
            return self.draw(method, path);
        };
        let rule = &mut rules[index];
        if rule.skip > 0 {
            rule.skip -= 1;
            return None;
        }
        rule.times -= 1;
        let fault = rule.fault.clone();
        if rule.times == 0 {
            rules.remove(index);
        }
        Some(fault)
    }

    pub fn set_random(&self, random: Option<RandomFaults>) {
        *lock(&self.1) = random.map(|r| {
            let seed = r.seed;
            (r, seed)
        });
    }

    /// A random fault for a matching request, with the configured probability.
    fn draw(&self, method: &str, path: &str) -> Option<Fault> {
        let mut random = lock(&self.1);
        let (config, state) = random.as_mut()?;
        let matches = config
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && config
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p));
        if !matches || config.faults.is_empty() {
            return None;
        }
        let mut next = || {
            // A 64-bit LCG (Knuth's MMIX constants): plenty for spreading faults.
            *state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (*state >> 11) as f64 / (1u64 << 53) as f64
        };
        if next() >= config.probability {
            return None;
        }
        let pick = (next() * config.faults.len() as f64) as usize;
        config
            .faults
            .get(pick.min(config.faults.len() - 1))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_used_in_order_and_used_up() {
        let faults = Faults::default();
        faults.push(FaultRule::new(Fault::ServerError(503)).on("post", "/tweets"));
        faults.push(FaultRule::new(Fault::ServerError(500)).times(2));
        faults.push(FaultRule::new(Fault::ResetConnection).times(0));
        assert_eq!(faults.pending(), 3);
        assert_eq!(
            faults.take("GET", "/2/users/me"),
            Some(Fault::ServerError(500))
        );
        assert_eq!(
            faults.take("POST", "/2/tweets"),
            Some(Fault::ServerError(503))
        );
        assert_eq!(
            faults.take("POST", "/2/tweets"),
            Some(Fault::ServerError(500))
        );
        assert_eq!(faults.pending(), 0);
        assert_eq!(faults.take("POST", "/2/tweets"), None);
    }

    #[test]
    fn after_lets_requests_through_first() {
        let faults = Faults::default();
        faults.push(FaultRule::new(Fault::Hang).on("POST", "/tweets").after(2));
        assert_eq!(faults.take("POST", "/2/tweets"), None);
        assert_eq!(faults.take("GET", "/2/users/me"), None);
        assert_eq!(faults.take("POST", "/2/tweets"), None);
        assert_eq!(faults.take("POST", "/2/tweets"), Some(Fault::Hang));
        assert_eq!(faults.take("POST", "/2/tweets"), None);
    }

    #[test]
    fn random_faults_hit_about_their_share_and_repeat_with_the_seed() {
        let run = |seed| {
            let faults = Faults::default();
            faults.set_random(Some(RandomFaults {
                probability: 0.2,
                faults: vec![Fault::ServerError(503), Fault::ResetConnection],
                method: Some("POST".into()),
                path_contains: None,
                seed,
            }));
            (0..1000)
                .map(|_| faults.take("POST", "/2/tweets"))
                .collect::<Vec<_>>()
        };
        let a = run(7);
        let hits = a.iter().filter(|f| f.is_some()).count();
        assert!((150..250).contains(&hits), "{hits}");
        assert!(
            a.contains(&Some(Fault::ResetConnection)) && a.contains(&Some(Fault::ServerError(503)))
        );
        assert_eq!(a, run(7));
    }

    #[test]
    #[should_panic(expected = "invalid header")]
    fn bad_headers_are_refused_at_once() {
        Faults::default().push(FaultRule::new(Fault::WithHeaders(vec![(
            "bad name".to_owned(),
            "v".to_owned(),
        )])));
    }
}
