//! The JSON batching engine (`POST /{version}/$batch`, reference §7.4), independent of how one
//! item is executed: [`run_batch`] validates the envelope, orders the items by `dependsOn`,
//! hands each item to a dispatcher and assembles `{"responses": [...]}`.
//!
//! - At most 20 requests; `id` required and unique case-insensitively; `method` and `url`
//!   required (a url that is absolute or carries the version fails only its own item, with the
//!   routing fallback's 400, as in Graph); a `body` needs `headers` with `Content-Type`; `dependsOn` must name other
//!   items of the batch without cycles. Any violation rejects the whole batch ([`BatchError`],
//!   a Graph 400 `BadRequest`).
//! - Items whose dependencies have all completed run concurrently; an item whose dependency
//!   failed (status >= 400, including a 424 itself) is not dispatched and gets 424.
//! - Responses are listed in request order, each with `id`, `status`, `headers` and `body`
//!   (no `body` for 204 or when the dispatcher returned none).
//!
//! The dispatcher receives the item's url as given (with a leading `/` added when missing);
//! the wiring prefixes the batch's version (`/v1.0` or `/beta`).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use serde_json::{Map, Value, json};

/// The most requests one batch may carry.
pub const MAX_BATCH_REQUESTS: usize = 20;

/// One request of a batch, as the dispatcher receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchItemRequest {
    pub id: String,
    /// Upper-case HTTP method.
    pub method: String,
    /// Relative URL with a leading `/`, without version (`/users?$select=id`).
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub body: Option<Value>,
    /// Ids this item waited for.
    pub depends_on: Vec<String>,
}

/// The dispatcher's answer for one item.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchItemResponse {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Option<Value>,
}

impl BatchItemResponse {
    pub fn new(status: u16, body: Option<Value>) -> Self {
        BatchItemResponse {
            status,
            headers: BTreeMap::new(),
            body,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_owned(), value.to_owned());
        self
    }

    fn failed_dependency() -> Self {
        BatchItemResponse::new(
            424,
            Some(json!({"error": {
                "code": "FailedDependency",
                "message": "The request could not be completed because a request it depends on failed.",
            }})),
        )
        .with_header("Content-Type", "application/json")
    }
}

/// Why a batch envelope was rejected (HTTP 400, Graph code `BadRequest`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    #[error("Invalid batch payload format.")]
    InvalidPayload,
    #[error("The batch request must contain at least one request.")]
    Empty,
    #[error(
        "The number of requests in a batch must not exceed {MAX_BATCH_REQUESTS}; this batch has {count}."
    )]
    TooManyRequests { count: usize },
    #[error("Each request of a batch must have a non-empty string 'id'.")]
    MissingId,
    #[error("Request Id {id} has to be unique in a batch.")]
    DuplicateId { id: String },
    #[error("Request {id} must have a valid HTTP 'method'.")]
    InvalidMethod { id: String },
    #[error("Request {id} must have a relative 'url' (without host and version).")]
    InvalidUrl { id: String },
    #[error("Request {id} has invalid 'headers': an object of string values is expected.")]
    InvalidHeaders { id: String },
    #[error("Write request id : {id} does not contain Content-Type header or body.")]
    MissingContentType { id: String },
    #[error("Request {id} has an invalid 'dependsOn': {reason}.")]
    InvalidDependsOn { id: String, reason: String },
}

impl BatchError {
    pub fn status(&self) -> u16 {
        400
    }

    pub fn code(&self) -> &'static str {
        "BadRequest"
    }

    pub fn message(&self) -> String {
        self.to_string()
    }
}

