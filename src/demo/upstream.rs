//! A small MCP server (Streamable HTTP) for the demo and the test suite,
//! which records every request it receives.
//!
//! **Demo only**: it refuses to bind anything but loopback. It serves `/mcp`
//! the way the MCP specification's Streamable HTTP transport describes:
//! `POST` carries one JSON-RPC message (`initialize`, `ping`, `tools/list`,
//! `tools/call` of `whoami`, `echo` and `count`; notifications and responses
//! get `202`), `GET` opens a server-to-client SSE stream, `DELETE` ends a
//! session. Sessions (`Mcp-Session-Id`) are on unless
//! [`UpstreamOptions::stateless`]. Everything else is `404`.
//!
//! Tests put the daemon in front of it and check what arrived
//! ([`Upstream::requests`]: headers, body, path) and what came back, and can
//! make it misbehave the ways upstreams do ([`UpstreamBehaviour`]): error
//! statuses, slow or hung responses, huge bodies, connections reset in the
//! middle of a stream.

use std::collections::HashSet;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::Stream;
use serde_json::{Value, json};
use tokio::sync::watch;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::support::{BodyError, bind_loopback, random_id, read_body};

mod sse;
mod tools;

use sse::{accepts_sse, count, progress, sse_event, sse_headers, sse_stream};
use tools::Call;

/// The largest request body recorded; more gets `413`.
const BODY_LIMIT: usize = 16 * 1024 * 1024;
/// How often the `GET` stream pings.
const PING_EVERY: Duration = Duration::from_millis(200);
/// How long a `GET` stream lives at most.
const GET_STREAM_FOR: Duration = Duration::from_secs(5 * 60);
/// The version answered when `initialize` names none.
const DEFAULT_PROTOCOL_VERSION: &str = "2025-06-18";

/// JSON-RPC 2.0 §5.1 error codes, and the MCP SDKs' transport errors.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INTERNAL_ERROR: i64 = -32603;
const BAD_REQUEST: i64 = -32000;
const SESSION_NOT_FOUND: i64 = -32001;

/// Start-up options.
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    /// No sessions: no `Mcp-Session-Id` is issued or checked, `DELETE` is 405.
    pub stateless: bool,
    /// Answer requests with a one-event SSE stream instead of JSON when the
    /// client accepts `text/event-stream` (`count` always streams).
    pub sse_responses: bool,
    /// Serve the `GET` SSE stream (else `GET` is 405, as the 2026 revision has it).
    pub get_stream: bool,
    pub port: u16,
}

impl Default for UpstreamOptions {
    fn default() -> Self {
        UpstreamOptions {
            stateless: false,
            sse_responses: false,
            get_stream: true,
            port: 0,
        }
    }
}

/// How the server answers requests to `/mcp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamBehaviour {
    /// An MCP server.
    Normal,
    /// This HTTP status with a JSON-RPC error body (1xx and invalid codes: 500).
    Status(u16),
    /// Wait this long, then answer normally.
    SlowHeaders(Duration),
    /// `200 text/event-stream` headers, then never a byte.
    HangAfterHeaders,
    /// `200 application/json` with a body of exactly this many bytes
    /// (valid JSON from about 60 bytes on), streamed, with `content-length`.
    Huge(usize),
    /// `200 text/event-stream`, one event, then the connection is aborted.
    ResetMidStream,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, e.g. `/mcp?x=1`.
    pub path: String,
    /// Every header with its lowercase name, duplicates kept. Names come in
    /// order of first appearance, a repeated name's values together (the
    /// `http` crate's `HeaderMap` does not keep the exact interleaving).
    pub headers: Vec<(String, String)>,
    /// The body (empty when it was over the 16 MiB limit or unreadable).
    pub body: Bytes,
}

impl Recorded {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).into_iter().next()
    }

    /// Every value of header `name` (any case), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

struct State {
    options: UpstreamOptions,
    behaviour: RwLock<UpstreamBehaviour>,
    /// Live session ids. std locks throughout: none is held across `.await`.
    sessions: Mutex<HashSet<String>>,
    requests: Mutex<Vec<Recorded>>,
    /// SSE event ids, unique across all streams.
    event_ids: AtomicU64,
    /// Changes (closes) when the server stops; every stream races it.
    stopped: watch::Receiver<()>,
}

