//! Seeds the sign-in side of the sandbox into the contoso tenant: the demo operators (users
//! holding w365's app roles) and a protected (VIP) group with one member. Added after the rest of
//! the contoso seed so the ids of the existing objects do not move.

use time::OffsetDateTime;

use super::DEMO_OPERATORS;
use crate::seed::SeedError;
use crate::state::DirectoryTimings;
use crate::state::TenantState;
use crate::state::directory::{Group, User};

/// The protected group of the sandbox: only Admins may run operations on its members.
pub const VIP_GROUP: &str = "w365 - Protected users (VIP)";
/// The member of [`VIP_GROUP`] (UPN).
pub const VIP_USER: &str = "victor.vance@contoso.com";

fn invalid(message: String) -> SeedError {
    SeedError::Invalid {
        path: "oidc operators".to_owned(),
        message,
    }
}

/// Adds the demo operators, the VIP user and the VIP group (idempotent per tenant: an existing
/// UPN is left alone).
pub fn seed_operators(tenant: &mut TenantState, now: OffsetDateTime) -> Result<(), SeedError> {
    let domain = "contoso.com";
    let mut people: Vec<(&str, &str, &str)> = DEMO_OPERATORS
        .iter()
        .map(|o| (o.upn, o.display_name, "IT Operations"))
        .collect();
    people.push((VIP_USER, "Victor Vance", "Executive"));
    for (upn, name, department) in people {
        debug_assert!(upn.ends_with(domain));
        if tenant.directory.user_id_by_upn(upn).is_some() {
            continue;
        }
        let mut user = User::new(tenant.ids.next_id(), upn, name);
        user.usage_location = Some("US".to_owned());
        user.department = Some(department.to_owned());
        user.created_date_time = Some(now);
        let (given, surname) = name.split_once(' ').unwrap_or((name, ""));
        user.given_name = Some(given.to_owned());
        user.surname = Some(surname.to_owned());
        if upn == VIP_USER {
            user.job_title = Some("Chief Executive Officer".to_owned());
        } else {
            user.job_title = Some("IT operator".to_owned());
        }
        tenant
            .directory
            .insert_user(user)
            .map_err(|e| invalid(e.to_string()))?;
    }
    if !tenant.directory.groups_named(VIP_GROUP).is_empty() {
        return Ok(());
    }
    let id = tenant.ids.next_id();
    let mut group = Group::new_security(id.clone(), VIP_GROUP);
    group.description = Some(
        "Protected users: only w365 Admins may run operations on members (w365 serve config)."
            .to_owned(),
    );
    group.mail_nickname = Some("w365vip".to_owned());
    group.created_date_time = Some(now);
    tenant
        .directory
        .insert_group(group)
        .map_err(|e| invalid(e.to_string()))?;
    let vip = tenant
        .directory
        .user_id_by_upn(VIP_USER)
        .map(str::to_owned)
        .ok_or_else(|| invalid(format!("no user {VIP_USER}")))?;
    // Seeded membership is visible at once (no replication lag), like the rest of the seed.
    let timings = tenant.timings;
    tenant.timings = DirectoryTimings {
        replication_lag: std::time::Duration::ZERO,
        license_processing: std::time::Duration::ZERO,
    };
    let added = tenant.add_member(&id, &vip, now);
    tenant.tick(now);
    tenant.timings = timings;
    added.map_err(|e| invalid(e.to_string()))
}
