//! The job model: ids, states, jobs, filters, outcomes, limits and schedules.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A job's id (a UUID), shown and parsed as its hyphenated string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub uuid::Uuid);

impl JobId {
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4())
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for JobId {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        uuid::Uuid::parse_str(s.trim()).map(JobId).map_err(|_| {
            crate::Error::Invalid(format!(
                "{s:?} is not a job id: expected a UUID such as 6f1c2a9e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
            ))
        })
    }
}

impl Serialize for JobId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A job's state. **This is the one description of the state machine**; the database enforces it
/// (a `CHECK` on the values, the `job_transitions` table checked by a trigger on every update,
/// `finished_at` set iff the state is terminal, a lease iff running) and the store's writes are
/// guarded (`WHERE state = 'running' AND lease_token = ?`).
///
/// ```text
///  insert ──► scheduled ──(run_at due)──► available ◄──(due)── retryable ◄─┐
///     │                                   │   ▲                            │
///     └──────(no run_at)──────────────────┘   │ (until due)                │
///                                 fetch │      parked ◄──Park──┐           │
///                                       ▼                      │           │
///                                    running ──────────────────┴──Retry / lease expired
///                                       │  └──(shutdown: released)──► available
///                         Succeeded / Failed / Cancelled
///                                       ▼
///                          succeeded | failed | cancelled   (terminal, immutable)
/// ```
///
/// | from | to | when |
/// |---|---|---|
/// | scheduled | available | `run_at` reached (promotion before each fetch) |
/// | scheduled, available, retryable, parked | cancelled | [`cancel`](crate::JobStore::cancel) |
/// | available | running | [`fetch`](crate::JobStore::fetch): attempt + 1, new lease token |
/// | running | succeeded / failed | the handler's [`Finish`] |
/// | running | retryable | [`Finish::Retry`] or lease expired (rescuer) with attempts left |
/// | running | failed | `Retry` or lease expired with no attempts left |
/// | running | parked | [`Finish::Park`]: attempt given back, checkpoint kept |
/// | running | cancelled | [`Finish::Cancelled`], or Park/Retry/release/rescue after a cancel request |
/// | running | available | [`release`](crate::JobStore::release) (worker shutdown): attempt given back |
/// | retryable, parked | available | their `scheduled_at` reached |
///
/// Every other change is refused by the database ("illegal job state transition").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Scheduled,
    Available,
    Running,
    Retryable,
    Parked,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 8] = [
        JobState::Scheduled,
        JobState::Available,
        JobState::Running,
        JobState::Retryable,
        JobState::Parked,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Scheduled => "scheduled",
            JobState::Available => "available",
            JobState::Running => "running",
            JobState::Retryable => "retryable",
            JobState::Parked => "parked",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }

    /// Waiting to run (not started, or back in the queue): cancel takes effect at once.
    pub fn is_queued(self) -> bool {
        matches!(
            self,
            JobState::Scheduled | JobState::Available | JobState::Retryable
        )
    }

    /// The transitions of the table above (the same list the database's `job_transitions` holds;
    /// a test checks they agree).
    pub fn can_transition_to(self, to: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, to),
            (Scheduled, Available)
                | (Scheduled, Cancelled)
                | (Available, Running)
                | (Available, Cancelled)
                | (Running, Succeeded)
                | (Running, Failed)
                | (Running, Cancelled)
                | (Running, Retryable)
                | (Running, Parked)
                | (Running, Available)
                | (Retryable, Available)
                | (Retryable, Cancelled)
                | (Parked, Available)
                | (Parked, Cancelled)
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                crate::Error::Invalid(format!(
                    "{s:?} is not a job state: use one of scheduled, available, running, retryable, parked, succeeded, failed, cancelled"
                ))
            })
    }
}

/// Who asked: copied into the job and the audit log so it survives the user's deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub object_id: String,
    pub upn: String,
    pub display_name: String,
}

/// A job to insert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewJob {
    /// "assign", "unassign", ...
    pub operation: String,
    /// The tenant profile's name ("sandbox" for the sandbox).
    pub tenant: String,
    /// Validated parameters, secrets already redacted.
    pub input: serde_json::Value,
    /// The user (UPN) or Cloud PC the job acts on, for filters.
    pub target: Option<String>,
    pub requested_by: Identity,
    pub idempotency_key: Option<String>,
    /// Not before this time (`None`: now).
    pub run_at: Option<OffsetDateTime>,
    /// At least 1.
    pub max_attempts: u32,
    pub request_id: Option<String>,
}

impl NewJob {
    /// A job with no target, key, run_at or request id, and 5 attempts.
    pub fn new(
        operation: impl Into<String>,
        tenant: impl Into<String>,
        input: serde_json::Value,
        requested_by: Identity,
    ) -> Self {
        Self {
            operation: operation.into(),
            tenant: tenant.into(),
            input,
            target: None,
            requested_by,
            idempotency_key: None,
            run_at: None,
            max_attempts: 5,
            request_id: None,
        }
    }
}

