//! Tests for CONFORMANCE.md rows that had no test of their own: each one
//! drives the real daemon (in process, on `127.0.0.1:0`) in front of the
//! demo authorization server and demo upstream, or a raw TCP upstream where
//! the demo cannot show the behaviour. The row each test proves is named in
//! its doc comment.

mod support;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mcp_warden::config::Config;
use mcp_warden::daemon::Daemon;
use mcp_warden::demo::upstream::{Upstream, UpstreamBehaviour, UpstreamOptions};
use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

struct World {
    authz: AuthServer,
    upstream: Upstream,
    daemon: Daemon,
    client: reqwest::Client,
}

impl World {
    /// The daemon in front of `upstream`; `extra` goes into the `[[resource]]`
    /// block (plain keys first, then any `[resource.*]` tables).
    async fn new(options: UpstreamOptions, extra: &str) -> World {
        let authz = auth_server().await;
        let upstream = Upstream::start(options).await.unwrap();
        let text = config(&resource_to(
            "r",
            "/mcp",
            &authz.issuer,
            &upstream.url,
            extra,
        ));
        let daemon = start(&text).await.unwrap();
        World {
            authz,
            upstream,
            daemon,
            client: http(),
        }
    }

    async fn stateless(extra: &str) -> World {
        World::new(stateless(), extra).await
    }

    fn mcp(&self) -> String {
        url(&self.daemon, "/mcp")
    }

    fn token(&self, scope: &str) -> String {
        self.authz.access_token(RESOURCE, scope)
    }

    /// `claims` over the defaults of a valid token for this resource.
    fn token_with(&self, header: Value, claims: Value) -> String {
        let now = mcp_warden::issuer::verifier::unix_now();
        let mut c = json!({
            "iss": self.authz.issuer, "aud": RESOURCE, "sub": "user-1",
            "client_id": "demo-client", "scope": "openid all",
            "iat": now, "exp": now + 300, "jti": format!("j-{now}"),
        });
        for (k, v) in claims.as_object().unwrap() {
            c[k] = v.clone();
        }
        self.authz.sign(&self.authz.default_kid(), header, c)
    }

    fn post(&self, token: Option<&str>, body: &Value) -> reqwest::RequestBuilder {
        let r = self
            .client
            .post(self.mcp())
            .header("accept", "application/json, text/event-stream")
            .json(body);
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }
}

fn stateless() -> UpstreamOptions {
    UpstreamOptions {
        stateless: true,
        ..UpstreamOptions::default()
    }
}

fn call(tool: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}})
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
}

