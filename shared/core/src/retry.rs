//! When a delivery that failed for now is tried again, and when it stops trying.

use std::time::Duration;

/// The longest SQS lets a message stay invisible.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first retry waits up to this long.
    pub base: Duration,
    /// No retry waits longer than this.
    pub cap: Duration,
    /// After this many attempts the delivery fails.
    pub max_attempts: u32,
    /// A delivery not done this long after the post arrived fails as `expired`.
    pub max_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(15 * 60),
            max_attempts: 8,
            max_age: Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with full jitter: uniformly random between zero and
    /// `min(cap, base · 2^(attempt-1))`. `unit` is a random number in [0, 1) the caller
    /// draws, so the policy stays pure and testable.
    pub fn backoff(&self, attempt: u32, unit: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let ceiling = self
            .base
            .checked_mul(1u32 << exp)
            .unwrap_or(self.cap)
            .min(self.cap);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait before the next attempt: the network's own time when it gave one (never
    /// shorter), otherwise the backoff; never more than SQS allows.
    pub fn next_wait(&self, attempt: u32, unit: f64, network_says: Option<Duration>) -> Duration {
        let wait = match network_says {
            Some(d) => d.max(self.backoff(attempt, unit)),
            None => self.backoff(attempt, unit),
        };
        wait.min(MAX_VISIBILITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_and_jitter_spans_zero_to_the_ceiling() {
        let p = RetryPolicy {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff(1, 1.0), Duration::from_secs(2));
        assert_eq!(p.backoff(3, 1.0), Duration::from_secs(8));
        assert_eq!(p.backoff(10, 1.0), Duration::from_secs(60));
        assert_eq!(p.backoff(100, 1.0), Duration::from_secs(60));
        assert_eq!(p.backoff(3, 0.0), Duration::ZERO);
        assert_eq!(p.backoff(3, 0.5), Duration::from_secs(4));
    }

    #[test]
    fn the_network_time_wins_and_nothing_exceeds_twelve_hours() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.next_wait(1, 0.0, Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
        assert_eq!(
            p.next_wait(1, 0.0, Some(Duration::from_secs(48 * 3600))),
            MAX_VISIBILITY
        );
    }
}
