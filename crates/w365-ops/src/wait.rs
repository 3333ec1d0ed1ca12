//! Bounded polling with backoff.
//!
//! Every wait says what it waits for, checks immediately, then backs off exponentially up to a
//! ceiling (the second check no sooner than the policy's `second_check_after`, for work known to
//! take a while), and stops at a deadline. A timeout is a distinct outcome ([`WaitOutcome::TimedOut`]),
//! not a failure: the work being waited for is usually still running. Intervals and deadlines are
//! plain values ([`WaitPolicy`]) so tests can make them tiny.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long and how often to poll.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WaitPolicy {
    /// Delay before the second check (the first check is immediate).
    #[serde(with = "duration_ms")]
    pub initial_interval: Duration,
    /// Ceiling for the delay between checks.
    #[serde(with = "duration_ms")]
    pub max_interval: Duration,
    /// Factor applied to the delay after each check (>= 1.0).
    pub multiplier: f64,
    /// Give up (time out) after this long.
    #[serde(with = "duration_ms")]
    pub timeout: Duration,
    /// The least delay before the second check, for work known to take a while (license
    /// processing): after a first check that found it not done yet, the checks that could only
    /// answer "not yet" are saved. The first check is always at once: work that is done at once
    /// (a simulator, a tenant that was quick) costs no wait at all. Zero: the policy's intervals.
    #[serde(with = "duration_ms", default, alias = "first_check_after")]
    pub second_check_after: Duration,
}

impl WaitPolicy {
    pub const fn new(
        initial_interval: Duration,
        max_interval: Duration,
        timeout: Duration,
    ) -> Self {
        Self {
            initial_interval,
            max_interval,
            multiplier: 2.0,
            timeout,
            second_check_after: Duration::ZERO,
        }
    }

    /// The same policy, checking a second time no sooner than `delay` after the first.
    pub const fn with_second_check_after(mut self, delay: Duration) -> Self {
        self.second_check_after = delay;
        self
    }

    /// The same policy with another timeout.
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Delay after the `attempt`-th check (0-based).
    pub fn interval(&self, attempt: u32) -> Duration {
        let factor = self.multiplier.max(1.0).powi(attempt.min(64) as i32);
        let secs = self.initial_interval.as_secs_f64() * factor;
        let capped = secs.min(self.max_interval.as_secs_f64());
        Duration::from_secs_f64(capped.max(0.0))
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq)]
pub enum Check<T> {
    /// Done: stop waiting.
    Ready(T),
    /// Not yet; the text (if any) describes the current state (e.g. `provisioning`).
    Pending(Option<String>),
}

/// How a wait ended (errors of the check itself are returned separately, as `Err`).
#[derive(Debug, Clone, PartialEq)]
pub enum WaitOutcome<T> {
    Ready(T),
    TimedOut {
        waited: Duration,
        checks: u32,
        /// The last state seen, if the check described one.
        last_state: Option<String>,
    },
}

/// One progress report while waiting.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitTick<'a> {
    /// What is being waited for ("the Cloud PC to be provisioned").
    pub what: &'a str,
    /// The state last seen, if known.
    pub state: Option<&'a str>,
    /// Checks made so far.
    pub checks: u32,
    pub elapsed: Duration,
    /// Delay until the next check.
    pub next_check_in: Duration,
    pub timeout: Duration,
}

/// Polls `check` until it is ready, it fails, or `policy.timeout` passes.
/// `on_tick` is called after every check that was not ready (for spinners and logs).
pub async fn wait_for<T, E, F, Fut>(
    what: &str,
    policy: &WaitPolicy,
    mut on_tick: impl FnMut(&WaitTick<'_>),
    mut check: F,
) -> Result<WaitOutcome<T>, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Check<T>, E>>,
{
    let mut poll = Poll::start(policy).await;
    loop {
        let state = match check().await? {
            Check::Ready(value) => return Ok(WaitOutcome::Ready(value)),
            Check::Pending(state) => state,
        };
        let next = match poll.not_ready() {
            Ok(next) => next,
            Err(waited) => {
                return Ok(WaitOutcome::TimedOut {
                    waited,
                    checks: poll.checks,
                    last_state: state,
                });
            }
        };
        on_tick(&WaitTick {
            what,
            state: state.as_deref(),
            checks: poll.checks,
            elapsed: poll.elapsed(),
            next_check_in: next,
            timeout: policy.timeout,
        });
        tokio::time::sleep(next).await;
    }
}

/// The schedule of a polling loop under a [`WaitPolicy`], for loops that cannot be a
/// [`wait_for`] check (one pass over many items that changes them): the first check at once, the
/// second after the policy's first interval (at least `second_check_after`), then its growing
/// intervals until `timeout`.
#[derive(Debug)]
pub struct Poll<'a> {
    policy: &'a WaitPolicy,
    started: tokio::time::Instant,
    /// Checks that were not ready so far.
    pub checks: u32,
}

