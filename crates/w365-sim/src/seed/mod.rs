//! Seeds: the demo tenant "contoso" (a readable data file, `contoso.json`), tenants from any such
//! file, empty tenants, and a generator of large tenants for benchmarks.
//!
//! Every seeded tenant gets the simulator's admin app ([`ADMIN_CLIENT_ID`]) holding every
//! permission; its secret [`ADMIN_CLIENT_SECRET`] is a published fixture (stored hashed), which
//! `serve` prints. Ids are deterministic: the same file and `idSeed` give the same GUIDs.

mod large;
pub mod windows365;

use std::path::Path;

use serde::Deserialize;
use time::OffsetDateTime;

pub use large::LargeTenantSpec;

use crate::state::directory::{Group, User};
use crate::state::licensing::{
    AssignedLicense, LicenseProcessingState, SubscribedSku, catalog_entry,
};
use crate::state::{DirectoryTimings, StateError, TenantState};

/// The contoso tenant's id.
pub const CONTOSO_TENANT_ID: &str = "b4a3c1d2-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
/// Client id of the admin app present in every seeded tenant.
pub const ADMIN_CLIENT_ID: &str = "c0a1b2c3-d4e5-4f60-8a71-92b3c4d5e6f7";
/// The admin app's client secret: a simulator fixture, not a real credential.
pub const ADMIN_CLIENT_SECRET: &str = "w365-sim~admin-fixture-secret-0000000000";
/// Display name of the admin app.
pub const ADMIN_APP_NAME: &str = "w365 simulator admin";

/// Every application permission the simulator knows (granted to the admin app).
pub const ALL_ROLES: &[&str] = &[
    "User.Read.All",
    "User.ReadBasic.All",
    "User.ReadWrite.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "Organization.Read.All",
    "LicenseAssignment.Read.All",
    "Mail.Send",
    "CloudPC.Read.All",
    "CloudPC.ReadWrite.All",
    "DeviceManagementConfiguration.Read.All",
    "DeviceManagementConfiguration.ReadWrite.All",
];

const CONTOSO: &str = include_str!("contoso.json");

/// Why a seed could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    #[error("cannot read seed file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("seed file {path} is not a valid tenant description")]
    Parse {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("seed {path}: {message}")]
    Invalid { path: String, message: String },
}

/// A tenant description (the format of `contoso.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedFile {
    pub tenant: SeedTenant,
    #[serde(default)]
    pub skus: Vec<SeedSku>,
    #[serde(default)]
    pub users: Vec<SeedUser>,
    #[serde(default)]
    pub groups: Vec<SeedGroup>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedTenant {
    pub id: String,
    pub display_name: String,
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub country_letter_code: Option<String>,
    #[serde(default = "default_id_seed")]
    pub id_seed: u64,
}

