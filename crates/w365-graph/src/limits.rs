//! Graph's write budget, in one place, and a pacer that keeps a client under it.
//!
//! Microsoft Graph's identity and access (directory) service limits writes to **3,000 requests
//! per 2 min 30 s per app and tenant**, and 18,000 per 5 min per tenant for all apps
//! (<https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits>,
//! "Write quota"). Group memberships and licence groups are directory writes. Requests inside a
//! `$batch` are evaluated one by one against these limits
//! (<https://learn.microsoft.com/graph/json-batching>, "Individual requests in a batch are
//! evaluated against applicable throttling limits"): a `$batch` of 20 writes spends 20.
//!
//! [`WritePace`] is a token bucket (burst `C`, refill `r`); it lets through at most `C + r·T`
//! writes in any window `T`. [`WritePace::GRAPH_DEFAULT`] (C = 300, r = 16/s) allows
//! 300 + 16 · 150 = 2,700 writes per 150 s: 90 % of the per-app budget, leaving room for the
//! other writes of the same app (single assigns, the portal's jobs). The job store keeps the same
//! figures as a tenant's default shared budget (`w365-jobs`' `TenantLimits::GRAPH_DEFAULT`).
//!
//! [`WritePacer`] applies a pace in one process: [`WritePacer::acquire`] waits until `n` writes
//! fit. Its clock is injectable ([`PaceClock`]), so tests run it on a manual clock.
//!
//! [`WriteGate`] is the hook for a budget kept elsewhere (the job store's per-tenant budget,
//! shared by every worker process): a client with a gate ([`crate::Client::scoped`])
//! asks it before every directory write it sends ([`is_directory_write`]), resends included,
//! and a `$batch` asks for the directory writes inside it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A published write limit: at most `writes` in any window of `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteBudget {
    pub writes: u32,
    pub window: Duration,
}

impl WriteBudget {
    /// Identity and access writes, per app and tenant: 3,000 per 2 min 30 s.
    pub const IDENTITY_PER_APP_AND_TENANT: WriteBudget = WriteBudget {
        writes: 3_000,
        window: Duration::from_secs(150),
    };
    /// Identity and access writes, per tenant for all apps: 18,000 per 5 min.
    pub const IDENTITY_PER_TENANT: WriteBudget = WriteBudget {
        writes: 18_000,
        window: Duration::from_secs(300),
    };
}

/// A token bucket: `burst` writes at once, refilled at `refill_per_hour`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WritePace {
    /// Bucket size: writes that may go out at once.
    pub burst: u32,
    /// Refill rate, writes per hour (at least 1).
    pub refill_per_hour: u32,
}

impl WritePace {
    /// 90 % of [`WriteBudget::IDENTITY_PER_APP_AND_TENANT`]: 300 + 16/s · 150 s = 2,700.
    pub const GRAPH_DEFAULT: WritePace = WritePace {
        burst: 300,
        refill_per_hour: 57_600,
    };

    /// The most writes this pace lets through in any window of `window`: `C + r·T`.
    pub fn max_in(&self, window: Duration) -> u64 {
        let refilled = u128::from(self.refill_per_hour) * window.as_millis() / 3_600_000;
        u64::from(self.burst) + u64::try_from(refilled).unwrap_or(u64::MAX)
    }

    /// Whether this pace never exceeds `budget`.
    pub fn within(&self, budget: WriteBudget) -> bool {
        self.max_in(budget.window) <= u64::from(budget.writes)
    }

    fn per_sec(&self) -> f64 {
        f64::from(self.refill_per_hour.max(1)) / 3600.0
    }
}

/// The time a pacer reads and sleeps on.
#[async_trait::async_trait]
pub trait PaceClock: Send + Sync {
    /// Time since an arbitrary fixed start (monotonic).
    fn now(&self) -> Duration;
    async fn sleep(&self, d: Duration);
}

/// Tokio's clock.
#[derive(Debug)]
pub struct TokioClock {
    start: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock {
            start: tokio::time::Instant::now(),
        }
    }
}

#[async_trait::async_trait]
impl PaceClock for TokioClock {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// A manual clock for tests: `sleep` moves the time forward at once and is recorded.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Mutex<Duration>,
    slept: Mutex<Vec<Duration>>,
}

impl ManualClock {
    pub fn advance(&self, d: Duration) {
        *self.now.lock().expect("not poisoned") += d;
    }
    /// Every sleep asked for, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.slept.lock().expect("not poisoned").clone()
    }
}