fn parse_item(value: &Value) -> Result<BatchItemRequest, BatchError> {
    let obj = value.as_object().ok_or(BatchError::InvalidPayload)?;
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or(BatchError::MissingId)?
        .to_owned();
    let method = obj
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
        .filter(|m| http::Method::from_bytes(m.as_bytes()).is_ok() && !m.is_empty())
        .ok_or_else(|| BatchError::InvalidMethod { id: id.clone() })?;
    let url = obj
        .get("url")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| BatchError::InvalidUrl { id: id.clone() })?;
    // An absolute url (`https://graph.microsoft.com/v1.0/users`, as msgraph-core for Python
    // sends it: msgraph-sdk-python#1015, msgraph-sdk-python-core#1116) or one with the version
    // (`/v1.0/groups`: msgraph-sdk-javascript#1178) does not reject the batch: Graph resolves it
    // below the batch's version and answers that item 400 "Resource not found for the segment
    // '<first segment>'.", which the routing fallback does.
    let url = if url.starts_with('/') {
        url.to_owned()
    } else {
        format!("/{url}")
    };
    let headers = match obj.get("headers") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect::<Option<BTreeMap<_, _>>>()
            .ok_or_else(|| BatchError::InvalidHeaders { id: id.clone() })?,
        Some(_) => return Err(BatchError::InvalidHeaders { id }),
    };
    let body = obj.get("body").filter(|b| !b.is_null()).cloned();
    if body.is_some()
        && !headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("content-type"))
    {
        return Err(BatchError::MissingContentType { id });
    }
    let depends_on = match obj.get("dependsOn") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| BatchError::InvalidDependsOn {
                id: id.clone(),
                reason: "an array of request ids is expected".to_owned(),
            })?,
        Some(_) => {
            return Err(BatchError::InvalidDependsOn {
                id,
                reason: "an array of request ids is expected".to_owned(),
            });
        }
    };
    Ok(BatchItemRequest {
        id,
        method,
        url,
        headers,
        body,
        depends_on,
    })
}

/// Parses and validates the envelope; returns the items and, per item, the indices it
/// depends on.
fn validate(body: &Value) -> Result<(Vec<BatchItemRequest>, Vec<Vec<usize>>), BatchError> {
    let requests = body
        .as_object()
        .and_then(|o| o.get("requests"))
        .and_then(Value::as_array)
        .ok_or(BatchError::InvalidPayload)?;
    if requests.is_empty() {
        return Err(BatchError::Empty);
    }
    if requests.len() > MAX_BATCH_REQUESTS {
        return Err(BatchError::TooManyRequests {
            count: requests.len(),
        });
    }
    let items = requests
        .iter()
        .map(parse_item)
        .collect::<Result<Vec<_>, _>>()?;
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        if index.insert(item.id.to_lowercase(), i).is_some() {
            return Err(BatchError::DuplicateId {
                id: item.id.clone(),
            });
        }
    }
    let mut deps = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let mut mine = Vec::new();
        for dep in &item.depends_on {
            let j =
                *index
                    .get(&dep.to_lowercase())
                    .ok_or_else(|| BatchError::InvalidDependsOn {
                        id: item.id.clone(),
                        reason: format!("no request with id '{dep}' in the batch"),
                    })?;
            if j == i {
                return Err(BatchError::InvalidDependsOn {
                    id: item.id.clone(),
                    reason: "a request cannot depend on itself".to_owned(),
                });
            }
            if !mine.contains(&j) {
                mine.push(j);
            }
        }
        deps.push(mine);
    }
    // Cycle check (Kahn): every item must become runnable.
    let mut done = vec![false; items.len()];
    loop {
        let next: Vec<usize> = (0..items.len())
            .filter(|&i| !done[i] && deps[i].iter().all(|&j| done[j]))
            .collect();
        if next.is_empty() {
            break;
        }
        for i in next {
            done[i] = true;
        }
    }
    if let Some(i) = done.iter().position(|d| !d) {
        return Err(BatchError::InvalidDependsOn {
            id: items[i].id.clone(),
            reason: "the dependencies form a cycle".to_owned(),
        });
    }
    Ok((items, deps))
}

fn response_json(id: &str, response: &BatchItemResponse) -> Value {
    let mut obj = Map::new();
    obj.insert("id".to_owned(), Value::String(id.to_owned()));
    obj.insert("status".to_owned(), Value::from(response.status));
    let headers: Map<String, Value> = response
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    obj.insert("headers".to_owned(), Value::Object(headers));
    if response.status != 204
        && let Some(body) = &response.body
    {
        obj.insert("body".to_owned(), body.clone());
    }
    Value::Object(obj)
}

