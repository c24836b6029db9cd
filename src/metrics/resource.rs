//! The request-path handles of one resource: counters resolved once per
//! resource, so recording costs no allocation, no lock and no lookup.

use std::sync::Arc;
use std::time::Duration;

use prometheus::IntCounter;

use super::Metrics;
use super::family::{Label, status_str};
use crate::oauth::token::Rejection;

/// A token check's outcome (the `result` label of
/// `token_verifications_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Ok,
    Missing,
    Rejected(Rejection),
    InsufficientScope,
}

const COUNT: usize = Rejection::ALL.len() + 3;

impl Verification {
    /// Every outcome, in label order.
    pub const ALL: [Verification; COUNT] = {
        let mut all = [Verification::Ok; COUNT];
        all[1] = Verification::Missing;
        let mut i = 0;
        while i < Rejection::ALL.len() {
            all[2 + i] = Verification::Rejected(Rejection::ALL[i]);
            i += 1;
        }
        all[COUNT - 1] = Verification::InsufficientScope;
        all
    };

    /// The position in [`Verification::ALL`], without a search.
    fn index(self) -> usize {
        match self {
            Verification::Ok => 0,
            Verification::Missing => 1,
            Verification::Rejected(r) => 2 + r as usize,
            Verification::InsufficientScope => COUNT - 1,
        }
    }
}

impl Label for Verification {
    const ALL: &'static [Self] = &Verification::ALL;
    fn label(self) -> &'static str {
        match self {
            Verification::Ok => "ok",
            Verification::Missing => "missing",
            Verification::Rejected(r) => r.as_str(),
            Verification::InsufficientScope => "insufficient_scope",
        }
    }
}

/// Per-resource hot-path handles.
pub struct ResourceMetrics {
    pub name: String,
    pub(super) verifications: [IntCounter; COUNT],
    pub(super) token_cache_hits: IntCounter,
    pub(super) upstream_duration: prometheus::Histogram,
    pub(super) upstream_stream_errors: IntCounter,
    pub(super) metrics: Arc<Metrics>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_own_index_and_label() {
        for (i, v) in Verification::ALL.iter().enumerate() {
            assert_eq!(v.index(), i, "{v:?}");
        }
        let labels: std::collections::HashSet<_> =
            Verification::ALL.iter().map(|v| v.label()).collect();
        assert_eq!(labels.len(), COUNT);
    }
}
