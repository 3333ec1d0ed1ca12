//! JSON batching (`POST /$batch`, reference §7.4): at most 20 requests per batch, `dependsOn`
//! chains kept inside one batch, results per item, and items answered with 429 (or 503/504)
//! resent after the longest `Retry-After` among them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::{ApiVersion, Client, decode};
use crate::error::{Error, GraphError, Result};
use crate::odata::{GraphPath, Query};
use crate::retry::{Decision, Idempotency, RetryState, is_retryable_status, parse_retry_after};

/// Graph's limit of requests per batch.
pub const BATCH_MAX: usize = 20;

/// One request inside a batch. `url` is relative (`/users/...`), built from a [`GraphPath`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRequest {
    /// Unique (case-insensitive) id within the batch.
    pub id: String,
    /// HTTP method.
    pub method: String,
    /// Relative URL with encoded path and query.
    pub url: String,
    /// Request headers (required with a body: `Content-Type`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// JSON body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Ids that must complete first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Whether the item may be resent after a 503/504 (see [`crate::retry`]); the method's
    /// default unless declared with [`BatchRequest::idempotent`]. Not sent to Graph.
    #[serde(skip)]
    pub idempotency: Idempotency,
    /// Built from a filter with an empty `in ()`: refused by [`BatchHandler::send`].
    #[serde(skip)]
    empty_in: bool,
}

impl BatchRequest {
    fn new(id: impl Into<String>, method: &str, url: String) -> Self {
        BatchRequest {
            id: id.into(),
            method: method.to_owned(),
            url,
            headers: BTreeMap::new(),
            body: None,
            depends_on: Vec::new(),
            idempotency: Idempotency::of_method(
                &reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST),
            ),
            empty_in: false,
        }
    }

    /// Declares the item safe to repeat after Graph may have processed it (e.g. a member add,
    /// whose repeat answers "already exist").
    pub fn idempotent(mut self) -> Self {
        self.idempotency = Idempotency::Idempotent;
        self
    }

    /// A GET (the query's headers, e.g. `ConsistencyLevel`, go into the item's headers).
    pub fn get(id: impl Into<String>, path: &GraphPath, query: &Query) -> Self {
        let mut r = Self::new(id, "GET", path.with_query(query));
        r.empty_in = query
            .filter_expr()
            .is_some_and(crate::odata::Filter::has_empty_in);
        for (k, v) in query.headers() {
            r.headers.insert(k.to_owned(), v.to_owned());
        }
        r
    }

    fn with_body(mut self, body: Value) -> Self {
        self.headers
            .insert("Content-Type".to_owned(), "application/json".to_owned());
        self.body = Some(body);
        self
    }

    /// A POST with a JSON body.
    pub fn post(id: impl Into<String>, path: &GraphPath, body: Value) -> Self {
        Self::new(id, "POST", path.to_string()).with_body(body)
    }

    /// A PATCH with a JSON body.
    pub fn patch(id: impl Into<String>, path: &GraphPath, body: Value) -> Self {
        Self::new(id, "PATCH", path.to_string()).with_body(body)
    }

    /// A DELETE.
    pub fn delete(id: impl Into<String>, path: &GraphPath) -> Self {
        Self::new(id, "DELETE", path.to_string())
    }

    /// Runs after `id` (which must be in the same `send`).
    pub fn depends_on(mut self, id: impl Into<String>) -> Self {
        self.depends_on.push(id.into());
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
}

/// The result of one batch item.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BatchResponse {
    /// The request's id.
    pub id: String,
    /// Its HTTP status (424 when a dependency failed).
    pub status: u16,
    /// Its headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Its body (absent for 204).
    #[serde(default)]
    pub body: Option<Value>,
}

