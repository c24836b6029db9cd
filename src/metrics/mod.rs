//! Prometheus metrics: one [`Metrics`] registered once in an app-owned
//! registry and passed down.
//!
//! The names below are an interface: dashboards (`dashboards/`) and alert
//! rules depend on them. Every series a dashboard plots is created at zero
//! for every configured resource at startup, so panels and alerts never see
//! "no data". Labels are bounded: never a token, subject or raw path.
//!
//! Hot-path counters (cache hits, verifications) are resolved to plain
//! atomic counters once per resource ([`ResourceMetrics`]), so recording
//! costs no allocation and no lock. Gauges derived from state (metadata age,
//! key count, advertised scopes) are computed at scrape time
//! ([`crate::admin`]).

use std::sync::Arc;
use std::time::Duration;

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::issuer::cache::{Attempt, Observer};
use crate::oauth::token::Rejection;

/// The cache refresh triggers ([`Trigger::as_str`]).
const TRIGGERS: [&str; 5] = ["startup", "ttl", "forced", "miss", "kid_miss"];
const REASONS: [&str; 6] = [
    "connect",
    "timeout",
    "status",
    "body",
    "parse",
    "validation",
];
const RESULTS: [&str; 11] = [
    "ok",
    "missing",
    "malformed",
    "invalid_signature",
    "expired",
    "not_yet_valid",
    "wrong_issuer",
    "wrong_audience",
    "unknown_kid",
    "disallowed_alg",
    "insufficient_scope",
];
const RELOAD_TRIGGERS: [&str; 3] = ["watch", "signal", "admin"];
const RELOAD_RESULTS: [&str; 3] = ["success", "rejected", "unchanged"];

/// A verification outcome as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Ok,
    Missing,
    Rejected(Rejection),
    InsufficientScope,
}

impl Verification {
    fn index(self) -> usize {
        let label = match self {
            Verification::Ok => "ok",
            Verification::Missing => "missing",
            Verification::Rejected(r) => r.as_str(),
            Verification::InsufficientScope => "insufficient_scope",
        };
        RESULTS
            .iter()
            .position(|r| *r == label)
            .expect("every outcome has a label")
    }
}

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
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    upstream_requests: IntCounterVec,
    upstream_stream_errors: IntCounterVec,
    upstream_duration: HistogramVec,
    pub advertised_scopes: IntGaugeVec,
    pub advertised_scope_chars: IntGaugeVec,
    pub advertised_scope_max_chars: IntGaugeVec,
    pub scope_override_mismatch: IntGaugeVec,
    pub config_reloads: IntCounterVec,
    pub config_last_reload_success: IntGauge,
    pub config_last_reload_success_timestamp: Gauge,
    pub config_generation: IntGauge,
    pub forced_refreshes: IntCounterVec,
    /// Tasks alive in the Tokio runtime, read at each scrape: a count that
    /// keeps climbing under a steady load is a leak.
    pub runtime_alive_tasks: IntGauge,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("registered once");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("registered once");
    g
}

fn int_gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("registered once");
    g
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid metric");
    registry
        .register(Box::new(h.clone()))
        .expect("registered once");
    h
}

