//! Authorization, decided on the server for every request and every event stream:
//! roles (from the token), tenant scopes (from the config), protected users (VIP groups, checked
//! through Graph with transitive membership). A refusal on a protected user is audited.

use std::sync::Arc;

use w365_jobs::{Identity, Job, NewAuditRecord};

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::state::{AppState, Tenant};

impl Principal {
    /// The job store's copy of who asked.
    pub fn identity(&self) -> Identity {
        Identity {
            object_id: self.object_id.clone(),
            upn: self.upn.clone(),
            display_name: self.display_name.clone(),
        }
    }
}

/// The role an operation's declaration asks for.
pub fn role_for(spec: w365_ops::spec::Role) -> Role {
    match spec {
        w365_ops::spec::Role::Reader => Role::Reader,
        w365_ops::spec::Role::Helpdesk => Role::Helpdesk,
        w365_ops::spec::Role::Admin => Role::Admin,
    }
}

impl AppState {
    /// Whether `who` may see or act on `tenant` (the tenant scope; every tenant when unscoped).
    pub fn in_scope(&self, who: &Principal, tenant: &str) -> bool {
        self.scopes()
            .of(&who.upn, &who.object_id)
            .is_none_or(|allowed| allowed.iter().any(|t| t == tenant))
    }

    /// The tenant, when it exists and `who` is in scope for it (Reader at least).
    pub fn tenant_for(&self, who: &Principal, name: &str) -> Result<Arc<Tenant>, ApiError> {
        who.require(Role::Reader, "Reading w365 data")?;
        let tenant = self.tenant(name).ok_or_else(|| {
            let known: Vec<&str> = self
                .tenants()
                .filter(|t| self.in_scope(who, &t.name))
                .map(|t| t.name.as_str())
                .collect();
            ApiError::not_found(format!("There is no tenant named '{name}'.")).with_fix(format!(
                "Use one of: {}.",
                if known.is_empty() {
                    "(none)".to_owned()
                } else {
                    known.join(", ")
                }
            ))
        })?;
        if !self.in_scope(who, name) {
            return Err(ApiError::forbidden(
                format!("You are not allowed to work on the tenant '{name}'."),
                "Ask an administrator to add this tenant to your tenant scope in the server's config.",
            ));
        }
        Ok(Arc::clone(tenant))
    }

    /// A job `who` may see (in scope for its tenant); 404 when it does not exist.
    pub async fn visible_job(&self, who: &Principal, id: &str) -> Result<Job, ApiError> {
        who.require(Role::Reader, "Reading jobs")?;
        let id: w365_jobs::JobId = id.parse().map_err(|_| {
            ApiError::bad_request(
                format!("'{id}' is not a job id."),
                "Job ids are UUIDs, as returned by POST /api/v1/jobs.",
            )
        })?;
        let job = self
            .store()
            .get(id)
            .await
            .map_err(|e| ApiError::internal("Could not read the job", &e))?
            .ok_or_else(|| ApiError::not_found(format!("There is no job {id}.")))?;
        if !self.in_scope(who, &job.tenant) {
            return Err(ApiError::forbidden(
                format!(
                    "The job {id} belongs to the tenant '{}', outside your tenant scope.",
                    job.tenant
                ),
                "Ask an administrator to add this tenant to your tenant scope.",
            ));
        }
        Ok(job)
    }

    /// Refuses (403, audited) when `target` is a member of a protected group and `who` is no
    /// Admin. A target that does not exist is not protected (the operation reports it).
    pub async fn check_protected(
        &self,
        who: &Principal,
        tenant: &Tenant,
        operation: &str,
        target: Option<&str>,
        input: &serde_json::Value,
        request_id: &str,
    ) -> Result<(), ApiError> {
        let Some(target) = target else { return Ok(()) };
        if who.has(Role::Admin) || tenant.protected_groups.is_empty() {
            return Ok(());
        }
        let groups = tenant
            .protected_group_ids()
            .await
            .map_err(|e| ApiError::unavailable(format!("Cannot check protected users: {e}")))?;
        let unavailable = |e: &dyn std::fmt::Display| {
            ApiError::unavailable(format!("Cannot check protected users: {e}"))
        };
        let user = match tenant.client.users().get_opt(target).await {
            Ok(Some(user)) => user,
            // Not a user: a Cloud PC id. Its user is who is protected (or not).
            Ok(None) => match w365_ops::cloud_pc::resolve_one(&tenant.client, target).await {
                Ok(pc) => {
                    let Some(upn) = pc.user_principal_name.filter(|u| !u.is_empty()) else {
                        return Ok(());
                    };
                    match tenant.client.users().get_opt(&upn).await {
                        Ok(Some(user)) => user,
                        Ok(None) => return Ok(()),
                        Err(e) => return Err(unavailable(&e)),
                    }
                }
                // Nothing by that name: the operation itself reports it.
                Err(e) if e.kind() == w365_ops::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(unavailable(&e)),
            },
            Err(e) => return Err(unavailable(&e)),
        };
        let member_of = tenant
            .client
            .users()
            .check_member_groups(&user.id, groups)
            .await
            .map_err(|e| ApiError::unavailable(format!("Cannot check protected users: {e}")))?;
        if member_of.is_empty() {
            return Ok(());
        }
        let record = NewAuditRecord {
            at: None,
            actor: who.identity(),
            tenant: tenant.name.clone(),
            operation: operation.to_owned(),
            target: Some(target.to_owned()),
            input: input.clone(),
            outcome: "refused".to_owned(),
            job_id: None,
            request_id: Some(request_id.to_owned()),
        };
        if let Err(e) = self.store().audit_append(record).await {
            return Err(ApiError::internal("Could not write the audit record", &e));
        }
        tracing::warn!(operator = %who.upn, %target, operation, "refused: protected user");
        Err(ApiError::forbidden(
            format!("{target} is a protected user: only w365 Admins may run operations on them."),
            "Ask a w365 Admin to run this operation.",
        ))
    }
}