impl<'a> Poll<'a> {
    /// Starts the clock; the first check is due at once.
    pub async fn start(policy: &'a WaitPolicy) -> Self {
        let started = tokio::time::Instant::now();
        Self {
            policy,
            started,
            checks: 0,
        }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Counts a check that was not ready: `Ok(delay until the next check)`, or `Err(time
    /// waited)` when the timeout has passed.
    pub fn not_ready(&mut self) -> Result<Duration, Duration> {
        self.checks += 1;
        let elapsed = self.elapsed();
        if elapsed >= self.policy.timeout {
            return Err(elapsed);
        }
        let mut next = self.policy.interval(self.checks - 1);
        if self.checks == 1 {
            next = next.max(self.policy.second_check_after);
        }
        Ok(next.min(self.policy.timeout - elapsed))
    }
}

/// Formats a duration for people: `45s`, `2m 05s`, `1h 30m`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    if secs < 60 {
        if d.as_millis() < 10_000 && d.subsec_millis() != 0 {
            return format!("{:.1}s", d.as_secs_f64());
        }
        return format!("{secs}s");
    }
    if secs < 3600 {
        return format!("{}m {:02}s", secs / 60, secs % 60);
    }
    format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60)
}

/// Serde helper: a `Duration` as whole milliseconds.
pub(crate) mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    fn fast(timeout_ms: u64) -> WaitPolicy {
        WaitPolicy::new(
            Duration::from_millis(1),
            Duration::from_millis(4),
            Duration::from_millis(timeout_ms),
        )
    }

    #[test]
    fn interval_backs_off_up_to_the_ceiling() {
        let p = WaitPolicy::new(
            Duration::from_secs(1),
            Duration::from_secs(10),
            Duration::from_secs(60),
        );
        let got: Vec<u64> = (0..6).map(|a| p.interval(a).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(p.interval(u32::MAX), Duration::from_secs(10));
    }

    #[tokio::test]
    async fn ready_on_the_first_check_does_not_sleep_or_tick() {
        let mut ticks = 0;
        let out = wait_for::<_, Infallible, _, _>(
            "x",
            &fast(1000),
            |_| ticks += 1,
            || async { Ok(Check::Ready(7)) },
        )
        .await
        .unwrap();
        assert_eq!(out, WaitOutcome::Ready(7));
        assert_eq!(ticks, 0);
    }

    #[tokio::test]
    async fn polls_until_ready_and_reports_state() {
        let mut n = 0;
        let mut states = Vec::new();
        let out = wait_for::<_, Infallible, _, _>(
            "the thing",
            &fast(5_000),
            |t| states.push((t.what.to_owned(), t.state.map(str::to_owned), t.checks)),
            || {
                n += 1;
                let n = n;
                async move {
                    Ok(if n < 3 {
                        Check::Pending(Some(format!("step{n}")))
                    } else {
                        Check::Ready(n)
                    })
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(out, WaitOutcome::Ready(3));
        assert_eq!(
            states,
            vec![
                ("the thing".to_owned(), Some("step1".to_owned()), 1),
                ("the thing".to_owned(), Some("step2".to_owned()), 2)
            ]
        );
    }

    #[tokio::test]
    async fn times_out_with_the_last_state() {
        let out = wait_for::<u8, Infallible, _, _>(
            "never",
            &fast(30),
            |_| {},
            || async { Ok(Check::Pending(Some("provisioning".into()))) },
        )
        .await
        .unwrap();
        match out {
            WaitOutcome::TimedOut {
                waited,
                checks,
                last_state,
            } => {
                assert!(waited >= Duration::from_millis(30));
                assert!(checks >= 2);
                assert_eq!(last_state.as_deref(), Some("provisioning"));
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_first_check_is_at_once_and_the_second_can_be_delayed() {
        let policy = fast(5_000).with_second_check_after(Duration::from_millis(20));
        // Done at once: one check, nothing waited for.
        let mut ticks = 0;
        let out = wait_for::<_, Infallible, _, _>(
            "x",
            &policy,
            |_| ticks += 1,
            || async { Ok(Check::Ready(())) },
        )
        .await
        .unwrap();
        assert_eq!(out, WaitOutcome::Ready(()));
        assert_eq!(ticks, 0);
        // Not done at the first check: the second comes no sooner than `second_check_after`,
        // the later ones at the policy's intervals.
        let mut n = 0;
        let mut next = Vec::new();
        let started = std::time::Instant::now();
        let out = wait_for::<_, Infallible, _, _>(
            "x",
            &policy,
            |t| next.push(t.next_check_in),
            || {
                n += 1;
                let n = n;
                async move {
                    Ok(if n < 3 {
                        Check::Pending(None)
                    } else {
                        Check::Ready(n)
                    })
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(out, WaitOutcome::Ready(3));
        assert_eq!(
            next,
            [Duration::from_millis(20), Duration::from_millis(2)],
            "max(1 ms, 20 ms), then the doubled interval"
        );
        assert!(started.elapsed() >= Duration::from_millis(22));
    }

    #[tokio::test]
    async fn a_failing_check_stops_the_wait() {
        let err = wait_for::<u8, &str, _, _>("x", &fast(1000), |_| {}, || async { Err("boom") })
            .await
            .unwrap_err();
        assert_eq!(err, "boom");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(Duration::from_secs(45)), "45s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human_duration(Duration::from_millis(3)), "3ms");
        assert_eq!(human_duration(Duration::from_secs(125)), "2m 05s");
        assert_eq!(human_duration(Duration::from_secs(5400)), "1h 30m");
    }
}
