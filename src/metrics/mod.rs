//! Prometheus metrics: one [`Metrics`] registered once in an app-owned
//! registry and passed down.
//!
//! The names are an interface: dashboards (`dashboards/`) and alert rules
//! depend on them. Each metric is declared once, in [`Metrics::new`] (the
//! reload metrics in [`crate::reload::ReloadMetrics`], beside the enums
//! their labels come from); label values come from the enums that own them
//! ([`family::Label`]): cache triggers, fetch failure reasons, token
//! rejections. Every series a dashboard plots is created at zero for every
//! configured resource at startup, so panels and alerts never see "no
//! data". Labels are bounded: never a token, subject or raw path.
//!
//! Hot-path counters (cache hits, verifications) are resolved to plain
//! atomic counters once per resource ([`ResourceMetrics`]), so recording
//! costs no allocation and no lock. Gauges derived from state (metadata age,
//! key count, advertised scopes) are set at scrape time by the admin
//! listener.

pub mod family;
mod observer;
mod resource;

use std::sync::Arc;
use std::time::Duration;

use prometheus::{GaugeVec, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Registry};

pub use family::{encode, unix_seconds};
pub use resource::{ResourceMetrics, Verification};

use family::{Done, Label, counter, gauge_vec, int_gauge, int_gauge_vec, latency, values};
use observer::CacheObserver;

use crate::issuer::cache::{Observer, Trigger};
use crate::issuer::fetch::Reason;

impl Label for Trigger {
    const ALL: &'static [Self] = &Trigger::ALL;
    fn label(self) -> &'static str {
        self.as_str()
    }
}

impl Label for Reason {
    const ALL: &'static [Self] = &Reason::ALL;
    fn label(self) -> &'static str {
        self.as_str()
    }
}

/// Upstream statuses a dashboard plots from the start.
const UPSTREAM_STATUSES: [&str; 4] = ["200", "202", "502", "504"];

