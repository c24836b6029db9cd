//! The cache state machine under paused time.

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use super::*;

/// A fetcher whose answers the test controls.
struct Fake {
    calls: AtomicU64,
    fail: AtomicBool,
    delay: Duration,
    /// Completed fetch times, to check the retry schedule.
    times: Mutex<Vec<Instant>>,
}

impl Fake {
    fn new(delay: Duration) -> Self {
        Fake {
            calls: AtomicU64::new(0),
            fail: AtomicBool::new(false),
            delay,
            times: Mutex::new(Vec::new()),
        }
    }
}

impl Fetch for Fake {
    type Value = u64;
    async fn fetch(&self) -> Result<u64, FetchError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(self.delay).await;
        self.times.lock().unwrap().push(Instant::now());
        if self.fail.load(Ordering::SeqCst) {
            Err(FetchError::Connect {
                url: "http://as.test/".into(),
                detail: "refused".into(),
            })
        } else {
            Ok(n)
        }
    }
}

fn policy() -> Policy {
    Policy {
        ttl: Duration::from_secs(300),
        max_stale: Duration::from_secs(3600),
        retry_min: Duration::from_secs(2),
        retry_max: Duration::from_secs(60),
    }
}

fn cache(delay: Duration) -> Arc<Cache<Fake>> {
    Arc::new(Cache::new(Fake::new(delay), policy()))
}

fn calls(c: &Cache<Fake>) -> u64 {
    c.fetcher().calls.load(Ordering::SeqCst)
}

/// Lets spawned tasks run until they block on time.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn fresh_hit_does_not_fetch_again() {
    let c = cache(Duration::ZERO);
    assert_eq!(*c.get().await.unwrap(), 1);
    for _ in 0..100 {
        assert_eq!(*c.get().await.unwrap(), 1);
    }
    assert_eq!(calls(&c), 1);
    assert_eq!(c.stats.hits.load(Ordering::Relaxed), 100);
    assert_eq!(c.stats.misses.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn fifty_concurrent_cold_callers_cause_one_fetch() {
    let c = cache(Duration::from_millis(100));
    let callers: Vec<_> = (0..50)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { *c.get().await.unwrap() })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.await.unwrap(), 1);
    }
    assert_eq!(calls(&c), 1);
}

#[tokio::test(start_paused = true)]
async fn fifty_concurrent_cold_callers_share_one_failure() {
    let c = cache(Duration::from_millis(100));
    c.fetcher().fail.store(true, Ordering::SeqCst);
    let callers: Vec<_> = (0..50)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.get().await.is_err() })
        })
        .collect();
    for caller in callers {
        assert!(caller.await.unwrap());
    }
    assert_eq!(calls(&c), 1);
    // Within the backoff, a cold caller gets an answer without a fetch.
    let err = c.get().await.unwrap_err();
    assert!(err.error.is_some());
    assert!(err.retry_after >= Duration::from_secs(1));
    assert_eq!(calls(&c), 1);
}

