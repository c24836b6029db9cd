//! The admin routes' answers: metrics gauges set at scrape time, readiness,
//! the status document, and the forced refresh.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tokio::time::Instant;
use warp::reply::Response;

use super::Admin;
use crate::issuer::cache::{Cache, Fetch, Policy, State, Trigger};
use crate::server::reply::{error_json, value};
use crate::state::{App, Endpoint, Snapshot};

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

pub(super) fn metrics(app: &App, snapshot: &Snapshot) -> Response {
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
    let mut r = Response::new(m.encode().into());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

pub(super) fn readyz(snapshot: &Snapshot) -> Response {
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
        value(StatusCode::OK, &json!({ "ready": true }))
    } else {
        value(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "ready": false, "pending": pending }),
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
fn advertised(r: &Endpoint) -> Value {
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

fn resource_status(r: &Endpoint) -> Value {
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

pub(super) fn status(admin: &Admin, snapshot: &Snapshot) -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "config_path": admin.app.config_path.as_ref().map(|p| p.display().to_string()),
        "config_generation": snapshot.generation,
        "config_hash": snapshot.config.hash,
        "last_reload": admin.reloader.last(),
        "resources": snapshot.resources.iter().map(|r| resource_status(r)).collect::<Vec<_>>(),
    })
}

pub(super) async fn refresh(app: &App, snapshot: &Snapshot, query: Option<&str>) -> Response {
    let wanted: Option<String> = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "resource")
            .map(|(_, v)| v.into_owned())
    });
    let targets: Vec<&Arc<Endpoint>> = snapshot
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
    app.metrics.forced_refresh(all_ok);
    value(
        if all_ok {
            StatusCode::OK
        } else {
            StatusCode::BAD_GATEWAY
        },
        &json!({ "ok": all_ok, "resources": results }),
    )
}
