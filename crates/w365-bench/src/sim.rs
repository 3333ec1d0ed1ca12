//! A simulator started in this process on 127.0.0.1:0, and the raw HTTP calls the benchmarks
//! make to it outside the Graph client (token, user list).

use std::net::SocketAddr;

use anyhow::Context as _;
use serde::Deserialize;
use w365_sim::{SimConfig, SimHandle};

use w365_graph::odata::Filter;
/// The raw requests use the Graph client's own escaping and encoding, never their own.
pub use w365_graph::odata::{encode_path_segment as encode_segment, encode_query_value};

pub struct Sim {
    pub handle: SimHandle,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

#[derive(Deserialize)]
struct Page {
    value: Vec<serde_json::Value>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

impl Sim {
    pub async fn start(cfg: SimConfig) -> anyhow::Result<Self> {
        let handle = w365_sim::spawn(cfg)
            .await
            .context("starting the simulator")?;
        let http = reqwest::Client::builder()
            .build()
            .context("building an HTTP client")?;
        Ok(Sim { handle, http })
    }

    pub async fn start_contoso() -> anyhow::Result<Self> {
        Self::start(SimConfig::contoso()).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.addr()
    }

    /// `127.0.0.1:PORT`, the Host header value.
    pub fn host(&self) -> String {
        self.addr().to_string()
    }

    /// An access token of the simulator's admin app (client credentials with its secret).
    pub async fn access_token(&self) -> anyhow::Result<String> {
        let app = self.handle.admin_app();
        let url = self
            .handle
            .base_url()
            .join(&format!(
                "{}/oauth2/v2.0/token",
                encode_segment(&self.handle.tenant_id())
            ))
            .context("token endpoint URL")?;
        let response = self
            .http
            .post(url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", app.client_id.as_str()),
                ("client_secret", app.client_secret.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .context("token request")?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "token endpoint answered {status}");
        let token: TokenResponse = response.json().await.context("token response")?;
        Ok(token.access_token)
    }

    /// Every user's id and userPrincipalName, all pages.
    pub async fn user_ids_and_upns(&self, token: &str) -> anyhow::Result<Vec<(String, String)>> {
        let mut url = self
            .handle
            .base_url()
            .join("v1.0/users?$select=id,userPrincipalName&$top=999")
            .context("users URL")?
            .to_string();
        let mut users = Vec::new();
        loop {
            let response = self
                .http
                .get(&url)
                .bearer_auth(token)
                .send()
                .await
                .context("listing users")?;
            let status = response.status();
            anyhow::ensure!(status.is_success(), "GET users answered {status}");
            let page: Page = response.json().await.context("users page")?;
            for user in page.value {
                let field = |name: &str| user.get(name).and_then(|v| v.as_str()).map(str::to_owned);
                if let (Some(id), Some(upn)) = (field("id"), field("userPrincipalName")) {
                    users.push((id, upn));
                }
            }
            match page.next_link {
                Some(next) => url = next,
                None => break,
            }
        }
        Ok(users)
    }

    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

impl Sim {
    /// Size of the first page of the members of the (first) group with this display name.
    pub async fn first_members_page(&self, token: &str, group: &str) -> anyhow::Result<usize> {
        let filter = Filter::eq("displayName", group).to_string();
        let url = self
            .handle
            .base_url()
            .join(&format!(
                "v1.0/groups?$select=id&$filter={}",
                encode_query_value(&filter)
            ))
            .context("groups URL")?;
        let page: Page = self.get_json(url.as_str(), token).await?;
        let id = page
            .value
            .first()
            .and_then(|g| g.get("id"))
            .and_then(|v| v.as_str())
            .with_context(|| format!("group {group:?} not found"))?
            .to_owned();
        let url = self
            .handle
            .base_url()
            .join(&format!("v1.0/groups/{}/members", encode_segment(&id)))
            .context("members URL")?;
        let page: Page = self.get_json(url.as_str(), token).await?;
        Ok(page.value.len())
    }

    /// A user as Graph answers `GET /v1.0/users/{id or UPN}`.
    pub async fn user(&self, token: &str, id_or_upn: &str) -> anyhow::Result<serde_json::Value> {
        let url = self
            .handle
            .base_url()
            .join(&format!("v1.0/users/{}", encode_segment(id_or_upn)))
            .context("user URL")?;
        self.get_json(url.as_str(), token).await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        token: &str,
    ) -> anyhow::Result<T> {
        let response = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "GET {url} answered {status}");
        response.json().await.context("response body")
    }
}