fn default_id_seed() -> u64 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedSku {
    /// A Windows 365 part number from the catalog (reference §4.1).
    pub sku_part_number: String,
    pub prepaid_units: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedUser {
    pub user_principal_name: String,
    pub display_name: String,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    /// SMTP address; defaults to the UPN.
    #[serde(default)]
    pub mail: Option<String>,
    /// `false`: the user has no mailbox (`mail` null, sendMail answers MailboxNotEnabledForRESTAPI).
    #[serde(default = "yes")]
    pub mailbox: bool,
    #[serde(default = "yes")]
    pub account_enabled: bool,
    #[serde(default)]
    pub usage_location: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub user_type: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedGroup {
    pub display_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub group_types: Vec<String>,
    #[serde(default)]
    pub mail_enabled: bool,
    #[serde(default)]
    pub mail: Option<String>,
    /// SKU part numbers assigned to the group (group-based licensing).
    #[serde(default)]
    pub licenses: Vec<String>,
    /// Member UPNs, or `group:<display name>` for a nested group (first group of that name).
    #[serde(default)]
    pub members: Vec<String>,
}

impl SeedFile {
    /// Parses a tenant description.
    pub fn parse(text: &str, path: &str) -> Result<Self, SeedError> {
        serde_json::from_str(text).map_err(|source| SeedError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// The bundled contoso tenant.
    pub fn contoso() -> Self {
        Self::parse(CONTOSO, "contoso.json").expect("the bundled contoso.json is valid (tested)")
    }

    /// The SKU whose units [`SeedFile::add_generated_users`] scales (the sandbox's default
    /// license group carries it).
    pub const GENERATED_USERS_SKU: &'static str = "CPC_E_2C_4GB_128GB";

    /// The UPN of generated user `i` (1-based): `user00001@contoso.com`, ...
    pub fn generated_upn(i: usize) -> String {
        format!("user{i:05}@contoso.com")
    }

    /// Adds `n` licensable users (`generated_upn(1..=n)`, each with a mailbox and a usage
    /// location) and `n` more units of [`SeedFile::GENERATED_USERS_SKU`], so every one of them
    /// can be assigned. The one generator of large tenants: `w365 sandbox reset --users N` and
    /// the benchmarks use it.
    pub fn add_generated_users(&mut self, n: usize) {
        for i in 1..=n {
            self.users.push(SeedUser {
                user_principal_name: Self::generated_upn(i),
                display_name: format!("Generated User {i:05}"),
                given_name: Some("Generated".into()),
                surname: Some(format!("User {i:05}")),
                mail: None,
                mailbox: true,
                account_enabled: true,
                usage_location: Some("US".into()),
                job_title: None,
                department: None,
                user_type: None,
            });
        }
        for sku in &mut self.skus {
            if sku.sku_part_number == Self::GENERATED_USERS_SKU {
                sku.prepaid_units = sku
                    .prepaid_units
                    .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
            }
        }
    }

    /// Reads a tenant description from a file.
    pub fn read(path: &Path) -> Result<Self, SeedError> {
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Builds the tenant at virtual time `now`; seeded memberships are visible and licensed at once.
    pub fn build(
        &self,
        timings: DirectoryTimings,
        now: OffsetDateTime,
    ) -> Result<TenantState, SeedError> {
        let invalid = |message: String| SeedError::Invalid {
            path: self.tenant.display_name.clone(),
            message,
        };
        let state_err = |e: StateError| SeedError::Invalid {
            path: self.tenant.display_name.clone(),
            message: e.to_string(),
        };
        let domains: Vec<&str> = self.tenant.domains.iter().map(String::as_str).collect();
        let mut tenant = TenantState::new(
            &self.tenant.id,
            &self.tenant.display_name,
            &domains,
            self.tenant.id_seed,
        );
        tenant
            .country_letter_code
            .clone_from(&self.tenant.country_letter_code);
        for sku in &self.skus {
            let entry = catalog_entry(&sku.sku_part_number).ok_or_else(|| {
                invalid(format!("unknown SKU part number {}", sku.sku_part_number))
            })?;
            let subscription = tenant.ids.next_id();
            tenant.licensing.skus.push(SubscribedSku::from_catalog(
                entry,
                sku.prepaid_units,
                subscription,
            ));
        }
        for seed in &self.users {
            let id = tenant.ids.next_id();
            let mut user = User::new(id, &seed.user_principal_name, &seed.display_name);
            user.given_name.clone_from(&seed.given_name);
            user.surname.clone_from(&seed.surname);
            user.mail = if seed.mailbox {
                Some(
                    seed.mail
                        .clone()
                        .unwrap_or_else(|| seed.user_principal_name.clone()),
                )
            } else {
                None
            };
            user.account_enabled = seed.account_enabled;
            user.usage_location.clone_from(&seed.usage_location);
            user.job_title.clone_from(&seed.job_title);
            user.department.clone_from(&seed.department);
            if let Some(kind) = &seed.user_type {
                user.user_type.clone_from(kind);
            }
            user.created_date_time = Some(now);
            tenant.directory.insert_user(user).map_err(state_err)?;
        }
        let mut group_ids = Vec::with_capacity(self.groups.len());
        for seed in &self.groups {
            let id = tenant.ids.next_id();
            let mut group = Group::new_security(id.clone(), &seed.display_name);
            group.description.clone_from(&seed.description);
            group.group_types.clone_from(&seed.group_types);
            group.mail_enabled = seed.mail_enabled;
            group.mail.clone_from(&seed.mail);
            group.security_enabled = !seed.group_types.iter().any(|t| t == "Unified");
            group.mail_nickname = Some(
                seed.display_name
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect(),
            );
            group.created_date_time = Some(now);
            for part in &seed.licenses {
                let entry = catalog_entry(part)
                    .ok_or_else(|| invalid(format!("unknown SKU part number {part}")))?;
                group.assigned_licenses.push(AssignedLicense {
                    sku_id: entry.sku_id.to_owned(),
                    disabled_plans: Vec::new(),
                });
            }
            if !group.assigned_licenses.is_empty() {
                group.license_processing_state =
                    Some(LicenseProcessingState::new("ProcessingComplete"));
            }
            tenant.directory.insert_group(group).map_err(state_err)?;
            group_ids.push(id);
        }
        // Seeded memberships are visible and licensed immediately.
        tenant.timings = DirectoryTimings {
            replication_lag: std::time::Duration::ZERO,
            license_processing: std::time::Duration::ZERO,
        };
        for (seed, group_id) in self.groups.iter().zip(&group_ids) {
            for member in &seed.members {
                let member_id = match member.strip_prefix("group:") {
                    Some(name) => tenant
                        .directory
                        .groups_named(name)
                        .first()
                        .cloned()
                        .ok_or_else(|| {
                            invalid(format!(
                                "group {:?} has unknown nested group {name:?}",
                                seed.display_name
                            ))
                        })?,
                    None => tenant
                        .directory
                        .user_id_by_upn(member)
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            invalid(format!(
                                "group {:?} has unknown member {member:?}",
                                seed.display_name
                            ))
                        })?,
                };
                tenant
                    .add_member(group_id, &member_id, now)
                    .map_err(state_err)?;
            }
        }
        tenant.timings = timings;
        add_admin_app(&mut tenant);
        Ok(tenant)
    }
}

/// Registers the admin app (every permission, the fixture secret) in a tenant.
pub fn add_admin_app(tenant: &mut TenantState) {
    tenant.apps.create_app(
        ADMIN_CLIENT_ID.to_owned(),
        ADMIN_APP_NAME,
        ALL_ROLES.iter().map(|r| (*r).to_owned()).collect(),
    );
    if tenant
        .apps
        .get(ADMIN_CLIENT_ID)
        .is_some_and(|a| a.secrets.is_empty())
    {
        tenant
            .apps
            .add_secret(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
            .expect("the admin app was just registered");
    }
}

/// An empty tenant (no users, groups or SKUs) with the admin app.
pub fn empty_tenant(timings: DirectoryTimings) -> TenantState {
    let mut tenant = TenantState::new(
        CONTOSO_TENANT_ID,
        "Contoso (empty)",
        &["contoso.com", "contoso.onmicrosoft.com"],
        1,
    );
    tenant.timings = timings;
    add_admin_app(&mut tenant);
    tenant
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_users_are_unique_and_each_has_a_license_unit() {
        let mut seed = SeedFile::contoso();
        let units_of = |s: &SeedFile| {
            s.skus
                .iter()
                .find(|k| k.sku_part_number == SeedFile::GENERATED_USERS_SKU)
                .map(|k| k.prepaid_units)
                .unwrap()
        };
        let (users, units) = (seed.users.len(), units_of(&seed));
        seed.add_generated_users(1000);
        assert_eq!(seed.users.len(), users + 1000);
        let generated: std::collections::HashSet<&str> = seed.users[users..]
            .iter()
            .map(|u| u.user_principal_name.as_str())
            .collect();
        assert_eq!(generated.len(), 1000);
        assert!(generated.contains(SeedFile::generated_upn(1).as_str()));
        assert!(generated.contains(SeedFile::generated_upn(1000).as_str()));
        let after = units_of(&seed);
        assert_eq!(after, units + 1000);
    }

    #[test]
    fn contoso_seed_has_the_runbook_objects() {
        let now = time::macros::datetime!(2026-01-05 08:00 UTC);
        let tenant = SeedFile::contoso()
            .build(DirectoryTimings::realistic(), now)
            .expect("valid seed");
        assert_eq!(tenant.tenant_id, CONTOSO_TENANT_ID);
        assert!(tenant.directory.user_count() >= 30);
        for name in [
            "cfg - Windows 365 - Provisioning - Win11",
            "cfg - Windows 365 - Provisioning - Win10",
            "cfg - Windows 365 - User Settings - restore allowed",
            "cfg - Windows 365 - User Settings - no restore",
            "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB",
            "lic - Windows 365 Enterprise - 2 vCPU 4 GB 256 GB",
        ] {
            assert_eq!(tenant.directory.groups_named(name).len(), 1, "{name}");
        }
        assert_eq!(tenant.directory.groups_named("Sales").len(), 2);
        let sku256 = tenant
            .licensing
            .sku("5265a84e-8def-4fa2-ab4b-5dc278df5025")
            .expect("256GB SKU");
        assert_eq!(sku256.available_units(), 1);
        let sku128 = tenant
            .licensing
            .sku("226ca751-f0a4-4232-9be5-73c02a92555e")
            .expect("128GB SKU");
        assert_eq!(sku128.consumed_units, 5);
        let alice = tenant
            .directory
            .user_by_key("ALICE.SMITH@contoso.com")
            .expect("alice");
        assert_eq!(alice.assigned_licenses().len(), 1);
        assert!(
            tenant
                .directory
                .user_by_key("nomail.user@contoso.com")
                .expect("user")
                .mail
                .is_none()
        );
        assert!(
            tenant
                .directory
                .user_by_key("ext.user_fabrikam.com#EXT#@contoso.onmicrosoft.com")
                .is_some()
        );
        assert!(tenant.apps.get(ADMIN_CLIENT_ID).is_some());
        assert_eq!(tenant.timings, DirectoryTimings::realistic());
    }

    #[test]
    fn seeds_are_deterministic() {
        let now = time::macros::datetime!(2026-01-05 08:00 UTC);
        let a = SeedFile::contoso()
            .build(DirectoryTimings::fast(), now)
            .expect("valid");
        let b = SeedFile::contoso()
            .build(DirectoryTimings::fast(), now)
            .expect("valid");
        let ids_a: Vec<_> = a.directory.users().map(|u| u.id.clone()).collect();
        let ids_b: Vec<_> = b.directory.users().map(|u| u.id.clone()).collect();
        assert_eq!(ids_a, ids_b);
    }

    #[test]
    fn unknown_members_and_skus_are_reported() {
        let text = r#"{"tenant":{"id":"11111111-1111-4111-8111-111111111111","displayName":"T"},
            "groups":[{"displayName":"G","members":["ghost@t.com"]}]}"#;
        let err = SeedFile::parse(text, "t.json")
            .expect("parses")
            .build(DirectoryTimings::fast(), time::OffsetDateTime::UNIX_EPOCH)
            .expect_err("unknown member");
        assert!(err.to_string().contains("ghost@t.com"), "{err}");
        let text = r#"{"tenant":{"id":"11111111-1111-4111-8111-111111111111","displayName":"T"},"skus":[{"skuPartNumber":"NOPE","prepaidUnits":1}]}"#;
        assert!(
            SeedFile::parse(text, "t.json")
                .expect("parses")
                .build(DirectoryTimings::fast(), time::OffsetDateTime::UNIX_EPOCH)
                .is_err()
        );
    }
}