#[async_trait::async_trait]
impl PaceClock for ManualClock {
    fn now(&self) -> Duration {
        *self.now.lock().expect("not poisoned")
    }
    async fn sleep(&self, d: Duration) {
        self.slept.lock().expect("not poisoned").push(d);
        self.advance(d);
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Duration,
    /// (time, writes) of every grant, for [`WritePacer::grants`].
    grants: Vec<(Duration, u32)>,
    waited: Duration,
}

/// Keeps writes under a [`WritePace`]. Cheap to clone (shared state).
#[derive(Clone)]
pub struct WritePacer {
    pace: WritePace,
    clock: Arc<dyn PaceClock>,
    bucket: Arc<Mutex<Bucket>>,
}

impl std::fmt::Debug for WritePacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WritePacer")
            .field("pace", &self.pace)
            .finish_non_exhaustive()
    }
}

impl Default for WritePacer {
    fn default() -> Self {
        WritePacer::new(WritePace::GRAPH_DEFAULT)
    }
}

impl WritePacer {
    /// A full bucket on tokio's clock.
    pub fn new(pace: WritePace) -> Self {
        WritePacer::with_clock(pace, Arc::new(TokioClock::default()))
    }

    /// A full bucket on `clock`.
    pub fn with_clock(pace: WritePace, clock: Arc<dyn PaceClock>) -> Self {
        let at = clock.now();
        WritePacer {
            pace,
            clock,
            bucket: Arc::new(Mutex::new(Bucket {
                tokens: f64::from(pace.burst),
                at,
                grants: Vec::new(),
                waited: Duration::ZERO,
            })),
        }
    }

    pub fn pace(&self) -> WritePace {
        self.pace
    }

    /// Waits until `writes` fit under the pace, then takes them. More than the burst at once is
    /// let through once the bucket is full, leaving it in debt (the next writes wait for it).
    pub async fn acquire(&self, writes: u32) {
        if writes == 0 {
            return;
        }
        let need = f64::from(writes.min(self.pace.burst.max(1)));
        loop {
            let wait = {
                let mut b = self.bucket.lock().expect("not poisoned");
                let now = self.clock.now();
                let elapsed = now.saturating_sub(b.at).as_secs_f64();
                b.tokens =
                    (b.tokens + elapsed * self.pace.per_sec()).min(f64::from(self.pace.burst));
                b.at = now;
                if b.tokens + 1e-9 >= need {
                    b.tokens -= f64::from(writes);
                    b.grants.push((now, writes));
                    return;
                }
                let wait = Duration::from_secs_f64((need - b.tokens) / self.pace.per_sec());
                // Never spin on rounding: at least a millisecond.
                let wait = wait.max(Duration::from_millis(1));
                b.waited += wait;
                wait
            };
            self.clock.sleep(wait).await;
        }
    }

    /// Time spent waiting for the budget so far.
    pub fn waited(&self) -> Duration {
        self.bucket.lock().expect("not poisoned").waited
    }

    /// Writes let through so far.
    pub fn granted(&self) -> u64 {
        let b = self.bucket.lock().expect("not poisoned");
        b.grants.iter().map(|(_, n)| u64::from(*n)).sum()
    }

