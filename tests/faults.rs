//! The fault matrix of issue 10: the authorization server, the upstream, the
//! configuration file and the process failing the ways they do in
//! production. Each test asserts the exact outcome and that the daemon keeps
//! serving afterwards (`/healthz` 200 and a valid request 200).
//!
//! Rows already covered elsewhere (cited, not repeated): authorization
//! server refused (`prm::unreachable_authorization_server_does_not_stop_startup`),
//! hangs, 404, redirect loop, garbage, wrong shape, 5 MiB, issuer mismatch,
//! no `jwks_uri` (`prm::bad_authorization_server_answers`), 500 at startup
//! (`prm::prm_is_503_until_the_authorization_server_answers`,
//! `gateway::no_keys_and_nothing_cached_is_503_not_401`), an outage served
//! stale (`prm::stale_metadata_is_served_through_an_outage_without_a_retry_storm`);
//! upstream refused and slow headers (`gateway::upstream_failures_map_to_502_and_504`);
//! every invalid config form of the reload issue (`tests/reload.rs`); SIGTERM
//! with an open SSE stream (`reload::sigterm_ends_an_open_sse_stream_cleanly_and_exits_0`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_warden::config::Config;
use mcp_warden::daemon::{self, Daemon};
use mcp_warden::demo::upstream::{Upstream, UpstreamBehaviour};
use serde_json::{Value, json};
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_mcp-warden");
/// `public.url` + `/mcp`: the audience of the tokens the gateway accepts.
const RESOURCE: &str = "https://mcp.example.com/mcp";
const PRM: &str = "/.well-known/oauth-protected-resource/mcp";
/// The bound for awaited conditions (many daemons run in parallel).
const WITHIN: Duration = Duration::from_secs(10);

fn echo(message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": message}}})
}

/// The value of one exact series line in a Prometheus exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
    })
}

/// The real daemon in front of the demo authorization server and a
/// stateless demo upstream.
struct Gate {
    authz: AuthServer,
    upstream: Upstream,
    daemon: Daemon,
    client: reqwest::Client,
}

impl Gate {
    /// `tune` edits the whole config text (e.g. the `[cache]` settings).
    async fn start(tune: impl FnOnce(String) -> String) -> Gate {
        let authz = auth_server().await;
        Gate::with(authz, tune).await
    }

    async fn with(authz: AuthServer, tune: impl FnOnce(String) -> String) -> Gate {
        let upstream = stateless_upstream().await;
        let text = tune(config(&resource_to(
            "r",
            "/mcp",
            &authz.issuer,
            &upstream.url,
            &curated_scopes(),
        )));
        let daemon = start(&text).await.expect("the daemon starts");
        Gate {
            authz,
            upstream,
            daemon,
            client: http(),
        }
    }

    /// A fresh valid token (its `jti` is random, so it is never a cache hit).
    fn token(&self) -> String {
        self.authz.access_token(RESOURCE, "openid all")
    }

    async fn call(&self, token: &str) -> reqwest::Response {
        self.client
            .post(url(&self.daemon, "/mcp"))
            .header("accept", "application/json, text/event-stream")
            .bearer_auth(token)
            .json(&echo("ping"))
            .send()
            .await
            .expect("the daemon answers")
    }

    fn admin(&self, path: &str) -> String {
        format!("http://{}{path}", self.daemon.admin_addr)
    }

