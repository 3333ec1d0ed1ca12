//! The "Assign Windows365" runbook's Graph request pattern, as a baseline strategy for the
//! `assign` benchmark.
//!
//! Written from the runbook's documented behaviour (RealmJoin runbook
//! user/general/assign-windows365.ps1, dedicated path, without notification):
//! 1. the provisioning policy by display name (beta, `$expand=assignments`);
//! 2. the provisioning, user-settings and license groups by display name (one request each);
//! 3. the license group's assignedLicenses, then every subscribed SKU (capacity check);
//! 4. every member of the license group (is the user already licensed?);
//! 5. the user by userPrincipalName;
//! 6. every group whose name starts with the provisioning prefix, and every member of each;
//!    the user is added to the provisioning group unless found; the same for the user-settings
//!    prefix and group;
//! 7. for each of the two prefixes, while the user has not been seen in one of its groups:
//!    sleep 15 s, then read every prefix group and every member again;
//! 8. the user is added to the license group.
//!
//! Differences, on purpose: the runbook reads `/groups/{id}/assignedLicenses`; the baseline
//! reads `/groups/{id}?$select=assignedLicenses` (one request either way). Collections are read
//! to their last page (following `@odata.nextLink`, Graph's default page size), as "read every
//! member" implies. The 15 s sleeps are NOT slept: each one advances the simulator's virtual
//! clock by 15 s and is added to the reported simulated time.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;
use url::Url;
use w365_sim::SimHandle;

use w365_graph::odata::Filter;

use crate::sim::{encode_query_value, encode_segment};

/// The runbook's fixed sleep between re-checks.
pub const RUNBOOK_SLEEP: Duration = Duration::from_secs(15);

/// A bound the runbook does not have, so a benchmark cannot loop forever.
const MAX_SLEEPS: u32 = 40;

/// [`Outcome::result`] when the user was added to the license group.
pub const ASSIGNED: &str = "license group assigned";

/// The runbook's inputs used by the dedicated path.
#[derive(Debug, Clone)]
pub struct Params {
    pub user_upn: String,
    pub provisioning_group: String,
    pub user_settings_group: String,
    pub license_group: String,
    pub provisioning_prefix: String,
    pub user_settings_prefix: String,
}

/// What one baseline run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// HTTP requests sent to Graph (the token request not included).
    pub requests: u64,
    /// Number of 15 s sleeps the runbook would have slept.
    pub sleeps: u32,
    /// Real elapsed time (without the sleeps).
    pub wall: Duration,
    /// How it ended, in the runbook's own terms.
    pub result: String,
}

impl Outcome {
    /// The sleeps counted as simulated time.
    pub fn simulated_sleep(&self) -> Duration {
        RUNBOOK_SLEEP * self.sleeps
    }
}

struct Graph<'a> {
    http: reqwest::Client,
    base: Url,
    token: String,
    requests: u64,
    sim: &'a SimHandle,
    sleeps: u32,
}

impl Graph<'_> {
    async fn get(&mut self, relative: &str) -> anyhow::Result<Value> {
        let url = self.base.join(relative).context("Graph URL")?;
        self.get_url(url.as_str()).await
    }

    async fn get_url(&mut self, url: &str) -> anyhow::Result<Value> {
        self.requests += 1;
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .context("GET")?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "GET {url} answered {status}");
        response.json().await.context("response body")
    }

    /// Every item of a collection, following nextLink.
    async fn get_all(&mut self, relative: &str) -> anyhow::Result<Vec<Value>> {
        let mut page = self.get(relative).await?;
        let mut items = Vec::new();
        loop {
            if let Some(Value::Array(values)) = page.get_mut("value").map(Value::take) {
                items.extend(values);
            }
            match page.get("@odata.nextLink").and_then(Value::as_str) {
                Some(next) => {
                    let next = next.to_owned();
                    page = self.get_url(&next).await?;
                }
                None => return Ok(items),
            }
        }
    }

    async fn groups_named(&mut self, name: &str) -> anyhow::Result<Vec<Value>> {
        let filter = Filter::eq("displayName", name).to_string();
        self.get_all(&format!(
            "v1.0/groups?$filter={}",
            encode_query_value(&filter)
        ))
        .await
    }

    async fn add_member(&mut self, group_id: &str, user_id: &str) -> anyhow::Result<()> {
        let url = self
            .base
            .join(&format!(
                "v1.0/groups/{}/members/$ref",
                encode_segment(group_id)
            ))
            .context("Graph URL")?;
        let odata_id = self
            .base
            .join(&format!(
                "v1.0/directoryObjects/{}",
                encode_segment(user_id)
            ))
            .context("directory object URL")?;
        self.requests += 1;
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .json(&serde_json::json!({ "@odata.id": odata_id.as_str() }))
            .send()
            .await
            .context("POST members/$ref")?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "POST members/$ref answered {status}");
        Ok(())
    }

    /// Reads every group starting with `prefix` and every member of each; true when `upn` is
    /// among them.
    async fn member_of_prefix(&mut self, prefix: &str, upn: &str) -> anyhow::Result<bool> {
        let filter = Filter::starts_with("displayName", prefix).to_string();
        let groups = self
            .get_all(&format!(
                "v1.0/groups?$filter={}",
                encode_query_value(&filter)
            ))
            .await?;
        let mut found = false;
        for group in groups {
            let id = id_of(&group)?;
            let members = self
                .get_all(&format!("v1.0/groups/{}/members", encode_segment(&id)))
                .await?;
            // The runbook does not stop at the first hit: it reads every group.
            found |= members.iter().any(|m| {
                m.get("userPrincipalName")
                    .and_then(Value::as_str)
                    .is_some_and(|u| u.eq_ignore_ascii_case(upn))
            });
        }
        Ok(found)
    }

    /// The runbook loops without bound; the baseline gives up after [`MAX_SLEEPS`].
    async fn sleep(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.sleeps < MAX_SLEEPS,
            "membership still not visible after {MAX_SLEEPS} sleeps"
        );
        self.sleeps += 1;
        self.sim.advance(RUNBOOK_SLEEP).await;
        Ok(())
    }
}

