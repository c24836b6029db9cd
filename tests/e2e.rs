//! Issue 8, scenarios 2-8: mcp-warden end to end with the software its users
//! run, none of it mocked (scenario 1, full OAuth discovery with the SDK, is
//! in `tests/real_peers.rs`):
//!
//! - the authorization server is `oidc-provider` (`tests/peers/authz.mjs`),
//! - the MCP servers are `@modelcontextprotocol/server-everything`
//!   (`everything.mjs`) and a Python server from PyPI's `mcp` 2.x
//!   (`pyserver.py`, stateful SSE and stateless JSON),
//! - the clients are the MCP TypeScript SDK (`client.mjs`, `sdk_flows.mjs`)
//!   and, where a test needs exact counts or timing, plain HTTP from here.
//!
//! Every peer binds 127.0.0.1 on a free port, so the tests run in parallel.
//! `./scripts/test` installs the peers (npm lockfile, Python requirements).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

const PEERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers");

/// The curated scope set of `support::CURATED`, as the challenge and the SDK
/// write it.
const CURATED_JOINED: &str = "openid profile email all project:all organization:all";

// ---------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------

/// A peer process (killed on drop) and its one-line JSON answer.
struct Peer {
    child: Child,
    ready: Value,
}

impl Peer {
    fn str(&self, field: &str) -> &str {
        self.ready[field]
            .as_str()
            .unwrap_or_else(|| panic!("ready line has no {field}: {}", self.ready))
    }

    /// SIGKILL, and wait until the process is gone (its port is free).
    async fn kill(mut self) {
        self.child.kill().await.expect("peer can be killed");
    }
}

/// Spawns `command`, reads its first stdout line as JSON.
async fn spawn_json(mut command: Command, what: &str) -> (Child, Value) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    // The peer's log goes through the test harness's capture: shown only
    // when the test fails.
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let tag = what.to_owned();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            eprintln!("[{tag}] {line}");
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 30 s"))
        .unwrap()
        .unwrap_or_default();
    // Keep reading: a peer that writes to a closed stdout dies of EPIPE
    // (oidc-provider logs some notices with console.log).
    let tag = what.to_owned();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stdout.next_line().await {
            eprintln!("[{tag} stdout] {line}");
        }
    });
    let value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{what}: not JSON: {line}"));
    (child, value)
}

fn node_command(script: &str, args: &[&str]) -> Command {
    assert!(
        Path::new(PEERS).join("node_modules").exists(),
        "tests/peers/node_modules is missing: run ./scripts/test (or npm ci --prefix tests/peers)"
    );
    let mut c = Command::new("node");
    c.arg(format!("{PEERS}/{script}")).args(args);
    c
}

/// Starts a node peer. The command is built before the future is returned,
/// so the arguments need not outlive it (handy in `tokio::join!`).
fn peer(script: &str, args: &[&str]) -> impl Future<Output = Peer> + use<> {
    let command = node_command(script, args);
    let script = script.to_owned();
    async move {
        let (child, ready) = spawn_json(command, &script).await;
        assert_eq!(ready["ready"], true, "{script}: {ready}");
        Peer { child, ready }
    }
}

/// The Python interpreter of the venv that `./scripts/test` fills from
/// `tests/peers/requirements.txt` (or `MCP_WARDEN_PEERS_PYTHON`).
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("MCP_WARDEN_PEERS_PYTHON") {
        return p.into();
    }
    let venv = Path::new(PEERS).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run ./scripts/test (or python3 -m venv tests/peers/.venv && \
         tests/peers/.venv/bin/pip install -r tests/peers/requirements.txt)",
        venv.display()
    );
    venv
}

fn python_peer(args: &[&str]) -> impl Future<Output = Peer> + use<> {
    let mut c = Command::new(python());
    c.arg(format!("{PEERS}/pyserver.py"))
        .args(args)
        // A scrubbed environment, like everything.mjs: nothing from the test
        // machine reaches the peer.
        .env_clear()
        .env("PYTHONUNBUFFERED", "1");
    async move {
        let (child, ready) = spawn_json(c, "pyserver.py").await;
        assert_eq!(ready["ready"], true, "pyserver.py: {ready}");
        Peer { child, ready }
    }
}

/// Runs a node client script to completion and returns its result line.
async fn run_client(script: &str, args: &[&str]) -> Value {
    let (mut child, result) = spawn_json(node_command(script, args), script).await;
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    result
}

/// `client.mjs`: initialize, tools/list, one tools/call, DELETE.
async fn client(args: &[&str]) -> Value {
    run_client("client.mjs", args).await
}

fn start_authz(args: &[&str]) -> impl Future<Output = Peer> + use<> {
    peer("authz.mjs", args)
}

// ---------------------------------------------------------------------------
// The gateway
// ---------------------------------------------------------------------------

struct Gateway {
    daemon: mcp_warden::daemon::Daemon,
    /// `http://127.0.0.1:PORT`, also the configured public URL (the SDK
    /// checks that the PRM's resource matches the URL it connects to).
    base: String,
}

