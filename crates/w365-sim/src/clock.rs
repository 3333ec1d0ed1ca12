//! The virtual clock. State timestamps and every lifecycle timer use it; nothing in the simulator
//! sleeps for the lifecycle.
//!
//! - [`ClockMode::Manual`]: time moves only through [`Clock::advance`] (tests).
//! - [`ClockMode::Speed`]`(n)`: time runs at `n` × real time (the sandbox), and `advance` still jumps.
//!
//! Access tokens are on this clock too (issued at, and checked against, the virtual time): a test
//! expires a token by advancing the clock, never by sleeping. On a fast clock the token endpoint
//! reports `expires_in` in real seconds (the virtual lifetime divided by the speed), so clients
//! refresh in time; the sandbox and `sim serve` scale the lifetime by their speed to keep the
//! usual hour of real time.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

/// The fastest a clock may run: a million times real time (a virtual day in under 0.1 s).
pub const MAX_SPEED: f64 = 1_000_000.0;

/// The longest span one step of the clock (or a configured duration) may add.
pub const MAX_SPAN: Duration = Duration::from_secs(100 * 365 * 86_400);

/// The virtual clock stops here instead of overflowing: far enough from `time`'s last
/// representable instant (year 9999) that the simulator's own durations (token lifetimes, grace
/// periods, provisioning times) can still be added to it.
pub const LATEST: OffsetDateTime = time::macros::datetime!(9000-01-01 00:00 UTC);

/// Why a speed is refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error(
    "the clock speed must be a number greater than 0 and at most {MAX_SPEED} (times real time), not {0}"
)]
pub struct InvalidSpeed(pub f64);

/// `t + by`, stopping at [`LATEST`] instead of overflowing.
pub fn saturating_add(t: OffsetDateTime, by: Duration) -> OffsetDateTime {
    time::Duration::try_from(by)
        .ok()
        .and_then(|d| t.checked_add(d))
        .map_or(LATEST, |later| later.min(LATEST.max(t)))
}

/// How the virtual clock moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClockMode {
    /// Time moves only when advanced.
    Manual,
    /// Time runs at this multiple of real time (1.0 = real time); see [`ClockMode::speed`].
    Speed(f64),
}

impl ClockMode {
    /// A clock running `factor` × real time, `0 < factor <= MAX_SPEED`.
    pub fn speed(factor: f64) -> Result<Self, InvalidSpeed> {
        if factor.is_finite() && factor > 0.0 && factor <= MAX_SPEED {
            Ok(ClockMode::Speed(factor))
        } else {
            Err(InvalidSpeed(factor))
        }
    }
}

#[derive(Debug)]
struct Anchor {
    virtual_at: OffsetDateTime,
    real_at: Instant,
}

/// A virtual clock (thread-safe; cheap to read).
#[derive(Debug)]
pub struct Clock {
    mode: ClockMode,
    anchor: Mutex<Anchor>,
}

impl Clock {
    /// A clock showing `start` now.
    pub fn new(mode: ClockMode, start: OffsetDateTime) -> Self {
        Self {
            mode,
            anchor: Mutex::new(Anchor {
                virtual_at: start,
                real_at: Instant::now(),
            }),
        }
    }

    /// The mode the clock runs in.
    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    /// The current virtual time.
    pub fn now(&self) -> OffsetDateTime {
        let anchor = self
            .anchor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match self.mode {
            ClockMode::Manual => anchor.virtual_at,
            ClockMode::Speed(factor) => {
                // Saturating all the way: an unchecked speed (a library caller's) cannot panic.
                let factor = if factor.is_finite() {
                    factor.clamp(0.0, MAX_SPEED)
                } else {
                    0.0
                };
                let real = anchor.real_at.elapsed().as_secs_f64() * factor;
                let span = Duration::try_from_secs_f64(real).unwrap_or(MAX_SPAN);
                saturating_add(anchor.virtual_at, span.min(MAX_SPAN))
            }
        }
    }

    /// Moves the clock forward by `by` and returns the new time.
    pub fn advance(&self, by: Duration) -> OffsetDateTime {
        let now = self.now();
        let mut anchor = self
            .anchor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        anchor.virtual_at = saturating_add(now, by);
        anchor.real_at = Instant::now();
        anchor.virtual_at
    }

    /// Sets the clock to `to` (used when a saved state is loaded).
    pub fn set(&self, to: OffsetDateTime) {
        let mut anchor = self
            .anchor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        anchor.virtual_at = to;
        anchor.real_at = Instant::now();
    }
}

/// Whole seconds of wall-clock time (state timestamps are kept at second precision, like Graph's).
pub fn wall_now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let start = time::macros::datetime!(2026-01-05 08:00 UTC);
        let clock = Clock::new(ClockMode::Manual, start);
        assert_eq!(clock.now(), start);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), start);
        assert_eq!(
            clock.advance(Duration::from_secs(90)),
            start + Duration::from_secs(90)
        );
        assert_eq!(clock.now(), start + Duration::from_secs(90));
    }

    #[test]
    fn speeds_are_validated_and_the_clock_saturates_instead_of_panicking() {
        assert!(ClockMode::speed(60.0).is_ok());
        assert!(ClockMode::speed(MAX_SPEED).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e12, 1e308] {
            let err = ClockMode::speed(bad).expect_err("refused");
            assert!(err.to_string().contains("at most 1000000"), "{err}");
        }
        // A clock built with an unchecked speed still reads without panicking.
        let start = time::macros::datetime!(2026-01-05 08:00 UTC);
        for factor in [1e308, f64::INFINITY, f64::NAN, -5.0] {
            let clock = Clock::new(ClockMode::Speed(factor), start);
            std::thread::sleep(Duration::from_millis(2));
            let now = clock.now();
            assert!(now >= start && now <= LATEST, "{factor}: {now}");
        }
        // Advancing by the longest duration stops at LATEST.
        let clock = Clock::new(ClockMode::Manual, start);
        assert_eq!(clock.advance(Duration::MAX), LATEST);
        assert_eq!(clock.advance(Duration::from_secs(1)), LATEST);
        assert_eq!(
            saturating_add(start, Duration::from_secs(60)),
            start + Duration::from_secs(60)
        );
    }

    #[test]
    fn speed_clock_runs_faster_than_real_time() {
        let start = time::macros::datetime!(2026-01-05 08:00 UTC);
        let clock = Clock::new(ClockMode::Speed(1000.0), start);
        std::thread::sleep(Duration::from_millis(20));
        assert!(clock.now() >= start + Duration::from_secs(20));
    }
}