/// A stored job; this is also what the API returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: JobId,
    pub operation: String,
    pub tenant: String,
    pub input: serde_json::Value,
    pub target: Option<String>,
    pub requested_by: Identity,
    pub idempotency_key: Option<String>,
    pub state: JobState,
    /// Attempts used (a park gives its attempt back).
    pub attempt: u32,
    pub max_attempts: u32,
    /// How many times the job was parked.
    pub parks: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the job becomes (or became) available: run_at, retry time or park end.
    #[serde(with = "time::serde::rfc3339")]
    pub scheduled_at: OffsetDateTime,
    /// First start.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Opaque to the store: the plan, finished steps, wait cursor.
    pub checkpoint: serde_json::Value,
    pub parked_reason: Option<String>,
    /// The CLI's JSON result document.
    pub result: Option<serde_json::Value>,
    /// `{kind, message, fix}`.
    pub error: Option<serde_json::Value>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub cancel_requested_at: Option<OffsetDateTime>,
    pub request_id: Option<String>,
    /// The worker holding the lease (running jobs only).
    pub lease_owner: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub lease_expires_at: Option<OffsetDateTime>,
    /// The schedule that inserted this job, if any.
    pub schedule: Option<String>,
}

/// A job fetched by a worker with its lease token: the proof of ownership every worker-side write
/// presents. The token is never serialized.
#[derive(Clone)]
pub struct Leased {
    pub job: Job,
    pub(crate) token: String,
}

impl Leased {
    pub fn id(&self) -> JobId {
        self.job.id
    }
}

impl fmt::Debug for Leased {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leased")
            .field("job", &self.job.id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// How a handler's run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    Succeeded(serde_json::Value),
    Failed {
        error: serde_json::Value,
        result: Option<serde_json::Value>,
    },
    /// Try again (only for transient errors, e.g. Graph unavailable). `at: None` lets the store
    /// choose exponential backoff with jitter ([`backoff`]). With no attempts left the job fails.
    Retry {
        at: Option<OffsetDateTime>,
        error: serde_json::Value,
    },
    /// A long wait: the job goes to `parked` until `until`, its attempt is given back, its
    /// checkpoint kept; no worker, task or connection is held meanwhile.
    Park {
        until: OffsetDateTime,
        reason: String,
    },
    Cancelled,
}

/// Exponential backoff with jitter for retry number `attempt` (1-based): 2^attempt seconds
/// (capped at one hour), plus up to 10 % random jitter.
pub fn backoff(attempt: u32) -> Duration {
    let base = 2u64.saturating_pow(attempt.min(12)).min(3600);
    let jitter_ms = rand::random_range(0..=base * 100);
    Duration::from_secs(base) + Duration::from_millis(jitter_ms)
}

/// A log line a worker has not written yet: its time is when it was logged, its seq is given
/// when it is written ([`JobStore::write_progress`](crate::JobStore::write_progress)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogLine {
    pub at: OffsetDateTime,
    pub level: String,
    pub message: String,
}

/// How soon a worker's write must be on disk once its transaction commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// On disk before the commit returns: what a step that runs at most once relies on (the
    /// mail recorded as being sent, then as sent), and final outcomes.
    Now,
    /// May be lost if the database server itself crashes in the next moment (PostgreSQL commits
    /// it with `synchronous_commit = off`: never corrupted, never out of order; after such a
    /// crash the database is as it was a fraction of a second earlier). For writes that a
    /// resumed job repeats harmlessly: staged checkpoints, log lines, heartbeats, fetches, parks
    /// and retries. SQLite in WAL mode with `synchronous = NORMAL` treats both alike (a process
    /// crash loses neither; a power cut may lose the last commits of either).
    Soon,
}

/// What [`JobStore::write_progress`](crate::JobStore::write_progress) did and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The seq of the last line written (`None` when there were none).
    pub last_seq: Option<i64>,
    /// Whether a cancel was requested, read in the same transaction.
    pub cancel_requested: bool,
}

/// A job log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub level: String,
    pub message: String,
}

/// Filters for [`JobStore::list`](crate::JobStore::list); every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub operation: Option<String>,
    pub tenant: Option<String>,
    pub target: Option<String>,
    /// The requester's UPN.
    pub requested_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub created_after: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub created_before: Option<OffsetDateTime>,
    /// Free text: jobs whose operation, target, requester UPN or id contains it (any case).
    pub search: Option<String>,
    /// The order (default: newest first).
    pub sort: JobSort,
    /// Descending or ascending; `None` is the column's natural order
    /// ([`JobSort::descending_by_default`]).
    pub descending: Option<bool>,
    /// Page size (default 50, at most 500).
    pub limit: Option<u32>,
    /// Jobs to skip (offset paging, any order). Not with `cursor`.
    pub offset: Option<u32>,
    /// `next_cursor` of the previous page (keyset paging, newest-first order only).
    pub cursor: Option<String>,
}

impl JobFilter {
    /// Whether this filter lists in descending order.
    pub fn is_descending(&self) -> bool {
        self.descending.unwrap_or(self.sort.descending_by_default())
    }
}