impl Gateway {
    /// Starts mcp-warden with `resources` (`[[resource]]` blocks); `tune`
    /// edits the whole config text (e.g. the `[cache]` settings).
    async fn start(resources: &str, tune: impl FnOnce(String) -> String) -> Gateway {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let text = config(resources)
            .replacen(
                "listen = \"127.0.0.1:0\"",
                &format!("listen = \"127.0.0.1:{port}\""),
                1,
            )
            .replace(
                "url = \"https://mcp.example.com\"",
                &format!("url = \"{base}\""),
            );
        let daemon = start(&tune(text)).await.expect("mcp-warden starts");
        Gateway { daemon, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn admin(&self, path: &str) -> String {
        format!("http://{}{path}", self.daemon.admin_addr)
    }

    fn prm_url(&self, path: &str) -> String {
        self.url(&format!("/.well-known/oauth-protected-resource{path}"))
    }

    async fn metrics(&self) -> String {
        let r = http().get(self.admin("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }

    async fn status(&self) -> Value {
        let r = http().get(self.admin("/status")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// `POST /refresh`: (status, body).
    async fn refresh(&self) -> (u16, Value) {
        let r = http().post(self.admin("/refresh")).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// The PRM document: (status, body).
    async fn prm(&self, path: &str) -> (u16, Value) {
        let r = http().get(self.prm_url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn shutdown(self) {
        self.daemon.shutdown().await;
    }
}

/// A `[[resource]]` block with the curated scopes and optional extra lines
/// (which may open more `[resource.*]` tables).
fn resource_block(name: &str, path: &str, issuer: &str, upstream: &str, extra: &str) -> String {
    resource_to(
        name,
        path,
        issuer,
        upstream,
        &format!("{}{extra}", curated_scopes()),
    )
}

/// Replaces one exact line of the generated config, insisting it is there.
fn set(text: String, from: &str, to: &str) -> String {
    assert!(text.contains(from), "config has no {from:?}:\n{text}");
    text.replacen(from, to, 1)
}

// ---------------------------------------------------------------------------
// Plain HTTP helpers
// ---------------------------------------------------------------------------

/// A client_credentials token from oidc-provider for `resource` (RFC 8707),
/// as a plain form POST (`client_secret_post`).
async fn mint(authz: &Peer, resource: &str, scope: &str) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials")
        .append_pair("client_id", "warden-test")
        .append_pair("client_secret", "warden-secret")
        .append_pair("resource", resource);
    if !scope.is_empty() {
        form.append_pair("scope", scope);
    }
    let r = http()
        .post(authz.str("token_endpoint"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.finish())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "token endpoint: {body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// The decoded header and claims of a compact JWS (not verified).
fn jwt_parts(token: &str) -> (Value, Value) {
    let part = |s: &str| -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    };
    let mut it = token.split('.');
    (part(it.next().unwrap()), part(it.next().unwrap()))
}

fn initialize_body() -> String {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "mcp-warden-e2e", "version": "0"}
        }
    })
    .to_string()
}

/// One MCP `initialize` POST through the gateway with `token`: the status
/// and the `WWW-Authenticate` header (the body is read to the end).
async fn initialize(url: &str, token: Option<&str>) -> (u16, Option<String>) {
    let mut req = http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(initialize_body());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let _ = r.bytes().await;
    (status, challenge)
}

/// The sum of every sample of `name` whose labels include `labels`.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut total = 0.0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (n, rest) = series.split_once('{').unwrap_or((series, "}"));
        if n != name {
            continue;
        }
        let have: BTreeMap<&str, &str> = rest
            .trim_end_matches('}')
            .split("\",")
            .filter_map(|kv| kv.split_once("=\""))
            .map(|(k, v)| (k, v.trim_end_matches('"')))
            .collect();
        if labels.iter().all(|(k, v)| have.get(k) == Some(v)) {
            total += value.parse::<f64>().unwrap();
        }
    }
    total
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------
// 2. client_credentials against the Python MCP server (mcp 2.x, MCPServer)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn client_credentials_reach_the_python_mcp_server_stateful_and_stateless() {
    let (authz, py, pyjson) = tokio::join!(
        start_authz(&["--resource", "*"]),
        python_peer(&[]),
        python_peer(&["--stateless"]),
    );
    let issuer = authz.str("issuer");
    let gw = Gateway::start(
        &format!(
            "{}{}",
            resource_block("py", "/py", issuer, py.str("url"), ""),
            resource_block("pyjson", "/pyjson", issuer, pyjson.str("url"), ""),
        ),
        |t| t,
    )
    .await;
    let (py_url, pyjson_url) = (gw.url("/py"), gw.url("/pyjson"));

    // (a) Plain client_credentials (RFC 8707 resource), the SDK transport
    // with the token, the stateful (SSE, Mcp-Session-Id) Python server. The
    // `whoami` tool shows what reached the upstream.
    let out = client(&[
        "--url",
        &py_url,
        "--token-url",
        authz.str("token_endpoint"),
        "--resource",
        &py_url,
        "--scope",
        "all project:all",
        "--tool",
        "whoami",
        "--tool-args",
        "{}",
    ])
    .await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(strings(&out["tools"]), ["echo", "whoami"]);
    assert_eq!(out["server_info"]["name"], "mcp-warden-python-peer");
    assert!(out["session_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(out["session_terminated"], true, "DELETE went through");
    assert_eq!(out["token_claims"]["aud"], py_url.as_str());
    let seen: Value = serde_json::from_str(out["tool_text"].as_str().unwrap()).unwrap();
    assert_eq!(
        seen,
        json!({
            "authorization_forwarded": false,
            "identity": {
                "x-mcp-auth-client-id": "warden-test",
                "x-mcp-auth-scopes": "all project:all",
                "x-mcp-auth-subject": "warden-test",
            }
        }),
        "identity headers upstream, and never the client's token"
    );

    // (b) The same against the stateless JSON instance: no session.
    let out = client(&[
        "--url",
        &pyjson_url,
        "--token-url",
        authz.str("token_endpoint"),
        "--resource",
        &pyjson_url,
        "--scope",
        "all",
    ])
    .await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["echo"], "Echo: hi");
    assert_eq!(out["session_id"], Value::Null, "stateless: {out}");

    // (c) The SDK's own ClientCredentialsProvider, from nothing but the URL:
    // 401 -> resource_metadata -> PRM -> AS discovery -> token endpoint with
    // resource = the PRM's resource, scope = its configured scope.
    for (url, stateful) in [(&py_url, true), (&pyjson_url, false)] {
        let out = run_client(
            "sdk_flows.mjs",
            &[
                "--flow",
                "client-credentials",
                "--url",
                url,
                "--scope",
                "all project:all",
            ],
        )
        .await;
        assert_eq!(out["ok"], true, "{out}");
        assert_eq!(out["tool_text"], "Echo: hi");
        let first = &out["exchanges"][0];
        assert_eq!(first["status"], 401, "{out}");
        let path = url.trim_start_matches(&gw.base);
        assert!(
            first["www_authenticate"]
                .as_str()
                .unwrap()
                .contains(&format!("resource_metadata=\"{}\"", gw.prm_url(path))),
            "{first}"
        );
        let requests = out["token_requests"].as_array().unwrap();
        assert_eq!(requests.len(), 1, "{out}");
        assert_eq!(requests[0]["params"]["grant_type"], "client_credentials");
        assert_eq!(requests[0]["params"]["resource"], url.as_str());
        assert_eq!(requests[0]["params"]["scope"], "all project:all");
        assert_eq!(out["token_claims"]["aud"], url.as_str());
        assert_eq!(out["session_id"].is_string(), stateful, "{out}");
    }

    // A token for the other Python resource is not accepted here.
    let other = mint(&authz, &pyjson_url, "all").await;
    let (status, challenge) = initialize(&py_url, Some(&other)).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("error=\"invalid_token\""));
    gw.shutdown().await;
}

// ---------------------------------------------------------------------------
// 3. Step-up: [resource.tools] -> 403 insufficient_scope -> re-authorize
// ---------------------------------------------------------------------------

#[tokio::test]
async fn step_up_names_the_tool_scope_and_a_reauthorized_client_succeeds() {
    let (authz, everything) = tokio::join!(
        start_authz(&["--resource", "*"]),
        peer("everything.mjs", &[])
    );
    let gw = Gateway::start(
        &resource_block(
            "everything",
            "/mcp",
            authz.str("issuer"),
            everything.str("url"),
            "[resource.tools]\nget-sum = [\"project:databases.write\"]\n",
        ),
        |t| t,
    )
    .await;
    let mcp = gw.url("/mcp");
    let sum = ["--tool", "get-sum", "--tool-args", r#"{"a":1,"b":2}"#];
    let with = |token: &str| -> Vec<String> {
        ["--url", &mcp, "--token", token]
            .iter()
            .chain(sum.iter())
            .map(|s| s.to_string())
            .collect()
    };

    // A token with the curated scopes lists tools, but get-sum needs more.
    let narrow = mint(&authz, &mcp, "all project:all").await;
    let args = with(&narrow);
    let out = client(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(out["ok"], false, "{out}");
    assert_eq!(out["status"], 403, "{out}");
    assert_eq!(
        out["www_authenticate"],
        format!(
            "Bearer resource_metadata=\"{}\", scope=\"project:databases.write\", error=\"insufficient_scope\", error_description=\"the token lacks scopes this request needs\"",
            gw.prm_url("/mcp")
        ),
        "{out}"
    );
    // Other tools still work with that token.
    let out = client(&["--url", &mcp, "--token", &narrow]).await;
    assert_eq!(out["ok"], true, "{out}");

    // A client that re-authorizes with the union of its scopes and the
    // challenge's succeeds.
    let union = mint(&authz, &mcp, "all project:all project:databases.write").await;
    let args = with(&union);
    let out = client(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["tool_text"], "The sum of 1 and 2 is 3.");

    // The SDK's own OAuth flow (@modelcontextprotocol/sdk 1.32.2). What it
    // does, as recorded by client.mjs:
    // 1. initialize -> 401 with the curated scope; it authorizes with exactly
    //    that scope (code + PKCE, resource = the PRM's) and gets a refresh
    //    token too.
    // 2. tools/call get-sum -> 403 insufficient_scope scope="project:databases.write".
    //    The transport calls auth() with the challenge's scope ONLY (SEP-835:
    //    the WWW-Authenticate scope wins; no union with what it holds). As it
    //    holds a refresh token, auth() refreshes first, without `scope`, and
    //    oidc-provider returns the old scopes; the retry gets the same 403 and
    //    the SDK gives up ("Server returned 403 after trying upscoping").
    // 3. client.mjs's workaround (`step_up_refresh_workaround`) drops the
    //    tokens and has the SDK start a new authorization for the challenge's
    //    scope; the new token carries `project:databases.write` alone, which
    //    is all get-sum needs here (no `[resource.scopes] required`).
    let stats = format!("{}/stats", authz.str("admin"));
    http().delete(&stats).send().await.unwrap();
    let out = client(
        &["--url", &mcp, "--oauth"]
            .into_iter()
            .chain(sum)
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["tool_text"], "The sum of 1 and 2 is 3.");
    assert_eq!(
        strings(&out["authorize_scopes"]),
        [CURATED_JOINED, "project:databases.write"],
        "{out}"
    );
    assert_eq!(out["authorize_resources"][1], mcp.as_str());
    assert_eq!(out["refresh_token_issued"], true);
    assert_eq!(
        out["step_up_refresh_workaround"], true,
        "the SDK's refresh-first step-up cannot add scope: {out}"
    );
    let statuses: Vec<i64> = out["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses[0], 401, "{out}");
    assert!(statuses[1..].iter().all(|s| *s == 403), "{out}");
    assert!(
        out["challenges"][1]["www_authenticate"]
            .as_str()
            .unwrap()
            .contains("scope=\"project:databases.write\""),
        "{out}"
    );
    let stats: Value = http()
        .get(&stats)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // One registration; three token requests: the first code exchange, the
    // SDK's refresh attempt at step-up, the second code exchange.
    assert_eq!(stats["registration"], 1, "{stats}");
    assert_eq!(stats["token"], 3, "{stats}");
    let granted = out["token_claims"]["scope"].as_str().unwrap();
    assert!(
        granted.split(' ').any(|s| s == "project:databases.write"),
        "{out}"
    );
    let text = gw.metrics().await;
    assert!(
        metric(
            &text,
            "mcp_warden_token_verifications_total",
            &[("resource", "everything"), ("result", "insufficient_scope")]
        ) >= 2.0
    );
    gw.shutdown().await;
}

// ---------------------------------------------------------------------------
// 4. Catalog change: scopes renamed at the authorization server
// ---------------------------------------------------------------------------

#[tokio::test]
async fn catalog_change_is_picked_up_by_refresh_and_a_stale_override_answers_503() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let old_catalog = dir.path().join("old.json");
    let new_catalog = dir.path().join("new.json");
    // The old model: named scopes, no umbrellas.
    std::fs::write(
        &old_catalog,
        json!({
            "oidc_scopes": ["openid", "profile", "email", "offline_access"],
            "resource_scopes": ["account.admin", "teams.read", "teams.write", "projects.read", "projects.write"],
        })
        .to_string(),
    )
    .unwrap();
    // The reworked model: authz.mjs's built-in 127-scope catalog.
    let printed = run_client("authz.mjs", &["--print-catalog"]).await;
    assert_eq!(printed["resource_scopes"].as_array().unwrap().len(), 123);
    std::fs::write(&new_catalog, printed.to_string()).unwrap();

    let keys_arg = keys.to_str().unwrap();
    let (first, everything) = tokio::join!(
        start_authz(&[
            "--resource",
            "*",
            "--strict-scopes",
            "--keys",
            keys_arg,
            "--catalog",
            old_catalog.to_str().unwrap(),
        ]),
        peer("everything.mjs", &[]),
    );
    let port = first.ready["port"].as_u64().unwrap().to_string();
    let issuer = first.str("issuer").to_owned();
    // The operator's curated list knows both models; a second resource pins
    // the old names with a strict override.
    let preferred = "[resource.scopes]\npreferred = [\"openid\", \"profile\", \"email\", \"account.admin\", \"teams.read\", \"all\", \"project:all\", \"organization:all\"]\n";
    let gw = Gateway::start(
        &format!(
            "{}{}",
            resource_to("console", "/mcp", &issuer, everything.str("url"), preferred),
            resource_to(
                "legacy",
                "/legacy",
                &issuer,
                everything.str("url"),
                "[resource.scopes]\noverride = [\"account.admin\", \"teams.read\"]\n"
            ),
        ),
        |t| t,
    )
    .await;
    let mcp = gw.url("/mcp");

    let (status, prm) = gw.prm("/mcp").await;
    assert_eq!(status, 200);
    assert_eq!(
        strings(&prm["scopes_supported"]),
        ["openid", "profile", "email", "account.admin", "teams.read"]
    );
    let (status, prm) = gw.prm("/legacy").await;
    assert_eq!(status, 200);
    assert_eq!(
        strings(&prm["scopes_supported"]),
        ["account.admin", "teams.read"]
    );
    let out = client(&["--url", &mcp, "--oauth"]).await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(
        out["scope"],
        "openid profile email account.admin teams.read"
    );

    // The authorization server comes back with the scopes renamed, on the
    // same port and with the same keys.
    first.kill().await;
    let second = start_authz(&[
        "--port",
        &port,
        "--resource",
        "*",
        "--strict-scopes",
        "--keys",
        keys_arg,
        "--catalog",
        new_catalog.to_str().unwrap(),
    ])
    .await;
    assert_eq!(second.str("issuer"), issuer);

    // Until mcp-warden refreshes, it still advertises the old names and every
    // login fails: the original incident.
    let out = client(&["--url", &mcp, "--oauth"]).await;
    assert_eq!(out["ok"], false, "{out}");
    assert_eq!(out["oauth_error"], "invalid_scope", "{out}");

    let (status, refreshed) = gw.refresh().await;
    assert_eq!(status, 200, "{refreshed}");
    let console = refreshed["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "console")
        .unwrap();
    assert_eq!(
        strings(&console["new"]["scopes"]),
        [
            "openid",
            "profile",
            "email",
            "all",
            "project:all",
            "organization:all"
        ],
        "{refreshed}"
    );
    assert_eq!(
        strings(&console["new"]["missing_from_catalog"]),
        ["account.admin", "teams.read"]
    );

    // Only live scopes are advertised, and a fresh SDK login succeeds.
    let (status, prm) = gw.prm("/mcp").await;
    assert_eq!(status, 200);
    assert_eq!(strings(&prm["scopes_supported"]), CURATED);
    let out = client(&["--url", &mcp, "--oauth"]).await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["scope"], CURATED_JOINED);
    assert_eq!(
        out["token_claims"]["scope"],
        "all project:all organization:all"
    );

    // The strict override matches nothing any more: 503, never a fallback to
    // the 127-scope catalog, and the gauge says so.
    let (status, body) = gw.prm("/legacy").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "scope_override_mismatch");
    assert_eq!(strings(&body["override"]), ["account.admin", "teams.read"]);
    let text = gw.metrics().await;
    assert_eq!(
        metric(
            &text,
            "mcp_warden_scope_override_mismatch",
            &[("resource", "legacy")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "mcp_warden_scope_override_mismatch",
            &[("resource", "console")]
        ),
        0.0
    );
    gw.shutdown().await;
}

// ---------------------------------------------------------------------------
// 5. Key rotation
// ---------------------------------------------------------------------------

#[tokio::test]
async fn rotated_keys_need_exactly_one_kid_miss_refetch_and_removed_keys_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let (authz, everything) = tokio::join!(
        start_authz(&["--resource", "*", "--keys", keys.to_str().unwrap()]),
        peer("everything.mjs", &[]),
    );
    let gw = Gateway::start(
        &resource_block("r", "/mcp", authz.str("issuer"), everything.str("url"), ""),
        |t| {
            set(
                t,
                "retry_max = \"400ms\"",
                "retry_max = \"400ms\"\njwks_cooldown = \"1s\"",
            )
        },
    )
    .await;
    let mcp = gw.url("/mcp");
    let admin = authz.str("admin").to_owned();
    let kid_misses = |text: &str| {
        metric(
            text,
            "mcp_warden_jwks_refresh_total",
            &[("resource", "r"), ("trigger", "kid_miss")],
        )
    };
    let jwks_fetches = || async {
        let stats: Value = http()
            .get(format!("{admin}/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stats["jwks"].as_u64().unwrap_or(0)
    };
    let rotate = |query: &'static str| {
        let admin = admin.clone();
        async move {
            let r: Value = http()
                .post(format!("{admin}/rotate{query}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(r["rotated"], true, "{r}");
            r
        }
    };

    let t1 = mint(&authz, &mcp, "all").await;
    assert_eq!(initialize(&mcp, Some(&t1)).await.0, 200);
    assert_eq!(kid_misses(&gw.metrics().await), 0.0);
    http()
        .delete(format!("{admin}/stats"))
        .send()
        .await
        .unwrap();

    // Rotation 1: a new signing key in front, the old one still published.
    let rotated = rotate("").await;
    let k2 = rotated["signing_kid"].as_str().unwrap().to_owned();
    let t2 = mint(&authz, &mcp, "all").await;
    assert_eq!(jwt_parts(&t2).0["kid"], k2.as_str());
    assert_ne!(jwt_parts(&t1).0["kid"], k2.as_str());
    // The real SDK client with the new-key token: accepted, after one
    // kid-miss refetch of the JWKS.
    let out = client(&["--url", &mcp, "--token", &t2]).await;
    assert_eq!(out["ok"], true, "{out}");
    let text = gw.metrics().await;
    assert_eq!(kid_misses(&text), 1.0, "exactly one kid-miss refetch");
    assert_eq!(
        metric(
            &text,
            "mcp_warden_jwks_refresh_total",
            &[
                ("resource", "r"),
                ("trigger", "kid_miss"),
                ("result", "success")
            ]
        ),
        1.0
    );
    assert_eq!(jwks_fetches().await, 1, "the AS served the JWKS once");
    // More new-key tokens and the old key's: no further fetch.
    let t3 = mint(&authz, &mcp, "all").await;
    for t in [&t3, &t2, &t1] {
        assert_eq!(initialize(&mcp, Some(t)).await.0, 200);
    }
    assert_eq!(kid_misses(&gw.metrics().await), 1.0);
    assert_eq!(jwks_fetches().await, 1);

    // Rotation 2 with the old keys retired (after the kid-miss cooldown).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rotated = rotate("?retire=1").await;
    let k3 = rotated["signing_kid"].as_str().unwrap().to_owned();
    assert!(!strings(&rotated["kids"]).contains(&k2.as_str()));
    let t4 = mint(&authz, &mcp, "all").await;
    assert_eq!(jwt_parts(&t4).0["kid"], k3.as_str());
    assert_eq!(initialize(&mcp, Some(&t4)).await.0, 200);
    assert_eq!(kid_misses(&gw.metrics().await), 2.0, "one more refetch");
    assert_eq!(jwks_fetches().await, 2);

    // The refetched key set no longer has the old keys: their tokens, even
    // ones verified (and cached) before, are rejected.
    for t in [&t1, &t2] {
        let (status, challenge) = initialize(&mcp, Some(t)).await;
        assert_eq!(status, 401);
        assert!(
            challenge
                .as_deref()
                .unwrap()
                .contains("error=\"invalid_token\""),
            "{challenge:?}"
        );
    }
    // And after a forced refresh too.
    let (status, refreshed) = gw.refresh().await;
    assert_eq!(status, 200, "{refreshed}");
    let loaded = strings(&refreshed["resources"][0]["key_ids"]);
    assert!(loaded.contains(&k3.as_str()), "{refreshed}");
    assert!(!loaded.contains(&k2.as_str()), "{refreshed}");
    assert_eq!(initialize(&mcp, Some(&t2)).await.0, 401);
    assert_eq!(initialize(&mcp, Some(&t4)).await.0, 200);
    let text = gw.metrics().await;
    assert!(
        metric(
            &text,
            "mcp_warden_token_verifications_total",
            &[("resource", "r"), ("result", "unknown_kid")]
        ) >= 3.0
    );
    gw.shutdown().await;
}

// ---------------------------------------------------------------------------
// 6. Outage of the authorization server
// ---------------------------------------------------------------------------

/// The most refresh attempts one cache can make in `window` after its last
/// success, by the backoff schedule of `cache::Policy::backoff` (doubling
/// from `retry_min`, capped at `retry_max`, jittered down by at most half but
/// never below `retry_min`), taking every delay at its shortest.
fn max_attempts(window: Duration, retry_min: Duration, retry_max: Duration) -> u32 {
    let mut attempts = 1; // the first failure may come at once
    let mut at = Duration::ZERO;
    loop {
        let base = retry_min
            .saturating_mul(1 << (attempts - 1).min(20))
            .min(retry_max);
        let shortest = base.mul_f64(0.5).max(retry_min);
        at += shortest;
        if at > window {
            return attempts;
        }
        attempts += 1;
    }
}

#[tokio::test]
async fn outage_serves_stale_keys_and_metadata_and_retries_on_the_backoff_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let keys_arg = keys.to_str().unwrap().to_owned();
    let (first, everything) = tokio::join!(
        start_authz(&["--resource", "*", "--keys", &keys_arg]),
        peer("everything.mjs", &[]),
    );
    let port = first.ready["port"].as_u64().unwrap().to_string();
    let (ttl, retry_min, retry_max) = (
        Duration::from_secs(2),
        Duration::from_millis(200),
        Duration::from_secs(1),
    );
    let gw = Gateway::start(
        &resource_block("r", "/mcp", first.str("issuer"), everything.str("url"), ""),
        |t| {
            let t = set(t, "ttl = \"5m\"", "ttl = \"2s\"");
            let t = set(t, "retry_min = \"100ms\"", "retry_min = \"200ms\"");
            set(t, "retry_max = \"400ms\"", "retry_max = \"1s\"")
        },
    )
    .await;
    let mcp = gw.url("/mcp");
    let token = mint(&first, &mcp, "all").await;
    // A second token first presented during the outage: its signature is
    // checked against the stale keys, not found in the verified-token cache.
    let unseen = mint(&first, &mcp, "all project:all").await;
    assert_eq!(initialize(&mcp, Some(&token)).await.0, 200);

    let failures = |text: &str| {
        (
            metric(
                text,
                "mcp_warden_discovery_refresh_failures_total",
                &[("resource", "r")],
            ),
            metric(
                text,
                "mcp_warden_jwks_refresh_total",
                &[("resource", "r"), ("result", "failure")],
            ),
        )
    };
    let stale = |text: &str| {
        metric(
            text,
            "mcp_warden_discovery_stale_serves_total",
            &[("resource", "r")],
        )
    };
    let before = gw.metrics().await;
    assert_eq!(failures(&before), (0.0, 0.0));

    // Outage: the authorization server is gone (its port refuses).
    let down = Instant::now();
    first.kill().await;
    let outage = ttl * 5 / 2; // 5 s: longer than the TTL
    let load = async {
        let mut requests = 0u32;
        let mut unseen_checked = false;
        while down.elapsed() < outage {
            // Bursts of concurrent requests: none of them may wait on (or
            // cause) a fetch from the dead authorization server.
            let burst =
                futures_util::future::join_all((0..8).map(|_| initialize(&mcp, Some(&token))))
                    .await;
            for (status, challenge) in burst {
                assert_eq!(status, 200, "{challenge:?} at {:?}", down.elapsed());
                requests += 1;
            }
            let (status, _) = gw.prm("/mcp").await;
            assert_eq!(status, 200, "PRM served stale at {:?}", down.elapsed());
            if !unseen_checked && down.elapsed() > ttl + Duration::from_millis(500) {
                assert_eq!(initialize(&mcp, Some(&unseen)).await.0, 200);
                unseen_checked = true;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        assert!(unseen_checked);
        requests
    };
    let sdk = async {
        // The real SDK client, start to end, once the metadata is stale.
        tokio::time::sleep(ttl * 3 / 2).await;
        let out = client(&["--url", &mcp, "--token", &token]).await;
        assert_eq!(out["ok"], true, "{out}");
    };
    let (requests, ()) = tokio::join!(load, sdk);
    let window = down.elapsed();
    let during = gw.metrics().await;

    let stale_serves = stale(&during) - stale(&before);
    assert!(
        stale_serves >= 8.0,
        "discovery_stale_serves_total rose by {stale_serves}"
    );
    // Connection attempts to the dead port: one per failed refresh (a
    // connection refusal ends a discovery attempt at once), per cache.
    let (discovery_failures, jwks_failures) = failures(&during);
    let bound = max_attempts(window, retry_min, retry_max) + 1; // +1: one in flight at the kill
    eprintln!(
        "outage {window:?}: {requests} requests, {stale_serves} stale serves, \
         {discovery_failures} discovery and {jwks_failures} JWKS refresh failures (bound {bound} each)"
    );
    assert!(
        discovery_failures >= 1.0,
        "the refresher kept trying ({discovery_failures})"
    );
    assert!(
        discovery_failures <= bound as f64,
        "{discovery_failures} discovery attempts in {window:?} exceed the backoff schedule's {bound}"
    );
    assert!(
        jwks_failures <= bound as f64,
        "{jwks_failures} JWKS attempts in {window:?} exceed the backoff schedule's {bound}"
    );
    assert_eq!(
        metric(
            &during,
            "mcp_warden_discovery_refresh_failures_total",
            &[("resource", "r"), ("reason", "connect")]
        ),
        discovery_failures,
        "every failure is a refused connection"
    );
    let status = gw.status().await;
    let discovery = &status["resources"][0]["discovery"];
    assert_eq!(discovery["last_result"], "failure", "{status}");
    assert_eq!(discovery["stale"], true, "{status}");
    assert_eq!(discovery["servable"], true, "{status}");

    // The authorization server comes back on the same port with the same
    // keys: the next scheduled refresh succeeds by itself.
    let second = start_authz(&["--port", &port, "--resource", "*", "--keys", &keys_arg]).await;
    let at_return = failures(&gw.metrics().await);
    eventually(retry_max * 3, || async {
        let s = gw.status().await;
        let r = &s["resources"][0];
        (r["discovery"]["last_result"] == "success"
            && r["jwks"]["cache"]["last_result"] == "success")
            .then_some(())
    })
    .await;
    assert_eq!(
        failures(&gw.metrics().await),
        at_return,
        "the first attempt after the return succeeded"
    );
    let (status, refreshed) = gw.refresh().await;
    assert_eq!(status, 200, "{refreshed}");
    let fresh = mint(&second, &mcp, "all").await;
    assert_eq!(initialize(&mcp, Some(&fresh)).await.0, 200);
    assert_eq!(initialize(&mcp, Some(&token)).await.0, 200);
    gw.shutdown().await;
}

// ---------------------------------------------------------------------------
// 7. Audience
// ---------------------------------------------------------------------------

#[tokio::test]
async fn tokens_for_another_resource_are_rejected_and_a_trailing_slash_is_accepted() {
    let (authz, everything) = tokio::join!(
        start_authz(&["--resource", "*"]),
        peer("everything.mjs", &[])
    );
    let issuer = authz.str("issuer");
    let gw = Gateway::start(
        &format!(
            "{}{}",
            resource_block("a", "/mcp", issuer, everything.str("url"), ""),
            resource_block("b", "/other", issuer, everything.str("url"), ""),
        ),
        |t| t,
    )
    .await;
    let (mcp, other) = (gw.url("/mcp"), gw.url("/other"));

    // Minted for the other resource of the same gateway and issuer, and for
    // a resource elsewhere: valid signatures, wrong audience.
    for resource in [other.clone(), "http://127.0.0.1:1/mcp".to_owned()] {
        let token = mint(&authz, &resource, "all").await;
        assert_eq!(jwt_parts(&token).1["aud"], resource.as_str());
        let out = client(&["--url", &mcp, "--token", &token]).await;
        assert_eq!(out["ok"], false, "{out}");
        assert_eq!(out["status"], 401, "{out}");
        let challenge = out["www_authenticate"].as_str().unwrap();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert!(
            challenge.contains(&format!("resource_metadata=\"{}\"", gw.prm_url("/mcp"))),
            "{challenge}"
        );
    }
    // The token for /other is good there.
    let token = mint(&authz, &other, "all").await;
    assert_eq!(initialize(&other, Some(&token)).await.0, 200);

    // `aud` with a trailing slash (clients and servers drift): accepted.
    let slashed = format!("{mcp}/");
    let token = mint(&authz, &slashed, "all").await;
    assert_eq!(jwt_parts(&token).1["aud"], slashed.as_str());
    let out = client(&["--url", &mcp, "--token", &token]).await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["echo"], "Echo: hi");

    let text = gw.metrics().await;
    assert_eq!(
        metric(
            &text,
            "mcp_warden_token_verifications_total",
            &[("resource", "a"), ("result", "wrong_audience")]
        ),
        2.0
    );
    gw.shutdown().await;
}

// ---------------------------------------------------------------------------
// 8. Sessions and streams
// ---------------------------------------------------------------------------

#[tokio::test]
async fn sessions_sse_streams_and_progress_flow_through_unbuffered() {
    let (authz, everything) = tokio::join!(
        start_authz(&["--resource", "*"]),
        peer("everything.mjs", &[])
    );
    let gw = Gateway::start(
        &resource_block(
            "everything",
            "/mcp",
            authz.str("issuer"),
            everything.str("url"),
            "",
        ),
        |t| t,
    )
    .await;
    let mcp = gw.url("/mcp");
    let token = mint(&authz, &mcp, "all").await;

    let out = run_client(
        "sdk_flows.mjs",
        &[
            "--flow",
            "session",
            "--url",
            &mcp,
            "--token",
            &token,
            "--duration",
            "3",
            "--steps",
            "3",
        ],
    )
    .await;
    assert_eq!(out["ok"], true, "{out}");

    // Mcp-Session-Id: issued by the upstream on initialize, then carried by
    // every request of the session (the SDK sends what it got back).
    let session = out["session_id"].as_str().unwrap();
    assert!(!session.is_empty());
    let exchanges = out["exchanges"].as_array().unwrap();
    assert_eq!(exchanges[0]["method"], "POST");
    assert_eq!(exchanges[0]["session_id_received"], session, "{out}");
    for e in &exchanges[1..] {
        assert_eq!(e["session_id_sent"], session, "{e}");
        assert!(e["status"].as_u64().unwrap() < 300, "{e}");
    }

    // The standalone GET SSE stream stays open and delivers a server
    // notification while it does.
    let get = &out["get_stream"];
    assert_eq!(get["status"], 200, "{out}");
    assert!(
        get["content_type"]
            .as_str()
            .unwrap()
            .starts_with("text/event-stream"),
        "{get}"
    );
    let on_get: Vec<&str> = out["get_stream_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["method"].as_str())
        .collect();
    assert!(on_get.contains(&"notifications/message"), "{out}");
    assert!(!out["logs"].as_array().unwrap().is_empty(), "{out}");

    // Progress of a 3-second tool arrives step by step, not at the end.
    let progress = out["progress"].as_array().unwrap();
    assert_eq!(progress.len(), 3, "{out}");
    let at: Vec<i64> = progress
        .iter()
        .map(|p| p["at_ms"].as_i64().unwrap())
        .collect();
    let ended = out["call_ended_ms"].as_i64().unwrap();
    assert!(
        at[0] + 1000 <= ended,
        "first progress at {} ms, tool result at {ended} ms: buffered? {out}",
        at[0]
    );
    assert!(
        at[1] - at[0] >= 500 && at[2] - at[1] >= 500,
        "progress spaced out: {at:?}"
    );
    assert_eq!(
        out["tool_text"],
        "Long running operation completed. Duration: 3 seconds, Steps: 3."
    );

    // DELETE ended the session: the upstream no longer knows the id.
    assert_eq!(out["delete"]["status"], 200, "{out}");
    assert_eq!(out["delete"]["session_id_sent"], session);
    let after = out["after_delete_status"].as_u64().unwrap();
    assert!(after == 400 || after == 404, "{out}");

    // A session id is never a credential: GET and DELETE without a token
    // are challenged before they reach the upstream.
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = http()
            .request(method.clone(), &mcp)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{method}");
    }
    gw.shutdown().await;
}
