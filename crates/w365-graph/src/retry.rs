//! Retry decisions: 429, 503, 504 and connection errors are retried; `Retry-After` (seconds or
//! HTTP-date) wins over exponential backoff with jitter; attempts and total wait are bounded.
//! No other 4xx is ever retried.
//!
//! # Resending only what is safe to repeat
//!
//! A request Graph may already have processed is not resent blindly. What is safe depends on the
//! failure ([`Failure`]) and on the request ([`Idempotency`], declared per request by the resource
//! handlers):
//!
//! - **429** — Graph throttled the request: "Microsoft Graph limits any further requests from that
//!   client app for some time ... and the requests fail"
//!   (<https://learn.microsoft.com/graph/throttling>): it was not processed, so any method may be
//!   resent after `Retry-After`.
//! - **No connection was made** (refused, DNS, TLS handshake): nothing reached Graph; any method
//!   may be resent.
//! - **503/504, or the connection broke after the request was sent** (timeout, reset while
//!   waiting for the answer): Graph may have done the work. Only an [`Idempotency::Idempotent`]
//!   request is resent; any other request ends in [`crate::Error::OutcomeUnknown`] ("outcome
//!   unknown, not resent"), so a mail is never sent twice and an action never runs twice.

use std::time::{Duration, SystemTime};

use reqwest::Method;

use backon::{BackoffBuilder, ExponentialBuilder};

/// How the client retries transient failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, including the first one (1 = never retry).
    pub max_attempts: u32,
    /// Upper bound on the sum of all waits; a wait that would exceed it ends the retries.
    pub max_total_wait: Duration,
    /// First backoff delay (doubles each retry, with jitter).
    pub base_delay: Duration,
    /// Cap on one backoff delay (a `Retry-After` from the service may exceed it, within the total budget).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            max_total_wait: Duration::from_secs(120),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// An exponential backoff with jitter (backon) for this policy.
    pub(crate) fn backoff(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .without_max_times()
            .build()
    }
}

/// Whether an HTTP status is transient and may be retried.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 503 | 504)
}

/// Whether repeating a request that Graph may already have processed is harmless. Declared per
/// request by the resource handler that builds it (see each handler's comments for why).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Repeating it leaves the tenant as one request would: reads, `PUT`/`DELETE` (RFC 9110
    /// §9.2.2), a `PATCH` of absolute values, a member add (a repeat answers "already exist",
    /// which the handler treats as done), setting a policy's assignments.
    Idempotent,
    /// Repeating it may do the work twice: `sendMail` (a second mail), creating an object (a
    /// duplicate), reprovisioning, restoring or rebooting a Cloud PC.
    NotIdempotent,
}

impl Idempotency {
    /// The default of an HTTP method when a request declares nothing: GET, HEAD, OPTIONS, PUT
    /// and DELETE are idempotent by definition (RFC 9110 §9.2.2,
    /// <https://www.rfc-editor.org/rfc/rfc9110#section-9.2.2>); POST and PATCH are not unless
    /// the handler says so.
    pub fn of_method(method: &Method) -> Self {
        if [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::PUT,
            Method::DELETE,
        ]
        .contains(method)
        {
            Idempotency::Idempotent
        } else {
            Idempotency::NotIdempotent
        }
    }
}

/// How an attempt failed, as far as resending is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Graph answered with this status.
    Status(u16),
    /// No connection was made: the request never reached Graph.
    NotConnected,
    /// The request was (or may have been) sent, then the connection broke or timed out.
    AfterSending,
}

/// What the failure means for resending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// Transient and safe to repeat: retry (within the budget).
    Retry,
    /// Transient, but Graph may have processed the request and repeating it is not safe.
    OutcomeUnknown,
    /// Not transient: report the failure.
    No,
}

/// Decides whether a failed attempt may be resent (see the module documentation).
pub fn resend(failure: Failure, idempotency: Idempotency) -> Resend {
    let idempotent = idempotency == Idempotency::Idempotent;
    match failure {
        Failure::Status(429) | Failure::NotConnected => Resend::Retry,
        Failure::Status(503 | 504) | Failure::AfterSending if idempotent => Resend::Retry,
        Failure::Status(503 | 504) | Failure::AfterSending => Resend::OutcomeUnknown,
        Failure::Status(_) => Resend::No,
    }
}

/// Parses `Retry-After`: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
/// A date in the past yields zero; garbage yields `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(86_400.0)));
        }
        return None;
    }
    let date = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822)
        .ok()
        .or_else(|| parse_imf_fixdate(value))?;
    let at = SystemTime::from(date);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate); RFC 2822 parsing covers it in most cases,