    async fn metrics(&self) -> String {
        self.client
            .get(self.admin("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
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
        assert_eq!(
            r.status(),
            200,
            "after {after}: a valid request ({:?})",
            r.headers().get("www-authenticate")
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["result"]["content"][0]["text"], "Echo: ping",
            "after {after}"
        );
    }
}

/// JWKS documents in which mcp-warden can use no key at all.
fn unusable_key_sets(authz: &AuthServer) -> Vec<(&'static str, Value)> {
    let mut encryption_key = authz.public_jwk(&authz.default_kid());
    encryption_key["use"] = json!("enc");
    encryption_key["kid"] = json!("enc-1");
    let mut lying_alg = authz.public_jwk(&authz.default_kid());
    lying_alg["alg"] = json!("ES256");
    lying_alg["kid"] = json!("lying-1");
    vec![
        ("empty", json!({"keys": []})),
        (
            "only unsupported keys",
            json!({"keys": [
                // Symmetric keys are never used to verify tokens.
                {"kty": "oct", "kid": "hmac-1", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"},
                // Curves mcp-warden does not verify.
                {"kty": "EC", "kid": "k1-1", "crv": "secp256k1",
                 "x": "WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis",
                 "y": "y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE"},
                {"kty": "OKP", "kid": "x25519-1", "crv": "X25519",
                 "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"},
                // An encryption key, and a key whose `alg` does not fit it.
                encryption_key,
                lying_alg,
                // Not a key at all.
                {"kty": "nonsense"},
            ]}),
        ),
    ]
}

#[tokio::test]
async fn a_jwks_without_usable_keys_is_503_when_nothing_is_cached() {
    for case in 0..2 {
        let authz = auth_server().await;
        let (name, jwks) = unusable_key_sets(&authz).swap_remove(case);
        authz.set_jwks(jwks);
        let g = Gate::with(authz, |t| t).await;

        // Discovery works: the metadata is served.
        let prm = g.client.get(url(&g.daemon, PRM)).send().await.unwrap();
        assert_eq!(prm.status(), 200, "{name}: metadata");
        // No key to verify with: 503 (try later), never 401 (re-authorize).
        let r = g.call(&g.token()).await;
        assert_eq!(r.status(), 503, "{name}");
        let retry_after: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry_after >= 1, "{name}: Retry-After {retry_after}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable", "{name}: {body}");
        let description = body["error_description"].as_str().unwrap();
        assert!(
            description.contains("no usable signing key"),
            "{name}: {description}"
        );
        assert_eq!(g.upstream.request_count(), 0, "{name}");
        let health = g.client.get(url(&g.daemon, "/healthz")).send().await;
        assert_eq!(health.unwrap().status(), 200, "{name}: /healthz");

        // The authorization server publishes its keys again: served at the
        // next retry (100-400 ms backoff), no restart.
        g.authz.clear_jwks_override();
        eventually(WITHIN, || async {
            (g.call(&g.token()).await.status() == 200).then_some(())
        })
        .await;
        g.assert_serving(name).await;
    }
}

#[tokio::test]
async fn a_jwks_without_usable_keys_after_a_good_one_keeps_the_last_good_keys() {
    // A short TTL: the key set also goes stale while the bad set is up, and
    // is served stale rather than dropped.
    let g = Gate::start(|t| t.replace("ttl = \"5m\"", "ttl = \"500ms\"")).await;
    let kid = g.authz.default_kid();
    g.assert_serving("startup").await;
    let runtime = g.daemon.app.snapshot().resources[0].runtime.clone();

    for (name, jwks) in unusable_key_sets(&g.authz) {
        g.authz.set_jwks(jwks);
        // A forced refresh fetches the bad set and reports the failure.
        let r = g.client.post(g.admin("/refresh")).send().await.unwrap();
        assert_eq!(r.status(), 502, "{name}: forced refresh");
        let body: Value = r.json().await.unwrap();
        let error = body["resources"][0]["error"].to_string();
        assert!(error.contains("no usable signing key"), "{name}: {body}");

        // Past the TTL, the last good keys are served stale.
        let stale_before = runtime
            .verifier
            .jwks
            .stats
            .stale_serves
            .load(std::sync::atomic::Ordering::Relaxed);
        eventually(WITHIN, || async {
            let r = g.call(&g.token()).await;
            assert_eq!(r.status(), 200, "{name}: the last good keys verify");
            let now = runtime
                .verifier
                .jwks
                .stats
                .stale_serves
                .load(std::sync::atomic::Ordering::Relaxed);
            (now > stale_before).then_some(())
        })
        .await;
        // An unknown kid refetches the bad set, which replaces nothing.
        let now = mcp_warden::issuer::verifier::unix_now();
        let forged = g.authz.sign(
            &kid,
            json!({"kid": format!("unknown-{name}")}),
            json!({"iss": g.authz.issuer, "aud": RESOURCE, "exp": now + 60, "scope": "all"}),
        );
        assert_eq!(g.call(&forged).await.status(), 401, "{name}: unknown kid");
        g.assert_serving(name).await;

        let status: Value = g
            .client
            .get(g.admin("/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            status["resources"][0]["jwks"]["key_ids"],
            json!([kid]),
            "{name}: {status:#}"
        );
        let m = g.metrics().await;
        assert_eq!(
            sample(&m, "mcp_warden_jwks_keys{resource=\"r\"}"),
            Some(1.0),
            "{name}"
        );
        g.authz.clear_jwks_override();
    }
}

#[tokio::test]
async fn an_authorization_server_slower_than_fetch_timeout_is_a_timeout() {
    let authz = auth_server().await;
    authz.set_behaviour(Behaviour::Slow(Duration::from_secs(3)));
    let g = Gate::with(authz, |t| t).await;
    let r = g.client.get(url(&g.daemon, PRM)).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains("did not answer within 1s"),
        "{description}"
    );
    assert_eq!(g.call(&g.token()).await.status(), 503);

    // Answering in time again: metadata, then keys (after its own backoff).
    g.authz.set_behaviour(Behaviour::Normal);
    eventually(WITHIN, || async {
        let r = g.client.get(url(&g.daemon, PRM)).send().await.unwrap();
        (r.status() == 200).then_some(())
    })
    .await;
    eventually(WITHIN, || async {
        (g.call(&g.token()).await.status() == 200).then_some(())
    })
    .await;
    g.assert_serving("a slow authorization server").await;
}

/// Flaps the authorization server: down (HTTP 503) and up for `phase` each,
/// `phases` times, starting down; leaves it up.
fn flap(authz: Arc<AuthServer>, phase: Duration, phases: u32) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // An interval, not sleeps: the phases do not drift.
        let mut tick = tokio::time::interval(phase);
        for i in 0..phases {
            tick.tick().await;
            authz.set_behaviour(if i % 2 == 0 {
                Behaviour::Status(503)
            } else {
                Behaviour::Normal
            });
        }
        tick.tick().await;
        authz.set_behaviour(Behaviour::Normal);
    })
}

