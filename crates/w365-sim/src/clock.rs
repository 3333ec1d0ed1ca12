//! The virtual clock. State timestamps and every lifecycle timer use it; nothing in the simulator
//! sleeps for the lifecycle.
//!
//! - [`ClockMode::Manual`]: time moves only through [`Clock::advance`] (tests).
//! - [`ClockMode::Speed`]`(n)`: time runs at `n` × real time (the sandbox), and `advance` still jumps.
//!
//! Tokens are not on this clock: token lifetimes are a protocol matter between client and server,
//! so they use real time (a fast sandbox clock must not expire a client's cached token).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

/// How the virtual clock moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClockMode {
    /// Time moves only when advanced.
    Manual,
    /// Time runs at this multiple of real time (1.0 = real time).
    Speed(f64),
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
                let real = anchor.real_at.elapsed().as_secs_f64() * factor.max(0.0);
                anchor.virtual_at + Duration::from_secs_f64(real.min(1e12))
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
        anchor.virtual_at = now + by;
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
    fn speed_clock_runs_faster_than_real_time() {
        let start = time::macros::datetime!(2026-01-05 08:00 UTC);
        let clock = Clock::new(ClockMode::Speed(1000.0), start);
        std::thread::sleep(Duration::from_millis(20));
        assert!(clock.now() >= start + Duration::from_secs(20));
    }
}
