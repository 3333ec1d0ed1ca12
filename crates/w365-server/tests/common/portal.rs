//! A browser-less portal client: cookies by hand, no redirects followed, sign-in through the
//! simulator's authorize form (the same requests a browser makes).

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

use super::Harness;

pub struct Portal {
    pub http: reqwest::Client,
    pub base: String,
    pub cookies: BTreeMap<String, String>,
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> String {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// The `Set-Cookie` header for `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The value of the first `name="csrf"` hidden field of the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = self.body[start..].find('"').expect("end of value") + start;
        self.body[start..end].to_owned()
    }
}

impl Portal {
    pub fn new(h: &Harness) -> Self {
        Self {
            http: h.http.clone(),
            base: h.url(""),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, headers: &HeaderMap) {
        for value in headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            let first = value.split(';').next().unwrap_or("");
            if let Some((k, v)) = first.split_once('=') {
                let deleted = value.contains("Max-Age=0") || v.is_empty();
                if deleted {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
    }

    async fn answer(&mut self, r: reqwest::Response) -> Answer {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        self.keep_cookies(&headers);
        Answer {
            status,
            headers,
            body: r.text().await.unwrap_or_default(),
        }
    }

    fn absolute(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let r = self
            .http
            .get(self.absolute(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("get");
        self.answer(r).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let r = self
            .http
            .post(self.absolute(path))
            .header("cookie", self.cookie_header())
            .form(fields)
            .send()
            .await
            .expect("post");
        self.answer(r).await
    }

    /// Signs in as the demo operator `role` (`reader`, `helpdesk`, `admin`), as a browser would;
    /// the answer of the callback (a redirect to `next`).
    pub async fn sign_in_as(&mut self, upn: &str, next: &str) -> Answer {
        let start = self.get(&format!("/signin?next={}", urlencode(next))).await;
        assert_eq!(
            start.status, 303,
            "sign-in starts with a redirect: {}",
            start.body
        );
        let authorize = url::Url::parse(&start.location()).expect("authorize url");
        let mut form: Vec<(String, String)> = authorize
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        form.push(("login_hint".into(), upn.to_owned()));
        let mut action = authorize.clone();
        action.set_query(None);
        let picked = self
            .http
            .post(action.as_str())
            .form(&form)
            .send()
            .await
            .expect("authorize form");
        assert_eq!(
            picked.status().as_u16(),
            302,
            "the simulator answers with the code"
        );
        let callback = picked.headers()[LOCATION]
            .to_str()
            .expect("callback")
            .to_owned();
        self.get(&callback).await
    }

    pub async fn sign_in(&mut self, role: &str) -> Answer {
        let op = w365_sim::oidc::demo_operator(role).expect("demo operator");
        let done = self.sign_in_as(op.upn, "/users").await;
        assert_eq!(done.status, 303, "signed in: {}", done.body);
        done
    }
}

pub fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Advances the simulator's virtual clock through its admin API (`POST /_sim/clock/advance`).
pub async fn advance_sim_clock(h: &Harness, minutes: u64) {
    let r = h
        .http
        .post(format!("{}_sim/clock/advance", h.sim.base_url()))
        .header(w365_sim::ADMIN_KEY_HEADER, h.sim.admin_key().expose())
        .json(&serde_json::json!({"minutes": minutes}))
        .send()
        .await
        .expect("advance the clock");
    assert!(r.status().is_success(), "clock advance: {}", r.status());
}

/// The value of the hidden field `name` of the form with id `form_id`.
pub fn form_fields(body: &str, form_id: &str) -> Vec<(String, String)> {
    let start = body
        .find(&format!("id=\"{form_id}\""))
        .unwrap_or_else(|| panic!("no form {form_id} in the page"));
    let end = body[start..].find("</form>").expect("end of form") + start;
    let form = &body[start..end];
    let mut out = Vec::new();
    for input in form.split("<input").skip(1) {
        let attr = |name: &str| {
            let marker = format!("{name}=\"");
            input.find(&marker).map(|i| {
                let rest = &input[i + marker.len()..];
                html_unescape(&rest[..rest.find('"').unwrap_or(0)])
            })
        };
        let kind = attr("type").unwrap_or_default();
        let Some(name) = attr("name") else { continue };
        if kind == "checkbox" && !input.contains(" checked") {
            continue;
        }
        out.push((name, attr("value").unwrap_or_default()));
    }
    out
}

pub fn html_unescape(text: &str) -> String {
    text.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
