//! A wrapper for tokens, secrets, codes and signatures so they never reach a log.

use std::fmt;

/// Holds a secret string. Debug and Display print `[REDACTED]`; only [`Secret::expose`]
/// gives the value, so every use that needs the plaintext is easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// A token as AccountsTable holds it: sealed with KMS (the `v1.<key>.<nonce>.<ct>` form
/// of `crosspost_aws::seal`). Only code holding the sealer opens it; Debug prints no
/// part of it, so a logged account shows nothing worth copying.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedToken(String);

impl SealedToken {
    /// Wraps a value that is already sealed (as read from the table or made by the
    /// sealer).
    pub fn new(sealed: impl Into<String>) -> Self {
        SealedToken(sealed.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SealedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedToken([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_its_value() {
        let s = Secret::new("tok-123");
        assert_eq!(
            format!("{s} {s:?} {:?}", Some(&s)),
            "[REDACTED] [REDACTED] Some([REDACTED])"
        );
        assert_eq!(s.expose(), "tok-123");
    }

    #[test]
    fn a_sealed_token_does_not_debug_print_either() {
        let s = SealedToken::new("v1.a.b.c");
        assert_eq!(format!("{s:?}"), "SealedToken([REDACTED])");
    }
}