/// The columns a job list sorts by: a fixed list, so no caller text ever reaches the SQL.
/// Ties are broken newest first, then by id, so offset pages never overlap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobSort {
    /// When the job was created.
    #[default]
    Created,
    /// The operation's name.
    Operation,
    /// The user or Cloud PC acted on (any case).
    Target,
    /// The state's name.
    State,
    /// The requester's UPN (any case).
    Requester,
}

impl JobSort {
    pub const ALL: [JobSort; 5] = [
        JobSort::Created,
        JobSort::Operation,
        JobSort::Target,
        JobSort::State,
        JobSort::Requester,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobSort::Created => "created",
            JobSort::Operation => "operation",
            JobSort::Target => "target",
            JobSort::State => "state",
            JobSort::Requester => "requester",
        }
    }

    /// Created lists newest first unless asked otherwise; text columns A to Z.
    pub fn descending_by_default(self) -> bool {
        self == JobSort::Created
    }
}

impl FromStr for JobSort {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        JobSort::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                crate::Error::Invalid(format!(
                    "{s:?} is not a sort column: use one of created, operation, target, state, requester"
                ))
            })
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Per-tenant limits, stored in the database so every worker process shares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantLimits {
    /// Jobs of this tenant running at once, over all workers.
    pub max_running: u32,
    /// Write budget: bucket size (burst).
    pub write_capacity: u32,
    /// Write budget: refill rate, writes per hour.
    pub write_refill_per_hour: u32,
}

impl TenantLimits {
    /// The defaults (the `'*'` row seeded by the migrations): the write budget is
    /// [`w365_graph::WritePace::GRAPH_DEFAULT`], where the published Graph figures it stays under
    /// are cited (identity and access writes: 3,000 per 150 s per app and tenant; C + r·T =
    /// 300 + 16·150 = 2,700). Tenants doing many Cloud PC actions should lower it (Intune allows
    /// 100 writes per 20 s per app and tenant,
    /// <https://learn.microsoft.com/graph/throttling-limits#intune-service-limits>: C = 20,
    /// r = 14,400/h keeps 20 + 4·20 = 100 per 20 s).
    pub const GRAPH_DEFAULT: TenantLimits = TenantLimits {
        max_running: 10,
        write_capacity: w365_graph::WritePace::GRAPH_DEFAULT.burst,
        write_refill_per_hour: w365_graph::WritePace::GRAPH_DEFAULT.refill_per_hour,
    };
}

/// Answer of [`JobStore::take_write_budget`](crate::JobStore::take_write_budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetGrant {
    Granted,
    /// Not enough budget: try again after this long (nothing was taken).
    Wait(Duration),
}

/// What a schedule inserts at each fire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTemplate {
    pub operation: String,
    pub tenant: String,
    pub input: serde_json::Value,
    pub target: Option<String>,
    pub requested_by: Identity,
    pub max_attempts: u32,
}

/// A recurring job: a 5-field cron expression evaluated in an IANA time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// Unique name, e.g. "nightly-capacity-report".
    pub name: String,
    /// "minute hour day-of-month month day-of-week", e.g. "0 6 * * 1-5".
    pub cron: String,
    /// IANA time zone, e.g. "Europe/Paris".
    pub time_zone: String,
    pub job: JobTemplate,
    pub enabled: bool,
}

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    pub name: String,
    pub cron: String,
    pub time_zone: String,
    pub job: JobTemplate,
    pub enabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub next_fire_at: OffsetDateTime,
}

/// A portal sign-in in progress (OIDC authorization code + PKCE), between the redirect to the
/// identity provider and its answer. Keyed by the SHA-256 of a random value the browser holds in
/// a cookie, so an answer is only accepted from the browser that started the sign-in.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalSignIn {
    /// SHA-256 (hex) of the sign-in cookie's value.
    pub key_hash: String,
    /// The OAuth `state` sent to the identity provider.
    pub state: String,
    /// The OIDC `nonce` the id token must carry.
    pub nonce: String,
    /// The PKCE code verifier (RFC 7636).
    pub verifier: String,
    /// The portal path to show after signing in.
    pub return_to: String,
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for PortalSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalSignIn")
            .field("return_to", &self.return_to)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A signed-in portal session. The browser holds a random id; the store holds its SHA-256 only,
/// with who signed in (no token of the identity provider).
#[derive(Clone, PartialEq, Eq)]
pub struct PortalSession {
    /// SHA-256 (hex) of the session cookie's value.
    pub id_hash: String,
    pub operator: Identity,
    /// The operator's own Entra tenant (`tid`).
    pub sign_in_tenant: String,
    /// The highest w365 app role at sign-in (`W365.Helpdesk`...), `None` without one.
    pub role: Option<String>,
    /// The tenant the operator works on (chosen in the portal).
    pub tenant: Option<String>,
    /// The synchronizer token of this session's forms.
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for PortalSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalSession")
            .field("operator", &self.operator.upn)
            .field("role", &self.role)
            .field("tenant", &self.tenant)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
