//! A refresh-ahead, single-flight, stale-if-error cache for one remote
//! document (a discovery document or a JWKS).
//!
//! The rules, which every cache in mcp-warden follows:
//! - **Fresh** for `ttl` after a successful fetch. A background task
//!   ([`Cache::spawn_refresher`]) refreshes at [`REFRESH_AHEAD`] of the TTL,
//!   so once warm no request ever waits on the authorization server.
//! - **Single-flight**: callers that need a fetch at the same time share one
//!   ([`Cache::refresh`]); 50 concurrent cold callers cause one fetch.
//! - **Stale-if-error**: when a refresh fails, the last good value is served
//!   for up to `max_stale` past its expiry, and the next attempt waits an
//!   exponential, jittered backoff from `retry_min` to `retry_max`. Serving a
//!   stale value never triggers a fetch: only the background task and callers
//!   with no usable value do, and those respect the backoff too, so during
//!   an outage no request waits on a fetch that is bound to time out.
//! - **Forced** refreshes ([`Cache::refresh`] with [`Trigger::Forced`]) ignore
//!   TTL and backoff but still join a fetch already in flight.
//!
//! Time is `tokio::time::Instant`, so tests drive all of this with
//! `tokio::time::pause()`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use rand::Rng;
use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::issuer::fetch::FetchError;

/// Fraction of the TTL after which the background task refreshes.
pub const REFRESH_AHEAD: f64 = 0.8;

/// Something that produces a fresh value.
pub trait Fetch: Send + Sync + 'static {
    type Value: Send + Sync + 'static;
    fn fetch(&self) -> impl Future<Output = Result<Self::Value, FetchError>> + Send;
}

/// Receives what the cache does (metrics); every method is cheap and
/// called on the request path for `hit`/`stale`/`miss`.
pub trait Observer: Send + Sync {
    fn hit(&self) {}
    fn stale(&self) {}
    fn miss(&self) {}
    fn refreshed(&self, _attempt: &Attempt<'_>) {}
}

/// One completed fetch attempt, as reported to an [`Observer`].
pub struct Attempt<'a> {
    pub trigger: Trigger,
    pub error: Option<&'a FetchError>,
    pub elapsed: Duration,
    /// Consecutive failures before this attempt.
    pub previous_failures: u32,
    /// When the background task retries (failures only).
    pub retry_in: Option<Duration>,
    /// Whether a copy is still held to serve (stale or fresh).
    pub holding: bool,
}

/// An observer that records nothing.
pub struct NoObserver;
impl Observer for NoObserver {}

/// Freshness and retry settings (from `[cache]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub ttl: Duration,
    pub max_stale: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
}

impl From<&crate::config::CacheSettings> for Policy {
    fn from(c: &crate::config::CacheSettings) -> Self {
        Policy {
            ttl: c.ttl,
            max_stale: c.max_stale,
            retry_min: c.retry_min,
            retry_max: c.retry_max,
        }
    }
}

impl Policy {
    /// Delay before attempt number `failures + 1` (`failures` ≥ 1): doubling
    /// from `retry_min`, capped at `retry_max`, jittered down by up to half
    /// so that many instances do not retry in lockstep, never below
    /// `retry_min`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(32);
        let base = self
            .retry_min
            .saturating_mul(1u32 << exp.min(31))
            .min(self.retry_max);
        let jittered = base.mul_f64(rand::rng().random_range(0.5..=1.0));
        jittered.max(self.retry_min).min(self.retry_max)
    }
}

/// What caused a fetch (the `trigger` metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The first fetch after start (or after the resource was added).
    Startup,
    /// The background refresh (TTL or retry schedule).
    Ttl,
    /// An operator's forced refresh.
    Forced,
    /// A caller with no usable value.
    Miss,
    /// A token signed by a key id the JWKS does not have.
    KidMiss,
}

impl Trigger {
    pub const ALL: [Trigger; 5] = [
        Trigger::Startup,
        Trigger::Ttl,
        Trigger::Forced,
        Trigger::Miss,
        Trigger::KidMiss,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Startup => "startup",
            Trigger::Ttl => "ttl",
            Trigger::Forced => "forced",
            Trigger::Miss => "miss",
            Trigger::KidMiss => "kid_miss",
        }
    }
}

/// A value and when it was fetched.
#[derive(Debug)]
pub struct Entry<T> {
    pub value: Arc<T>,
    pub fetched_at: Instant,
}

impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Entry {
            value: self.value.clone(),
            fetched_at: self.fetched_at,
        }
    }
}

