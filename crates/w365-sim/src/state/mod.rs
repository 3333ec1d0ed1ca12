//! The tenant model: synchronous, no HTTP types (moto's `models.py`).
//!
//! [`Store`] maps tenant ids to [`TenantState`]s; each tenant owns its directory (users, groups,
//! membership), licensing (subscribed SKUs, group-based licensing engine), mail outbox, app
//! registrations, Windows 365 state and a seeded id generator. Domain operations return
//! [`StateError`], which knows nothing about HTTP; `http::error` maps it to Graph's answers.

pub mod apps;
pub mod directory;
pub mod ids;
pub mod licensing;
pub mod mail;
mod tenant;
pub mod view;
pub mod windows365;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use tenant::{OutgoingMail, TenantState};

/// Errors of domain operations. Each variant maps to one Graph answer in `http::error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("tenant {id} does not exist")]
    TenantNotFound { id: String },
    #[error("user {key} does not exist")]
    UserNotFound { key: String },
    #[error("group {id} does not exist")]
    GroupNotFound { id: String },
    #[error("directory object {id} does not exist")]
    ObjectNotFound { id: String },
    #[error("subscribed SKU {id} does not exist")]
    SkuNotFound { id: String },
    #[error("the object is already a member of the group")]
    AlreadyMember,
    #[error("{member_id} is not a member of the group")]
    NotMember { member_id: String },
    #[error("{got} references given, at most {max} are allowed")]
    TooManyReferences { max: usize, got: usize },
    #[error("group {id} has dynamic membership")]
    DynamicGroup { id: String },
    #[error("mail sender {key} does not exist")]
    MailSenderNotFound { key: String },
    #[error("user {user} has no mailbox")]
    MailboxNotEnabled { user: String },
    #[error("app {client_id} does not exist")]
    AppNotFound { client_id: String },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// Directory-side timings of a tenant (the Windows 365 timings live in its own state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryTimings {
    /// How long after a membership write reads see it (Entra ID replication). Default 0.
    #[serde(with = "duration_ms")]
    pub replication_lag: Duration,
    /// How long group-based licensing takes to process a membership change.
    #[serde(with = "duration_ms")]
    pub license_processing: Duration,
}

impl DirectoryTimings {
    /// Timings close to a real tenant: no read lag by default, licensing in two minutes.
    pub fn realistic() -> Self {
        Self {
            replication_lag: Duration::ZERO,
            license_processing: Duration::from_secs(120),
        }
    }

    /// Fast timings for the sandbox: licensing in five seconds.
    pub fn fast() -> Self {
        Self {
            replication_lag: Duration::ZERO,
            license_processing: Duration::from_secs(5),
        }
    }
}

impl Default for DirectoryTimings {
    fn default() -> Self {
        Self::realistic()
    }
}

/// Serde helper: a `Duration` as integer milliseconds.
pub(crate) mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// The virtual clock's position when the store was saved (so a reload continues from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClockSnapshot {
    #[serde(with = "time::serde::rfc3339")]
    pub virtual_now: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub saved_at: OffsetDateTime,
}

/// Every tenant of the simulator (moto's `BackendDict`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Store {
    tenants: BTreeMap<String, TenantState>,
    /// The seeded tenant that `SimHandle::tenant_id` names.
    default_tenant: String,
    #[serde(default)]
    pub clock: Option<ClockSnapshot>,
}

impl Store {
    /// A store holding exactly one tenant, which becomes the default tenant.
    pub fn with_tenant(tenant: TenantState) -> Self {
        let mut store = Self {
            default_tenant: tenant.tenant_id.clone(),
            ..Self::default()
        };
        store.tenants.insert(tenant.tenant_id.clone(), tenant);
        store
    }

    /// The default (seeded) tenant's id.
    pub fn default_tenant_id(&self) -> &str {
        &self.default_tenant
    }

    /// Adds or replaces a tenant.
    pub fn insert_tenant(&mut self, tenant: TenantState) {
        self.tenants.insert(tenant.tenant_id.clone(), tenant);
    }

    /// A tenant by id.
    pub fn tenant(&self, tenant_id: &str) -> Option<&TenantState> {
        self.tenants.get(tenant_id)
    }

    /// A tenant by id, mutable.
    pub fn tenant_mut(&mut self, tenant_id: &str) -> Option<&mut TenantState> {
        self.tenants.get_mut(tenant_id)
    }

    /// The default tenant.
    pub fn default_tenant(&self) -> Option<&TenantState> {
        self.tenants.get(&self.default_tenant)
    }

    /// The default tenant, mutable.
    pub fn default_tenant_mut(&mut self) -> Option<&mut TenantState> {
        self.tenants.get_mut(&self.default_tenant)
    }

    /// The tenant with this id, created empty on first use (moto-style).
    pub fn tenant_or_create(&mut self, tenant_id: &str) -> &mut TenantState {
        self.tenants
            .entry(tenant_id.to_owned())
            .or_insert_with(|| TenantState::new(tenant_id, tenant_id, &[], 1))
    }

    /// Resolves a tenant GUID (case-insensitive) or one of its verified domains to its id.
    pub fn resolve_tenant(&self, id_or_domain: &str) -> Option<&str> {
        let lower = id_or_domain.to_lowercase();
        self.tenants
            .values()
            .find(|t| {
                t.tenant_id == lower || t.domains.iter().any(|d| d.eq_ignore_ascii_case(&lower))
            })
            .map(|t| t.tenant_id.as_str())
    }

    /// All tenants.
    pub fn tenants(&self) -> impl Iterator<Item = &TenantState> {
        self.tenants.values()
    }

    /// Runs every tenant's due work (replication, licensing, Windows 365 lifecycle) up to `now`.
    pub fn tick(&mut self, now: OffsetDateTime) {
        for tenant in self.tenants.values_mut() {
            tenant.tick(now);
        }
    }

    /// Marks every tenant as changed (see [`TenantState::touch`]).
    pub fn touch_all(&mut self) {
        for tenant in self.tenants.values_mut() {
            tenant.touch();
        }
    }

    /// Earliest time strictly after `after` at which any tenant has work due.
    pub fn next_due_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        self.tenants
            .values()
            .filter_map(|t| t.next_due_after(after))
            .min()
    }

    /// Earliest time any tenant has work due.
    pub fn next_due(&self) -> Option<OffsetDateTime> {
        self.tenants
            .values()
            .filter_map(TenantState::next_due)
            .min()
    }

    /// Rebuilds indexes after deserialization.
    pub fn rebuild_indexes(&mut self) {
        for tenant in self.tenants.values_mut() {
            tenant.directory.rebuild_indexes();
        }
    }
}