impl BatchResponse {
    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Retry-After` of this item.
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("Retry-After")
            .and_then(|v| parse_retry_after(v, SystemTime::now()))
    }

    /// The item's failure as an [`Error::Api`], `None` on success.
    pub fn error(&self) -> Option<Error> {
        if self.is_success() {
            return None;
        }
        let raw = self
            .body
            .as_ref()
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        let mut headers = http::HeaderMap::new();
        for (k, v) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                headers.insert(name, value);
            }
        }
        Some(Error::Api {
            status: self.status,
            error: GraphError::from_response(self.status, &headers, &raw),
        })
    }

    /// Decodes the body of a successful item; a failed item yields its error.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        if let Some(e) = self.error() {
            return Err(e);
        }
        let raw = serde_json::to_vec(self.body.as_ref().unwrap_or(&Value::Null))
            .map_err(|e| Error::invalid_input(format!("batch item body: {e}")))?;
        decode(&format!("$batch item {}", self.id), &raw)
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    responses: Vec<BatchResponse>,
}

/// `$batch`.
#[derive(Debug, Clone)]
pub struct BatchHandler {
    client: Client,
    version: ApiVersion,
    pacer: Option<crate::limits::WritePacer>,
}

/// Splits requests into chunks of at most 20 that keep every `dependsOn` chain together,
/// preserving order. Fails on duplicate ids, unknown dependencies or a chain longer than 20.
pub fn plan_chunks(requests: &[BatchRequest]) -> Result<Vec<Vec<usize>>> {
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, r) in requests.iter().enumerate() {
        if r.id.is_empty() {
            return Err(Error::invalid_input("a batch request id is empty"));
        }
        if index.insert(r.id.to_ascii_lowercase(), i).is_some() {
            return Err(Error::invalid_input(format!(
                "duplicate batch request id {:?}",
                r.id
            )));
        }
    }
    // union-find over dependsOn
    let mut parent: Vec<usize> = (0..requests.len()).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for (i, r) in requests.iter().enumerate() {
        for dep in &r.depends_on {
            let j = *index.get(&dep.to_ascii_lowercase()).ok_or_else(|| {
                Error::invalid_input(format!(
                    "batch request {:?} depends on unknown id {dep:?}",
                    r.id
                ))
            })?;
            let (a, b) = (find(&mut parent, i), find(&mut parent, j));
            parent[a] = b;
        }
    }
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for i in 0..requests.len() {
        let root = find(&mut parent, i);
        match groups.iter_mut().find(|(r, _)| *r == root) {
            Some((_, members)) => members.push(i),
            None => groups.push((root, vec![i])),
        }
    }
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    for (_, members) in groups {
        if members.len() > BATCH_MAX {
            return Err(Error::invalid_input(format!(
                "a dependsOn chain of {} requests does not fit in one batch of {BATCH_MAX}",
                members.len()
            )));
        }
        match chunks.last_mut() {
            Some(last) if last.len() + members.len() <= BATCH_MAX => last.extend(members),
            _ => chunks.push(members),
        }
    }
    for chunk in &mut chunks {
        chunk.sort_unstable();
    }
    Ok(chunks)
}

impl BatchHandler {
    pub(crate) fn new(client: Client) -> Self {
        BatchHandler {
            client,
            version: ApiVersion::V1,
            pacer: None,
        }
    }

    /// Paces the writes under `pacer`: before each `$batch` request goes out (resends included),
    /// its writes (every item that is not a GET) are taken from the budget; a `$batch` of 20
    /// writes counts 20 ([`crate::limits`]).
    pub fn paced(mut self, pacer: &crate::limits::WritePacer) -> Self {
        self.pacer = Some(pacer.clone());
        self
    }

    /// Sends the batch to `beta` instead of `v1.0`.
    pub fn version(mut self, version: ApiVersion) -> Self {
        self.version = version;
        self
    }

    /// Sends all requests (in chunks of 20) and returns one response per request, in request
    /// order. Items throttled (429) are resent after the longest `Retry-After` of the chunk (or
    /// backoff) until the retry policy gives up; items answered 503/504 are resent only when
    /// they are idempotent; otherwise their last response is returned.
    pub async fn send(&self, requests: Vec<BatchRequest>) -> Result<Vec<BatchResponse>> {
        for r in &requests {
            if r.empty_in {
                return Err(Error::invalid_input(format!(
                    "batch request {:?} has a filter with an empty `in ()` list, which is invalid OData and matches nothing; leave it out of the batch",
                    r.id
                )));
            }
            if !r.url.starts_with('/') {
                return Err(Error::invalid_input(format!(
                    "batch request {:?} must use a relative URL starting with '/'",
                    r.id
                )));
            }
        }
        let chunks = plan_chunks(&requests)?;
        let mut results: HashMap<String, BatchResponse> = HashMap::new();
        for chunk in chunks {
            let items: Vec<&BatchRequest> = chunk.iter().map(|&i| &requests[i]).collect();
            self.send_chunk(&items, &mut results).await?;
        }
        requests
            .iter()
            .map(|r| {
                results.remove(&r.id.to_ascii_lowercase()).ok_or_else(|| {
                    Error::invalid_input(format!(
                        "the batch response has no result for request {:?}",
                        r.id
                    ))
                })
            })
            .collect()
    }

    async fn send_chunk(
        &self,
        items: &[&BatchRequest],
        results: &mut HashMap<String, BatchResponse>,
    ) -> Result<()> {
        let path = GraphPath::new(["$batch"]);
        let mut retry = RetryState::new(self.client.retry_policy());
        let mut pending: Vec<BatchRequest> = items.iter().map(|r| (*r).clone()).collect();
        loop {
            // The envelope may be resent only when every item in it may.
            let idempotency = if pending
                .iter()
                .all(|r| r.idempotency == Idempotency::Idempotent)
            {
                Idempotency::Idempotent
            } else {
                Idempotency::NotIdempotent
            };
            if let Some(pacer) = &self.pacer {
                let writes = pending
                    .iter()
                    .filter(|r| !r.method.eq_ignore_ascii_case("GET"))
                    .count();
                pacer
                    .acquire(u32::try_from(writes).unwrap_or(u32::MAX))
                    .await;
            }
            if let Some(gate) = self.client.write_gate() {
                let writes = pending
                    .iter()
                    .filter(|r| crate::limits::is_directory_write(&r.method, &r.url))
                    .count();
                if writes > 0 {
                    gate.acquire(u32::try_from(writes).unwrap_or(u32::MAX))
                        .await;
                }
            }
            let envelope: Envelope = self
                .client
                .post_with(
                    self.version,
                    &path,
                    &serde_json::json!({ "requests": pending }),
                    Vec::new(),
                    idempotency,
                )
                .await?;
            let mut by_id: HashMap<String, BatchResponse> = envelope
                .responses
                .into_iter()
                .map(|r| (r.id.to_ascii_lowercase(), r))
                .collect();
            // Items to resend: throttled ones, plus those that failed only because one of them did.
            let mut again: HashSet<String> = HashSet::new();
            let mut longest: Option<Duration> = None;
            for r in &pending {
                let key = r.id.to_ascii_lowercase();
                // A 503/504 item that is not safe to repeat keeps its answer (outcome unknown).
                if let Some(resp) = by_id.get(&key)
                    && is_retryable_status(resp.status)
                    && (resp.status == 429 || r.idempotency == Idempotency::Idempotent)
                {
                    if resp.status == 429 {
                        self.client.note_throttled();
                    }
                    if let Some(ra) = resp.retry_after() {
                        longest = Some(longest.map_or(ra, |l| l.max(ra)));
                    }
                    again.insert(key);
                }
            }
            let mut grew = true;
            while grew {
                grew = false;
                for r in &pending {
                    let key = r.id.to_ascii_lowercase();
                    if again.contains(&key) {
                        continue;
                    }
                    let failed_dep = by_id.get(&key).is_some_and(|resp| resp.status == 424)
                        && r.depends_on
                            .iter()
                            .any(|d| again.contains(&d.to_ascii_lowercase()));
                    if failed_dep {
                        again.insert(key);
                        grew = true;
                    }
                }
            }
            let decision = if again.is_empty() {
                Decision::GiveUp
            } else {
                retry.next(longest)
            };
            let delay = match decision {
                Decision::RetryAfter(d) => Some(d),
                Decision::GiveUp => None,
            };
            let mut next = Vec::new();
            for mut r in pending {
                let key = r.id.to_ascii_lowercase();
                if delay.is_some() && again.contains(&key) {
                    // Dependencies that already succeeded are not part of the resend.
                    r.depends_on
                        .retain(|d| again.contains(&d.to_ascii_lowercase()));
                    next.push(r);
                } else {
                    let resp = by_id.remove(&key).ok_or_else(|| {
                        Error::invalid_input(format!(
                            "the batch response has no result for request {:?}",
                            r.id
                        ))
                    })?;
                    results.insert(key, resp);
                }
            }
            match delay {
                None => return Ok(()),
                Some(d) => {
                    tracing::warn!(
                        items = next.len(),
                        delay_ms = d.as_millis() as u64,
                        "batch items throttled, resending"
                    );
                    for _ in &next {
                        self.client.note_retry();
                    }
                    self.client.note_retry_wait(d);
                    tokio::time::sleep(d).await;
                    pending = next;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: &str) -> BatchRequest {
        BatchRequest::get(id, &GraphPath::new(["users", id]), &Query::new())
    }

    #[test]
    fn chunks_of_twenty_keep_chains_together() {
        let mut requests: Vec<BatchRequest> = (0..19).map(|i| req(&format!("a{i}"))).collect();
        requests.push(req("x"));
        requests.push(req("y").depends_on("x"));
        let chunks = plan_chunks(&requests).unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].len(), 19);
        assert_eq!(chunks[1], vec![19, 20]);
        let many: Vec<BatchRequest> = (0..45).map(|i| req(&format!("r{i}"))).collect();
        let sizes: Vec<usize> = plan_chunks(&many).unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![20, 20, 5]);
    }

    #[test]
    fn invalid_batches_are_refused() {
        assert!(plan_chunks(&[req("a"), req("A")]).is_err());
        assert!(plan_chunks(&[req("a").depends_on("zz")]).is_err());
        let mut chain = vec![req("c0")];
        for i in 1..21 {
            chain.push(req(&format!("c{i}")).depends_on(format!("c{}", i - 1)));
        }
        assert!(plan_chunks(&chain).is_err());
    }

    #[test]
    fn get_items_carry_query_headers_and_encoded_urls() {
        let r = BatchRequest::get(
            "1",
            &GraphPath::new(["groups", "g", "members"]),
            &Query::new().consistency_eventual(),
        );
        assert_eq!(r.url, "/groups/g/members?$count=true");
        assert_eq!(
            r.headers.get("ConsistencyLevel").map(String::as_str),
            Some("eventual")
        );
    }
}
