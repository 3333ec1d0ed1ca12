//! A lean HTTP/1.1 load generator: N keep-alive connections, each sending one request after
//! another, built on hyper's connection API so the client spends as little CPU as possible
//! (it shares the machine's cores with the server it measures).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What to send and for how long.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub addr: SocketAddr,
    /// Value of the Host header (the server builds absolute links from it).
    pub host: String,
    /// Full `Authorization` header value. Held only in memory, never printed.
    pub authorization: Arc<str>,
    /// Path and query of each request, used round-robin.
    pub paths: Arc<Vec<String>>,
    pub connections: usize,
    /// Requests completing before this much time are not counted (connections warm up).
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
}

/// What was measured in the window.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Answers with status 200 completed inside the window.
    pub ok: u64,
    /// Other statuses inside the window.
    pub non_ok: u64,
    /// First non-200 status seen, to say what went wrong.
    pub first_non_ok: Option<u16>,
    /// Every answer completed before the window ended, warm-up included.
    pub completed: u64,
    /// Latencies of every request completed inside the window, in microseconds.
    pub latencies_us: Vec<u32>,
    pub window: Duration,
}

impl LoadResult {
    /// Successful requests per second over the window.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64()
    }
}

/// Runs the load and gathers the figures of every connection.
pub async fn run(spec: LoadSpec) -> anyhow::Result<LoadResult> {
    anyhow::ensure!(spec.connections > 0, "at least one connection");
    anyhow::ensure!(!spec.paths.is_empty(), "at least one path");
    let start = Instant::now();
    let window_start = start + spec.warmup;
    let window_end = window_start + spec.duration;
    let mut tasks = Vec::with_capacity(spec.connections);
    for index in 0..spec.connections {
        let spec = spec.clone();
        tasks.push(tokio::spawn(async move {
            connection(spec, index, window_start, window_end).await
        }));
    }
    let mut total = LoadResult {
        window: spec.duration,
        ..LoadResult::default()
    };
    for task in tasks {
        let part = task.await.context("load task panicked")??;
        total.ok += part.ok;
        total.non_ok += part.non_ok;
        total.completed += part.completed;
        total.first_non_ok = total.first_non_ok.or(part.first_non_ok);
        total.latencies_us.extend(part.latencies_us);
    }
    Ok(total)
}

async fn connection(
    spec: LoadSpec,
    index: usize,
    window_start: Instant,
    window_end: Instant,
) -> anyhow::Result<LoadResult> {
    let stream = TcpStream::connect(spec.addr)
        .await
        .with_context(|| format!("connecting to {}", spec.addr))?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake")?;
    tokio::spawn(async move {
        // The connection ends when the sender is dropped; an error here shows up as a
        // failed send below.
        let _ = conn.await;
    });
    let mut result = LoadResult::default();
    let mut next = index;
    loop {
        let path = &spec.paths[next % spec.paths.len()];
        next += spec.connections;
        let request = http::Request::get(path.as_str())
            .header(http::header::HOST, spec.host.as_str())
            .header(http::header::AUTHORIZATION, &*spec.authorization)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .context("building a request")?;
        sender.ready().await.context("connection closed")?;
        let sent = Instant::now();
        let response = sender
            .send_request(request)
            .await
            .context("sending a request")?;
        let status = response.status().as_u16();
        response
            .into_body()
            .collect()
            .await
            .context("reading a response body")?;
        let done = Instant::now();
        if done >= window_end {
            break;
        }
        result.completed += 1;
        if done < window_start {
            continue;
        }
        let micros = u32::try_from(done.duration_since(sent).as_micros()).unwrap_or(u32::MAX);
        result.latencies_us.push(micros);
        if status == 200 {
            result.ok += 1;
        } else {
            result.non_ok += 1;
            result.first_non_ok.get_or_insert(status);
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Sim;

    #[tokio::test]
    async fn counts_answers_by_status_inside_the_window() {
        let sim = Sim::start_contoso().await.expect("simulator");
        let token = sim.access_token().await.expect("token");
        let spec = |authorization: String| LoadSpec {
            addr: sim.addr(),
            host: sim.host(),
            authorization: Arc::from(authorization),
            paths: Arc::new(vec!["/v1.0/users?$top=1".to_owned()]),
            connections: 2,
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(200),
        };

        let good = run(spec(format!("Bearer {token}"))).await.expect("load");
        let bad = run(spec("Bearer not-a-token".to_owned()))
            .await
            .expect("load");

        assert!(good.ok > 0 && good.non_ok == 0, "{good:?}");
        assert!(good.completed >= good.ok);
        assert_eq!(good.latencies_us.len() as u64, good.ok);
        assert!(bad.ok == 0 && bad.non_ok > 0);
        assert_eq!(bad.first_non_ok, Some(401));
        sim.shutdown().await;
    }
}
