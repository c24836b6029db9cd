//! What a discovery or JWKS cache reports ([`crate::issuer::cache::Observer`]),
//! recorded as metrics and one log line per refresh attempt.

use prometheus::{IntCounter, IntCounterVec};

use super::family::{Done, Label};
use crate::issuer::cache::{Attempt, Observer};

pub(super) struct CacheObserver {
    pub resource: String,
    /// `discovery` or `jwks`, for the log lines.
    pub document: &'static str,
    pub hits: Option<IntCounter>,
    pub misses: Option<IntCounter>,
    pub stale: Option<IntCounter>,
    pub refresh: IntCounterVec,
    pub failures: Option<IntCounterVec>,
    pub duration: Option<prometheus::Histogram>,
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
        let result = Done::of(a.error.is_none()).label();
        self.refresh
            .with_label_values(&[&self.resource, a.trigger.label(), result])
            .inc();
        if let (Some(f), Some(e)) = (&self.failures, a.error) {
            f.with_label_values(&[&self.resource, e.kind().label()])
                .inc();
        }
        if let Some(d) = &self.duration {
            d.observe(a.elapsed.as_secs_f64());
        }
        // One line per attempt: attempts follow the backoff schedule, so an
        // outage logs at most once per retry, never once per request.
        match a.error {
            Some(error) => tracing::warn!(
                target: "mcp_warden::cache",
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
                target: "mcp_warden::cache",
                resource = %self.resource,
                document = %self.document,
                after_failures = a.previous_failures,
                "refresh succeeded again",
            ),
            None => {}
        }
    }
}
