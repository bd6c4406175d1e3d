//! Time as the domain uses it: one [`Clock`] port that hands out "now", and the two
//! wire forms of an instant that the tables and the API use (RFC 3339 text, Unix
//! milliseconds). Core never reads the system clock; the functions pass a clock in.

use std::sync::Mutex;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Where "now" comes from: the system clock in the functions, a [`FixedClock`] in tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// An instant as Unix milliseconds (the tables' numeric time attributes).
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The instant `ms` Unix milliseconds, clamped to what `OffsetDateTime` can hold.
pub fn from_unix_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(if ms < 0 {
        OffsetDateTime::UNIX_EPOCH
    } else {
        // 9999-12-31, the largest instant every RFC 3339 writer accepts.
        OffsetDateTime::from_unix_timestamp(253_402_300_799).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    })
}

/// An instant as RFC 3339 text (the tables' and the API's text time attributes), in UTC.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    // Formatting fails only for years outside 0..=9999, which no clock here reaches.
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// RFC 3339 text read back; an Err names what did not parse.
pub fn parse_rfc3339(text: &str) -> Result<OffsetDateTime, BadTime> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| BadTime(text.to_owned()))
}

/// A stored time that is not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an RFC 3339 time")]
pub struct BadTime(pub String);

/// A clock that stands still until told to move: for tests of time-dependent rules.
#[derive(Debug)]
pub struct FixedClock(Mutex<OffsetDateTime>);

impl FixedClock {
    pub fn at(now: OffsetDateTime) -> Self {
        FixedClock(Mutex::new(now))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: time::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_wire_forms_round_trip() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_764_480_650_123_000_000).unwrap();
        assert_eq!(unix_ms(t), 1_764_480_650_123);
        assert_eq!(from_unix_ms(unix_ms(t)), t);
        assert_eq!(rfc3339(t), "2025-11-30T05:30:50.123Z");
        assert_eq!(parse_rfc3339(&rfc3339(t)), Ok(t));
        assert_eq!(parse_rfc3339("yesterday"), Err(BadTime("yesterday".into())));
    }

    #[test]
    fn a_fixed_clock_moves_only_when_told() {
        let c = FixedClock::at(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(c.now(), OffsetDateTime::UNIX_EPOCH);
        c.advance(time::Duration::seconds(5));
        assert_eq!(unix_ms(c.now()), 5_000);
    }
}
