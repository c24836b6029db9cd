//! The admin listener: what operators look at and press. Its own address
//! (`[admin] listen`), never reachable through the public port.
//!
//! | route | auth | answer |
//! |---|---|---|
//! | `GET /metrics` | open | Prometheus text exposition |
//! | `GET /healthz` | open | 200 while the process runs |
//! | `GET /readyz` | open | 200 once every resource has servable metadata and keys; else 503 naming what is pending |
//! | `GET /status` | token | version, config, last reload, per-resource cache and policy state |
//! | `POST /refresh[?resource=NAME]` | token | forced discovery + JWKS refresh, waited for; 200 all ok, 502 any failed, 404 unknown name |
//! | `POST /reload` | token | re-read the config file now (same path as SIGHUP) |
//!
//! "token": with `admin.token_file`, `Authorization: Bearer <token>` compared
//! in constant time; without it (loopback only) the routes are open.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::time::Instant;
use warp::Filter;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use warp::reply::Response;

use crate::gateway::{error_json, json as json_response};
use crate::issuer::cache::{Cache, Fetch, Policy, State, Trigger};
use crate::state::{App, Resource, Snapshot};

/// The admin listener's warp filter.
pub fn routes(
    app: Arc<App>,
) -> impl Filter<Extract = (Response,), Error = std::convert::Infallible> + Clone + Send + Sync + 'static
{
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: Option<String>,
                  headers: HeaderMap| {
                let app = app.clone();
                async move {
                    let started = std::time::Instant::now();
                    let (route, response) =
                        handle(&app, &method, path.as_str(), query.as_deref(), &headers).await;
                    app.metrics.http(
                        "admin",
                        route,
                        response.status().as_u16(),
                        started.elapsed(),
                    );
                    response
                }
            },
        )
}

async fn handle(
    app: &App,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> (&'static str, Response) {
    let snapshot = app.snapshot();
    let (route, allowed, needs_token) = match path {
        "/metrics" => ("metrics", Method::GET, false),
        "/healthz" => ("healthz", Method::GET, false),
        "/readyz" => ("readyz", Method::GET, false),
        "/status" => ("status", Method::GET, true),
        "/refresh" => ("refresh", Method::POST, true),
        "/reload" => ("reload", Method::POST, true),
        _ => return ("not_found", crate::gateway::not_found()),
    };
    if *method != allowed && !(allowed == Method::GET && *method == Method::HEAD) {
        let mut r = error_json(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "wrong method",
        );
        r.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_str(allowed.as_str()).expect("ASCII"),
        );
        return (route, r);
    }
    if needs_token && !authorized(&snapshot, headers) {
        let mut r = error_json(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "admin token required",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"mcp-warden-admin\""),
        );
        return (route, r);
    }
    let response = match route {
        "metrics" => metrics(app, &snapshot),
        "healthz" => json_response(StatusCode::OK, "{\"status\":\"ok\"}".into()),
        "readyz" => readyz(&snapshot),
        "status" => value(StatusCode::OK, status(app, &snapshot)),
        "refresh" => refresh(app, &snapshot, query).await,
        _ => {
            let record = crate::reload::reload(app, "admin").await;
            let code = if record.result == "rejected" {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            value(code, serde_json::to_value(record).expect("serializable"))
        }
    };
    (route, response)
}

fn authorized(snapshot: &Snapshot, headers: &HeaderMap) -> bool {
    let Some(token) = &snapshot.config.admin.token else {
        return true;
    };
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Some(presented) = value.as_bytes().strip_prefix(b"Bearer ") else {
        return false;
    };
    token.matches(presented)
}

fn value(status: StatusCode, v: Value) -> Response {
    json_response(status, v.to_string().into())
}

/// Seconds between two instants, signed.
fn secs_between(from: Instant, to: Instant) -> f64 {
    if to >= from {
        (to - from).as_secs_f64()
    } else {
        -(from - to).as_secs_f64()
    }
}

/// Whether a cache can serve, under its policy.
fn servable<T>(state: &State<T>, policy: &Policy) -> bool {
    state
        .entry
        .as_ref()
        .is_some_and(|e| e.fetched_at.elapsed() < policy.ttl + policy.max_stale)
}

