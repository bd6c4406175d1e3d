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
        match self.optional("HTTP_TIMEOUT_MS") {
            None => Ok(std::time::Duration::from_secs(20)),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms > 0)
                .map(std::time::Duration::from_millis)
                .ok_or(ConfigError::Invalid {
                    name: "HTTP_TIMEOUT_MS",
                    reason: format!("`{v}` is not a positive whole number of milliseconds"),
                }),
        }
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
