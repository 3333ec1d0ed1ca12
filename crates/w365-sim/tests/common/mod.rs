//! Shared helpers: one simulator per test on 127.0.0.1:0, a reqwest client, tokens.
#![allow(dead_code)]

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use w365_sim::{AppCredentials, SimConfig, SimHandle};

pub struct Sim {
    pub handle: SimHandle,
    pub client: reqwest::Client,
    pub token: String,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    pub fn values(&self) -> &Vec<Value> {
        self.body["value"].as_array().expect("a collection answer")
    }
}

/// The contoso simulator, with a token that outlives the clock advances of a test (tokens are
/// on the virtual clock; tests of expiry choose their own lifetime with [`start_with`]).
pub async fn start() -> Sim {
    let mut cfg = SimConfig::contoso();
    cfg.token_lifetime = std::time::Duration::from_secs(365 * 86_400);
    start_with(cfg).await
}

pub async fn start_with(cfg: SimConfig) -> Sim {
    let handle = w365_sim::spawn(cfg).await.expect("simulator starts");
    let client = reqwest::Client::new();
    let mut sim = Sim {
        handle,
        client,
        token: String::new(),
    };
    let admin = sim.handle.admin_app();
    sim.token = sim.token_for(&admin).await;
    sim
}

impl Sim {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.handle.base_url(), path.trim_start_matches('/'))
    }

    pub async fn token_for(&self, app: &AppCredentials) -> String {
        let tenant = self.handle.tenant_id();
        let response = self
            .client
            .post(self.url(&format!("{tenant}/oauth2/v2.0/token")))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", app.client_id.as_str()),
                ("client_secret", app.client_secret.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), StatusCode::OK, "token endpoint");
        let body: Value = response.json().await.expect("token JSON");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// A token for a new app holding exactly `roles`.
    pub async fn token_with_roles(&self, roles: &[&str]) -> String {
        let app = self.handle.create_app("test app", roles);
        self.token_for(&app).await
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.client.request(method, self.url(path));
        // The admin API needs the simulator's admin key: sent for every `/_sim` path, so tests
        // of the admin API read as before (tests of the guard itself use `raw`).
        if path.trim_start_matches('/').starts_with("_sim") {
            request = request.header(w365_sim::ADMIN_KEY_HEADER, self.handle.admin_key().expose());
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, Some(&self.token), &[], None)
            .await
    }

    pub async fn get_eventual(&self, path: &str) -> Answer {
        self.call(
            Method::GET,
            path,
            Some(&self.token),
            &[("ConsistencyLevel", "eventual")],
            None,
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(&self.token), &[], Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(&self.token), &[], Some(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, Some(&self.token), &[], None)
            .await
    }

    /// Object id of a user by UPN, straight from the state.
    pub fn user_id(&self, upn: &str) -> String {
        self.handle.with_state(|s| {
            s.default_tenant()
                .and_then(|t| t.directory.user_id_by_upn(upn).map(str::to_owned))
                .expect("seeded user")
        })
    }

    /// Object id of the single group with this display name.
    pub fn group_id(&self, name: &str) -> String {
        self.handle.with_state(|s| {
            let ids = s
                .default_tenant()
                .expect("tenant")
                .directory
                .groups_named(name)
                .to_vec();
            assert_eq!(ids.len(), 1, "{name}");
            ids[0].clone()
        })
    }

    /// `@odata.id` reference body for an object.
    pub fn reference(&self, id: &str) -> Value {
        serde_json::json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}") })
    }
}

/// Asserts Graph's error shape and the request-id headers.
pub fn assert_graph_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.text);
    assert_eq!(answer.code(), code, "{}", answer.text);
    let inner = &answer.body["error"]["innerError"];
    let request_id = answer
        .headers
        .get("request-id")
        .and_then(|v| v.to_str().ok())
        .expect("request-id header");
    assert_eq!(
        inner["request-id"].as_str(),
        Some(request_id),
        "{}",
        answer.text
    );
    assert!(
        inner["date"].as_str().is_some_and(|d| d.len() == 19),
        "{}",
        answer.text
    );
    assert!(
        inner["client-request-id"].as_str().is_some(),
        "{}",
        answer.text
    );
}