fn metrics(app: &App, snapshot: &Snapshot) -> Response {
    let m = &app.metrics;
    for r in &snapshot.resources {
        let name = r.config.name.as_str();
        let rt = &r.runtime;
        let policy = rt.discovery.policy();
        m.discovery_ttl
            .with_label_values(&[name])
            .set(policy.ttl.as_secs_f64());
        m.discovery_max_stale
            .with_label_values(&[name])
            .set(policy.max_stale.as_secs_f64());
        m.advertised_scope_max_chars
            .with_label_values(&[name])
            .set(r.config.scopes.max_chars as i64);
        if let Some(entry) = &rt.discovery.state().entry {
            m.discovery_age
                .with_label_values(&[name])
                .set(entry.fetched_at.elapsed().as_secs_f64());
            let rendered = r.render(entry.value.clone());
            let (count, chars, mismatch) = match &rendered.outcome {
                Ok((a, _)) => (a.scopes.len() as i64, a.chars as i64, 0),
                Err(_) => (0, 0, 1),
            };
            m.advertised_scopes.with_label_values(&[name]).set(count);
            m.advertised_scope_chars
                .with_label_values(&[name])
                .set(chars);
            m.scope_override_mismatch
                .with_label_values(&[name])
                .set(mismatch);
        }
        if let Some(entry) = &rt.verifier.jwks.state().entry {
            m.jwks_keys
                .with_label_values(&[name])
                .set(entry.value.keys.len() as i64);
            m.jwks_age
                .with_label_values(&[name])
                .set(entry.fetched_at.elapsed().as_secs_f64());
        }
    }
    m.runtime_alive_tasks.set(
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
            .try_into()
            .unwrap_or(i64::MAX),
    );
    let mut r = warp::http::Response::new(m.encode().into());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

fn readyz(snapshot: &Snapshot) -> Response {
    let mut pending = Vec::new();
    for r in &snapshot.resources {
        let rt = &r.runtime;
        for (what, ok, error) in [
            (
                "discovery",
                servable(&rt.discovery.state(), &rt.discovery.policy()),
                rt.discovery.state().last_error.clone(),
            ),
            (
                "jwks",
                servable(&rt.verifier.jwks.state(), &rt.verifier.jwks.policy()),
                rt.verifier.jwks.state().last_error.clone(),
            ),
        ] {
            if !ok {
                pending.push(json!({
                    "resource": r.config.name,
                    "pending": what,
                    "last_error": error.map(|e| e.to_string()),
                }));
            }
        }
    }
    if pending.is_empty() {
        value(StatusCode::OK, json!({ "ready": true }))
    } else {
        value(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "ready": false, "pending": pending }),
        )
    }
}

/// Describes one cache's refresh state.
fn cache_status<F: Fetch>(cache: &Cache<F>) -> Value {
    let state = cache.state();
    let policy = cache.policy();
    let now = Instant::now();
    let age = state
        .entry
        .as_ref()
        .map(|e| secs_between(e.fetched_at, now));
    json!({
        "loaded": state.entry.is_some(),
        "age_seconds": age,
        "stale": age.is_some_and(|a| a >= policy.ttl.as_secs_f64()),
        "servable": servable(&state, &policy),
        "last_result": match (&state.last_attempt, &state.last_error) {
            (None, _) => "none",
            (Some(_), None) => "success",
            (Some(_), Some(_)) => "failure",
        },
        "last_error": state.last_error.as_ref().map(|e| e.to_string()),
        "last_trigger": state.last_trigger.map(Trigger::as_str),
        "last_duration_ms": state.last_duration.map(|d| d.as_millis() as u64),
        "consecutive_failures": state.failures,
        "next_refresh": rfc3339_in(secs_between(now, cache.next_refresh())),
        "stats": {
            "fetch_ok": cache.stats.fetch_ok.load(std::sync::atomic::Ordering::Relaxed),
            "fetch_failed": cache.stats.fetch_failed.load(std::sync::atomic::Ordering::Relaxed),
        },
    })
}