fn id_of(object: &Value) -> anyhow::Result<String> {
    object
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .context("object without id")
}

fn first(list: Vec<Value>, what: &str) -> anyhow::Result<Value> {
    list.into_iter()
        .next()
        .with_context(|| format!("{what} not found"))
}

/// Runs the runbook's dedicated path against the simulator.
pub async fn run(sim: &SimHandle, token: String, params: &Params) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let mut graph = Graph {
        http: reqwest::Client::new(),
        base: sim.base_url(),
        token,
        requests: 0,
        sim,
        sleeps: 0,
    };
    let finish = |graph: &Graph<'_>, result: &str| Outcome {
        requests: graph.requests,
        sleeps: graph.sleeps,
        wall: started.elapsed(),
        result: result.to_owned(),
    };

    let filter = Filter::eq("displayName", &params.provisioning_group).to_string();
    let policies = graph
        .get_all(&format!(
            "beta/deviceManagement/virtualEndpoint/provisioningPolicies?$filter={}&$expand=assignments",
            encode_query_value(&filter)
        ))
        .await?;
    if policies
        .first()
        .and_then(|p| p.get("provisioningType"))
        .and_then(Value::as_str)
        == Some("shared")
    {
        anyhow::bail!("the baseline models the dedicated path only; the policy is shared");
    }
    let provisioning_group = first(
        graph.groups_named(&params.provisioning_group).await?,
        "provisioning group",
    )?;
    let user_settings_group = first(
        graph.groups_named(&params.user_settings_group).await?,
        "user settings group",
    )?;
    let license_group = first(
        graph.groups_named(&params.license_group).await?,
        "license group",
    )?;
    let license_group_id = id_of(&license_group)?;

    let licenses = graph
        .get(&format!(
            "v1.0/groups/{}?$select=assignedLicenses",
            encode_segment(&license_group_id)
        ))
        .await?;
    let sku_id = licenses
        .pointer("/assignedLicenses/0/skuId")
        .and_then(Value::as_str)
        .context("license group without a license")?
        .to_owned();
    let skus = graph.get_all("v1.0/subscribedSkus").await?;
    let sku = skus
        .iter()
        .find(|s| s.get("skuId").and_then(Value::as_str) == Some(sku_id.as_str()))
        .context("SKU not in the tenant")?;
    let enabled = sku
        .pointer("/prepaidUnits/enabled")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let consumed = sku
        .get("consumedUnits")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if enabled <= consumed {
        return Ok(finish(&graph, "not enough licenses"));
    }

    let license_members = graph
        .get_all(&format!(
            "v1.0/groups/{}/members",
            encode_segment(&license_group_id)
        ))
        .await?;
    if license_members.iter().any(|m| {
        m.get("userPrincipalName")
            .and_then(Value::as_str)
            .is_some_and(|u| u.eq_ignore_ascii_case(&params.user_upn))
    }) {
        return Ok(finish(&graph, "SKU already assigned"));
    }

    let filter = Filter::eq("userPrincipalName", &params.user_upn).to_string();
    let user = first(
        graph
            .get_all(&format!(
                "v1.0/users?$filter={}",
                encode_query_value(&filter)
            ))
            .await?,
        "user",
    )?;
    let user_id = id_of(&user)?;

    let mut provisioning_assigned = graph
        .member_of_prefix(&params.provisioning_prefix, &params.user_upn)
        .await?;
    if !provisioning_assigned {
        graph
            .add_member(&id_of(&provisioning_group)?, &user_id)
            .await?;
    }
    let mut user_settings_assigned = graph
        .member_of_prefix(&params.user_settings_prefix, &params.user_upn)
        .await?;
    if !user_settings_assigned {
        graph
            .add_member(&id_of(&user_settings_group)?, &user_id)
            .await?;
    }
    while !provisioning_assigned {
        graph.sleep().await?;
        provisioning_assigned = graph
            .member_of_prefix(&params.provisioning_prefix, &params.user_upn)
            .await?;
    }
    while !user_settings_assigned {
        graph.sleep().await?;
        user_settings_assigned = graph
            .member_of_prefix(&params.user_settings_prefix, &params.user_upn)
            .await?;
    }
    graph.add_member(&license_group_id, &user_id).await?;
    Ok(finish(&graph, ASSIGNED))
}
