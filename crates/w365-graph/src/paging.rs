//! Server-driven paging: a [`Pager`] is a `Stream` of items that requests `@odata.nextLink`
//! verbatim until the service stops sending one (reference §7.3), resending the request headers
//! (e.g. `ConsistencyLevel: eventual`) on every page.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Stream, TryStreamExt};
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::client::{Client, Request, decode};
use crate::error::{Error, Result};

/// One page of a Graph collection.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    /// Items on this page (may be empty).
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    /// Link to the next page, absent on the last.
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
    /// `@odata.count` (first page of an advanced query with `$count=true`).
    #[serde(rename = "@odata.count")]
    pub count: Option<i64>,
}

type PageFuture<T> = Pin<Box<dyn Future<Output = Result<Page<T>>> + Send>>;

/// A lazily fetched collection; poll it as a `Stream` or call [`Pager::collect_all`].
pub struct Pager<T> {
    client: Client,
    headers: Arc<Vec<(&'static str, String)>>,
    next: Option<Result<Url>>,
    current: Option<Url>,
    buffer: VecDeque<T>,
    in_flight: Option<PageFuture<T>>,
    count: Option<i64>,
    pages: u64,
    done: bool,
}

// Items are only moved in and out of the buffer, never pinned.
impl<T> Unpin for Pager<T> {}

impl<T> std::fmt::Debug for Pager<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pager")
            .field("pages", &self.pages)
            .field("buffered", &self.buffer.len())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

async fn fetch_page<T: DeserializeOwned>(
    client: Client,
    url: Url,
    headers: Arc<Vec<(&'static str, String)>>,
) -> Result<Page<T>> {
    let operation = format!("GET {}", url.path());
    let resp = client
        .execute(Request {
            method: Method::GET,
            url,
            headers: headers.as_ref().clone(),
            body: None,
            operation: "GET",
            idempotency: crate::retry::Idempotency::Idempotent,
        })
        .await?;
    decode(&operation, &resp.body)
}

impl<T: DeserializeOwned + Send + 'static> Pager<T> {
    pub(crate) fn new(
        client: Client,
        first: Result<Url>,
        headers: Vec<(&'static str, String)>,
    ) -> Self {
        Pager {
            client,
            headers: Arc::new(headers),
            next: Some(first),
            current: None,
            buffer: VecDeque::new(),
            in_flight: None,
            count: None,
            pages: 0,
            done: false,
        }
    }

    /// Every remaining item of every page.
    pub async fn collect_all(self) -> Result<Vec<T>> {
        self.try_collect().await
    }

    /// `@odata.count` once the first page has arrived (advanced queries with `$count=true`).
    pub fn odata_count(&self) -> Option<i64> {
        self.count
    }

    /// Pages fetched so far.
    pub fn pages_fetched(&self) -> u64 {
        self.pages
    }
}

impl<T: DeserializeOwned + Send + 'static> Stream for Pager<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.buffer.pop_front() {
                return Poll::Ready(Some(Ok(item)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            if this.in_flight.is_none() {
                match this.next.take() {
                    None => {
                        this.done = true;
                        return Poll::Ready(None);
                    }
                    Some(Err(e)) => {
                        this.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                    Some(Ok(url)) => {
                        this.current = Some(url.clone());
                        this.in_flight = Some(Box::pin(fetch_page(
                            this.client.clone(),
                            url,
                            this.headers.clone(),
                        )));
                    }
                }
            }
            let Some(fut) = this.in_flight.as_mut() else {
                continue;
            };
            match fut.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    this.in_flight = None;
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Ok(page)) => {
                    this.in_flight = None;
                    if this.pages == 0 {
                        this.count = page.count;
                    }
                    this.pages += 1;
                    this.buffer.extend(page.value);
                    this.next = page.next_link.map(|link| {
                        let url = Url::parse(&link).map_err(|e| {
                            Error::invalid_input(format!(
                                "the service sent an invalid @odata.nextLink: {e}"
                            ))
                        })?;
                        if this.current.as_ref() == Some(&url) {
                            return Err(Error::invalid_input(
                                "the service sent an @odata.nextLink pointing at the same page",
                            ));
                        }
                        Ok(url)
                    });
                }
            }
        }
    }
}
