//! The admin listener: routes, auth, readiness, forced refresh and metrics
//! that move when their events happen.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;

const RESOURCE: &str = "https://mcp.example.com/mcp";

fn admin(daemon: &mcp_warden::daemon::Daemon, path: &str) -> String {
    format!("http://{}{path}", daemon.admin_addr)
}

async fn metrics(daemon: &mcp_warden::daemon::Daemon) -> String {
    http()
        .get(admin(daemon, "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of one exact series line in an exposition.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .unwrap_or_else(|| panic!("no series {series}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn routes_methods_and_the_public_port() {
    let authz = auth_server().await;
    let daemon = start(&config(&resource(
        "r",
        "/mcp",
        &authz.issuer,
        &curated_scopes(),
    )))
    .await
    .unwrap();
    let c = http();
    for (path, status) in [
        ("/metrics", 200),
        ("/healthz", 200),
        ("/readyz", 200),
        ("/status", 200),
        ("/nope", 404),
    ] {
        let r = c.get(admin(&daemon, path)).send().await.unwrap();
        assert_eq!(r.status(), status, "{path}");
    }
    for path in ["/refresh", "/reload"] {
        let r = c.get(admin(&daemon, path)).send().await.unwrap();
        assert_eq!(r.status(), 405, "{path}");
        assert_eq!(r.headers()["allow"], "POST");
    }
    let r = c.post(admin(&daemon, "/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    // The admin API is not reachable through the public listener.
    for path in ["/metrics", "/status", "/refresh", "/readyz"] {
        let r = c.get(url(&daemon, path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "public {path}");
        let r = c.post(url(&daemon, path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "public POST {path}");
    }
    // Without a config file, reload explains itself.
    let r = c.post(admin(&daemon, "/reload")).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"], "rejected");
    assert_eq!(body["trigger"], "admin");
    daemon.shutdown().await;
}

#[tokio::test]
async fn token_file_protects_status_and_actions_only() {
    let authz = auth_server().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, "s3cret-admin-token\n").unwrap();
    let text = config(&resource("r", "/mcp", &authz.issuer, "")).replace(
        "[admin]\n",
        &format!(
            "[admin]\ntoken_file = {:?}\n",
            token_file.display().to_string()
        ),
    );
    let daemon = start(&text).await.unwrap();
    let c = http();
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(
            c.get(admin(&daemon, path)).send().await.unwrap().status(),
            200,
            "{path} stays open"
        );
    }
    for (method, path) in [
        ("GET", "/status"),
        ("POST", "/refresh"),
        ("POST", "/reload"),
    ] {
        let m: reqwest::Method = method.parse().unwrap();
        let none = c
            .request(m.clone(), admin(&daemon, path))
            .send()
            .await
            .unwrap();
        assert_eq!(none.status(), 401, "{path} without a token");
        assert!(none.headers().contains_key("www-authenticate"));
        for wrong in [
            "s3cret-admin-toke",
            "s3cret-admin-token2",
            "S3CRET-ADMIN-TOKEN",
            "",
        ] {
            let r = c
                .request(m.clone(), admin(&daemon, path))
                .bearer_auth(wrong)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{path} with {wrong:?}");
        }
    }
    let r = c
        .get(admin(&daemon, "/status"))
        .bearer_auth("s3cret-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(admin(&daemon, "/refresh"))
        .bearer_auth("s3cret-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    daemon.shutdown().await;
}

#[tokio::test]
async fn readyz_flips_when_the_authorization_server_comes_up() {
    let authz = auth_server().await;
    authz.set_behaviour(Behaviour::Status(503));
    let daemon = start(&config(&resource("r", "/mcp", &authz.issuer, "")))
        .await
        .unwrap();
    let c = http();
    let r = c.get(admin(&daemon, "/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["ready"], false);
    assert_eq!(body["pending"][0]["resource"], "r");
    assert!(
        body["pending"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("HTTP 503"),
        "{body}"
    );

    authz.set_behaviour(Behaviour::Normal);
    eventually(Duration::from_secs(10), || async {
        let r = c.get(admin(&daemon, "/readyz")).send().await.unwrap();
        (r.status() == 200).then_some(())
    })
    .await;
    daemon.shutdown().await;
}

#[tokio::test]
async fn forced_refresh_shows_old_and_new_scopes_and_survives_an_outage() {
    let authz = auth_server().await;
    let daemon = start(&config(&resource(
        "r",
        "/mcp",
        &authz.issuer,
        &curated_scopes(),
    )))
    .await
    .unwrap();
    let c = http();
    let prm = url(&daemon, "/.well-known/oauth-protected-resource/mcp");

    authz.set_catalog(vec!["openid".into(), "all".into(), "console:all".into()]);
    let r = c.post(admin(&daemon, "/refresh")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let one = &body["resources"][0];
    assert_eq!(one["resource"], "r");
    assert_eq!(one["old"]["scopes"], json!(CURATED));
    assert_eq!(one["new"]["scopes"], json!(["openid", "all"]));
    assert_eq!(one["key_ids"].as_array().unwrap().len(), 1);
    let doc: Value = c.get(&prm).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        doc["scopes_supported"],
        json!(["openid", "all"]),
        "visible immediately"
    );
    // The no-token 401 is prebuilt per metadata document: it must advertise
    // the new scopes too, not the ones it was first built with.
    let r = c.post(url(&daemon, "/mcp")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("scope=\"openid all\""), "{challenge}");

    // Down: 502, and the last good copy keeps being served.
    authz.set_behaviour(Behaviour::Status(500));
    let r = c
        .post(admin(&daemon, "/refresh?resource=r"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["resources"][0]["error"]
            .as_str()
            .unwrap()
            .contains("HTTP 500"),
        "{body}"
    );
    let r = c.get(&prm).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["scopes_supported"],
        json!(["openid", "all"])
    );

    let r = c
        .post(admin(&daemon, "/refresh?resource=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let m = metrics(&daemon).await;
    assert_eq!(
        sample(&m, "mcp_warden_forced_refreshes_total{result=\"success\"}"),
        1.0
    );
    assert_eq!(
        sample(&m, "mcp_warden_forced_refreshes_total{result=\"failure\"}"),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "mcp_warden_discovery_refresh_total{resource=\"r\",result=\"failure\",trigger=\"forced\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "mcp_warden_discovery_refresh_failures_total{reason=\"status\",resource=\"r\"}"
        ),
        1.0
    );
    daemon.shutdown().await;
}

#[tokio::test]
async fn status_describes_each_resource() {
    let authz = auth_server().await;
    let daemon = start(&config(&resource(
        "appwrite",
        "/mcp",
        &authz.issuer,
        &curated_scopes(),
    )))
    .await
    .unwrap();
    let s: Value = http()
        .get(admin(&daemon, "/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["config_generation"], 1);
    assert_eq!(s["config_hash"].as_str().unwrap().len(), 64);
    let r = &s["resources"][0];
    assert_eq!(r["name"], "appwrite");
    assert_eq!(r["resource"], RESOURCE);
    assert_eq!(r["issuer"], authz.issuer);
    assert!(
        r["discovery_url"]
            .as_str()
            .unwrap()
            .ends_with("/.well-known/oauth-authorization-server")
    );
    assert_eq!(r["catalog_size"], 127);
    assert_eq!(r["advertised"]["choice"], "curated");
    assert_eq!(r["advertised"]["scopes"], json!(CURATED));
    assert_eq!(r["discovery"]["stale"], false);
    assert_eq!(r["discovery"]["last_result"], "success");
    assert_eq!(r["discovery"]["last_trigger"], "startup");
    assert!(
        r["discovery"]["next_refresh"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(r["jwks"]["key_ids"], json!([authz.default_kid()]));
    assert_eq!(r["verified_tokens_cached"], 0);
    daemon.shutdown().await;
}

#[tokio::test]
async fn metrics_move_with_their_events() {
    let authz = auth_server().await;
    let upstream = stateless_upstream().await;
    let extra = format!(
        "{}\n[resource.tools]\ndeploy = [\"project:all\"]\n",
        curated_scopes()
    );
    let daemon = start(&config(&resource_to(
        "r",
        "/mcp",
        &authz.issuer,
        &upstream.url,
        &extra,
    )))
    .await
    .unwrap();
    let c = http();
    let before = metrics(&daemon).await;
    for series in [
        "mcp_warden_token_verifications_total{resource=\"r\",result=\"ok\"}",
        "mcp_warden_token_verifications_total{resource=\"r\",result=\"missing\"}",
        "mcp_warden_token_verifications_total{resource=\"r\",result=\"wrong_audience\"}",
        "mcp_warden_token_verifications_total{resource=\"r\",result=\"insufficient_scope\"}",
        "mcp_warden_token_cache_hits_total{resource=\"r\"}",
        "mcp_warden_discovery_stale_serves_total{resource=\"r\"}",
        "mcp_warden_config_reloads_total{result=\"rejected\",trigger=\"watch\"}",
    ] {
        assert_eq!(sample(&before, series), 0.0, "{series} exists at zero");
    }
    let call = |tool: &str| json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {"message": "m"}}});
    let mcp = url(&daemon, "/mcp");
    let good = authz.access_token(RESOURCE, "all");
    for _ in 0..3 {
        assert_eq!(
            c.post(&mcp)
                .bearer_auth(&good)
                .json(&call("echo"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    assert_eq!(
        c.post(&mcp)
            .json(&call("echo"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let other = authz.access_token("https://other.example/mcp", "all");
    assert_eq!(
        c.post(&mcp)
            .bearer_auth(&other)
            .json(&call("echo"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        c.post(&mcp)
            .bearer_auth(&good)
            .json(&call("deploy"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    c.get(url(&daemon, "/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap();

    let m = metrics(&daemon).await;
    let v = |s: &str| sample(&m, s);
    assert_eq!(
        v("mcp_warden_token_verifications_total{resource=\"r\",result=\"ok\"}"),
        3.0
    );
    assert_eq!(
        v("mcp_warden_token_verifications_total{resource=\"r\",result=\"missing\"}"),
        1.0
    );
    assert_eq!(
        v("mcp_warden_token_verifications_total{resource=\"r\",result=\"wrong_audience\"}"),
        1.0
    );
    assert_eq!(
        v("mcp_warden_token_verifications_total{resource=\"r\",result=\"insufficient_scope\"}"),
        1.0
    );
    // First use verifies the signature; the repeats (and the 403) hit the cache.
    assert_eq!(v("mcp_warden_token_cache_hits_total{resource=\"r\"}"), 3.0);
    assert_eq!(
        v("mcp_warden_upstream_requests_total{resource=\"r\",status=\"200\"}"),
        3.0
    );
    assert_eq!(
        v("mcp_warden_upstream_request_duration_seconds_count{resource=\"r\"}"),
        3.0
    );
    assert_eq!(
        v("mcp_warden_http_requests_total{listener=\"public\",route=\"mcp\",status=\"200\"}"),
        3.0
    );
    assert_eq!(
        v("mcp_warden_http_requests_total{listener=\"public\",route=\"mcp\",status=\"401\"}"),
        2.0
    );
    assert_eq!(
        v("mcp_warden_http_requests_total{listener=\"public\",route=\"prm\",status=\"200\"}"),
        1.0
    );
    assert_eq!(v("mcp_warden_advertised_scopes{resource=\"r\"}"), 6.0);
    assert_eq!(v("mcp_warden_advertised_scope_chars{resource=\"r\"}"), 53.0);
    assert_eq!(
        v("mcp_warden_advertised_scope_max_chars{resource=\"r\"}"),
        1024.0
    );
    assert_eq!(v("mcp_warden_scope_override_mismatch{resource=\"r\"}"), 0.0);
    assert_eq!(v("mcp_warden_jwks_keys{resource=\"r\"}"), 1.0);
    assert_eq!(v("mcp_warden_discovery_ttl_seconds{resource=\"r\"}"), 300.0);
    assert!(v("mcp_warden_discovery_cache_hits_total{resource=\"r\"}") >= 1.0);
    assert_eq!(
        v(
            "mcp_warden_discovery_refresh_total{resource=\"r\",result=\"success\",trigger=\"startup\"}"
        ),
        1.0
    );
    assert_eq!(
        v("mcp_warden_jwks_refresh_total{resource=\"r\",result=\"success\",trigger=\"startup\"}"),
        1.0
    );
    assert_eq!(v("mcp_warden_config_generation"), 1.0);
    assert!(v("process_resident_memory_bytes") > 0.0);
    // At least the listeners' and the watcher's tasks.
    assert!(v("mcp_warden_runtime_alive_tasks") >= 1.0);
    assert!(m.contains(&format!(
        "mcp_warden_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(!m.contains(&good), "no token in metrics");
    daemon.shutdown().await;
}

#[tokio::test]
async fn override_mismatch_gauge() {
    let authz = auth_server().await;
    let extra = "[resource.scopes]\noverride = [\"all\"]\n";
    let daemon = start(&config(&resource("r", "/mcp", &authz.issuer, extra)))
        .await
        .unwrap();
    authz.set_catalog(vec!["openid".into()]);
    let r = http()
        .post(admin(&daemon, "/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the fetch itself worked");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["resources"][0]["new"]["choice"], "mismatch");
    let m = metrics(&daemon).await;
    assert_eq!(
        sample(&m, "mcp_warden_scope_override_mismatch{resource=\"r\"}"),
        1.0
    );
    assert_eq!(
        sample(&m, "mcp_warden_advertised_scopes{resource=\"r\"}"),
        0.0
    );
    daemon.shutdown().await;
}

#[tokio::test]
async fn exposition_passes_promtool() {
    let authz = auth_server().await;
    let daemon = start(&config(&resource("r", "/mcp", &authz.issuer, "")))
        .await
        .unwrap();
    let text = metrics(&daemon).await;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed by ./scripts/test (Debian package prometheus)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    daemon.shutdown().await;
}