/// Most fetches one cache can make while the server flaps (one attempt is
/// one request: a 503 does not fall through to the next discovery URL).
///
/// With `ttl` = 2 s, `retry_min` = 200 ms and `retry_max` = 1 s, the
/// schedule (`cache::Policy::backoff`, jittered down by at most half, never
/// under `retry_min`) puts the n-th consecutive retry at least 200, 200,
/// 400, 500 ms after the previous attempt. A 1 s down phase therefore holds
/// at most 4 failed attempts (at 0, 0.2, 0.4 and 0.8 s; the fifth is due at
/// 1.3 s at the earliest). Every retry is due within `retry_max` = 1 s, so
/// the first attempt in an up phase succeeds, and the next is only due
/// 0.8 × ttl = 1.6 s later, after that 1 s up phase has ended: at most one
/// attempt per up phase. Plus one for an attempt straddling the start.
fn flapping_fetch_bound(phases: u32) -> u64 {
    let down = u64::from(phases.div_ceil(2));
    let up = u64::from(phases / 2) + 1; // the final, open-ended up phase
    down * 4 + up + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_authorization_server_is_served_stale_without_a_retry_storm() {
    const PHASE: Duration = Duration::from_secs(1);
    const PHASES: u32 = 30;
    let authz = Arc::new(auth_server().await);
    let upstream = stateless_upstream().await;
    let text = config(&resource_to(
        "r",
        "/mcp",
        &authz.issuer,
        &upstream.url,
        &curated_scopes(),
    ))
    .replace("ttl = \"5m\"", "ttl = \"2s\"")
    .replace("retry_min = \"100ms\"", "retry_min = \"200ms\"")
    .replace("retry_max = \"400ms\"", "retry_max = \"1s\"");
    let daemon = start(&text).await.unwrap();
    let c = http();
    let prm = url(&daemon, PRM);
    let mcp = url(&daemon, "/mcp");
    let token = || authz.access_token(RESOURCE, "openid all");
    assert_eq!(c.get(&prm).send().await.unwrap().status(), 200);

    let discovery_before = authz.discovery_requests();
    let jwks_before = authz.jwks_requests();
    let started = Instant::now();
    let flapper = flap(authz.clone(), PHASE, PHASES);
    let mut requests = 0u64;
    while !flapper.is_finished() {
        let r = c.get(&prm).send().await.unwrap();
        assert_eq!(
            r.status(),
            200,
            "metadata at {:?} into the flapping",
            started.elapsed()
        );
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["scopes_supported"], json!(CURATED));
        // A fresh token each time: verified against the (stale) key set,
        // never answered from the verified-token cache.
        let r = c
            .post(&mcp)
            .bearer_auth(token())
            .json(&echo("flap"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "a valid token at {:?} into the flapping: {:?}",
            started.elapsed(),
            r.headers().get("www-authenticate")
        );
        requests += 2;
    }
    flapper.await.unwrap();
    let elapsed = started.elapsed();
    let discovery = authz.discovery_requests() - discovery_before;
    let jwks = authz.jwks_requests() - jwks_before;
    let bound = flapping_fetch_bound(PHASES);
    eprintln!(
        "flapping for {elapsed:?}: {requests} requests served, {discovery} discovery and {jwks} JWKS fetches (bound {bound} each)"
    );
    assert!(
        discovery <= bound,
        "{discovery} discovery fetches in {elapsed:?}; the backoff schedule allows {bound}"
    );
    assert!(
        jwks <= bound,
        "{jwks} JWKS fetches in {elapsed:?}; the backoff schedule allows {bound}"
    );
    // The refreshes really did fail and succeed along the way.
    let m = http()
        .get(format!("http://{}/metrics", daemon.admin_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for result in ["success", "failure"] {
        let series = format!(
            "mcp_warden_discovery_refresh_total{{resource=\"r\",result=\"{result}\",trigger=\"ttl\"}}"
        );
        let n = sample(&m, &series).unwrap_or(0.0);
        assert!(n >= 3.0, "{series} = {n}");
    }
    assert!(
        requests > 10 * (discovery + jwks),
        "{requests} requests, {discovery} + {jwks} fetches: fetches follow the schedule, not the traffic"
    );
    let health = c.get(url(&daemon, "/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn an_upstream_reset_mid_sse_stream_ends_the_client_stream_and_is_counted() {
    let g = Gate::start(|t| t).await;
    g.upstream.set_behaviour(UpstreamBehaviour::ResetMidStream);
    let mut r = g
        .client
        .post(url(&g.daemon, "/mcp"))
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(g.token())
        .json(&echo("reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut received = Vec::new();
    let end = tokio::time::timeout(WITHIN, async {
        loop {
            match r.chunk().await {
                Ok(Some(chunk)) => received.extend_from_slice(&chunk),
                Ok(None) => break Ok(()),
                Err(e) => break Err(format!("{e:?}")),
            }
        }
    })
    .await
    .expect("the client's stream ends, it does not hang");
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.contains("notifications/progress"),
        "the event before the reset arrived: {text:?}"
    );
    // Counted when its headers arrived.
    let m = g.metrics().await;
    assert_eq!(
        sample(
            &m,
            "mcp_warden_upstream_requests_total{resource=\"r\",status=\"200\"}"
        ),
        Some(1.0),
        "the reset request is counted"
    );
    g.upstream.set_behaviour(UpstreamBehaviour::Normal);
    g.assert_serving("an upstream reset").await;
    // Issue 10: "client sees a clean end". What it sees today: the event
    // sent before the reset, then the connection closed without the final
    // chunk, which reqwest reports as a body error ("unexpected EOF during
    // chunk size line").
    assert!(
        end.is_ok(),
        "the client's SSE stream must end cleanly when the upstream resets, but it ended with \
         {end:?}: src/proxy.rs `forward` hands the upstream's body error to hyper, which aborts \
         the chunked response; for text/event-stream, log the error and end the stream instead"
    );
}

#[tokio::test]
async fn a_5_mib_upstream_response_passes_through_intact() {
    const SIZE: usize = 5 * 1024 * 1024;
    let g = Gate::start(|t| t).await;
    g.upstream.set_behaviour(UpstreamBehaviour::Huge(SIZE));
    let r = g.call(&g.token()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        SIZE.to_string().as_str(),
        "the length is kept"
    );
    let body = r.bytes().await.expect("the whole body arrives");
    assert_eq!(body.len(), SIZE);
    let doc: Value = serde_json::from_slice(&body).expect("still valid JSON");
    let padding = doc["result"]["padding"].as_str().unwrap();
    assert!(padding.bytes().all(|b| b == b'x'));
    assert_eq!(body.len() - padding.len(), SIZE - padding.len());
    let m = g.metrics().await;
    assert_eq!(
        sample(
            &m,
            "mcp_warden_upstream_requests_total{resource=\"r\",status=\"200\"}"
        ),
        Some(1.0)
    );
    g.upstream.set_behaviour(UpstreamBehaviour::Normal);
    g.assert_serving("a 5 MiB response").await;
}

#[tokio::test]
async fn an_upstream_hanging_after_headers_blocks_nothing_else() {
    let g = Gate::start(|t| t).await;
    g.upstream
        .set_behaviour(UpstreamBehaviour::HangAfterHeaders);
    let mut hung = Vec::new();
    for _ in 0..5 {
        let r = tokio::time::timeout(WITHIN, g.call(&g.token()))
            .await
            .expect("the headers arrive although the body never does");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        hung.push(r);
    }
    // The body really hangs.
    let nothing = tokio::time::timeout(Duration::from_millis(300), hung[0].chunk()).await;
    assert!(nothing.is_err(), "a byte arrived: {nothing:?}");

    // With five hung streams open, everything else is answered promptly.
    g.upstream.set_behaviour(UpstreamBehaviour::Normal);
    let started = Instant::now();
    let answers = futures_util::future::join_all((0..10).map(|_| async {
        let r = g.call(&g.token()).await;
        (r.status(), r.text().await.unwrap_or_default())
    }))
    .await;
    for (status, body) in answers {
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Echo: ping"), "{body}");
    }
    let prm = g.client.get(url(&g.daemon, PRM)).send().await.unwrap();
    assert_eq!(prm.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "other requests took {:?} while streams hung",
        started.elapsed()
    );
    g.assert_serving("hung upstream streams").await;
    // A client that gives up on a hung stream frees it.
    drop(hung);
    g.assert_serving("dropping the hung streams").await;
}

/// A daemon started from a config file in a temp dir (so it can reload),
/// in process, with a demo upstream.
struct FileGate {
    gate: Gate,
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl FileGate {
    async fn start() -> FileGate {
        let authz = auth_server().await;
        let upstream = stateless_upstream().await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, file_config(&authz, &upstream, "all")).unwrap();
        let config = Config::load(&path).expect("the config file is valid");
        let daemon = daemon::start(config, Some(path.clone()))
            .await
            .expect("the daemon starts");
        FileGate {
            gate: Gate {
                authz,
                upstream,
                daemon,
                client: http(),
            },
            _dir: dir,
            path,
        }
    }

    async fn reload(&self) -> (u16, Value) {
        let r = self
            .gate
            .client
            .post(self.gate.admin("/reload"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn scopes(&self) -> Value {
        let r = self
            .gate
            .client
            .get(url(&self.gate.daemon, PRM))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["scopes_supported"].clone()
    }

    /// The old config is still in force, and the daemon serves.
    async fn assert_old_config_kept(&self, after: &str) {
        assert_eq!(self.scopes().await, json!(["all"]), "after {after}");
        assert_eq!(self.gate.daemon.app.snapshot().generation, 1, "{after}");
        let m = self.gate.metrics().await;
        assert_eq!(
            sample(&m, "mcp_warden_config_last_reload_success"),
            Some(0.0),
            "after {after}"
        );
        self.gate.assert_serving(after).await;
    }
}

fn file_config(authz: &AuthServer, upstream: &Upstream, scope: &str) -> String {
    config(&resource_to(
        "r",
        "/mcp",
        &authz.issuer,
        &upstream.url,
        &format!("[resource.scopes]\noverride = [\"{scope}\"]\n"),
    ))
}

/// Asserts a reload was rejected with one error naming `path`.
fn assert_rejected_naming(status: u16, record: &Value, path: &Path, why: &str) {
    assert_eq!(status, 422, "{record:#}");
    assert_eq!(record["result"], "rejected", "{record:#}");
    let errors = record["errors"].to_string();
    assert!(
        errors.contains(&format!("cannot read {}", path.display())),
        "the error names the path: {errors}"
    );
    assert!(errors.contains(why), "{errors}");
}

#[tokio::test]
async fn a_config_replaced_by_a_directory_is_rejected_and_the_old_config_stays() {
    let f = FileGate::start().await;
    f.gate.assert_serving("startup").await;
    std::fs::remove_file(&f.path).unwrap();
    std::fs::create_dir(&f.path).unwrap();

    let (status, record) = f.reload().await;
    assert_rejected_naming(status, &record, &f.path, "Is a directory");
    f.assert_old_config_kept("the config became a directory")
        .await;

    // Putting a file back recovers (the watcher or the explicit reload).
    std::fs::remove_dir(&f.path).unwrap();
    std::fs::write(
        &f.path,
        file_config(&f.gate.authz, &f.gate.upstream, "project:all"),
    )
    .unwrap();
    let (status, record) = f.reload().await;
    assert_eq!(status, 200, "{record:#}");
    assert_eq!(f.scopes().await, json!(["project:all"]));
    f.gate.assert_serving("the file came back").await;
}

/// Whether this process runs as root (`Uid:` in /proc/self/status: real,
/// effective, saved, filesystem), read without libc.
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn an_unreadable_config_is_rejected_and_the_old_config_stays() {
    use std::os::unix::fs::PermissionsExt;
    let f = FileGate::start().await;
    std::fs::set_permissions(&f.path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if running_as_root() {
        // Root has CAP_DAC_OVERRIDE: mode 000 does not stop it reading, so
        // "permission denied" cannot be produced here. The daemon takes the
        // same path for every unreadable file (`Config::load`: the
        // `read_to_string` error becomes "cannot read <path>: <reason>" and
        // rejects the reload), and that path is proven by
        // `a_config_replaced_by_a_directory_is_rejected_and_the_old_config_stays`.
        assert!(std::fs::read(&f.path).is_ok(), "root reads a mode-000 file");
        eprintln!("running as root: permission denied cannot be produced; see the directory case");
        return;
    }
    let (status, record) = f.reload().await;
    assert_rejected_naming(status, &record, &f.path, "Permission denied");
    f.assert_old_config_kept("the config became unreadable")
        .await;
}

/// The config of a spawned daemon in front of `authz` and `upstream`.
fn process_config(authz: &AuthServer, upstream: &Upstream, public: u16, admin: u16) -> String {
    let resource = resource_to("r", "/mcp", &authz.issuer, &upstream.url, &curated_scopes());
    with_ports(&config(&resource), public, admin)
}

/// The binary on `text` (written into `dir`), the default log level, stderr
/// to `stderr`.
fn spawn_process(dir: &Path, text: &str, stderr: Stdio) -> tokio::process::Child {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    tokio::process::Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .env_remove("MCP_OAUTH_SCOPES")
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn mcp-warden")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_in_flight_request() {
    const IN_FLIGHT: usize = 20;
    let authz = auth_server().await;
    let upstream = stateless_upstream().await;
    upstream.set_behaviour(UpstreamBehaviour::SlowHeaders(Duration::from_secs(1)));
    let (public, admin) = (free_port(), free_port());
    let text = process_config(&authz, &upstream, public, admin)
        .replace("shutdown_grace = \"1s\"", "shutdown_grace = \"3s\"");
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_process(dir.path(), &text, Stdio::piped());
    let pid = child.id().unwrap();
    // Signal handlers are installed before this line is logged.
    let stderr = child.stderr.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
    tokio::time::timeout(WITHIN, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("mcp-warden listening") {
                return;
            }
        }
        panic!("mcp-warden exited before listening");
    })
    .await
    .expect("mcp-warden listens");
    // Keep draining stderr so the daemon never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let c = http();
    let mcp = format!("http://127.0.0.1:{public}/mcp");
    let requests: Vec<_> = (0..IN_FLIGHT)
        .map(|i| {
            let r = c
                .post(&mcp)
                .bearer_auth(authz.access_token(RESOURCE, "all"))
                .json(&echo(&format!("in flight {i}")))
                .send();
            tokio::spawn(async move {
                let r = r.await.map_err(|e| format!("{e:?}"))?;
                let status = r.status().as_u16();
                let body = r.text().await.map_err(|e| format!("{e:?}"))?;
                Ok::<_, String>((status, body))
            })
        })
        .collect();
    // All twenty are past authentication and waiting on the slow upstream.
    eventually(WITHIN, || async {
        (upstream.request_count() == IN_FLIGHT).then_some(())
    })
    .await;
    let signalled = Instant::now();
    signal("TERM", pid);

    let mut completed = 0;
    for (i, request) in requests.into_iter().enumerate() {
        let (status, body) = request
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("request {i} was lost in the shutdown: {e}"));
        assert_eq!(status, 200, "request {i}: {body}");
        assert!(body.contains(&format!("Echo: in flight {i}")), "{body}");
        completed += 1;
    }
    assert_eq!(completed, IN_FLIGHT);
    let exit = tokio::time::timeout(Duration::from_secs(3) + WITHIN, child.wait())
        .await
        .expect("mcp-warden exits after the drain")
        .unwrap();
    assert_eq!(exit.code(), Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(3) + Duration::from_secs(2),
        "the drain took {:?}; the requests needed about 1 s",
        signalled.elapsed()
    );
    assert!(
        c.get(format!("http://127.0.0.1:{public}/healthz"))
            .send()
            .await
            .is_err(),
        "nothing listens after the exit"
    );
}

/// What the log says at the default level: an authorization-server outage is
/// a WARN per attempt and an INFO when it ends; clients hanging up
/// mid-request (which any client can do at will) log nothing, least of all
/// an ERROR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_log_names_outages_and_ignores_clients_hanging_up() {
    use tokio::io::AsyncWriteExt;
    let authz = auth_server().await;
    let upstream = stateless_upstream().await;
    let (public, admin) = (free_port(), free_port());
    let text = process_config(&authz, &upstream, public, admin) + "\n[log]\nlevel = \"info\"\n";
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stderr.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut child = spawn_process(dir.path(), &text, Stdio::from(log_file));
    let c = http();
    let admin_url = format!("http://127.0.0.1:{admin}");
    eventually(WITHIN, || async {
        let r = c.get(format!("{admin_url}/readyz")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;

    // Clients that hang up: mid-body, mid-headers, and right after sending.
    for partial in [
        "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"",
        "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Le",
        "GET /mcp HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        for _ in 0..5 {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", public))
                .await
                .unwrap();
            s.write_all(partial.as_bytes()).await.unwrap();
            drop(s);
        }
    }

    // An outage seen by a forced refresh, then its end.
    authz.set_behaviour(Behaviour::Status(503));
    let r = c.post(format!("{admin_url}/refresh")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    authz.set_behaviour(Behaviour::Normal);
    let r = c.post(format!("{admin_url}/refresh")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Graceful shutdown waits for every connection: whatever the hung-up
    // clients cause is in the log once the process has exited.
    assert_eq!(terminate(&mut child, WITHIN).await, Some(0));
    let log = std::fs::read_to_string(&log_path).unwrap();
    let line = |level: &str, text: &str| {
        log.lines()
            .find(|l| l.contains(level) && l.contains(text))
            .unwrap_or_else(|| panic!("no {level} line with {text:?} in:\n{log}"))
            .to_owned()
    };
    let failed = line("WARN", "refresh failed");
    for field in [
        "resource=r",
        "document=discovery",
        "trigger=forced",
        "HTTP 503",
        "consecutive_failures=1",
        "last good copy",
    ] {
        assert!(failed.contains(field), "{field:?} missing in: {failed}");
    }
    line("INFO", "refresh succeeded again");
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(errors.is_empty(), "ERROR lines:\n{}", errors.join("\n"));
    assert!(!log.contains("connection error"), "{log}");
}