/// this handles the `GMT` zone name explicitly.
fn parse_imf_fixdate(value: &str) -> Option<time::OffsetDateTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(value, &format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Stop and report the failure.
    GiveUp,
}

/// Tracks attempts and total waiting for one logical request.
#[derive(Debug)]
pub(crate) struct RetryState<B> {
    policy: RetryPolicy,
    backoff: B,
    attempts: u32,
    waited: Duration,
}

impl RetryState<Box<dyn Iterator<Item = Duration> + Send>> {
    pub(crate) fn new(policy: &RetryPolicy) -> Self {
        RetryState {
            policy: policy.clone(),
            backoff: Box::new(policy.backoff()),
            attempts: 1,
            waited: Duration::ZERO,
        }
    }
}

impl<B: Iterator<Item = Duration>> RetryState<B> {
    /// Decides after a transient failure; `retry_after` is the service's request, if any.
    pub(crate) fn next(&mut self, retry_after: Option<Duration>) -> Decision {
        if self.attempts >= self.policy.max_attempts {
            return Decision::GiveUp;
        }
        let backoff = self
            .backoff
            .next()
            .unwrap_or(self.policy.max_delay)
            .min(self.policy.max_delay);
        let delay = retry_after.unwrap_or(backoff);
        if self.waited + delay > self.policy.max_total_wait {
            return Decision::GiveUp;
        }
        self.attempts += 1;
        self.waited += delay;
        Decision::RetryAfter(delay)
    }

    /// The attempt number about to be sent (1-based).
    pub(crate) fn attempt(&self) -> u32 {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses() {
        for s in [429, 503, 504] {
            assert!(is_retryable_status(s));
        }
        for s in [400, 401, 403, 404, 409, 412, 500, 501, 502] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }

    #[test]
    fn only_idempotent_requests_are_resent_after_graph_may_have_processed_them() {
        use Idempotency::{Idempotent, NotIdempotent};
        for idem in [Idempotent, NotIdempotent] {
            assert_eq!(resend(Failure::Status(429), idem), Resend::Retry);
            assert_eq!(resend(Failure::NotConnected, idem), Resend::Retry);
            for s in [400, 401, 403, 404, 409, 500, 502] {
                assert_eq!(resend(Failure::Status(s), idem), Resend::No, "{s}");
            }
        }
        for failure in [
            Failure::Status(503),
            Failure::Status(504),
            Failure::AfterSending,
        ] {
            assert_eq!(resend(failure, Idempotent), Resend::Retry);
            assert_eq!(resend(failure, NotIdempotent), Resend::OutcomeUnknown);
        }
        assert_eq!(Idempotency::of_method(&Method::GET), Idempotent);
        assert_eq!(Idempotency::of_method(&Method::DELETE), Idempotent);
        assert_eq!(Idempotency::of_method(&Method::POST), NotIdempotent);
        assert_eq!(Idempotency::of_method(&Method::PATCH), NotIdempotent);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn attempts_are_bounded() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let mut state = RetryState::new(&policy);
        assert!(matches!(state.next(None), Decision::RetryAfter(_)));
        assert!(matches!(state.next(None), Decision::RetryAfter(_)));
        assert_eq!(state.next(None), Decision::GiveUp);
    }

    #[test]
    fn retry_after_wins_and_total_wait_is_bounded() {
        let policy = RetryPolicy {
            max_attempts: 10,
            max_total_wait: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        let mut state = RetryState::new(&policy);
        assert_eq!(
            state.next(Some(Duration::from_secs(6))),
            Decision::RetryAfter(Duration::from_secs(6))
        );
        assert_eq!(state.next(Some(Duration::from_secs(6))), Decision::GiveUp);
    }

    #[test]
    fn backoff_grows_with_jitter_and_respects_cap() {
        let policy = RetryPolicy {
            max_attempts: 20,
            max_total_wait: Duration::from_secs(3600),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let delays: Vec<Duration> = policy.backoff().take(8).collect();
        assert!(delays[0] >= Duration::from_millis(100) && delays[0] <= Duration::from_millis(200));
        // jitter adds at most one more base delay worth on top of the capped value
        assert!(
            delays.iter().all(|d| *d <= Duration::from_secs(2)),
            "{delays:?}"
        );
        assert!(delays[7] >= Duration::from_secs(1));
    }
}
