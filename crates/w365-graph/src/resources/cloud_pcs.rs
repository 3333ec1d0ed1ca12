//! `/deviceManagement/virtualEndpoint/cloudPCs` (beta for status; `Prefer:
//! include-unknown-enum-members` on every call).

use serde_json::json;

use super::{prefer_unknown_enums, virtual_endpoint};
use crate::client::{ApiVersion, Client};
use crate::error::Result;
use crate::models::{CloudPc, CloudPcV1, ReprovisionOptions};
use crate::odata::{Filter, Query};

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

    async fn action(&self, id: &str, action: &str, body: Option<serde_json::Value>) -> Result<()> {
        self.client
            .post_no_content_with(
                ApiVersion::Beta,
                &virtual_endpoint("cloudPCs", [id, action]),
                body.as_ref(),
                prefer_unknown_enums(),
            )
            .await
    }

    /// Ends the grace period now (destructive: deprovisions).
    pub async fn end_grace_period(&self, id: &str) -> Result<()> {
        self.action(id, "endGracePeriod", None).await
    }

    /// Deletes and recreates the Cloud PC from its current policy.
    pub async fn reprovision(&self, id: &str, options: ReprovisionOptions) -> Result<()> {
        let body = serde_json::to_value(&options)
            .map_err(|e| crate::Error::invalid_input(format!("reprovision options: {e}")))?;
        self.action(id, "reprovision", Some(body)).await
    }

    /// Resizes to another service plan (service plan GUID, not SKU id).
    pub async fn resize(&self, id: &str, target_service_plan_id: &str) -> Result<()> {
        self.action(
            id,
            "resize",
            Some(json!({ "targetServicePlanId": target_service_plan_id })),
        )
        .await
    }

    /// Restores a snapshot.
    pub async fn restore(&self, id: &str, snapshot_id: &str) -> Result<()> {
        self.action(
            id,
            "restore",
            Some(json!({ "cloudPcSnapshotId": snapshot_id })),
        )
        .await
    }

    /// Reboots.
    pub async fn reboot(&self, id: &str) -> Result<()> {
        self.action(id, "reboot", None).await
    }

    /// Changes the display name (not the device name).
    pub async fn rename(&self, id: &str, display_name: &str) -> Result<()> {
        self.action(id, "rename", Some(json!({ "displayName": display_name })))
            .await
    }

    /// Runs the health check.
    pub async fn troubleshoot(&self, id: &str) -> Result<()> {
        self.action(id, "troubleshoot", None).await
    }

    /// Powers on (frontline only).
    pub async fn power_on(&self, id: &str) -> Result<()> {
        self.action(id, "powerOn", None).await
    }

    /// Powers off (frontline only).
    pub async fn power_off(&self, id: &str) -> Result<()> {
        self.action(id, "powerOff", None).await
    }
}