/// Everything known about the cached document; replaced whole after every
/// attempt, so readers see a consistent view without locking.
#[derive(Debug)]
pub struct State<T> {
    /// The last good value, if any.
    pub entry: Option<Entry<T>>,
    /// Consecutive failed attempts since the last success.
    pub failures: u32,
    /// The last attempt's error (`None` after a success).
    pub last_error: Option<FetchError>,
    pub last_attempt: Option<Instant>,
    pub last_trigger: Option<Trigger>,
    pub last_duration: Option<Duration>,
    /// After a failure: the earliest time of the next automatic attempt.
    pub retry_at: Option<Instant>,
    /// Completed attempts, successful or not.
    pub attempts: u64,
}

impl<T> Default for State<T> {
    fn default() -> Self {
        State {
            entry: None,
            failures: 0,
            last_error: None,
            last_attempt: None,
            last_trigger: None,
            last_duration: None,
            retry_at: None,
            attempts: 0,
        }
    }
}

/// The answer of a non-blocking [`Cache::lookup`].
#[derive(Debug)]
pub enum Lookup<T> {
    Fresh(Arc<T>),
    /// Past its TTL but within `max_stale`: refreshes are failing.
    Stale(Arc<T>),
    /// Nothing servable: never fetched, or stale beyond `max_stale`.
    Unavailable(Unavailable),
}

/// Why no value can be served, and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// Suggested client wait (`Retry-After`), at least one second.
    pub retry_after: Duration,
    pub error: Option<FetchError>,
}

/// Counters of what the cache did, for tests, `/status` and metrics.
#[derive(Debug, Default)]
pub struct Stats {
    pub hits: AtomicU64,
    pub stale_serves: AtomicU64,
    /// Callers that found nothing servable (each may have waited on a fetch).
    pub misses: AtomicU64,
    pub fetch_ok: AtomicU64,
    pub fetch_failed: AtomicU64,
}

/// One cached document. See the module docs for the rules.
pub struct Cache<F: Fetch> {
    fetcher: F,
    policy: ArcSwap<Policy>,
    state: ArcSwap<State<F::Value>>,
    /// Held for the duration of one fetch; waiters then share its result.
    flight: tokio::sync::Mutex<()>,
    /// Wakes the background task (policy change, shutdown).
    wake: Arc<Notify>,
    pub stats: Stats,
    observer: Box<dyn Observer>,
}

impl<F: Fetch> Cache<F> {
    pub fn new(fetcher: F, policy: Policy) -> Self {
        Cache::with_observer(fetcher, policy, Box::new(NoObserver))
    }

    pub fn with_observer(fetcher: F, policy: Policy, observer: Box<dyn Observer>) -> Self {
        Cache {
            observer,
            fetcher,
            policy: ArcSwap::from_pointee(policy),
            state: ArcSwap::from_pointee(State::default()),
            flight: tokio::sync::Mutex::new(()),
            wake: Arc::new(Notify::new()),
            stats: Stats::default(),
        }
    }

    pub fn fetcher(&self) -> &F {
        &self.fetcher
    }

    pub fn policy(&self) -> Policy {
        **self.policy.load()
    }

    /// Applies new freshness settings (hot reload) and reschedules.
    pub fn set_policy(&self, policy: Policy) {
        self.policy.store(Arc::new(policy));
        self.wake.notify_one();
    }

    /// The current state, for status pages and decisions.
    pub fn state(&self) -> Arc<State<F::Value>> {
        self.state.load_full()
    }

    /// The current value if it can be served, without ever waiting. Counts a
    /// hit or a stale serve.
    pub fn lookup(&self) -> Lookup<F::Value> {
        let state = self.state.load();
        let policy = self.policy.load();
        let now = Instant::now();
        if let Some(entry) = &state.entry {
            let age = now.saturating_duration_since(entry.fetched_at);
            if age < policy.ttl {
                self.stats.hits.fetch_add(1, Ordering::Relaxed);
                self.observer.hit();
                return Lookup::Fresh(entry.value.clone());
            }
            if age < policy.ttl + policy.max_stale {
                self.stats.stale_serves.fetch_add(1, Ordering::Relaxed);
                self.observer.stale();
                return Lookup::Stale(entry.value.clone());
            }
        }
        Lookup::Unavailable(self.unavailable(&state, now))
    }

