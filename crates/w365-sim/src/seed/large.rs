//! A generator of large tenants for benchmarks (100,000 users, groups of 50,000 members).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::state::directory::{Group, User};
use crate::state::licensing::{SubscribedSku, catalog_entry};
use crate::state::{DirectoryTimings, TenantState};

/// The shape of a generated tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LargeTenantSpec {
    pub users: usize,
    /// Number of groups (named `bench group NNNN`).
    pub groups: usize,
    /// Members of each group (users, taken round-robin).
    pub members_per_group: usize,
    /// Seed of the id generator.
    pub id_seed: u64,
}

impl LargeTenantSpec {
    /// 100,000 users and four groups of 50,000 members.
    pub fn benchmark() -> Self {
        Self {
            users: 100_000,
            groups: 4,
            members_per_group: 50_000,
            id_seed: 42,
        }
    }

    /// Generates the tenant (same tenant id and domains as contoso, plus the admin app).
    pub fn build(&self, timings: DirectoryTimings, now: OffsetDateTime) -> TenantState {
        let mut tenant = TenantState::new(
            super::CONTOSO_TENANT_ID,
            "Contoso (large)",
            &["contoso.com", "contoso.onmicrosoft.com"],
            self.id_seed,
        );
        for part in ["CPC_E_2C_4GB_128GB", "CPC_E_2C_4GB_256GB"] {
            if let Some(entry) = catalog_entry(part) {
                let subscription = tenant.ids.next_id();
                let units = u32::try_from(self.users).unwrap_or(u32::MAX);
                tenant
                    .licensing
                    .skus
                    .push(SubscribedSku::from_catalog(entry, units, subscription));
            }
        }
        let mut user_ids = Vec::with_capacity(self.users);
        for n in 0..self.users {
            let id = tenant.ids.next_id();
            let upn = format!("user{n:06}@contoso.com");
            let mut user = User::new(id.clone(), &upn, &format!("Bench User {n:06}"));
            user.given_name = Some("Bench".to_owned());
            user.surname = Some(format!("User {n:06}"));
            user.usage_location = Some("US".to_owned());
            user.created_date_time = Some(now);
            if tenant.directory.insert_user(user).is_ok() {
                user_ids.push(id);
            }
        }
        for g in 0..self.groups {
            let id = tenant.ids.next_id();
            let mut group = Group::new_security(id.clone(), &format!("bench group {g:04}"));
            group.created_date_time = Some(now);
            if tenant.directory.insert_group(group).is_err() || user_ids.is_empty() {
                continue;
            }
            let start = g * self.members_per_group;
            let members: Vec<String> = (0..self.members_per_group.min(user_ids.len()))
                .map(|k| user_ids[(start + k) % user_ids.len()].clone())
                .collect();
            tenant.directory.seed_members(&id, members);
        }
        tenant.timings = timings;
        super::add_admin_app(&mut tenant);
        tenant
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_generated_tenant_has_the_requested_shape() {
        let spec = LargeTenantSpec {
            users: 1_000,
            groups: 3,
            members_per_group: 400,
            id_seed: 1,
        };
        let tenant = spec.build(DirectoryTimings::fast(), OffsetDateTime::UNIX_EPOCH);
        assert_eq!(tenant.directory.user_count(), 1_000);
        let groups: Vec<_> = tenant.directory.groups().map(|g| g.id.clone()).collect();
        assert_eq!(groups.len(), 3);
        for g in &groups {
            assert_eq!(tenant.directory.members(g).map(|m| m.len()), Some(400));
        }
        // Round-robin: user 0 is in groups 0 and 2 (which wraps), user 500 only in group 1.
        let first = tenant
            .directory
            .user_id_by_upn("user000000@contoso.com")
            .expect("user")
            .to_owned();
        assert_eq!(tenant.directory.member_of(&first).count(), 2);
        let middle = tenant
            .directory
            .user_id_by_upn("user000500@contoso.com")
            .expect("user")
            .to_owned();
        assert_eq!(tenant.directory.member_of(&middle).count(), 1);
    }
}

#[cfg(test)]
mod timing {
    use super::*;

    #[test]
    #[ignore = "prints generation time of the benchmark tenant"]
    fn benchmark_generation_time() {
        let start = std::time::Instant::now();
        let tenant = LargeTenantSpec::benchmark()
            .build(DirectoryTimings::fast(), OffsetDateTime::UNIX_EPOCH);
        eprintln!(
            "generated {} users in {:?}",
            tenant.directory.user_count(),
            start.elapsed()
        );
    }
}
