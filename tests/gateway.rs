//! The protected MCP endpoint end to end: the real daemon between a reqwest
//! client and the demo upstream, with tokens minted by the demo
//! authorization server (RS256, ES256, EdDSA keys).

mod support;

use std::time::{Duration, Instant};

use mcp_warden::demo::authz::KeyKind;
use mcp_warden::demo::upstream::{Upstream, UpstreamBehaviour, UpstreamOptions};
use mcp_warden::issuer::cache::Trigger;
use serde_json::{Value, json};
use support::*;

const RESOURCE: &str = "https://mcp.example.com/mcp";
const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

struct Setup {
    authz: AuthServer,
    upstream: Upstream,
    daemon: mcp_warden::daemon::Daemon,
    client: reqwest::Client,
}

impl Setup {
    /// A stateless upstream: tool calls need no session.
    async fn new(extra: &str) -> Setup {
        let options = UpstreamOptions {
            stateless: true,
            ..UpstreamOptions::default()
        };
        Setup::with(extra, "", options).await
    }

    async fn with(extra: &str, global: &str, options: UpstreamOptions) -> Setup {
        let authz = auth_server().await;
        let upstream = Upstream::start(options).await.unwrap();
        let text = format!(
            "{}{global}",
            config(&resource_to(
                "r",
                "/mcp",
                &authz.issuer,
                &upstream.url,
                &format!("{extra}\n{}", curated_scopes())
            ))
        );
        let daemon = start(&text).await.unwrap();
        Setup {
            authz,
            upstream,
            daemon,
            client: http(),
        }
    }

    fn mcp(&self) -> String {
        url(&self.daemon, "/mcp")
    }

    fn token(&self) -> String {
        self.authz.access_token(RESOURCE, "openid all")
    }

    async fn post(&self, token: Option<&str>, body: Value) -> reqwest::Response {
        let mut r = self
            .client
            .post(self.mcp())
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }
}

fn call(tool: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}})
}