fn www(r: &reqwest::Response) -> String {
    r.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The value of auth-param `name` in a challenge built by mcp-warden.
fn param(challenge: &str, name: &str) -> Option<String> {
    let at = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &challenge[at..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// MCP 2025-06-18+ security best practices ("Session Hijacking"): servers
/// MUST verify all inbound requests and MUST NOT use sessions for
/// authentication; MCP authorization: the token goes in every request.
#[tokio::test]
async fn a_session_id_never_authenticates() {
    let w = World::new(UpstreamOptions::default(), &curated_scopes()).await;
    let token = w.token("openid all");
    let r = w.post(Some(&token), &initialize()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let seen = w.upstream.request_count();

    let foreign = w
        .authz
        .access_token("https://other.example/mcp", "openid all");
    let attempts = [
        w.post(None, &call("echo", json!({"message": "x"}))),
        w.client.get(w.mcp()).header("accept", "text/event-stream"),
        w.client.delete(w.mcp()),
        w.post(Some(&foreign), &call("echo", json!({"message": "x"}))),
    ];
    for (i, attempt) in attempts.into_iter().enumerate() {
        let r = attempt
            .header("mcp-session-id", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "attempt {i}");
        assert!(
            param(&www(&r), "resource_metadata").as_deref() == Some(PRM),
            "attempt {i}: {}",
            www(&r)
        );
    }
    assert_eq!(
        w.upstream.request_count(),
        seen,
        "a session id alone reached the upstream"
    );
    // The same session with the token still works.
    let r = w
        .post(Some(&token), &call("echo", json!({"message": "ok"})))
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// RFC 6750 §3: a request that authenticates with an unsupported method gets
/// the challenge without an error code.
#[tokio::test]
async fn another_auth_scheme_gets_the_challenge_without_an_error_code() {
    let w = World::stateless(&curated_scopes()).await;
    let r = w
        .post(None, &call("echo", json!({"message": "x"})))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let h = www(&r);
    assert!(h.starts_with("Bearer resource_metadata="), "{h}");
    assert!(!h.contains("error="), "{h}");
    assert_eq!(w.upstream.request_count(), 0);
}

/// RFC 9728 §3.2: "Parameters with zero values MUST be omitted from the
/// response" (and RFC 6750 §3 / RFC 6749 §3.3: a `scope` attribute holds at
/// least one scope-token). An authorization server whose catalog yields no
/// advertisable scope (here: only `offline_access`, which is never advertised)
/// with no configured scopes.
#[tokio::test]
async fn zero_valued_metadata_parameters_are_omitted() {
    let authz = AuthServer::start(Options {
        catalog: vec!["offline_access".into()],
        ..Options::default()
    })
    .await
    .unwrap();
    let daemon = start(&config(&resource("r", "/mcp", &authz.issuer, "")))
        .await
        .unwrap();
    let c = http();
    let r = c.post(url(&daemon, "/mcp")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(!www(&r).contains("scope="), "{}", www(&r));

    let body: Value = c
        .get(url(&daemon, "/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let empty: Vec<&String> = body
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.as_array().is_some_and(Vec::is_empty) || v.as_str() == Some(""))
        .map(|(k, _)| k)
        .collect();
    assert!(
        empty.is_empty(),
        "RFC 9728 §3.2 violated: zero-valued parameters {empty:?} in {body}"
    );
}

/// MCP 2026-07-28 authorization, "Scope Challenge Handling": servers MUST
/// account for scope hierarchies, where a broader scope implies narrower
/// ones, when deciding whether a token is sufficient for an operation.
#[tokio::test]
async fn a_broader_scope_satisfies_a_narrower_requirement() {
    let authz = auth_server().await;
    let upstream = Upstream::start(stateless()).await.unwrap();
    let extra = "[resource.scopes]\n\
                 preferred = [\"openid\", \"all\"]\n\
                 implies = { \"project:all\" = [\"project:functions.write\"] }\n\
                 [resource.tools]\n\
                 deploy = [\"project:functions.write\"]\n";
    let text = config(&resource_to(
        "r",
        "/mcp",
        &authz.issuer,
        &upstream.url,
        extra,
    ));
    if let Err(e) = Config::parse_with_env(&text, None) {
        panic!(
            "MCP 2026-07-28 requires scope hierarchies to be honoured, but there is no way to \
             declare that `project:all` implies `project:functions.write`: {e}"
        );
    }
    let daemon = start(&text).await.unwrap();
    let c = http();
    let deploy = |token: String| {
        c.post(url(&daemon, "/mcp"))
            .bearer_auth(token)
            .json(&call("deploy", json!({})))
            .send()
    };
    let broad = deploy(authz.access_token(RESOURCE, "openid project:all"))
        .await
        .unwrap();
    assert_ne!(broad.status(), 403, "{}", www(&broad));
    let weak = deploy(authz.access_token(RESOURCE, "openid all"))
        .await
        .unwrap();
    assert_eq!(weak.status(), 403);
    assert_eq!(
        param(&www(&weak), "scope").as_deref(),
        Some("project:functions.write")
    );
}

/// Streamable HTTP (all versions): `Accept`, `Content-Type`,
/// `MCP-Protocol-Version` reach the server; 2026-07-28: `Mcp-Method`,
/// `Mcp-Name` and `Mcp-Param-*` (intermediaries MUST forward unrecognized
/// `Mcp-Param-*`), Base64 sentinel values untouched.
#[tokio::test]
async fn mcp_request_headers_reach_the_upstream_unchanged() {
    let w = World::stateless(&curated_scopes()).await;
    let sent = [
        ("accept", "application/json, text/event-stream"),
        ("content-type", "application/json"),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
        ("mcp-param-region", "us-west1"),
        ("mcp-param-greeting", "=?base64?SGVsbG8sIOS4lueVjA==?="),
        ("x-tenant", "t-1"),
    ];
    let mut r = w
        .client
        .post(w.mcp())
        .bearer_auth(w.token("openid all"))
        .body(call("echo", json!({"message": "h"})).to_string());
    for (name, value) in sent {
        r = r.header(name, value);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let recorded = w.upstream.requests().pop().unwrap();
    for (name, value) in sent {
        assert_eq!(recorded.header_all(name), [value], "{name}");
    }
}

/// Streamable HTTP 2025-06-18 / 2025-11-25: GET opens the SSE stream and
/// `Last-Event-ID` reaches the server (resumability); 2026-07-28: the
/// server's `X-Accel-Buffering: no` reaches the client and events are not
/// held back.
#[tokio::test]
async fn get_streams_pass_last_event_id_and_stay_unbuffered() {
    let w = World::stateless(&curated_scopes()).await;
    let mut r = w
        .client
        .get(w.mcp())
        .bearer_auth(w.token("openid all"))
        .header("accept", "text/event-stream")
        .header("last-event-id", "42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(r.headers()["x-accel-buffering"], "no");
    // The stream lasts minutes; its first bytes must arrive now.
    let first = tokio::time::timeout(Duration::from_secs(3), r.chunk())
        .await
        .expect("the first SSE bytes arrive while the stream stays open")
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&first).contains(": resumed after 42"),
        "{first:?}"
    );
    drop(r);
    let recorded = w.upstream.requests().pop().unwrap();
    assert_eq!(recorded.method, "GET");
    assert_eq!(recorded.header_all("last-event-id"), ["42"]);
}

/// Streamable HTTP: the server's statuses reach the client unchanged: 400
/// (missing session, unsupported `MCP-Protocol-Version`), 404 (ended
/// session, unknown method in 2026-07-28), 405 (no GET stream, no DELETE:
/// what a 2026-07-28 server answers).
#[tokio::test]
async fn upstream_statuses_pass_through() {
    let w = World::new(
        UpstreamOptions {
            get_stream: false,
            ..UpstreamOptions::default()
        },
        &curated_scopes(),
    )
    .await;
    let token = w.token("openid all");
    let no_session = w
        .post(Some(&token), &call("echo", json!({"message": "x"})))
        .send()
        .await
        .unwrap();
    assert_eq!(no_session.status(), 400);
    assert_eq!(
        no_session.json::<Value>().await.unwrap()["jsonrpc"],
        "2.0",
        "the upstream's JSON-RPC body, not one of mcp-warden's"
    );
    let unknown = w
        .post(Some(&token), &call("echo", json!({"message": "x"})))
        .header("mcp-session-id", "no-such-session")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let get = w
        .client
        .get(w.mcp())
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    assert!(get.headers().contains_key("allow"));

    let s = World::stateless(&curated_scopes()).await;
    let token = s.token("openid all");
    let delete = s
        .client
        .delete(s.mcp())
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 405);
    for status in [400u16, 404, 405] {
        s.upstream.set_behaviour(UpstreamBehaviour::Status(status));
        let r = s
            .post(Some(&token), &call("echo", json!({"message": "x"})))
            .header("mcp-protocol-version", "1999-01-01")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status);
    }
}

/// Streamable HTTP 2026-07-28 "Cancellation": closing the SSE response
/// stream MUST be treated by the server as cancellation. Through the proxy,
/// that needs the client's close to reach the upstream: a raw TCP upstream
/// that keeps streaming shows when its connection goes.
#[tokio::test]
async fn closing_the_response_stream_closes_the_upstream_request() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the proxy closed before sending the request");
            head.extend_from_slice(&buf[..n]);
        }
        let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                        transfer-encoding: chunked\r\n\r\n"
            .to_vec();
        let event = b"id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n";
        out.extend_from_slice(format!("{:x}\r\n", event.len()).as_bytes());
        out.extend_from_slice(event);
        out.extend_from_slice(b"\r\n");
        if socket.write_all(&out).await.is_err() {
            return;
        }
        // Keep-alive comments until the connection goes (write error or EOF).
        let ping = b": ping\n\n";
        let chunk = [
            format!("{:x}\r\n", ping.len()).into_bytes(),
            ping.to_vec(),
            b"\r\n".to_vec(),
        ]
        .concat();
        loop {
            tokio::select! {
                read = socket.read(&mut buf) => {
                    if matches!(read, Ok(0) | Err(_)) { break; }
                }
                () = tokio::time::sleep(Duration::from_millis(50)) => {
                    if socket.write_all(&chunk).await.is_err() { break; }
                }
            }
        }
        let _ = closed_tx.send(());
    });
    let authz = auth_server().await;
    let daemon = start(&config(&resource_to(
        "r",
        "/mcp",
        &authz.issuer,
        &upstream,
        "",
    )))
    .await
    .unwrap();
    let mut r = http()
        .post(url(&daemon, "/mcp"))
        .bearer_auth(authz.access_token(RESOURCE, "all"))
        .header("accept", "application/json, text/event-stream")
        .json(&call("count", json!({"n": 100})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first = r.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("id: 1"));
    drop(r);
    tokio::time::timeout(Duration::from_secs(5), closed_rx)
        .await
        .expect("the upstream connection stayed open after the client closed the stream")
        .unwrap();
}

/// RFC 9396 §9 / RFC 9728 §2: the upstream's view of the grant is exactly
/// the token's: a client cannot add `X-Mcp-Auth-*` headers of its own,
/// `identity_headers = false` sends none, and the PRM names no
/// `authorization_details_types_supported` unless configured.
#[tokio::test]
async fn identity_and_authorization_details_headers_come_only_from_the_token() {
    let w = World::stateless(&curated_scopes()).await;
    let prm: Value = w
        .client
        .get(url(&w.daemon, "/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        prm.get("authorization_details_types_supported").is_none(),
        "{prm}"
    );
    let r = w
        .post(
            Some(&w.token("openid all")),
            &call("echo", json!({"message": "x"})),
        )
        .header("x-mcp-auth-authorization-details", r#"[{"type":"admin"}]"#)
        .header("x-mcp-auth-scopes", "admin")
        .header("x-mcp-auth-subject", "root")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = w.upstream.requests().pop().unwrap();
    assert!(
        seen.header("x-mcp-auth-authorization-details").is_none(),
        "{:?}",
        seen.headers
    );
    assert_eq!(seen.header_all("x-mcp-auth-scopes"), ["openid all"]);
    assert_eq!(seen.header_all("x-mcp-auth-subject"), ["user-1"]);

    let quiet = World::stateless("identity_headers = false").await;
    let details = json!([{"type": "project", "locations": ["p-1"]}]);
    let token = quiet.token_with(Value::Null, json!({"authorization_details": details}));
    let r = quiet
        .post(Some(&token), &call("echo", json!({"message": "x"})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = quiet.upstream.requests().pop().unwrap();
    let leaked: Vec<_> = seen
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with("x-mcp-auth-"))
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
}

/// RFC 9068 §4 step 1 with `require_typ = true`: tokens whose `typ` is not
/// `at+jwt` / `application/at+jwt` get 401 `invalid_token` at the gateway.
#[tokio::test]
async fn require_typ_refuses_other_token_types_at_the_gateway() {
    let w = World::stateless(&format!(
        "{}[resource.token]\nrequire_typ = true\n",
        curated_scopes()
    ))
    .await;
    for header in [json!({"typ": "JWT"}), json!({"typ": null})] {
        let token = w.token_with(header.clone(), json!({}));
        let r = w
            .post(Some(&token), &call("echo", json!({"message": "x"})))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{header}");
        assert_eq!(param(&www(&r), "error").as_deref(), Some("invalid_token"));
    }
    let ok = w
        .post(
            Some(&w.token("openid all")),
            &call("echo", json!({"message": "x"})),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(w.upstream.request_count(), 1);
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test binary, at TRACE for mcp-warden and all its
/// libraries (what `RUST_LOG=trace` gives an operator).
fn captured_logs() -> Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init()
            .expect("no other subscriber in this test binary");
        logs
    })
    .clone()
}

/// MCP authorization "Token Theft": servers MUST implement secure token
/// storage (tokens "cached or logged on the server" are the threat). No
/// token, valid or not, in a header or a query string, reaches a log line.
#[tokio::test]
async fn tokens_never_reach_the_logs() {
    let logs = captured_logs();
    let w = World::stateless(&format!(
        "{}[resource.tools]\ndeploy = [\"project:all\"]\n",
        curated_scopes()
    ))
    .await;
    let valid = w.token("openid all");
    let foreign = w.authz.access_token("https://other.example/mcp", "all");
    let forged = w.token_with(json!({"kid": "forged"}), json!({}));
    for token in [&valid, &foreign, &forged] {
        let r = w
            .post(Some(token), &call("echo", json!({"message": "x"})))
            .send()
            .await
            .unwrap();
        let _ = r.bytes().await;
    }
    let denied = w
        .post(Some(&valid), &call("deploy", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let in_query = w
        .client
        .post(format!("{}?access_token={valid}", w.mcp()))
        .json(&call("echo", json!({"message": "x"})))
        .send()
        .await
        .unwrap();
    assert_eq!(in_query.status(), 400);
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        text.contains("mcp_warden"),
        "the capture saw no mcp-warden log at all"
    );
    for token in [&valid, &foreign, &forged] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            !text.contains(signature),
            "a token reached the logs:\n{}",
            text.lines()
                .filter(|l| l.contains(signature))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// RFC 9728 §1.2 / RFC 8707 §2: the resource identifier is an absolute
/// https URL without a fragment (nor, per RFC 8707, a query); the PRM
/// `resource` and the accepted audience derive from `public.url`, so the
/// config refuses anything else (plain http for loopback only).
#[tokio::test]
async fn the_resource_identifier_is_an_https_url_without_query_or_fragment() {
    let base = config(&resource("r", "/mcp", "https://as.example", ""));
    for bad in [
        "https://mcp.example.com#frag",
        "https://mcp.example.com?tenant=1",
        "http://mcp.example.com",
        "mcp.example.com",
    ] {
        let text = base.replace(
            "url = \"https://mcp.example.com\"",
            &format!("url = \"{bad}\""),
        );
        let err = Config::parse_with_env(&text, None).expect_err(bad);
        assert!(err.to_string().contains("public"), "{bad}: {err}");
    }
    let loopback = base.replace("https://mcp.example.com", "http://127.0.0.1:8080");
    Config::parse_with_env(&loopback, None).unwrap();
}

/// MCP 2026-07-28 "Scope Challenge Handling": all scopes the operation needs
/// in a single challenge (the `required` scopes and the tool's, together),
/// with `resource_metadata`, each auth-param once.
#[tokio::test]
async fn one_challenge_names_every_scope_the_operation_needs() {
    let w = World::stateless(
        "[resource.scopes]\n\
         preferred = [\"openid\", \"all\"]\n\
         required = [\"all\"]\n\
         [resource.tools]\n\
         deploy = [\"project:functions.write\", \"project:all\"]\n",
    )
    .await;
    let r = w
        .post(Some(&w.token("openid")), &call("deploy", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let h = www(&r);
    assert_eq!(
        param(&h, "scope").as_deref(),
        Some("all project:functions.write project:all"),
        "{h}"
    );
    assert_eq!(param(&h, "error").as_deref(), Some("insufficient_scope"));
    assert_eq!(param(&h, "resource_metadata").as_deref(), Some(PRM));
    for p in ["scope=", "error=", "resource_metadata="] {
        assert_eq!(h.matches(p).count(), 1, "{p} once: {h}");
    }
    // With all of them, the call goes through.
    let ok = w
        .post(
            Some(&w.token("all project:functions.write project:all")),
            &call("deploy", json!({})),
        )
        .send()
        .await
        .unwrap();
    assert_ne!(ok.status(), 403);
}

/// RFC 9728 §3.3 and §5.1, MCP 2025-11-25 "Protected Resource Metadata
/// Discovery": the `resource_metadata` of the 401 leads to a document whose
/// `resource` is the URL the client called, and the challenge's `scope` is
/// the same set as `scopes_supported` (servers SHOULD be consistent); the
/// RFC 9728 §2 display fields appear when configured.
#[tokio::test]
async fn the_challenge_leads_to_metadata_for_the_called_resource() {
    let w = World::stateless(&format!(
        "resource_name = \"Demo MCP\"\nresource_documentation = \"https://docs.example.com/mcp\"\n{}",
        curated_scopes()
    ))
    .await;
    let r = w
        .post(None, &call("echo", json!({"message": "x"})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let h = www(&r);
    let metadata_url = param(&h, "resource_metadata").unwrap();
    let local = metadata_url.replace(
        "https://mcp.example.com",
        &format!("http://{}", w.daemon.public_addr),
    );
    let doc: Value = w
        .client
        .get(local)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["resource"], RESOURCE, "the URL the client called");
    // RFC 9728 §2 display fields, when configured.
    assert_eq!(doc["resource_name"], "Demo MCP");
    assert_eq!(
        doc["resource_documentation"],
        "https://docs.example.com/mcp"
    );
    let supported: Vec<&str> = doc["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(param(&h, "scope").unwrap(), supported.join(" "));
}

/// MCP "Canonical Server URI": the slash-less form is advertised, tokens
/// minted for either slash form are accepted; scheme and host are compared
/// exactly (uppercase forms only through `audiences`, the deliberate
/// deviation), and extra `audiences` are accepted.
#[tokio::test]
async fn audiences_accept_both_slash_forms_and_configured_extras() {
    let w = World::stateless(&format!(
        "audiences = [\"HTTPS://MCP.EXAMPLE.COM/mcp\"]\n{}",
        curated_scopes()
    ))
    .await;
    let plain = World::stateless(&curated_scopes()).await;
    let status = |w: &World, aud: &str| {
        let token = w.token_with(Value::Null, json!({"aud": aud}));
        let req = w.post(Some(&token), &call("echo", json!({"message": "x"})));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(&plain, RESOURCE).await, 200);
    assert_eq!(status(&plain, "https://mcp.example.com/mcp/").await, 200);
    assert_eq!(status(&plain, "HTTPS://MCP.EXAMPLE.COM/mcp").await, 401);
    assert_eq!(status(&plain, "https://mcp.example.com").await, 401);
    assert_eq!(status(&w, "HTTPS://MCP.EXAMPLE.COM/mcp").await, 200);
}

/// MCP 2026-07-28 Streamable HTTP "Server Validation": mcp-warden is an
/// intermediary that never trusts the mirrored `Mcp-Method` / `Mcp-Name`
/// headers: per-tool scopes come from the body, which is what the upstream
/// executes (and validates against the headers itself).
#[tokio::test]
async fn tool_policy_reads_the_body_not_the_mirrored_headers() {
    let w = World::stateless(&format!(
        "{}[resource.tools]\ndeploy = [\"project:all\"]\n",
        curated_scopes()
    ))
    .await;
    let token = w.token("openid all");
    let hidden = w
        .post(Some(&token), &call("deploy", json!({})))
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), 403);
    let harmless = w
        .post(Some(&token), &call("echo", json!({"message": "x"})))
        .header("mcp-method", "tools/call")
        .header("mcp-name", "deploy")
        .send()
        .await
        .unwrap();
    assert_eq!(harmless.status(), 200);
    assert_eq!(w.upstream.request_count(), 1);
}
