//! Reading a function's configuration from its environment once, at start-up.

/// A variable that is missing or malformed; start-up stops with its name.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// The process environment, read through one seam so tests can hand in their own.
pub struct Env<F: Fn(&str) -> Option<String>> {
    lookup: F,
}

impl Env<fn(&str) -> Option<String>> {
    pub fn process() -> Self {
        Env {
            lookup: |name| std::env::var(name).ok(),
        }
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn from_fn(lookup: F) -> Self {
        Env { lookup }
    }

    /// A variable that may be left unset (or empty).
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        match (self.lookup)(name) {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(ConfigError::Missing(name)),
        }
    }

    /// Where media may be fetched from (MEDIA_HOSTS: `public`, the default, or
    /// `allow-local` for the local stack's own loopback media server).
    pub fn media_hosts(&self) -> Result<crosspost_core::MediaHosts, ConfigError> {
        match self.optional("MEDIA_HOSTS").as_deref() {
            None | Some("public") => Ok(crosspost_core::MediaHosts::PublicOnly),
            Some("allow-local") => Ok(crosspost_core::MediaHosts::AllowLocal),
            Some(other) => Err(ConfigError::Invalid {
                name: "MEDIA_HOSTS",
                reason: format!("`{other}` (public or allow-local)"),
            }),
        }
    }

    /// How long a network call may take (HTTP_TIMEOUT_MS, default 20 s).
    pub fn http_timeout(&self) -> Result<std::time::Duration, ConfigError> {
        self.millis("HTTP_TIMEOUT_MS", 20_000, 1)
    }

    /// How long an attempt waits for a network to process an uploaded GIF or video
    /// (MEDIA_PROCESSING_MS, default 20 s; 0 waits for nothing): past it the upload is
    /// recorded and the next attempt asks again.
    pub fn media_processing_budget(&self) -> Result<std::time::Duration, ConfigError> {
        self.millis("MEDIA_PROCESSING_MS", 20_000, 0)
    }

    /// A whole number of milliseconds of at least `least` in `name`, else `default`.
    fn millis(
        &self,
        name: &'static str,
        default: u64,
        least: u64,
    ) -> Result<std::time::Duration, ConfigError> {
        let ms = match self.optional(name) {
            None => default,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms >= least)
                .ok_or(ConfigError::Invalid {
                    name,
                    reason: format!(
                        "`{v}` is not a whole number of milliseconds of at least {least}"
                    ),
                })?,
        };
        Ok(std::time::Duration::from_millis(ms))
    }

    /// A base URL: http or https, without a trailing slash.
    pub fn base_url(&self, name: &'static str) -> Result<String, ConfigError> {
        let v = self.required(name)?;
        if !(v.starts_with("https://") || v.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name,
                reason: "must start with https:// or http://".into(),
            });
        }
        Ok(v.trim_end_matches('/').to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_bad_variables_are_named() {
        let env = Env::from_fn(|n| match n {
            "GOOD" => Some("https://api.x.com/".into()),
            "BAD" => Some("api.x.com".into()),
            "EMPTY" => Some(" ".into()),
            _ => None,
        });
        assert_eq!(env.base_url("GOOD").unwrap(), "https://api.x.com");
        assert!(env.base_url("BAD").unwrap_err().to_string().contains("BAD"));
        assert!(env
            .required("EMPTY")
            .unwrap_err()
            .to_string()
            .contains("EMPTY"));
        assert!(env
            .required("NOPE")
            .unwrap_err()
            .to_string()
            .contains("NOPE"));
    }

    #[test]
    fn times_are_whole_milliseconds_with_defaults() {
        use std::time::Duration;
        let env = |name: &'static str, v: &'static str| {
            Env::from_fn(move |n| (n == name).then(|| v.to_owned()))
        };
        let none = Env::from_fn(|_| None);
        assert_eq!(none.http_timeout().unwrap(), Duration::from_secs(20));
        assert_eq!(
            none.media_processing_budget().unwrap(),
            Duration::from_secs(20)
        );
        assert_eq!(
            env("HTTP_TIMEOUT_MS", " 3000").http_timeout().unwrap(),
            Duration::from_secs(3)
        );
        // No wait at all is a budget, not a timeout.
        assert_eq!(
            env("MEDIA_PROCESSING_MS", "0")
                .media_processing_budget()
                .unwrap(),
            Duration::ZERO
        );
        for (name, v) in [
            ("HTTP_TIMEOUT_MS", "0"),
            ("HTTP_TIMEOUT_MS", "2s"),
            ("MEDIA_PROCESSING_MS", "-1"),
        ] {
            let e = env(name, v);
            let refused = if name == "HTTP_TIMEOUT_MS" {
                e.http_timeout().unwrap_err()
            } else {
                e.media_processing_budget().unwrap_err()
            };
            assert!(refused.to_string().contains(name), "{refused}");
        }
    }

    #[test]
    fn media_hosts_are_public_unless_set_to_allow_local() {
        let hosts = |v: &'static str| {
            Env::from_fn(move |n| (n == "MEDIA_HOSTS").then(|| v.to_owned())).media_hosts()
        };
        assert_eq!(
            hosts("allow-local").unwrap(),
            crosspost_core::MediaHosts::AllowLocal
        );
        assert_eq!(
            hosts("public").unwrap(),
            crosspost_core::MediaHosts::PublicOnly
        );
        assert!(hosts("anything")
            .unwrap_err()
            .to_string()
            .contains("MEDIA_HOSTS"));
        assert_eq!(
            Env::from_fn(|_| None).media_hosts().unwrap(),
            crosspost_core::MediaHosts::PublicOnly
        );
    }
}