    fn unavailable(&self, state: &State<F::Value>, now: Instant) -> Unavailable {
        let wait = state
            .retry_at
            .map(|at| at.saturating_duration_since(now))
            .unwrap_or_default();
        Unavailable {
            retry_after: wait.max(Duration::from_secs(1)),
            error: state.last_error.clone(),
        }
    }

    /// The value, fetching it (single-flight) only when nothing servable is
    /// cached and no backoff is pending. Never fetches while a stale value
    /// can be served.
    pub async fn get(&self) -> Result<Arc<F::Value>, Unavailable> {
        match self.lookup() {
            Lookup::Fresh(v) | Lookup::Stale(v) => return Ok(v),
            Lookup::Unavailable(u) => {
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                self.observer.miss();
                let state = self.state.load();
                if state.retry_at.is_some_and(|at| at > Instant::now()) {
                    return Err(u);
                }
            }
        }
        let trigger = if self.state.load().attempts == 0 {
            Trigger::Startup
        } else {
            Trigger::Miss
        };
        self.refresh(trigger).await.map_err(|error| {
            let state = self.state.load();
            Unavailable {
                error: Some(error),
                ..self.unavailable(&state, Instant::now())
            }
        })
    }

    /// Fetches now, or joins the fetch already in flight and shares its
    /// result. Ignores TTL and backoff: callers decide when to call it.
    pub async fn refresh(&self, trigger: Trigger) -> Result<Arc<F::Value>, FetchError> {
        let seen = self.state.load().attempts;
        let _flight = self.flight.lock().await;
        let state = self.state.load_full();
        if state.attempts != seen {
            // Another caller completed an attempt while we waited: share it.
            return match (&state.last_error, &state.entry) {
                (None, Some(entry)) => Ok(entry.value.clone()),
                (Some(error), _) => Err(error.clone()),
                (None, None) => unreachable!("a completed attempt leaves a value or an error"),
            };
        }
        let started = Instant::now();
        let result = self.fetcher.fetch().await;
        let now = Instant::now();
        let mut next = State {
            entry: state.entry.clone(),
            failures: state.failures,
            last_error: None,
            last_attempt: Some(started),
            last_trigger: Some(trigger),
            last_duration: Some(now - started),
            retry_at: None,
            attempts: state.attempts + 1,
        };
        let outcome = match result {
            Ok(value) => {
                self.stats.fetch_ok.fetch_add(1, Ordering::Relaxed);
                let value = Arc::new(value);
                next.entry = Some(Entry {
                    value: value.clone(),
                    fetched_at: now,
                });
                next.failures = 0;
                Ok(value)
            }
            Err(error) => {
                self.stats.fetch_failed.fetch_add(1, Ordering::Relaxed);
                next.failures = state.failures.saturating_add(1);
                next.retry_at = Some(now + self.policy().backoff(next.failures));
                next.last_error = Some(error.clone());
                Err(error)
            }
        };
        self.observer.refreshed(&Attempt {
            trigger,
            error: outcome.as_ref().err(),
            elapsed: now - started,
            previous_failures: state.failures,
            retry_in: next.retry_at.map(|at| at - now),
            holding: next.entry.is_some(),
        });
        self.state.store(Arc::new(next));
        self.wake.notify_one();
        outcome
    }

    /// When the background task should next refresh.
    pub fn next_refresh(&self) -> Instant {
        let state = self.state.load();
        if let Some(at) = state.retry_at {
            return at;
        }
        match &state.entry {
            Some(e) => e.fetched_at + self.policy().ttl.mul_f64(REFRESH_AHEAD),
            None => Instant::now(),
        }
    }

    /// Starts the background refresher. It holds only a weak reference and
    /// ends once the cache is dropped.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        let wake = self.wake.clone();
        tokio::spawn(async move {
            loop {
                let due = match weak.upgrade() {
                    Some(cache) => cache.next_refresh(),
                    None => return,
                };
                tokio::select! {
                    _ = tokio::time::sleep_until(due) => {}
                    _ = wake.notified() => continue,
                }
                let Some(cache) = weak.upgrade() else { return };
                if cache.next_refresh() <= Instant::now() {
                    let trigger = if cache.state.load().attempts == 0 {
                        Trigger::Startup
                    } else {
                        Trigger::Ttl
                    };
                    // Errors are recorded in the state and reported to the
                    // observer (metrics and the log); the schedule moves on
                    // by itself.
                    let _ = cache.refresh(trigger).await;
                }
            }
        })
    }
}

impl<F: Fetch> Drop for Cache<F> {
    fn drop(&mut self) {
        // Let the refresher notice that its cache is gone.
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests;
