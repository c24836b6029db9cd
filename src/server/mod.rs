//! The HTTP layer both listeners share: one [`serve`] that accepts on a
//! bound listener, hands each request to a [`Router`], records
//! `http_requests_total` and `http_request_duration_seconds` under the
//! router's listener and route labels, and drains on the stop signal; and
//! the reply helpers ([`reply`]) every answer is built with.
//!
//! Routes are matched by hand inside each router against the current
//! snapshot (resources change on reload, so they cannot be compiled into
//! static warp filters); warp only parses the request.

pub mod reply;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{HeaderMap, Method};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use warp::reply::Response;
use warp::{Buf, Filter};

use crate::metrics::Metrics;

/// A request body, streamed.
pub type BodyStream = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// One request as a listener hands it to its router.
pub struct Request {
    pub method: Method,
    /// The path, without the query string.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub remote: Option<SocketAddr>,
    pub body: BodyStream,
}

/// An answer and the `route` label it is counted under.
pub struct Routed {
    pub route: &'static str,
    pub response: Response,
}

/// What a listener serves.
pub trait Router: Send + Sync + 'static {
    /// The `listener` metric label.
    const LISTENER: &'static str;

    fn route(&self, request: Request) -> impl Future<Output = Routed> + Send;
}

/// Serves `router` on `listener` until `stop` turns true, then stops
/// accepting and waits for open connections (the caller bounds that wait).
pub fn serve<R: Router>(
    listener: TcpListener,
    router: Arc<R>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    let routes = warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::addr::remote())
        .and(warp::body::stream().map(boxed_body))
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: Option<String>,
                  headers: HeaderMap,
                  remote: Option<SocketAddr>,
                  body: BodyStream| {
                let router = router.clone();
                let metrics = metrics.clone();
                let request = Request {
                    method,
                    path: path.as_str().to_owned(),
                    query,
                    headers,
                    remote,
                    body,
                };
                async move {
                    let started = std::time::Instant::now();
                    let Routed { route, response } = router.route(request).await;
                    metrics.http(
                        R::LISTENER,
                        route,
                        response.status().as_u16(),
                        started.elapsed(),
                    );
                    response
                }
            },
        );
    tokio::spawn(
        warp::serve(routes)
            .incoming(listener)
            .graceful(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .run(),
    )
}

fn boxed_body<S, B>(body: S) -> BodyStream
where
    S: Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf,
{
    Box::pin(body.map(|chunk| {
        chunk
            .map(|mut buf| buf.copy_to_bytes(buf.remaining()))
            .map_err(std::io::Error::other)
    }))
}