fn www(r: &reqwest::Response) -> String {
    r.headers()["www-authenticate"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn no_token_gets_the_discovery_challenge() {
    let s = Setup::new("").await;
    let r = s.post(None, call("echo", json!({"message": "x"}))).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        www(&r),
        format!(
            "Bearer resource_metadata=\"{PRM}\", scope=\"openid profile email all project:all organization:all\""
        )
    );
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized");
    // GET and DELETE are authenticated too.
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = s.client.request(method, s.mcp()).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    assert_eq!(s.upstream.request_count(), 0);
}

#[tokio::test]
async fn a_valid_token_reaches_the_upstream_without_the_token() {
    let s = Setup::new("").await;
    let token = s.token();
    let r = s
        .client
        .post(s.mcp())
        .bearer_auth(&token)
        .header("x-mcp-auth-subject", "admin")
        .header("x-forwarded-for", "6.6.6.6")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&call("whoami", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    let seen: Value = serde_json::from_str(text).unwrap();
    assert_eq!(seen["x-mcp-auth-subject"], "user-1");
    assert_eq!(seen["x-mcp-auth-client-id"], "demo-client");
    assert_eq!(seen["x-mcp-auth-scopes"], "openid all");
    assert_eq!(seen["authorization"], Value::Null);

    let recorded = s.upstream.requests();
    let req = recorded.last().unwrap();
    let header = |n: &str| -> Vec<&str> {
        req.headers
            .iter()
            .filter(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert!(header("authorization").is_empty());
    assert_eq!(header("x-mcp-auth-subject"), ["user-1"]);
    assert_eq!(header("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(header("x-forwarded-proto"), ["https"]);
    assert_eq!(header("x-forwarded-host"), ["mcp.example.com"]);
    assert_eq!(header("mcp-protocol-version"), ["2025-11-25"]);
    for (_, v) in &req.headers {
        assert!(!v.contains(&token), "the token reached the upstream");
    }
}

#[tokio::test]
async fn forward_token_is_an_explicit_opt_in() {
    let s = Setup::new("forward_token = true").await;
    let token = s.token();
    let r = s
        .post(Some(&token), call("echo", json!({"message": "hi"})))
        .await;
    assert_eq!(r.status(), 200);
    let req = s.upstream.requests().pop().unwrap();
    let auth: Vec<_> = req
        .headers
        .iter()
        .filter(|(k, _)| k == "authorization")
        .collect();
    assert_eq!(auth.len(), 1);
    assert_eq!(auth[0].1, format!("Bearer {token}"));
}

#[tokio::test]
async fn invalid_tokens_get_invalid_token() {
    let s = Setup::new("").await;
    let now = mcp_warden::issuer::verifier::unix_now();
    let base = |extra: Value| {
        let mut c = json!({
            "iss": s.authz.issuer, "aud": RESOURCE, "sub": "u", "scope": "all",
            "iat": now, "exp": now + 300,
        });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let kid = s.authz.default_kid();
    let cases = [
        (
            s.authz
                .mint(base(json!({"aud": "https://other.example/mcp"}))),
            "audience",
        ),
        (
            s.authz.mint(base(json!({"iss": "https://evil.example"}))),
            "issuer",
        ),
        (s.authz.mint(base(json!({"exp": now - 120}))), "expired"),
        (
            s.authz.mint(base(json!({"nbf": now + 3600}))),
            "not yet valid",
        ),
        (
            s.authz
                .sign(&kid, json!({"kid": "no-such-key"}), base(json!({}))),
            "unknown key",
        ),
        (
            s.authz.sign(
                &kid,
                json!({"jku": "https://evil.example/jwks", "jwk": {"kty": "oct"}}),
                base(json!({"aud": "x"})),
            ),
            "audience",
        ),
        (
            "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.".to_owned(),
            "unsigned",
        ),
        ("not-a-jwt".to_owned(), "JWS"),
    ];
    for (token, want) in cases {
        let r = s.post(Some(&token), call("echo", json!({}))).await;
        assert_eq!(r.status(), 401, "{want}");
        let h = www(&r);
        assert!(
            h.starts_with(&format!(
                "Bearer resource_metadata=\"{PRM}\", scope=\"openid profile"
            )),
            "{h}"
        );
        assert!(h.contains("error=\"invalid_token\""), "{h}");
        assert!(h.contains(want), "{want}: {h}");
    }
    assert_eq!(s.upstream.request_count(), 0);
}

#[tokio::test]
async fn hmac_signed_with_the_public_key_is_refused() {
    let s = Setup::new("").await;
    let kid = s.authz.default_kid();
    let now = mcp_warden::issuer::verifier::unix_now();
    let claims = json!({"iss": s.authz.issuer, "aud": RESOURCE, "exp": now + 300, "scope": "all"});
    let pem = s.authz.public_key_pem(&kid);
    let jwk = s.authz.public_jwk(&kid).to_string();
    for secret in [pem.as_bytes(), jwk.as_bytes()] {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some(kid.clone());
        let token = jsonwebtoken::encode(
            &h,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret).unwrap(),
        )
        .unwrap();
        let r = s.post(Some(&token), call("echo", json!({}))).await;
        assert_eq!(r.status(), 401);
        assert!(www(&r).contains("HMAC"), "{}", www(&r));
    }
}

#[tokio::test]
async fn every_key_type_verifies() {
    let s = Setup::new("").await;
    // Published together: the first unknown kid refetches them all (later
    // misses inside the cooldown would not refetch).
    let kids: Vec<_> = [KeyKind::Rs256, KeyKind::Es256, KeyKind::EdDsa]
        .into_iter()
        .map(|kind| (kind, s.authz.add_key(kind)))
        .collect();
    for (kind, kid) in kids {
        let now = mcp_warden::issuer::verifier::unix_now();
        let token = s.authz.sign(
            &kid,
            json!({}),
            json!({"iss": s.authz.issuer, "aud": [RESOURCE], "exp": now + 60, "scope": "all"}),
        );
        let r = s
            .post(Some(&token), call("echo", json!({"message": "k"})))
            .await;
        assert_eq!(
            r.status(),
            200,
            "{kind:?}: {:?}",
            r.headers().get("www-authenticate")
        );
    }
}

#[tokio::test]
async fn malformed_requests_get_invalid_request() {
    let s = Setup::new("").await;
    let token = s.token();
    let two = s
        .client
        .post(s.mcp())
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .json(&call("echo", json!({})))
        .send()
        .await
        .unwrap();
    let in_query = s
        .client
        .post(format!("{}?access_token={token}", s.mcp()))
        .json(&call("echo", json!({})))
        .send()
        .await
        .unwrap();
    let bad_syntax = s
        .client
        .post(s.mcp())
        .header("authorization", "Bearer a b c")
        .json(&call("echo", json!({})))
        .send()
        .await
        .unwrap();
    for r in [two, in_query, bad_syntax] {
        assert_eq!(r.status(), 400);
        assert!(www(&r).contains("error=\"invalid_request\""), "{}", www(&r));
    }
    assert_eq!(s.upstream.request_count(), 0);
}

#[tokio::test]
async fn required_and_per_tool_scopes_step_up_with_403() {
    let extra = "[resource.tools]\ndeploy = [\"project:functions.write\", \"project:all\"]\n";
    let s = Setup::new(extra).await;
    let weak = s.authz.access_token(RESOURCE, "openid all");
    let r = s
        .post(Some(&weak), call("echo", json!({"message": "fine"})))
        .await;
    assert_eq!(r.status(), 200);
    let r = s.post(Some(&weak), call("deploy", json!({}))).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        www(&r),
        format!(
            "Bearer resource_metadata=\"{PRM}\", scope=\"project:functions.write project:all\", error=\"insufficient_scope\", error_description=\"the token lacks scopes this request needs\""
        )
    );
    // A batch hiding the call is caught too.
    let batch = json!([call("echo", json!({})), call("deploy", json!({}))]);
    assert_eq!(s.post(Some(&weak), batch).await.status(), 403);
    let strong = s
        .authz
        .access_token(RESOURCE, "all project:functions.write project:all");
    let r = s.post(Some(&strong), call("deploy", json!({}))).await;
    assert_ne!(r.status(), 403);
    // The body reached the upstream byte for byte.
    let sent = serde_json::to_vec(&call("deploy", json!({}))).unwrap();
    assert_eq!(s.upstream.requests().last().unwrap().body, sent);
}

#[tokio::test]
async fn required_scopes_apply_to_every_request() {
    let authz = auth_server().await;
    let upstream = Upstream::start(UpstreamOptions::default()).await.unwrap();
    let extra = "[resource.scopes]\nrequired = [\"project:all\"]\n";
    let daemon = start(&config(&resource_to(
        "r",
        "/mcp",
        &authz.issuer,
        &upstream.url,
        extra,
    )))
    .await
    .unwrap();
    let c = http();
    let token = authz.access_token(RESOURCE, "all");
    let r = c
        .get(url(&daemon, "/mcp"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(www(&r).contains("scope=\"project:all\""), "{}", www(&r));
}

#[tokio::test]
async fn unknown_kid_refetches_once_and_accepts_a_rotated_key() {
    let s = Setup::new("").await;
    let before = s.authz.jwks_requests();
    let kid = s.authz.add_key(KeyKind::Es256); // published, but not yet in mcp-warden's cache
    let now = mcp_warden::issuer::verifier::unix_now();
    let token = s.authz.sign(
        &kid,
        json!({}),
        json!({"iss": s.authz.issuer, "aud": RESOURCE, "exp": now + 60, "scope": "all"}),
    );
    let r = s
        .post(Some(&token), call("echo", json!({"message": "rotated"})))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.authz.jwks_requests() - before, 1, "exactly one refetch");
}

#[tokio::test]
async fn a_flood_of_forged_kids_causes_at_most_one_fetch_per_cooldown() {
    let s = Setup::with("", "", UpstreamOptions::default()).await;
    let before = s.authz.jwks_requests();
    let kid = s.authz.default_kid();
    let now = mcp_warden::issuer::verifier::unix_now();
    let started = Instant::now();
    let forged: Vec<_> = (0..100)
        .map(|i| {
            s.authz.sign(
                &kid,
                json!({"kid": format!("forged-{i}")}),
                json!({"iss": s.authz.issuer, "aud": RESOURCE, "exp": now + 60}),
            )
        })
        .collect();
    let answers = futures_util::future::join_all(
        forged
            .iter()
            .map(|t| s.post(Some(t), call("echo", json!({})))),
    )
    .await;
    for r in answers {
        assert_eq!(r.status(), 401);
    }
    let fetches = s.authz.jwks_requests() - before;
    // Default cooldown is 30 s; this took far less.
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(fetches <= 1, "{fetches} JWKS fetches for 100 forged kids");
}

#[tokio::test]
async fn a_removed_key_stops_validating_at_once() {
    let s = Setup::new("").await;
    let old = s.authz.default_kid();
    let token = s.token();
    assert_eq!(
        s.post(Some(&token), call("echo", json!({}))).await.status(),
        200
    );
    // Cached now; rotate the old key out.
    s.authz.add_key(KeyKind::Rs256);
    s.authz.remove_key(&old);
    let runtime = s.daemon.app.snapshot().resources[0].runtime.clone();
    runtime
        .verifier
        .jwks
        .refresh(Trigger::Forced)
        .await
        .unwrap();
    let r = s.post(Some(&token), call("echo", json!({}))).await;
    assert_eq!(r.status(), 401);
    assert!(www(&r).contains("unknown key"), "{}", www(&r));
}

#[tokio::test]
async fn sse_events_stream_before_the_upstream_finishes() {
    let s = Setup::new("").await;
    let token = s.token();
    let started = Instant::now();
    let mut r = s
        .post(
            Some(&token),
            call("count", json!({"n": 3, "interval_ms": 300})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let first = r.chunk().await.unwrap().unwrap();
    let first_at = started.elapsed();
    assert!(String::from_utf8_lossy(&first).contains("notifications/progress"));
    let mut rest = Vec::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    let total = started.elapsed();
    let text = String::from_utf8_lossy(&rest);
    assert!(text.contains("\"result\""), "{text}");
    assert!(text.contains("id:"), "SSE ids survive: {text}");
    // The upstream spends ≥ 900 ms; the first event came well before the end.
    assert!(total >= Duration::from_millis(900));
    assert!(
        first_at + Duration::from_millis(500) < total,
        "first {first_at:?}, total {total:?}"
    );
}

#[tokio::test]
async fn session_id_round_trip_and_delete() {
    let s = Setup::with("", "", UpstreamOptions::default()).await;
    let token = s.token();
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let r = s.post(Some(&token), init).await;
    assert_eq!(r.status(), 200);
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let r = s
        .client
        .post(s.mcp())
        .bearer_auth(&token)
        .header("mcp-session-id", &session)
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "upstream status kept");
    let r = s
        .client
        .delete(s.mcp())
        .bearer_auth(&token)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .delete(s.mcp())
        .bearer_auth(&token)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "upstream 404 kept");
}

#[tokio::test]
async fn origin_rules() {
    let s = Setup::new("").await;
    let token = s.token();
    let r = s
        .client
        .post(s.mcp())
        .bearer_auth(&token)
        .header("origin", "https://evil.example")
        .json(&call("echo", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], -32000);
    // The public origin is fine, and 401s carry CORS so browsers can read the challenge.
    let r = s
        .client
        .post(s.mcp())
        .header("origin", "https://mcp.example.com")
        .json(&call("echo", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://mcp.example.com"
    );
    assert!(
        r.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("www-authenticate")
    );
    let pre = s
        .client
        .request(reqwest::Method::OPTIONS, s.mcp())
        .header("origin", "https://mcp.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert!(
        pre.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("mcp-session-id")
    );
}

#[tokio::test]
async fn body_limit_gives_413() {
    let s = Setup::with("", "", UpstreamOptions::default()).await;
    let token = s.token();
    let big = "x".repeat(5 * 1024 * 1024);
    let r = s
        .post(Some(&token), call("echo", json!({"message": big})))
        .await;
    assert_eq!(r.status(), 413);
    // Without Content-Length (chunked), the limit still holds.
    let chunks = futures_util::stream::iter(
        (0..6).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 1024 * 1024]))),
    );
    let r = s
        .client
        .post(s.mcp())
        .bearer_auth(&token)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn upstream_failures_map_to_502_and_504() {
    let s = Setup::new("upstream_timeout = \"300ms\"").await;
    let token = s.token();
    s.upstream
        .set_behaviour(UpstreamBehaviour::SlowHeaders(Duration::from_secs(2)));
    let r = s.post(Some(&token), call("echo", json!({}))).await;
    assert_eq!(r.status(), 504);
    assert_eq!(r.json::<Value>().await.unwrap()["jsonrpc"], "2.0");

    let authz = auth_server().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}/mcp");
    let daemon = start(&config(&resource_to("r", "/mcp", &authz.issuer, &dead, "")))
        .await
        .unwrap();
    let r = http()
        .post(url(&daemon, "/mcp"))
        .bearer_auth(authz.access_token(RESOURCE, "all"))
        .json(&call("echo", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
}

#[tokio::test]
async fn no_keys_and_nothing_cached_is_503_not_401() {
    let authz = auth_server().await;
    authz.set_behaviour(Behaviour::Status(500));
    let upstream = Upstream::start(UpstreamOptions::default()).await.unwrap();
    let daemon = start(&config(&resource_to(
        "r",
        "/mcp",
        &authz.issuer,
        &upstream.url,
        "",
    )))
    .await
    .unwrap();
    let r = http()
        .post(url(&daemon, "/mcp"))
        .bearer_auth(authz.access_token(RESOURCE, "all"))
        .json(&call("echo", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn rich_authorization_details_reach_the_upstream_and_the_prm() {
    let s = Setup::new("authorization_details_types = [\"project\"]").await;
    let prm: Value = s
        .client
        .get(url(&s.daemon, "/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        prm["authorization_details_types_supported"],
        json!(["project"])
    );
    let now = mcp_warden::issuer::verifier::unix_now();
    let details = json!([{"type": "project", "locations": ["p-123"], "actions": ["read"]}]);
    let token = s.authz.mint(json!({
        "iss": s.authz.issuer, "aud": RESOURCE, "sub": "u", "scope": "all",
        "exp": now + 60, "authorization_details": details,
    }));
    let r = s
        .post(Some(&token), call("echo", json!({"message": "rar"})))
        .await;
    assert_eq!(r.status(), 200);
    let req = s.upstream.requests().pop().unwrap();
    let header = req
        .header("x-mcp-auth-authorization-details")
        .expect("the grants are forwarded");
    assert_eq!(serde_json::from_str::<Value>(header).unwrap(), details);
}

#[tokio::test]
async fn a_refresh_with_the_same_keys_keeps_cached_verdicts() {
    let s = Setup::new("").await;
    let token = s.token();
    assert_eq!(
        s.post(Some(&token), call("echo", json!({}))).await.status(),
        200
    );
    let runtime = s.daemon.app.snapshot().resources[0].runtime.clone();
    runtime
        .verifier
        .jwks
        .refresh(Trigger::Forced)
        .await
        .unwrap();
    let hits = || {
        runtime
            .verifier
            .stats
            .cache_hits
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = hits();
    assert_eq!(
        s.post(Some(&token), call("echo", json!({}))).await.status(),
        200
    );
    assert_eq!(
        hits(),
        before + 1,
        "the verdict survived a refresh that changed nothing"
    );
}

#[tokio::test]
async fn a_token_without_kid_needs_an_unambiguous_key() {
    let s = Setup::new("").await;
    let now = mcp_warden::issuer::verifier::unix_now();
    let claims = json!({"iss": s.authz.issuer, "aud": RESOURCE, "exp": now + 60, "scope": "all"});
    let only = s.authz.default_kid();
    let no_kid = s.authz.sign(&only, json!({"kid": null}), claims.clone());
    assert_eq!(
        s.post(Some(&no_kid), call("echo", json!({})))
            .await
            .status(),
        200,
        "one RSA key: unambiguous"
    );
    // A second RSA key: a kid-less token no longer says which key to try.
    s.authz.add_key(KeyKind::Rs256);
    let runtime = s.daemon.app.snapshot().resources[0].runtime.clone();
    runtime
        .verifier
        .jwks
        .refresh(Trigger::Forced)
        .await
        .unwrap();
    let fresh = s
        .authz
        .sign(&only, json!({"kid": null, "jti": "x"}), claims);
    let r = s.post(Some(&fresh), call("echo", json!({}))).await;
    assert_eq!(r.status(), 401);
    assert!(www(&r).contains("no key id"), "{}", www(&r));
}