fn rfc3339_in(seconds: f64) -> String {
    let at = if seconds >= 0.0 {
        SystemTime::now() + Duration::from_secs_f64(seconds)
    } else {
        SystemTime::now() - Duration::from_secs_f64(-seconds)
    };
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The advertised scopes of a resource's current metadata, if any.
fn advertised(r: &Resource) -> Value {
    let Some(entry) = &r.runtime.discovery.state().entry else {
        return json!({ "choice": null, "scopes": null });
    };
    match &r.render(entry.value.clone()).outcome {
        Ok((a, _)) => json!({
            "choice": a.choice,
            "scopes": a.scopes,
            "chars": a.chars,
            "over_max_chars": a.over_max,
            "missing_from_catalog": a.missing,
        }),
        Err(m) => json!({ "choice": "mismatch", "scopes": [], "error": m.to_string() }),
    }
}

fn resource_status(r: &Resource) -> Value {
    let rt = &r.runtime;
    let metadata = rt.discovery.state();
    let keys = rt.verifier.jwks.state();
    json!({
        "name": r.config.name,
        "path": r.location.local_path,
        "resource": r.location.resource,
        "metadata_url": r.location.prm_url,
        "issuer": metadata.entry.as_ref().map(|e| e.value.issuer.clone()),
        "discovery_url": metadata.entry.as_ref().map(|e| e.value.source.to_string()),
        "catalog_size": metadata.entry.as_ref().and_then(|e| e.value.scopes_supported.as_ref().map(Vec::len)),
        "advertised": advertised(r),
        "discovery": cache_status(&rt.discovery),
        "jwks": {
            "key_ids": keys.entry.as_ref().map(|e| e.value.kids()),
            "jwks_uri": keys.entry.as_ref().map(|e| e.value.source.to_string()),
            "cache": cache_status(&rt.verifier.jwks),
        },
        "verified_tokens_cached": rt.verifier.cached_tokens(),
        "upstream": r.config.upstream.as_str(),
    })
}

fn status(app: &App, snapshot: &Snapshot) -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "config_path": app.config_path.as_ref().map(|p| p.display().to_string()),
        "config_generation": snapshot.generation,
        "config_hash": snapshot.config.hash,
        "last_reload": app.last_reload.load_full().map(|r| (*r).clone()),
        "resources": snapshot.resources.iter().map(|r| resource_status(r)).collect::<Vec<_>>(),
    })
}

async fn refresh(app: &App, snapshot: &Snapshot, query: Option<&str>) -> Response {
    let wanted: Option<String> = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "resource")
            .map(|(_, v)| v.into_owned())
    });
    let targets: Vec<&Arc<Resource>> = snapshot
        .resources
        .iter()
        .filter(|r| wanted.as_deref().is_none_or(|w| r.config.name == w))
        .collect();
    if let Some(name) = &wanted
        && targets.is_empty()
    {
        return error_json(
            StatusCode::NOT_FOUND,
            "unknown_resource",
            &format!("no resource named {name:?}"),
        );
    }
    let results = futures_util::future::join_all(targets.into_iter().map(|r| async move {
        let before = advertised(r);
        let started = Instant::now();
        let discovery = r.runtime.discovery.refresh(Trigger::Forced).await;
        let keys = r.runtime.verifier.jwks.refresh(Trigger::Forced).await;
        let error = match (&discovery, &keys) {
            (Err(e), _) => Some(format!("discovery: {e}")),
            (Ok(_), Err(e)) => Some(format!("jwks: {e}")),
            _ => None,
        };
        if let Some(e) = &error {
            tracing::warn!(resource = %r.config.name, error = %e, "forced refresh failed; the last good copy stays in service");
        } else {
            tracing::info!(resource = %r.config.name, "forced refresh succeeded");
        }
        json!({
            "resource": r.config.name,
            "ok": error.is_none(),
            "error": error,
            "duration_ms": started.elapsed().as_millis() as u64,
            "old": before,
            "new": advertised(r),
            "key_ids": r.runtime.verifier.jwks.state().entry.as_ref().map(|e| e.value.kids()),
        })
    }))
    .await;
    let all_ok = results.iter().all(|r| r["ok"] == true);
    app.metrics
        .forced_refreshes
        .with_label_values(&[if all_ok { "success" } else { "failure" }])
        .inc();
    value(
        if all_ok {
            StatusCode::OK
        } else {
            StatusCode::BAD_GATEWAY
        },
        json!({ "ok": all_ok, "resources": results }),
    )
}