/// Runs a JSON batch: validates `body`, dispatches the items (concurrently where `dependsOn`
/// allows) and returns `{"responses": [...]}` in request order.
pub async fn run_batch<F, Fut>(body: Value, dispatch: F) -> Result<Value, BatchError>
where
    F: Fn(BatchItemRequest) -> Fut,
    Fut: Future<Output = BatchItemResponse>,
{
    let (items, deps) = validate(&body)?;
    let n = items.len();
    let mut results: Vec<Option<BatchItemResponse>> = vec![None; n];
    loop {
        // Settle items whose dependencies failed, repeatedly (a 424 fails its dependents too).
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..n {
                if results[i].is_none()
                    && deps[i].iter().all(|&j| results[j].is_some())
                    && deps[i]
                        .iter()
                        .any(|&j| results[j].as_ref().is_some_and(|r| r.status >= 400))
                {
                    results[i] = Some(BatchItemResponse::failed_dependency());
                    changed = true;
                }
            }
        }
        let ready: Vec<usize> = (0..n)
            .filter(|&i| results[i].is_none() && deps[i].iter().all(|&j| results[j].is_some()))
            .collect();
        if ready.is_empty() {
            break;
        }
        let answers =
            futures::future::join_all(ready.iter().map(|&i| dispatch(items[i].clone()))).await;
        for (i, answer) in ready.into_iter().zip(answers) {
            results[i] = Some(answer);
        }
    }
    let responses: Vec<Value> = items
        .iter()
        .zip(results)
        .map(|(item, result)| {
            // Validation rules out cycles, so every item has a result.
            let result = result.unwrap_or_else(BatchItemResponse::failed_dependency);
            response_json(&item.id, &result)
        })
        .collect();
    Ok(json!({ "responses": responses }))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn get(id: &str, url: &str) -> Value {
        json!({"id": id, "method": "GET", "url": url})
    }

    fn after(id: &str, url: &str, deps: &[&str]) -> Value {
        json!({"id": id, "method": "GET", "url": url, "dependsOn": deps})
    }

    /// Answers by url: `/fail...` 404, `/empty...` 204, anything else 200 echoing the item; and
    /// records the dispatch order.
    fn fake(
        log: Arc<Mutex<Vec<String>>>,
    ) -> impl Fn(BatchItemRequest) -> std::future::Ready<BatchItemResponse> {
        move |req: BatchItemRequest| {
            log.lock().expect("log").push(req.id.clone());
            let response = if req.url.starts_with("/fail") {
                BatchItemResponse::new(
                    404,
                    Some(json!({"error": {"code": "Request_ResourceNotFound", "message": "gone"}})),
                )
            } else if req.url.starts_with("/empty") {
                BatchItemResponse::new(204, Some(json!({"ignored": true})))
            } else {
                BatchItemResponse::new(
                    200,
                    Some(json!({"url": req.url, "method": req.method, "body": req.body})),
                )
                .with_header("Content-Type", "application/json")
            };
            std::future::ready(response)
        }
    }

    fn by_id(result: &Value, id: &str) -> Value {
        result["responses"]
            .as_array()
            .expect("responses")
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no response for {id}"))
    }

    #[tokio::test]
    async fn items_are_answered_by_id_with_status_headers_and_body() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let body = json!({"requests": [
            get("1", "/users?$select=id"),
            json!({"id": "2", "method": "post", "url": "groups/g1/members/$ref",
                   "headers": {"content-type": "application/json"},
                   "body": {"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/u1"}}),
            get("3", "/empty"),
        ]});
        let result = run_batch(body, fake(log.clone()))
            .await
            .expect("valid batch");
        let ids: Vec<&str> = result["responses"]
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|r| r["id"].as_str())
            .collect();
        assert_eq!(ids, ["1", "2", "3"]);
        assert_eq!(
            by_id(&result, "1"),
            json!({"id": "1", "status": 200, "headers": {"Content-Type": "application/json"},
                   "body": {"url": "/users?$select=id", "method": "GET", "body": null}})
        );
        let second = by_id(&result, "2");
        assert_eq!(second["body"]["url"], "/groups/g1/members/$ref");
        assert_eq!(second["body"]["method"], "POST");
        assert_eq!(
            second["body"]["body"]["@odata.id"],
            "https://graph.microsoft.com/v1.0/directoryObjects/u1"
        );
        assert_eq!(
            by_id(&result, "3"),
            json!({"id": "3", "status": 204, "headers": {}})
        );
    }

    #[tokio::test]
    async fn independent_items_run_concurrently() {
        // Each item waits for all three to have started: this finishes only if they overlap.
        let barrier = Arc::new(tokio::sync::Barrier::new(3));
        let dispatch = |req: BatchItemRequest| {
            let barrier = barrier.clone();
            async move {
                barrier.wait().await;
                BatchItemResponse::new(200, Some(json!({"id": req.id})))
            }
        };
        let body = json!({"requests": [get("a", "/x"), get("b", "/y"), get("c", "/z")]});
        let result = tokio::time::timeout(Duration::from_secs(5), run_batch(body, dispatch))
            .await
            .expect("items ran concurrently")
            .expect("valid batch");
        assert_eq!(result["responses"].as_array().map(Vec::len), Some(3));
    }

    #[tokio::test]
    async fn depends_on_orders_the_items() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let body = json!({"requests": [
            after("3", "/third", &["2"]),
            after("2", "/second", &["1"]),
            get("1", "/first"),
        ]});
        let result = run_batch(body, fake(log.clone()))
            .await
            .expect("valid batch");
        assert_eq!(*log.lock().expect("log"), ["1", "2", "3"]);
        for id in ["1", "2", "3"] {
            assert_eq!(by_id(&result, id)["status"], 200);
        }
    }

    #[tokio::test]
    async fn dependents_of_a_failed_item_get_424_and_are_not_dispatched() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let body = json!({"requests": [
            get("1", "/fail"),
            after("2", "/second", &["1"]),
            after("3", "/third", &["2"]),
            get("4", "/independent"),
            after("5", "/after-ok", &["4"]),
        ]});
        let result = run_batch(body, fake(log.clone()))
            .await
            .expect("valid batch");
        assert_eq!(by_id(&result, "1")["status"], 404);
        assert_eq!(
            by_id(&result, "1")["body"]["error"]["code"],
            "Request_ResourceNotFound"
        );
        for id in ["2", "3"] {
            let r = by_id(&result, id);
            assert_eq!(r["status"], 424, "{r}");
            assert_eq!(r["body"]["error"]["code"], "FailedDependency");
        }
        assert_eq!(by_id(&result, "4")["status"], 200);
        assert_eq!(by_id(&result, "5")["status"], 200);
        let mut dispatched = log.lock().expect("log").clone();
        dispatched.sort();
        assert_eq!(dispatched, ["1", "4", "5"]);
    }

    async fn reject(body: Value) -> BatchError {
        let log = Arc::new(Mutex::new(Vec::new()));
        let err = run_batch(body, fake(log.clone()))
            .await
            .expect_err("invalid batch");
        assert!(
            log.lock().expect("log").is_empty(),
            "nothing may run when the envelope is invalid"
        );
        assert_eq!((err.status(), err.code()), (400, "BadRequest"));
        err
    }

    #[tokio::test]
    async fn at_most_twenty_requests() {
        let twenty: Vec<Value> = (0..20).map(|i| get(&i.to_string(), "/users")).collect();
        let log = Arc::new(Mutex::new(Vec::new()));
        assert!(
            run_batch(json!({"requests": twenty}), fake(log))
                .await
                .is_ok()
        );
        let twenty_one: Vec<Value> = (0..21).map(|i| get(&i.to_string(), "/users")).collect();
        assert_eq!(
            reject(json!({"requests": twenty_one})).await,
            BatchError::TooManyRequests { count: 21 }
        );
        assert_eq!(reject(json!({"requests": []})).await, BatchError::Empty);
        assert_eq!(
            reject(json!({"value": []})).await,
            BatchError::InvalidPayload
        );
        assert_eq!(
            reject(json!([get("1", "/users")])).await,
            BatchError::InvalidPayload
        );
    }

    #[tokio::test]
    async fn ids_are_required_and_unique_ignoring_case() {
        let err = reject(json!({"requests": [get("a", "/users"), get("A", "/groups")]})).await;
        assert_eq!(err.message(), "Request Id A has to be unique in a batch.");
        assert_eq!(
            reject(json!({"requests": [{"method": "GET", "url": "/users"}]})).await,
            BatchError::MissingId
        );
        assert_eq!(
            reject(json!({"requests": [get("", "/users")]})).await,
            BatchError::MissingId
        );
        assert_eq!(
            reject(json!({"requests": [{"id": 1, "method": "GET", "url": "/users"}]})).await,
            BatchError::MissingId
        );
    }

    #[tokio::test]
    async fn urls_methods_headers_and_bodies_are_checked() {
        // An absolute url is the dispatcher's to answer (per item), not a rejected batch.
        let log = Arc::new(Mutex::new(Vec::new()));
        let absolute = run_batch(
            json!({"requests": [get("a", "https://graph.microsoft.com/v1.0/users")]}),
            fake(log),
        )
        .await
        .expect("an absolute url does not reject the batch");
        assert_eq!(
            by_id(&absolute, "a")["body"]["url"],
            "/https://graph.microsoft.com/v1.0/users"
        );
        // A scheme inside the query is not an absolute url.
        let log = Arc::new(Mutex::new(Vec::new()));
        let ok = run_batch(
            json!({"requests": [get("q", "/groups?$filter=displayName eq 'https://x'")]}),
            fake(log),
        )
        .await
        .expect("relative url");
        assert_eq!(
            by_id(&ok, "q")["body"]["url"],
            "/groups?$filter=displayName eq 'https://x'"
        );
        assert_eq!(
            reject(json!({"requests": [{"id": "1", "method": "GET"}]})).await,
            BatchError::InvalidUrl { id: "1".to_owned() }
        );
        assert_eq!(
            reject(json!({"requests": [{"id": "1", "url": "/users"}]})).await,
            BatchError::InvalidMethod { id: "1".to_owned() }
        );
        let err = reject(json!({"requests": [{"id": "7", "method": "POST", "url": "/groups", "body": {"displayName": "x"}}]})).await;
        assert_eq!(
            err.message(),
            "Write request id : 7 does not contain Content-Type header or body."
        );
        let err = reject(
            json!({"requests": [{"id": "7", "method": "POST", "url": "/groups",
            "headers": {"Accept": "application/json"}, "body": {"displayName": "x"}}]}),
        )
        .await;
        assert_eq!(err, BatchError::MissingContentType { id: "7".to_owned() });
        assert_eq!(
            reject(json!({"requests": [{"id": "1", "method": "GET", "url": "/users", "headers": {"x": 1}}]})).await,
            BatchError::InvalidHeaders { id: "1".to_owned() }
        );
    }

    #[tokio::test]
    async fn depends_on_must_name_other_items_without_cycles() {
        let err = reject(json!({"requests": [after("1", "/users", &["9"])]})).await;
        assert!(
            matches!(err, BatchError::InvalidDependsOn { ref id, .. } if id == "1"),
            "{err}"
        );
        assert!(err.message().contains("'9'"), "{err}");
        let err = reject(json!({"requests": [after("1", "/users", &["1"])]})).await;
        assert!(matches!(err, BatchError::InvalidDependsOn { .. }), "{err}");
        let err =
            reject(json!({"requests": [after("1", "/a", &["2"]), after("2", "/b", &["1"])]})).await;
        assert!(err.message().contains("cycle"), "{err}");
        let err = reject(
            json!({"requests": [{"id": "1", "method": "GET", "url": "/a", "dependsOn": "2"}]}),
        )
        .await;
        assert!(matches!(err, BatchError::InvalidDependsOn { .. }), "{err}");
        // dependsOn ids are matched ignoring case, like ids.
        let log = Arc::new(Mutex::new(Vec::new()));
        let ok = run_batch(
            json!({"requests": [get("Alpha", "/a"), after("b", "/b", &["alpha"])]}),
            fake(log.clone()),
        )
        .await
        .expect("valid");
        assert_eq!(by_id(&ok, "b")["status"], 200);
        assert_eq!(*log.lock().expect("log"), ["Alpha", "b"]);
    }
}
