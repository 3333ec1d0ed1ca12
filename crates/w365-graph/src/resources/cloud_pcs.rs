//! `/deviceManagement/virtualEndpoint/cloudPCs` (beta for status; `Prefer:
//! include-unknown-enum-members` on every call).

use serde_json::json;

use super::{prefer_unknown_enums, virtual_endpoint};
use crate::client::{ApiVersion, Client};
use crate::error::Result;
use crate::models::{CloudPc, CloudPcV1, ReprovisionOptions};
use crate::odata::{Filter, Query};
use crate::retry::Idempotency;

/// Cloud PCs.
#[derive(Debug, Clone)]
pub struct CloudPcsHandler {
    client: Client,
}

impl CloudPcsHandler {
    pub(crate) fn new(client: Client) -> Self {
        CloudPcsHandler { client }
    }

    fn query(filter: Option<Filter>) -> Query {
        match filter {
            Some(f) => Query::new().filter(f),
            None => Query::new(),
        }
    }

    /// All Cloud PCs (beta shape, with status), optionally filtered.
    pub async fn list(&self, filter: Option<Filter>) -> Result<Vec<CloudPc>> {
        self.client
            .list_with(
                ApiVersion::Beta,
                &virtual_endpoint("cloudPCs", [""; 0]),
                &Self::query(filter),
                prefer_unknown_enums(),
            )
            .collect_all()
            .await
    }

    /// The Cloud PCs assigned to one user (any status), by `userPrincipalName` (compared again
    /// case-insensitively here, so a lenient server filter never hands over someone else's).
    pub async fn list_of_user(&self, upn: &str) -> Result<Vec<CloudPc>> {
        let pcs = self
            .list(Some(Filter::eq("userPrincipalName", upn)))
            .await?;
        Ok(pcs
            .into_iter()
            .filter(|pc| {
                pc.user_principal_name
                    .as_deref()
                    .is_none_or(|u| u.eq_ignore_ascii_case(upn))
            })
            .collect())
    }

    /// All Cloud PCs in the v1.0 shape (no status).
    pub async fn list_v1(&self, filter: Option<Filter>) -> Result<Vec<CloudPcV1>> {
        self.client
            .list_with(
                ApiVersion::V1,
                &virtual_endpoint("cloudPCs", [""; 0]),
                &Self::query(filter),
                prefer_unknown_enums(),
            )
            .collect_all()
            .await
    }

    /// One Cloud PC (beta).
    pub async fn get(&self, id: &str) -> Result<CloudPc> {
        self.client
            .get_with(
                ApiVersion::Beta,
                &virtual_endpoint("cloudPCs", [id]),
                &Query::new(),
                prefer_unknown_enums(),
            )
            .await
    }

    /// Like [`get`](Self::get); 404 gives `None`.
    pub async fn get_opt(&self, id: &str) -> Result<Option<CloudPc>> {
        crate::client::none_if_not_found(self.get(id).await)
    }

    /// Runs a Cloud PC action; `idempotency` says whether repeating it after Graph may have
    /// processed it is harmless (declared per action below).
    async fn action(
        &self,
        id: &str,
        action: &str,
        body: Option<serde_json::Value>,
        idempotency: Idempotency,
    ) -> Result<()> {
        self.client
            .post_no_content_with(
                ApiVersion::Beta,
                &virtual_endpoint("cloudPCs", [id, action]),
                body.as_ref(),
                prefer_unknown_enums(),
                idempotency,
            )
            .await
    }

    /// Ends the grace period now (destructive: deprovisions).
    pub async fn end_grace_period(&self, id: &str) -> Result<()> {
        // The grace period ends once; a repeat leaves the Cloud PC deprovisioning as before.
        self.action(id, "endGracePeriod", None, Idempotency::Idempotent)
            .await
    }

    /// Deletes and recreates the Cloud PC from its current policy.
    pub async fn reprovision(&self, id: &str, options: ReprovisionOptions) -> Result<()> {
        let body = serde_json::to_value(&options)
            .map_err(|e| crate::Error::invalid_input(format!("reprovision options: {e}")))?;
        // A repeat would wipe and rebuild the Cloud PC again.
        self.action(id, "reprovision", Some(body), Idempotency::NotIdempotent)
            .await
    }

    /// Resizes to another service plan (service plan GUID, not SKU id).
    pub async fn resize(&self, id: &str, target_service_plan_id: &str) -> Result<()> {
        self.action(
            id,
            "resize",
            Some(json!({ "targetServicePlanId": target_service_plan_id })),
            // A repeat would start a second resize (another restart of the Cloud PC).
            Idempotency::NotIdempotent,
        )
        .await
    }

    /// Restores a snapshot.
    pub async fn restore(&self, id: &str, snapshot_id: &str) -> Result<()> {
        self.action(
            id,
            "restore",
            Some(json!({ "cloudPcSnapshotId": snapshot_id })),
            // A repeat would restore again, losing what the user did in between.
            Idempotency::NotIdempotent,
        )
        .await
    }

    /// Reboots.
    pub async fn reboot(&self, id: &str) -> Result<()> {
        // A repeat restarts the user's session again.
        self.action(id, "reboot", None, Idempotency::NotIdempotent)
            .await
    }

    /// Changes the display name (not the device name).
    pub async fn rename(&self, id: &str, display_name: &str) -> Result<()> {
        // Setting a name: the same after a repeat.
        self.action(
            id,
            "rename",
            Some(json!({ "displayName": display_name })),
            Idempotency::Idempotent,
        )
        .await
    }

    /// Runs the health check.
    pub async fn troubleshoot(&self, id: &str) -> Result<()> {
        // A second health check changes nothing.
        self.action(id, "troubleshoot", None, Idempotency::Idempotent)
            .await
    }

    /// Powers on (frontline only).
    pub async fn power_on(&self, id: &str) -> Result<()> {
        // The target power state is the same after a repeat.
        self.action(id, "powerOn", None, Idempotency::Idempotent)
            .await
    }

    /// Powers off (frontline only).
    pub async fn power_off(&self, id: &str) -> Result<()> {
        // The target power state is the same after a repeat.
        self.action(id, "powerOff", None, Idempotency::Idempotent)
            .await
    }
}