/// Latency buckets from 100 µs to 60 s.
fn latency_buckets() -> Vec<f64> {
    vec![
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        5.0, 10.0, 30.0, 60.0,
    ]
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let r = Registry::new();
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("registered once");
        let p = |s: &str| format!("mcp_warden_{s}");
        let m = Metrics {
            discovery_hits: counter(
                &r,
                &p("discovery_cache_hits_total"),
                "Discovery metadata served fresh from cache.",
                &["resource"],
            ),
            discovery_misses: counter(
                &r,
                &p("discovery_cache_misses_total"),
                "Requests that found no servable discovery metadata.",
                &["resource"],
            ),
            discovery_stale: counter(
                &r,
                &p("discovery_stale_serves_total"),
                "Discovery metadata served past its TTL because refreshes fail.",
                &["resource"],
            ),
            discovery_refresh: counter(
                &r,
                &p("discovery_refresh_total"),
                "Discovery fetch attempts.",
                &["resource", "trigger", "result"],
            ),
            discovery_failures: counter(
                &r,
                &p("discovery_refresh_failures_total"),
                "Failed discovery fetches by reason.",
                &["resource", "reason"],
            ),
            discovery_duration: histogram(
                &r,
                &p("discovery_refresh_duration_seconds"),
                "Discovery fetch duration.",
                &["resource"],
                latency_buckets(),
            ),
            discovery_age: gauge(
                &r,
                &p("discovery_age_seconds"),
                "Age of the served discovery metadata.",
                &["resource"],
            ),
            discovery_ttl: gauge(
                &r,
                &p("discovery_ttl_seconds"),
                "Configured cache TTL.",
                &["resource"],
            ),
            discovery_max_stale: gauge(
                &r,
                &p("discovery_max_stale_seconds"),
                "Configured max_stale.",
                &["resource"],
            ),
            jwks_refresh: counter(
                &r,
                &p("jwks_refresh_total"),
                "JWKS fetch attempts.",
                &["resource", "trigger", "result"],
            ),
            jwks_keys: int_gauge(
                &r,
                &p("jwks_keys"),
                "Usable signing keys loaded.",
                &["resource"],
            ),
            jwks_age: gauge(
                &r,
                &p("jwks_age_seconds"),
                "Age of the loaded key set.",
                &["resource"],
            ),
            token_verifications: counter(
                &r,
                &p("token_verifications_total"),
                "Bearer token checks by outcome.",
                &["resource", "result"],
            ),
            token_cache_hits: counter(
                &r,
                &p("token_cache_hits_total"),
                "Tokens accepted from the verified-token cache.",
                &["resource"],
            ),
            http_requests: counter(
                &r,
                &p("http_requests_total"),
                "HTTP requests answered.",
                &["listener", "route", "status"],
            ),
            http_duration: histogram(
                &r,
                &p("http_request_duration_seconds"),
                "Time to response headers.",
                &["listener", "route"],
                latency_buckets(),
            ),
            upstream_requests: counter(
                &r,
                &p("upstream_requests_total"),
                "Requests forwarded upstream by upstream status (error, timeout when none).",
                &["resource", "status"],
            ),
            upstream_stream_errors: counter(
                &r,
                &p("upstream_stream_errors_total"),
                "Upstream response bodies that broke before their end.",
                &["resource"],
            ),
            upstream_duration: histogram(
                &r,
                &p("upstream_request_duration_seconds"),
                "Upstream time to response headers.",
                &["resource"],
                latency_buckets(),
            ),
            advertised_scopes: int_gauge(
                &r,
                &p("advertised_scopes"),
                "Scopes in the advertised set.",
                &["resource"],
            ),
            advertised_scope_chars: int_gauge(
                &r,
                &p("advertised_scope_chars"),
                "Length of the advertised scopes joined by spaces.",
                &["resource"],
            ),
            advertised_scope_max_chars: int_gauge(
                &r,
                &p("advertised_scope_max_chars"),
                "Configured max_chars.",
                &["resource"],
            ),
            scope_override_mismatch: int_gauge(
                &r,
                &p("scope_override_mismatch"),
                "1 when the scope override matches nothing in the live catalog.",
                &["resource"],
            ),
            config_reloads: counter(
                &r,
                &p("config_reloads_total"),
                "Configuration reloads.",
                &["trigger", "result"],
            ),
            config_last_reload_success: {
                let g = IntGauge::new(
                    p("config_last_reload_success"),
                    "1 when the last reload applied (or changed nothing).",
                )
                .expect("valid");
                r.register(Box::new(g.clone())).expect("registered once");
                g
            },
            config_last_reload_success_timestamp: {
                let g = Gauge::new(
                    p("config_last_reload_success_timestamp_seconds"),
                    "When the configuration last loaded successfully.",
                )
                .expect("valid");
                r.register(Box::new(g.clone())).expect("registered once");
                g
            },
            config_generation: {
                let g = IntGauge::new(
                    p("config_generation"),
                    "Generation of the active configuration.",
                )
                .expect("valid");
                r.register(Box::new(g.clone())).expect("registered once");
                g
            },
            forced_refreshes: counter(
                &r,
                &p("forced_refreshes_total"),
                "Operator-forced refreshes.",
                &["result"],
            ),
            runtime_alive_tasks: {
                let g = IntGauge::new(
                    p("runtime_alive_tasks"),
                    "Tasks alive in the async runtime (read at scrape time).",
                )
                .expect("valid");
                r.register(Box::new(g.clone())).expect("registered once");
                g
            },
            registry: r,
        };
        let build = IntGaugeVec::new(
            Opts::new(p("build_info"), "Build information."),
            &["version"],
        )
        .expect("valid");
        m.registry
            .register(Box::new(build.clone()))
            .expect("registered once");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        for t in RELOAD_TRIGGERS {
            for res in RELOAD_RESULTS {
                m.config_reloads.with_label_values(&[t, res]);
            }
        }
        for res in ["success", "failure"] {
            m.forced_refreshes.with_label_values(&[res]);
        }
        m.config_last_reload_success.set(1);
        m.config_last_reload_success_timestamp.set(unix_seconds());
        Arc::new(m)
    }

    /// Creates every per-resource series at zero and returns the hot-path
    /// handles.
    pub fn resource(self: &Arc<Self>, name: &str) -> ResourceMetrics {
        for t in TRIGGERS {
            for res in ["success", "failure"] {
                self.discovery_refresh.with_label_values(&[name, t, res]);
                self.jwks_refresh.with_label_values(&[name, t, res]);
            }
        }
        for reason in REASONS {
            self.discovery_failures.with_label_values(&[name, reason]);
        }
        for status in ["200", "202", "502", "504"] {
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
            verifications: RESULTS.map(|r| self.token_verifications.with_label_values(&[name, r])),
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
            .with_label_values(&[listener, route, status_str(status, &mut buf)])
            .inc();
        self.http_duration
            .with_label_values(&[listener, route])
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding of gathered metrics cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// The decimal form of a status code without allocating.
fn status_str(status: u16, buf: &mut [u8; 3]) -> &str {
    let s = status.min(999);
    buf[0] = b'0' + (s / 100) as u8;
    buf[1] = b'0' + (s / 10 % 10) as u8;
    buf[2] = b'0' + (s % 10) as u8;
    std::str::from_utf8(buf).expect("ASCII digits")
}

pub fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Per-resource hot-path handles.
pub struct ResourceMetrics {
    pub name: String,
    verifications: [IntCounter; RESULTS.len()],
    token_cache_hits: IntCounter,
    upstream_duration: prometheus::Histogram,
    upstream_stream_errors: IntCounter,
    metrics: Arc<Metrics>,
}

impl ResourceMetrics {
    pub fn verification(&self, v: Verification) {
        self.verifications[v.index()].inc();
    }

    /// The counter of upstream bodies that broke mid-stream.
    pub fn stream_errors(&self) -> IntCounter {
        self.upstream_stream_errors.clone()
    }

    pub fn token_cache_hit(&self) {
        self.token_cache_hits.inc();
    }

    /// One upstream exchange: its status (`None`: no answer) and time to headers.
    pub fn upstream(&self, status: Option<u16>, timed_out: bool, elapsed: Duration) {
        let mut buf = [0; 3];
        let label = match status {
            Some(s) => status_str(s, &mut buf),
            None if timed_out => "timeout",
            None => "error",
        };
        self.metrics
            .upstream_requests
            .with_label_values(&[&self.name, label])
            .inc();
        self.upstream_duration.observe(elapsed.as_secs_f64());
    }
}

struct CacheObserver {
    resource: String,
    /// `discovery` or `jwks`, for the log lines.
    document: &'static str,
    hits: Option<IntCounter>,
    misses: Option<IntCounter>,
    stale: Option<IntCounter>,
    refresh: IntCounterVec,
    failures: Option<IntCounterVec>,
    duration: Option<prometheus::Histogram>,
}

impl Observer for CacheObserver {
    fn hit(&self) {
        if let Some(c) = &self.hits {
            c.inc();
        }
    }
    fn stale(&self) {
        if let Some(c) = &self.stale {
            c.inc();
        }
    }
    fn miss(&self) {
        if let Some(c) = &self.misses {
            c.inc();
        }
    }
    fn refreshed(&self, a: &Attempt<'_>) {
        let result = if a.error.is_some() {
            "failure"
        } else {
            "success"
        };
        self.refresh
            .with_label_values(&[&self.resource, a.trigger.as_str(), result])
            .inc();
        if let (Some(f), Some(e)) = (&self.failures, a.error) {
            f.with_label_values(&[&self.resource, e.reason()]).inc();
        }
        if let Some(d) = &self.duration {
            d.observe(a.elapsed.as_secs_f64());
        }
        // One line per attempt: attempts follow the backoff schedule, so an
        // outage logs at most once per retry, never once per request.
        match a.error {
            Some(error) => tracing::warn!(
                target: "mcp_warden::issuer::cache",
                resource = %self.resource,
                document = %self.document,
                trigger = %a.trigger.as_str(),
                %error,
                consecutive_failures = a.previous_failures + 1,
                retry_in = ?a.retry_in.unwrap_or_default(),
                serving = %if a.holding { "last good copy" } else { "nothing" },
                "refresh failed",
            ),
            None if a.previous_failures > 0 => tracing::info!(
                target: "mcp_warden::issuer::cache",
                resource = %self.resource,
                document = %self.document,
                after_failures = a.previous_failures,
                "refresh succeeded again",
            ),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_format_without_allocation() {
        let mut b = [0; 3];
        assert_eq!(status_str(200, &mut b), "200");
        assert_eq!(status_str(404, &mut b), "404");
        assert_eq!(status_str(5, &mut b), "005");
    }

    #[test]
    fn series_exist_at_zero_for_a_resource() {
        let m = Metrics::new();
        let _r = m.resource("appwrite");
        let text = m.encode();
        for needle in [
            "mcp_warden_discovery_refresh_total{resource=\"appwrite\",result=\"failure\",trigger=\"ttl\"} 0",
            "mcp_warden_token_verifications_total{resource=\"appwrite\",result=\"unknown_kid\"} 0",
            "mcp_warden_scope_override_mismatch{resource=\"appwrite\"} 0",
            "mcp_warden_config_reloads_total{result=\"rejected\",trigger=\"watch\"} 0",
            "mcp_warden_build_info{version=",
            "mcp_warden_config_last_reload_success 1",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
    }
}