#[tokio::test(start_paused = true)]
async fn background_refresh_runs_ahead_of_expiry() {
    let c = cache(Duration::ZERO);
    let task = c.spawn_refresher();
    settle().await;
    assert_eq!(calls(&c), 1, "the refresher fetches at start");
    assert_eq!(*c.get().await.unwrap(), 1);

    tokio::time::sleep(policy().ttl.mul_f64(REFRESH_AHEAD) + Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(calls(&c), 2, "refreshed at {REFRESH_AHEAD} of the TTL");
    assert!(matches!(c.lookup(), Lookup::Fresh(v) if *v == 2));
    assert_eq!(
        c.stats.misses.load(Ordering::Relaxed),
        0,
        "no caller waited"
    );
    assert_eq!(c.stats.stale_serves.load(Ordering::Relaxed), 0);
    assert_eq!(c.state().last_trigger, Some(Trigger::Ttl));
    drop(c);
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("the refresher ends when its cache is dropped")
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn outage_serves_stale_and_no_request_waits() {
    let c = cache(Duration::from_secs(10)); // every fetch takes the full 10 s
    let _task = c.spawn_refresher();
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(calls(&c), 1);
    c.fetcher().fail.store(true, Ordering::SeqCst);
    let misses_before = c.stats.misses.load(Ordering::Relaxed);

    // One request a second for 30 minutes of outage.
    let mut served_stale = 0;
    for _ in 0..1800 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let started = Instant::now();
        match c.lookup() {
            Lookup::Fresh(_) => {}
            Lookup::Stale(_) => served_stale += 1,
            Lookup::Unavailable(u) => panic!("nothing served: {u:?}"),
        }
        assert_eq!(Instant::now(), started, "a request waited");
    }
    assert!(served_stale > 1000, "{served_stale}");
    assert_eq!(c.stats.misses.load(Ordering::Relaxed), misses_before);
    // Attempts follow the backoff (2, 4, 8, … capped at 60 s), not the request rate.
    let attempts = calls(&c) - 1;
    assert!(attempts <= 45, "{attempts} attempts in 30 minutes");
    assert!(attempts >= 20, "{attempts}: the refresher keeps retrying");
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_and_caps() {
    let c = cache(Duration::ZERO);
    let _task = c.spawn_refresher();
    settle().await;
    c.fetcher().fail.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1200)).await;
    let times = c.fetcher().times.lock().unwrap().clone();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // gap[0] is the TTL refresh; then retries after failures 1, 2, 3, …
    let p = policy();
    for (i, gap) in gaps.iter().enumerate().skip(1) {
        let base = p
            .retry_min
            .saturating_mul(1 << (i - 1).min(20))
            .min(p.retry_max);
        assert!(
            *gap >= (base / 2).max(p.retry_min) && *gap <= base,
            "retry {i}: gap {gap:?} outside [{:?}, {base:?}]",
            base / 2
        );
    }
    assert!(
        gaps.iter().any(|g| *g > Duration::from_secs(29)),
        "reaches the cap region"
    );
    assert!(gaps.iter().all(|g| *g <= p.ttl), "{gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn stale_expires_after_max_stale() {
    let c = cache(Duration::ZERO);
    c.get().await.unwrap();
    c.fetcher().fail.store(true, Ordering::SeqCst);
    let p = policy();
    tokio::time::sleep(p.ttl + Duration::from_secs(1)).await;
    assert!(matches!(c.lookup(), Lookup::Stale(_)));
    tokio::time::sleep(p.max_stale).await;
    assert!(matches!(c.lookup(), Lookup::Unavailable(_)));
    // With nothing servable and no backoff pending, a caller tries once.
    let err = c.get().await.unwrap_err();
    assert_eq!(err.error.unwrap().reason(), "connect");
    assert_eq!(calls(&c), 2);
    assert!(c.get().await.is_err());
    assert_eq!(calls(&c), 2, "backoff holds the next caller");
}

#[tokio::test(start_paused = true)]
async fn forced_refresh_bypasses_ttl_and_backoff() {
    let c = cache(Duration::ZERO);
    c.get().await.unwrap();
    assert_eq!(*c.refresh(Trigger::Forced).await.unwrap(), 2);
    c.fetcher().fail.store(true, Ordering::SeqCst);
    assert!(c.refresh(Trigger::Forced).await.is_err());
    assert!(c.state().retry_at.is_some());
    c.fetcher().fail.store(false, Ordering::SeqCst);
    assert_eq!(*c.refresh(Trigger::Forced).await.unwrap(), 4);
    assert_eq!(c.state().failures, 0);
    assert_eq!(c.state().retry_at, None);
}

#[tokio::test(start_paused = true)]
async fn forced_refresh_joins_a_fetch_in_flight() {
    let c = cache(Duration::from_secs(5));
    let first = {
        let c = c.clone();
        tokio::spawn(async move { c.refresh(Trigger::Ttl).await })
    };
    settle().await;
    let forced = c.refresh(Trigger::Forced).await.unwrap();
    assert_eq!(*forced, 1);
    assert_eq!(*first.await.unwrap().unwrap(), 1);
    assert_eq!(calls(&c), 1);
}

#[test]
fn backoff_bounds() {
    let p = policy();
    for _ in 0..100 {
        assert_eq!(p.backoff(1), p.retry_min);
        let d = p.backoff(3);
        assert!(
            d >= Duration::from_secs(4) && d <= Duration::from_secs(8),
            "{d:?}"
        );
        assert!(p.backoff(40) <= p.retry_max && p.backoff(40) >= p.retry_max / 2);
        assert!(p.backoff(u32::MAX) <= p.retry_max);
    }
}
