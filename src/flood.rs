//! Flood control: how many lines a client may have processed, and when.
//!
//! A token bucket kept as one number, the time its next line would be due
//! at the sustained rate (the "generic cell rate algorithm"): a line is
//! allowed while that time is at most `burst` lines ahead of now. Eight
//! bytes per connection, no timer per client.

use crate::config::FloodConfig;
use std::time::Duration;

/// The rate limit every client gets, from `[flood]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodPolicy {
    /// Time between lines at the sustained rate, in milliseconds.
    interval_ms: u64,
    /// How far ahead of now a client may be: `burst` intervals.
    tolerance_ms: u64,
}

impl FloodPolicy {
    /// `None` when flood control is off.
    pub fn new(config: &FloodConfig) -> Option<FloodPolicy> {
        if !config.enabled {
            return None;
        }
        let interval_ms = 1000 / u64::from(config.lines_per_second.max(1));
        Some(FloodPolicy {
            interval_ms,
            tolerance_ms: interval_ms * u64::from(config.burst.max(1)),
        })
    }
}

/// One client's bucket. Times are milliseconds on the caller's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineBudget {
    /// When the client's next line would be due at the sustained rate.
    due_ms: u64,
}

impl LineBudget {
    /// Counts one line processed at `now_ms`.
    pub fn spend(&mut self, policy: &FloodPolicy, now_ms: u64) {
        self.due_ms = self.due_ms.max(now_ms) + policy.interval_ms;
    }

    /// Whether one more line may be processed at `now_ms`.
    pub fn allows(&self, policy: &FloodPolicy, now_ms: u64) -> bool {
        self.due_ms.max(now_ms) + policy.interval_ms <= now_ms + policy.tolerance_ms
    }

    /// How long until one more line is allowed.
    pub fn wait(&self, policy: &FloodPolicy, now_ms: u64) -> Duration {
        let ready_at = (self.due_ms + policy.interval_ms).saturating_sub(policy.tolerance_ms);
        Duration::from_millis(ready_at.saturating_sub(now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(burst: u32, per_second: u32) -> FloodPolicy {
        FloodPolicy::new(&FloodConfig {
            enabled: true,
            burst,
            lines_per_second: per_second,
            recvq_max: 1024,
        })
        .expect("enabled")
    }

    /// Lines processed when a client sends as fast as allowed for `ms`.
    fn lines_within(policy: &FloodPolicy, ms: u64) -> usize {
        let mut budget = LineBudget::default();
        let mut lines = 0;
        for now in 1000..1000 + ms {
            while budget.allows(policy, now) {
                budget.spend(policy, now);
                lines += 1;
            }
        }
        lines
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let p = policy(10, 2);
        assert_eq!(lines_within(&p, 1), 10, "the burst at once");
        // 10 at t=0, then one at every 500 ms up to and including t=5 s.
        assert_eq!(lines_within(&p, 5001), 10 + 10, "then 2 a second");
    }

    #[test]
    fn an_idle_client_gets_its_burst_back_but_no_more() {
        let p = policy(5, 1);
        let mut budget = LineBudget::default();
        for _ in 0..5 {
            assert!(budget.allows(&p, 0));
            budget.spend(&p, 0);
        }
        assert!(!budget.allows(&p, 0));
        assert_eq!(budget.wait(&p, 0), Duration::from_millis(1000));
        assert!(budget.allows(&p, 1000));
        let later = 1_000_000;
        for _ in 0..5 {
            assert!(budget.allows(&p, later));
            budget.spend(&p, later);
        }
        assert!(
            !budget.allows(&p, later),
            "an hour of silence is not saved up"
        );
    }

    #[test]
    fn off_means_no_policy() {
        let config = FloodConfig {
            enabled: false,
            ..FloodConfig::default()
        };
        assert_eq!(FloodPolicy::new(&config), None);
    }
}
