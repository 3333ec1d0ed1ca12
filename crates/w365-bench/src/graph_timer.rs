//! A timing relay in front of the simulator: it forwards every request unchanged (the Host
//! header too, so the links the simulator builds point back at the relay) and records when each
//! Graph request was in flight, keyed by the job that sent it.
//!
//! The operations handler gives each job run a Graph client of its own whose User-Agent names
//! the job (`w365/… (worker) job/ID`); the runs of one tenant share the connections and the
//! access token. The time a job spent **waiting on Graph** is the union of the in-flight
//! intervals of its requests (requests it sends at once are not counted twice; its runs never
//! overlap). Requests without a bearer token (token requests) are counted apart; a request with
//! a bearer token and no job in its User-Agent is keyed by the token.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};

struct Relay {
    upstream: String,
    http: reqwest::Client,
    /// In-flight intervals per job (or token digest; the token itself is never kept).
    intervals: Mutex<HashMap<u64, Vec<(Instant, Instant)>>>,
    unauthenticated: Mutex<(u64, Duration)>,
}

pub struct GraphTimer {
    relay: Arc<Relay>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// What the relay measured.
#[derive(Debug, Clone, Copy)]
pub struct GraphWait {
    /// Distinct jobs seen.
    pub runs: usize,
    /// Requests with a bearer token.
    pub requests: u64,
    /// Σ over runs of the union of their requests' in-flight intervals.
    pub wait: Duration,
    /// Requests without a bearer token (token requests) and their summed time.
    pub unauthenticated: (u64, Duration),
}

impl GraphTimer {
    /// Starts the relay on 127.0.0.1:0 in front of `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &url::Url) -> anyhow::Result<Self> {
        let relay = Arc::new(Relay {
            upstream: upstream.as_str().trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(64)
                .build()
                .context("relay HTTP client")?,
            intervals: Mutex::new(HashMap::new()),
            unauthenticated: Mutex::new((0, Duration::ZERO)),
        });
        let router = axum::Router::new()
            .fallback(forward)
            .with_state(relay.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            relay,
            addr,
            stop: Some(stop),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The waits measured so far.
    pub fn wait(&self) -> GraphWait {
        let intervals = self
            .relay
            .intervals
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut wait = Duration::ZERO;
        let mut requests = 0;
        for list in intervals.values() {
            requests += list.len() as u64;
            wait += union(list);
        }
        GraphWait {
            runs: intervals.len(),
            requests,
            wait,
            unauthenticated: *self
                .relay
                .unauthenticated
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        }
    }
}

impl Drop for GraphTimer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Total length of the union of intervals.
pub fn union(list: &[(Instant, Instant)]) -> Duration {
    let mut sorted = list.to_vec();
    sorted.sort_by_key(|(start, _)| *start);
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (start, end) in sorted {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        total += e - s;
    }
    total
}

fn digest(value: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

async fn forward(State(relay): State<Arc<Relay>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return (StatusCode::BAD_REQUEST, "unreadable body").into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let job = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split_once(" job/"))
        .map(|(_, job)| digest(job.as_bytes()));
    let key = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| job.unwrap_or_else(|| digest(v.as_bytes())));
    let mut headers = parts.headers.clone();
    headers.remove(HeaderName::from_static("content-length"));
    let started = Instant::now();
    let answer = relay
        .http
        .request(parts.method, format!("{}{path}", relay.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let response = match answer {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            match answer.bytes().await {
                Ok(bytes) => {
                    let mut response = Response::new(Body::from(bytes));
                    *response.status_mut() = status;
                    *response.headers_mut() = headers;
                    response.headers_mut().remove(header::TRANSFER_ENCODING);
                    response.headers_mut().remove(header::CONTENT_LENGTH);
                    response
                }
                Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
            }
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let finished = Instant::now();
    match key {
        Some(key) => relay
            .intervals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .push((started, finished)),
        None => {
            let mut u = relay
                .unauthenticated
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            u.0 += 1;
            u.1 += finished - started;
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_intervals_count_once() {
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        let list = [
            (ms(0), ms(50)),
            (ms(10), ms(60)),
            (ms(100), ms(150)),
            (ms(120), ms(130)),
        ];
        assert_eq!(union(&list), Duration::from_millis(110));
        assert_eq!(union(&[]), Duration::ZERO);
    }
}