pub struct Metrics {
    pub registry: Registry,
    discovery_hits: IntCounterVec,
    discovery_misses: IntCounterVec,
    discovery_stale: IntCounterVec,
    discovery_refresh: IntCounterVec,
    discovery_failures: IntCounterVec,
    discovery_duration: HistogramVec,
    pub discovery_age: GaugeVec,
    pub discovery_ttl: GaugeVec,
    pub discovery_max_stale: GaugeVec,
    jwks_refresh: IntCounterVec,
    pub jwks_keys: IntGaugeVec,
    pub jwks_age: GaugeVec,
    token_verifications: IntCounterVec,
    token_cache_hits: IntCounterVec,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    upstream_requests: IntCounterVec,
    upstream_stream_errors: IntCounterVec,
    upstream_duration: HistogramVec,
    pub advertised_scopes: IntGaugeVec,
    pub advertised_scope_chars: IntGaugeVec,
    pub advertised_scope_max_chars: IntGaugeVec,
    pub scope_override_mismatch: IntGaugeVec,
    pub config_generation: IntGauge,
    forced_refreshes: IntCounterVec,
    /// Tasks alive in the Tokio runtime, read at each scrape: a count that
    /// keeps climbing under a steady load is a leak.
    pub runtime_alive_tasks: IntGauge,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let r = Registry::new();
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("registered once");
        let res = &["resource"];
        let m = Metrics {
            discovery_hits: counter(
                &r,
                "discovery_cache_hits_total",
                "Discovery metadata served fresh from cache.",
                res,
            ),
            discovery_misses: counter(
                &r,
                "discovery_cache_misses_total",
                "Requests that found no servable discovery metadata.",
                res,
            ),
            discovery_stale: counter(
                &r,
                "discovery_stale_serves_total",
                "Discovery metadata served past its TTL because refreshes fail.",
                res,
            ),
            discovery_refresh: counter(
                &r,
                "discovery_refresh_total",
                "Discovery fetch attempts.",
                &["resource", "trigger", "result"],
            ),
            discovery_failures: counter(
                &r,
                "discovery_refresh_failures_total",
                "Failed discovery fetches by reason.",
                &["resource", "reason"],
            ),
            discovery_duration: latency(
                &r,
                "discovery_refresh_duration_seconds",
                "Discovery fetch duration.",
                res,
            ),
            discovery_age: gauge_vec(
                &r,
                "discovery_age_seconds",
                "Age of the served discovery metadata.",
                res,
            ),
            discovery_ttl: gauge_vec(&r, "discovery_ttl_seconds", "Configured cache TTL.", res),
            discovery_max_stale: gauge_vec(
                &r,
                "discovery_max_stale_seconds",
                "Configured max_stale.",
                res,
            ),
            jwks_refresh: counter(
                &r,
                "jwks_refresh_total",
                "JWKS fetch attempts.",
                &["resource", "trigger", "result"],
            ),
            jwks_keys: int_gauge_vec(&r, "jwks_keys", "Usable signing keys loaded.", res),
            jwks_age: gauge_vec(&r, "jwks_age_seconds", "Age of the loaded key set.", res),
            token_verifications: counter(
                &r,
                "token_verifications_total",
                "Bearer token checks by outcome.",
                &["resource", "result"],
            ),
            token_cache_hits: counter(
                &r,
                "token_cache_hits_total",
                "Tokens accepted from the verified-token cache.",
                res,
            ),
            http_requests: counter(
                &r,
                "http_requests_total",
                "HTTP requests answered.",
                &["listener", "route", "status"],
            ),
            http_duration: latency(
                &r,
                "http_request_duration_seconds",
                "Time to response headers.",
                &["listener", "route"],
            ),
            upstream_requests: counter(
                &r,
                "upstream_requests_total",
                "Requests forwarded upstream by upstream status (error, timeout when none).",
                &["resource", "status"],
            ),
            upstream_stream_errors: counter(
                &r,
                "upstream_stream_errors_total",
                "Upstream response bodies that broke before their end.",
                res,
            ),
            upstream_duration: latency(
                &r,
                "upstream_request_duration_seconds",
                "Upstream time to response headers.",
                res,
            ),
            advertised_scopes: int_gauge_vec(
                &r,
                "advertised_scopes",
                "Scopes in the advertised set.",
                res,
            ),
            advertised_scope_chars: int_gauge_vec(
                &r,
                "advertised_scope_chars",
                "Length of the advertised scopes joined by spaces.",
                res,
            ),
            advertised_scope_max_chars: int_gauge_vec(
                &r,
                "advertised_scope_max_chars",
                "Configured max_chars.",
                res,
            ),
            scope_override_mismatch: int_gauge_vec(
                &r,
                "scope_override_mismatch",
                "1 when the scope override matches nothing in the live catalog.",
                res,
            ),
            config_generation: int_gauge(
                &r,
                "config_generation",
                "Generation of the active configuration.",
            ),
            forced_refreshes: counter(
                &r,
                "forced_refreshes_total",
                "Operator-forced refreshes.",
                &["result"],
            ),
            runtime_alive_tasks: int_gauge(
                &r,
                "runtime_alive_tasks",
                "Tasks alive in the async runtime (read at scrape time).",
            ),
            registry: r,
        };
        int_gauge_vec(
            &m.registry,
            "build_info",
            "Build information.",
            &["version"],
        )
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
        for res in values::<Done>() {
            m.forced_refreshes.with_label_values(&[res]);
        }
        Arc::new(m)
    }

    /// Creates every per-resource series at zero and returns the hot-path
    /// handles.
    pub fn resource(self: &Arc<Self>, name: &str) -> ResourceMetrics {
        for t in values::<Trigger>() {
            for res in values::<Done>() {
                self.discovery_refresh.with_label_values(&[name, t, res]);
                self.jwks_refresh.with_label_values(&[name, t, res]);
            }
        }
        for reason in values::<Reason>() {
            self.discovery_failures.with_label_values(&[name, reason]);
        }
        for status in UPSTREAM_STATUSES {
            self.upstream_requests.with_label_values(&[name, status]);
        }
        for g in [
            &self.discovery_age,
            &self.discovery_ttl,
            &self.discovery_max_stale,
            &self.jwks_age,
        ] {
            g.with_label_values(&[name]);
        }
        for g in [
            &self.jwks_keys,
            &self.advertised_scopes,
            &self.advertised_scope_chars,
            &self.advertised_scope_max_chars,
            &self.scope_override_mismatch,
        ] {
            g.with_label_values(&[name]);
        }
        ResourceMetrics {
            name: name.to_owned(),
            verifications: Verification::ALL.map(|v| {
                self.token_verifications
                    .with_label_values(&[name, v.label()])
            }),
            token_cache_hits: self.token_cache_hits.with_label_values(&[name]),
            upstream_duration: self.upstream_duration.with_label_values(&[name]),
            upstream_stream_errors: self.upstream_stream_errors.with_label_values(&[name]),
            metrics: self.clone(),
        }
    }

    /// The observer for one resource's discovery cache.
    pub fn discovery_observer(self: &Arc<Self>, name: &str) -> Box<dyn Observer> {
        Box::new(CacheObserver {
            resource: name.to_owned(),
            document: "discovery",
            hits: Some(self.discovery_hits.with_label_values(&[name])),
            misses: Some(self.discovery_misses.with_label_values(&[name])),
            stale: Some(self.discovery_stale.with_label_values(&[name])),
            refresh: self.discovery_refresh.clone(),
            failures: Some(self.discovery_failures.clone()),
            duration: Some(self.discovery_duration.with_label_values(&[name])),
        })
    }

    /// The observer for one resource's JWKS cache.
    pub fn jwks_observer(self: &Arc<Self>, name: &str) -> Box<dyn Observer> {
        Box::new(CacheObserver {
            resource: name.to_owned(),
            document: "jwks",
            hits: None,
            misses: None,
            stale: None,
            refresh: self.jwks_refresh.clone(),
            failures: None,
            duration: None,
        })
    }

    /// Records one HTTP request.
    pub fn http(&self, listener: &str, route: &str, status: u16, elapsed: Duration) {
        let mut buf = [0; 3];
        self.http_requests
            .with_label_values(&[listener, route, family::status_str(status, &mut buf)])
            .inc();
        self.http_duration
            .with_label_values(&[listener, route])
            .observe(elapsed.as_secs_f64());
    }

    /// Records one operator-forced refresh.
    pub fn forced_refresh(&self, ok: bool) {
        self.forced_refreshes
            .with_label_values(&[Done::of(ok).label()])
            .inc();
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        encode(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_exist_at_zero_for_a_resource() {
        let m = Metrics::new();
        let _r = m.resource("appwrite");
        let text = m.encode();
        for needle in [
            "mcp_warden_discovery_refresh_total{resource=\"appwrite\",result=\"failure\",trigger=\"ttl\"} 0",
            "mcp_warden_token_verifications_total{resource=\"appwrite\",result=\"unknown_kid\"} 0",
            "mcp_warden_scope_override_mismatch{resource=\"appwrite\"} 0",
            "mcp_warden_build_info{version=",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
    }
}