impl State {
    fn next_event_id(&self) -> u64 {
        self.event_ids.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// A running demo MCP server; stops when dropped (open streams end too).
pub struct Upstream {
    pub addr: SocketAddr,
    /// `http://<addr>/mcp`.
    pub url: String,
    state: Arc<State>,
    _stop: watch::Sender<()>,
}

impl Upstream {
    /// Starts on `127.0.0.1:<options.port>`.
    pub async fn start(options: UpstreamOptions) -> io::Result<Upstream> {
        let listener = bind_loopback(options.port, "the demo upstream").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(());
        let state = Arc::new(State {
            options,
            behaviour: RwLock::new(UpstreamBehaviour::Normal),
            sessions: Mutex::new(HashSet::new()),
            requests: Mutex::new(Vec::new()),
            event_ids: AtomicU64::new(0),
            stopped: stopped.clone(),
        });
        let mut shutdown = stopped;
        tokio::spawn(
            warp::serve(routes(state.clone()))
                .incoming(listener)
                .graceful(async move {
                    let _ = shutdown.changed().await;
                })
                .run(),
        );
        Ok(Upstream {
            addr,
            url: format!("http://{addr}/mcp"),
            state,
            _stop: stop,
        })
    }

    pub fn set_behaviour(&self, behaviour: UpstreamBehaviour) {
        *self.state.behaviour.write().expect("lock") = behaviour;
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().expect("lock").clone()
    }

    pub fn request_count(&self) -> usize {
        self.state.requests.lock().expect("lock").len()
    }

    /// The live session ids.
    pub fn sessions(&self) -> Vec<String> {
        self.state
            .sessions
            .lock()
            .expect("lock")
            .iter()
            .cloned()
            .collect()
    }
}

fn routes(
    state: Arc<State>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            move |method: Method, path: warp::path::FullPath, query: String, headers, body| {
                let state = state.clone();
                async move { handle(&state, method, path.as_str(), &query, headers, body).await }
            },
        )
        .recover(|_| async {
            // Only `warp::body::stream` rejects, and only if the body was taken.
            let error = rpc_error(&Value::Null, INTERNAL_ERROR, "request body unavailable");
            Ok::<_, Infallible>(json_reply(StatusCode::INTERNAL_SERVER_ERROR, &error))
        })
        .unify()
}

/// Records the request, then answers it according to the behaviour.
async fn handle<S, B>(
    state: &State,
    method: Method,
    path: &str,
    query: &str,
    headers: HeaderMap,
    body: S,
) -> Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let read = read_body(body, BODY_LIMIT).await;
    state.requests.lock().expect("lock").push(Recorded {
        method: method.to_string(),
        path: if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        },
        headers: headers
            .iter()
            .map(|(n, v)| {
                let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.as_str().to_string(), value)
            })
            .collect(),
        body: read.as_ref().cloned().unwrap_or_default(),
    });
    let body = match read {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            let error = rpc_error(&Value::Null, INVALID_REQUEST, "request body over 16 MiB");
            return json_reply(StatusCode::PAYLOAD_TOO_LARGE, &error);
        }
        Err(BodyError::Read) => {
            let error = rpc_error(&Value::Null, INVALID_REQUEST, "request body unreadable");
            return json_reply(StatusCode::BAD_REQUEST, &error);
        }
    };
    if path != "/mcp" {
        return json_reply(StatusCode::NOT_FOUND, &json!({ "error": "not_found" }));
    }
    let behaviour = state.behaviour.read().expect("lock").clone();
    match behaviour {
        UpstreamBehaviour::Normal => mcp(state, &method, &headers, &body),
        UpstreamBehaviour::SlowHeaders(delay) => {
            tokio::time::sleep(delay).await;
            mcp(state, &method, &headers, &body)
        }
        UpstreamBehaviour::Status(code) => {
            let status = StatusCode::from_u16(code)
                .ok()
                .filter(|s| !s.is_informational())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = format!("the demo upstream was told to answer HTTP {code}");
            let error = rpc_error(&request_id(&body), INTERNAL_ERROR, &message);
            json_reply(status, &error)
        }
        UpstreamBehaviour::HangAfterHeaders => {
            // Never sends; ends when the client leaves or the server stops.
            sse_stream(state, |tx| async move { tx.closed().await })
        }
        UpstreamBehaviour::Huge(size) => huge(&request_id(&body), size),
        UpstreamBehaviour::ResetMidStream => {
            let event = sse_event(state.next_event_id(), &progress(&json!("reset"), 1, 2));
            sse_stream(state, |tx| async move {
                if tx.send(Ok(event)).await.is_ok() {
                    // Let hyper flush the event before the abort.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let _ = tx.send(Err(io::Error::other("demo reset"))).await;
                }
            })
        }
    }
}

