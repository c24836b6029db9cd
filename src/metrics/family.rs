//! Declaring metrics: one call per metric (name, help, labels) registers it
//! in the app-owned registry, and label values come from the enums that own
//! them through [`Label`], never from hand-copied string lists.

use std::marker::PhantomData;

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// Every metric's name starts with this.
pub const PREFIX: &str = "mcp_warden_";

/// An enum whose variants are the values of one metric label.
pub trait Label: Copy + 'static {
    const ALL: &'static [Self];
    fn label(self) -> &'static str;
}

/// The label values of `L`, in declaration order.
pub fn values<L: Label>() -> impl Iterator<Item = &'static str> {
    L::ALL.iter().map(|l| l.label())
}

/// Whether an attempt worked (the `result` label of refreshes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Success,
    Failure,
}

impl Done {
    pub fn of(ok: bool) -> Done {
        if ok { Done::Success } else { Done::Failure }
    }
}

impl Label for Done {
    const ALL: &'static [Self] = &[Done::Success, Done::Failure];
    fn label(self) -> &'static str {
        match self {
            Done::Success => "success",
            Done::Failure => "failure",
        }
    }
}

fn register<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, m: M) -> M {
    registry
        .register(Box::new(m.clone()))
        .expect("each metric is registered once");
    m
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(format!("{PREFIX}{name}"), help)
}

pub fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(
        registry,
        IntCounterVec::new(opts(name, help), labels).expect("valid metric"),
    )
}

pub fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    register(
        registry,
        GaugeVec::new(opts(name, help), labels).expect("valid metric"),
    )
}

pub fn int_gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(
        registry,
        IntGaugeVec::new(opts(name, help), labels).expect("valid metric"),
    )
}

pub fn int_gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    register(
        registry,
        IntGauge::with_opts(opts(name, help)).expect("valid metric"),
    )
}

pub fn gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    register(
        registry,
        Gauge::with_opts(opts(name, help)).expect("valid metric"),
    )
}

/// A latency histogram, buckets from 100 µs to 60 s.
pub fn latency(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let buckets = vec![
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        5.0, 10.0, 30.0, 60.0,
    ];
    let opts = HistogramOpts::new(format!("{PREFIX}{name}"), help).buckets(buckets);
    register(
        registry,
        HistogramVec::new(opts, labels).expect("valid metric"),
    )
}

/// A counter with two enum labels, every combination created at zero.
pub struct Counter2<A: Label, B: Label> {
    vec: IntCounterVec,
    _labels: PhantomData<(A, B)>,
}

impl<A: Label, B: Label> Counter2<A, B> {
    pub fn register(registry: &Registry, name: &str, help: &str, labels: [&str; 2]) -> Self {
        let vec = counter(registry, name, help, &labels);
        for a in values::<A>() {
            for b in values::<B>() {
                vec.with_label_values(&[a, b]);
            }
        }
        Counter2 {
            vec,
            _labels: PhantomData,
        }
    }

    pub fn inc(&self, a: A, b: B) {
        self.vec.with_label_values(&[a.label(), b.label()]).inc();
    }
}

/// The text exposition of every metric in `registry`.
pub fn encode(registry: &Registry) -> String {
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .expect("text encoding of gathered metrics cannot fail");
    String::from_utf8(out).expect("the text format is UTF-8")
}

pub fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The decimal form of a status code without allocating.
pub fn status_str(status: u16, buf: &mut [u8; 3]) -> &str {
    let s = status.min(999);
    buf[0] = b'0' + (s / 100) as u8;
    buf[1] = b'0' + (s / 10 % 10) as u8;
    buf[2] = b'0' + (s % 10) as u8;
    std::str::from_utf8(buf).expect("ASCII digits")
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
}