    /// The most writes granted within any window of `window` (sliding, over every grant).
    pub fn peak_in(&self, window: Duration) -> u64 {
        let b = self.bucket.lock().expect("not poisoned");
        let g = &b.grants;
        let mut best = 0;
        let mut sum = 0u64;
        let mut start = 0;
        for (t, n) in g {
            sum += u64::from(*n);
            while t.saturating_sub(g[start].0) >= window {
                sum -= u64::from(g[start].1);
                start += 1;
            }
            best = best.max(sum);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manual(pace: WritePace) -> (WritePacer, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::default());
        (WritePacer::with_clock(pace, clock.clone()), clock)
    }

    #[test]
    fn the_default_pace_stays_under_the_published_budgets() {
        let p = WritePace::GRAPH_DEFAULT;
        assert_eq!(p.max_in(Duration::from_secs(150)), 2_700);
        assert!(p.within(WriteBudget::IDENTITY_PER_APP_AND_TENANT));
        assert!(p.within(WriteBudget::IDENTITY_PER_TENANT));
        let greedy = WritePace {
            burst: 3_000,
            refill_per_hour: 3_600,
        };
        assert!(!greedy.within(WriteBudget::IDENTITY_PER_APP_AND_TENANT));
    }

    #[tokio::test]
    async fn a_burst_goes_at_once_then_writes_wait_for_the_refill() {
        // 5 at once, then one per second.
        let (pacer, clock) = manual(WritePace {
            burst: 5,
            refill_per_hour: 3_600,
        });
        pacer.acquire(5).await;
        assert!(clock.sleeps().is_empty(), "the burst does not wait");
        pacer.acquire(2).await;
        assert_eq!(clock.now(), Duration::from_secs(2));
        clock.advance(Duration::from_secs(10));
        // Refilled to the burst (5), not beyond: 5 pass, the 6th waits a second.
        pacer.acquire(5).await;
        assert_eq!(clock.now(), Duration::from_secs(12));
        pacer.acquire(1).await;
        assert_eq!(clock.now(), Duration::from_secs(13));
        assert_eq!(pacer.granted(), 13);
        assert_eq!(pacer.waited(), Duration::from_secs(3));
    }

    #[tokio::test]
    async fn a_batch_of_twenty_counts_twenty_and_no_window_exceeds_the_pace() {
        let pace = WritePace {
            burst: 20,
            refill_per_hour: 36_000, // 10/s
        };
        let (pacer, clock) = manual(pace);
        for _ in 0..50 {
            pacer.acquire(20).await;
        }
        assert_eq!(pacer.granted(), 1_000);
        // 1,000 writes at 10/s after a burst of 20: 98 s.
        assert_eq!(clock.now(), Duration::from_secs(98));
        for secs in [1, 10, 30, 60] {
            let w = Duration::from_secs(secs);
            assert!(pacer.peak_in(w) <= pace.max_in(w), "window {secs}s");
        }
    }

    #[tokio::test]
    async fn more_than_the_burst_at_once_leaves_a_debt_the_next_writes_wait_for() {
        let (pacer, clock) = manual(WritePace {
            burst: 10,
            refill_per_hour: 36_000,
        });
        pacer.acquire(30).await;
        assert_eq!(clock.now(), Duration::ZERO);
        // -20 tokens: the next single write waits for 21 tokens at 10/s.
        pacer.acquire(1).await;
        assert_eq!(clock.now(), Duration::from_millis(2_100));
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_bucket() {
        let (pacer, clock) = manual(WritePace {
            burst: 4,
            refill_per_hour: 14_400, // 4/s
        });
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let p = pacer.clone();
                tokio::spawn(async move { p.acquire(4).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(pacer.granted(), 16);
        assert!(clock.now() >= Duration::from_secs(3), "{:?}", clock.now());
    }
}

/// A write budget the client asks before each write (see the module's notes).
#[async_trait::async_trait]
pub trait WriteGate: Send + Sync {
    /// Waits until `writes` writes may be sent, and takes them.
    async fn acquire(&self, writes: u32);
}

#[async_trait::async_trait]
impl WriteGate for WritePacer {
    async fn acquire(&self, writes: u32) {
        WritePacer::acquire(self, writes).await;
    }
}

/// Whether a request counts against the identity and access (directory) write quota above:
/// a write (not GET) to a directory object — users, groups, directory objects, applications,
/// service principals, devices, administrative units, roles. Not counted: `users/{id}/sendMail`
/// (Outlook's own limits), and `deviceManagement/…` (Intune's: Cloud PC actions and
/// policies). `path` is a request path with or without the `/v1.0` or `/beta` prefix.
pub fn is_directory_write(method: &str, path: &str) -> bool {
    if method.eq_ignore_ascii_case("GET") {
        return false;
    }
    let path = path.split('?').next().unwrap_or_default();
    let all: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // Skip anything up to and including the version segment, when there is one.
    let start = all
        .iter()
        .position(|s| *s == "v1.0" || *s == "beta")
        .map_or(0, |i| i + 1);
    let rest = &all[start..];
    let Some(first) = rest.first() else {
        return false;
    };
    if rest
        .last()
        .is_some_and(|s| s.eq_ignore_ascii_case("sendMail"))
    {
        return false;
    }
    matches!(
        *first,
        "users"
            | "groups"
            | "directoryObjects"
            | "applications"
            | "servicePrincipals"
            | "devices"
            | "administrativeUnits"
            | "directoryRoles"
            | "roleManagement"
    )
}

#[cfg(test)]
mod directory_write_tests {
    use super::is_directory_write;

    #[test]
    fn directory_writes_are_told_apart() {
        assert!(is_directory_write("POST", "/v1.0/groups/g1/members/$ref"));
        assert!(is_directory_write("PATCH", "/groups/g1"));
        assert!(is_directory_write(
            "DELETE",
            "/beta/groups/g1/members/u1/$ref"
        ));
        assert!(is_directory_write("POST", "/v1.0/users/u1/assignLicense"));
        assert!(!is_directory_write("GET", "/v1.0/groups/g1"));
        assert!(!is_directory_write("POST", "/v1.0/users/u1/sendMail"));
        assert!(!is_directory_write(
            "POST",
            "/beta/deviceManagement/virtualEndpoint/cloudPCs/pc1/reboot"
        ));
        assert!(!is_directory_write("POST", "/v1.0/$batch"));
    }
}