/// The Streamable HTTP transport on `/mcp`.
fn mcp(state: &State, method: &Method, headers: &HeaderMap, body: &Bytes) -> Response {
    match *method {
        Method::POST => post(state, headers, body),
        Method::GET if state.options.get_stream => get(state, headers),
        Method::DELETE if !state.options.stateless => delete(state, headers),
        _ => {
            let mut allow = vec!["POST"];
            if state.options.get_stream {
                allow.push("GET");
            }
            if !state.options.stateless {
                allow.push("DELETE");
            }
            let error = rpc_error(&Value::Null, BAD_REQUEST, "Method not allowed");
            let mut r = json_reply(StatusCode::METHOD_NOT_ALLOWED, &error);
            r.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_str(&allow.join(", ")).expect("static names"),
            );
            r
        }
    }
}

/// One JSON-RPC message per POST (batches left the spec in 2025-06-18).
fn post(state: &State, headers: &HeaderMap, body: &Bytes) -> Response {
    let Ok(message) = serde_json::from_slice::<Value>(body) else {
        let error = rpc_error(&Value::Null, PARSE_ERROR, "Parse error");
        return json_reply(StatusCode::BAD_REQUEST, &error);
    };
    let id = message.get("id").cloned();
    let method = message.get("method").and_then(Value::as_str);
    let is_response = message.get("result").is_some() || message.get("error").is_some();
    let valid = message.get("jsonrpc") == Some(&json!("2.0"))
        && (method.is_some() || (id.is_some() && is_response));
    if !valid {
        let error = rpc_error(&Value::Null, INVALID_REQUEST, "Invalid Request");
        return json_reply(StatusCode::BAD_REQUEST, &error);
    }
    if method == Some("initialize") {
        if let Some(id) = &id {
            return initialize(state, headers, id, message.get("params"));
        }
    }
    if let Err(refused) = check_session(state, headers) {
        return refused.response();
    }
    let (Some(id), Some(method)) = (id, method) else {
        // A notification, or the client's response to a server request.
        return empty(StatusCode::ACCEPTED);
    };
    let params = message.get("params");
    let outcome = match method {
        "ping" => Ok(json!({})),
        "tools/list" => Ok(tools::list()),
        "tools/call" => match tools::call(params, headers) {
            Ok(Call::Done(result)) => Ok(result),
            Ok(Call::Count { n, interval_ms }) => {
                let token = params
                    .and_then(|p| p.pointer("/_meta/progressToken"))
                    .cloned()
                    .unwrap_or_else(|| id.clone());
                return count(state, id, token, n, Duration::from_millis(interval_ms));
            }
            Err(e) => Err(e),
        },
        _ => Err((METHOD_NOT_FOUND, "Method not found".to_string())),
    };
    let message = match outcome {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err((code, text)) => rpc_error(&id, code, &text),
    };
    respond(state, headers, &message)
}

/// `initialize`: echo the requested version, open a session.
fn initialize(state: &State, headers: &HeaderMap, id: &Value, params: Option<&Value>) -> Response {
    let version = params
        .and_then(|p| p.get("protocolVersion"))
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_PROTOCOL_VERSION);
    let result = json!({
        "protocolVersion": version,
        "capabilities": { "tools": {} },
        "serverInfo": { "name": "mcp-warden-demo-upstream", "version": env!("CARGO_PKG_VERSION") },
    });
    let message = json!({ "jsonrpc": "2.0", "id": id, "result": result });
    let mut response = respond(state, headers, &message);
    if !state.options.stateless {
        let session = random_id();
        state.sessions.lock().expect("lock").insert(session.clone());
        response.headers_mut().insert(
            "mcp-session-id",
            HeaderValue::from_str(&session).expect("hex is a valid header value"),
        );
    }
    response
}

/// Why a request's session was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// No `Mcp-Session-Id`: 400.
    Missing,
    /// An unknown (or deleted) session: 404, so the client starts over.
    Unknown,
}

impl Refused {
    fn response(self) -> Response {
        let (status, code, message) = match self {
            Refused::Missing => (
                StatusCode::BAD_REQUEST,
                BAD_REQUEST,
                "Bad Request: Mcp-Session-Id header is required",
            ),
            Refused::Unknown => (
                StatusCode::NOT_FOUND,
                SESSION_NOT_FOUND,
                "Session not found",
            ),
        };
        json_reply(status, &rpc_error(&Value::Null, code, message))
    }
}

/// The Streamable HTTP session rules (MCP 2025-06-18, "Session
/// Management"): the request's live session, or `None` when stateless.
fn check_session(state: &State, headers: &HeaderMap) -> Result<Option<String>, Refused> {
    if state.options.stateless {
        return Ok(None);
    }
    let session = headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .ok_or(Refused::Missing)?;
    if state.sessions.lock().expect("lock").contains(session) {
        Ok(Some(session.to_string()))
    } else {
        Err(Refused::Unknown)
    }
}

/// `GET`: a server-to-client SSE stream that only pings (SSE comments every
/// 200 ms, for at most five minutes). A `Last-Event-ID` is recorded with the
/// request and acknowledged in the first comment.
fn get(state: &State, headers: &HeaderMap) -> Response {
    if !accepts_sse(headers) {
        let error = rpc_error(
            &Value::Null,
            BAD_REQUEST,
            "Not Acceptable: the client must accept text/event-stream",
        );
        return json_reply(StatusCode::NOT_ACCEPTABLE, &error);
    }
    if let Err(refused) = check_session(state, headers) {
        return refused.response();
    }
    let last_event_id = headers
        .get("last-event-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    sse_stream(state, |tx| async move {
        if let Some(last) = last_event_id {
            // A comment cannot carry a newline; the header value has none.
            let resumed = format!(": resumed after {last}\n\n");
            if tx.send(Ok(resumed.into())).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + GET_STREAM_FOR;
        let mut ping = 0u64;
        while tokio::time::Instant::now() < deadline {
            ping += 1;
            if tx
                .send(Ok(format!(": ping {ping}\n\n").into()))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(PING_EVERY).await;
        }
    })
}

/// `DELETE`: ends the session.
fn delete(state: &State, headers: &HeaderMap) -> Response {
    match check_session(state, headers) {
        Ok(Some(session)) => {
            state.sessions.lock().expect("lock").remove(&session);
            empty(StatusCode::OK)
        }
        Ok(None) => empty(StatusCode::OK),
        Err(refused) => refused.response(),
    }
}

/// JSON, or a one-event SSE stream when configured and accepted.
fn respond(state: &State, headers: &HeaderMap, message: &Value) -> Response {
    if state.options.sse_responses && accepts_sse(headers) {
        let event = sse_event(state.next_event_id(), message);
        let mut r = warp::reply::stream(futures_util::stream::iter([Ok::<_, Infallible>(event)]))
            .into_response();
        sse_headers(r.headers_mut());
        r
    } else {
        json_reply(StatusCode::OK, message)
    }
}

/// A JSON body of exactly `size` bytes, streamed in 64 KiB chunks.
fn huge(id: &Value, size: usize) -> Response {
    const BLOCK: usize = 64 * 1024;
    let head = Bytes::from(format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"padding\":\""
    ));
    let tail = Bytes::from_static(b"\"}}");
    let (head, tail, fill) = match size.checked_sub(head.len() + tail.len()) {
        Some(fill) => (head, tail, fill),
        None => (Bytes::new(), Bytes::new(), size),
    };
    let block = Bytes::from(vec![b'x'; BLOCK.min(fill)]);
    let chunks = std::iter::once(head)
        .chain(std::iter::repeat_n(block.clone(), fill / BLOCK))
        .chain(std::iter::once(block.slice(..fill % BLOCK)))
        .chain(std::iter::once(tail))
        .filter(|chunk| !chunk.is_empty())
        .map(Ok::<_, Infallible>);
    let mut r = warp::reply::stream(futures_util::stream::iter(chunks)).into_response();
    let headers = r.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    r
}

/// The JSON-RPC id of a request body, or `null`.
fn request_id(body: &Bytes) -> Value {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|m| m.get("id").cloned())
        .unwrap_or(Value::Null)
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

fn json_reply(status: StatusCode, body: &Value) -> Response {
    let mut r = warp::reply::Response::new(body.to_string().into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn empty(status: StatusCode) -> Response {
    let mut r = warp::reply::Response::new(Bytes::new().into());
    *r.status_mut() = status;
    r
}

#[cfg(test)]
mod tests;
