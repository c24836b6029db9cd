//! Bearer-token verification for one resource: the key set, the unknown-`kid`
//! refetch, and the verified-token cache around the pure rules of
//! [`crate::oauth::token`].
//!
//! - Keys come from the JWKS cache (same freshness rules as discovery). When
//!   the discovery document names a new `jwks_uri`, the key set is refreshed
//!   before it is used.
//! - **Unknown `kid`**: at most one refetch per `jwks_cooldown`, single-flight
//!   with any refresh in flight; a failed refetch uses up the window too. A
//!   flood of forged key ids therefore causes at most one fetch per cooldown.
//! - **Verified-token cache**: keyed by the SHA-256 of the token, bounded,
//!   each entry expiring no later than the token's `exp`; an entry is only
//!   trusted for the key-set generation and settings it was verified under,
//!   so a removed key stops validating tokens at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use tokio::time::Instant;

use crate::issuer::cache::{Cache, Lookup, Trigger, Unavailable};
use crate::issuer::discovery::DiscoveryFetcher;
use crate::issuer::jwks::{JwksFetcher, KeySet};
use crate::oauth::token::VerifyKey;
use crate::oauth::token::{self, Expectations, Invalid, Principal, Rejection};

/// Verified tokens kept per resource.
pub const TOKEN_CACHE_CAPACITY: u64 = 10_000;
/// Longest a verified token is trusted without re-checking its signature.
pub const TOKEN_CACHE_MAX_AGE: Duration = Duration::from_secs(600);

/// The result of verifying one bearer token.
#[derive(Debug)]
pub enum Outcome {
    Valid {
        principal: Arc<Principal>,
        cached: bool,
    },
    Invalid(Invalid),
    /// No keys could be loaded: answer 503, not 401.
    Unavailable(Unavailable),
}

#[derive(Debug)]
struct Verified {
    principal: Arc<Principal>,
    key_generation: u64,
    settings: u64,
}

struct ExpireAtExp;

impl moka::Expiry<[u8; 32], Arc<Verified>> for ExpireAtExp {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<Verified>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        let left = value.principal.exp.saturating_sub(unix_now());
        Some(Duration::from_secs(left).min(TOKEN_CACHE_MAX_AGE))
    }
}

/// Counters for status and metrics.
#[derive(Debug, Default)]
pub struct VerifierStats {
    pub cache_hits: AtomicU64,
    pub kid_refetches: AtomicU64,
}

pub struct Verifier {
    pub jwks: Arc<Cache<JwksFetcher>>,
    discovery: Arc<Cache<DiscoveryFetcher>>,
    tokens: moka::sync::Cache<[u8; 32], Arc<Verified>>,
    cooldown: Mutex<Duration>,
    last_kid_refetch: Mutex<Option<Instant>>,
    pub stats: VerifierStats,
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Verifier {
    pub fn new(
        jwks: Arc<Cache<JwksFetcher>>,
        discovery: Arc<Cache<DiscoveryFetcher>>,
        cooldown: Duration,
    ) -> Self {
        Verifier {
            jwks,
            discovery,
            tokens: moka::sync::Cache::builder()
                .max_capacity(TOKEN_CACHE_CAPACITY)
                .expire_after(ExpireAtExp)
                .build(),
            cooldown: Mutex::new(cooldown),
            last_kid_refetch: Mutex::new(None),
            stats: VerifierStats::default(),
        }
    }

    pub fn set_cooldown(&self, cooldown: Duration) {
        *self.cooldown.lock().expect("not poisoned") = cooldown;
    }

    /// Verified tokens currently cached.
    pub fn cached_tokens(&self) -> u64 {
        self.tokens.run_pending_tasks();
        self.tokens.entry_count()
    }

    /// The current key set, loading it (single-flight) if none is servable.
    async fn keys(&self) -> Result<Arc<KeySet>, Unavailable> {
        let keys = match self.jwks.lookup() {
            Lookup::Fresh(k) | Lookup::Stale(k) => k,
            Lookup::Unavailable(_) => self.jwks.get().await?,
        };
        // Follow a moved jwks_uri at once instead of at the next TTL refresh.
        let moved = self
            .discovery
            .state()
            .entry
            .as_ref()
            .is_some_and(|m| m.value.jwks_uri != keys.source);
        if moved && let Ok(fresh) = self.jwks.refresh(Trigger::Ttl).await {
            return Ok(fresh);
        }
        Ok(keys)
    }

    /// Verifies `token` for a resource. `settings` identifies the
    /// expectations (the config generation): cached verdicts from other
    /// settings are not reused.
    pub async fn verify(&self, token: &str, want: &Expectations<'_>, settings: u64) -> Outcome {
        let keys = match self.keys().await {
            Ok(k) => k,
            Err(u) => return Outcome::Unavailable(u),
        };
        let hash: [u8; 32] = digest::digest(&digest::SHA256, token.as_bytes())
            .as_ref()
            .try_into()
            .expect("SHA-256 is 32 bytes");
        if let Some(hit) = self.tokens.get(&hash)
            && hit.key_generation == keys.generation
            && hit.settings == settings
            && hit.principal.exp.saturating_add(want.leeway.as_secs()) > unix_now()
        {
            self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Outcome::Valid {
                principal: hit.principal.clone(),
                cached: true,
            };
        }
        match self.verify_uncached(token, want, keys).await {
            Ok((principal, key_generation)) => {
                let principal = Arc::new(principal);
                self.tokens.insert(
                    hash,
                    Arc::new(Verified {
                        principal: principal.clone(),
                        key_generation,
                        settings,
                    }),
                );
                Outcome::Valid {
                    principal,
                    cached: false,
                }
            }
            Err(invalid) => Outcome::Invalid(invalid),
        }
    }

    async fn verify_uncached(
        &self,
        token: &str,
        want: &Expectations<'_>,
        mut keys: Arc<KeySet>,
    ) -> Result<(Principal, u64), Invalid> {
        let parsed = token::parse(token, want.algorithms)?;
        let key: Arc<VerifyKey> = match &parsed.header.kid {
            Some(kid) => match keys.by_kid(kid) {
                Some(k) => k.clone(),
                None => {
                    keys = self.refetch_for_unknown_kid().await.unwrap_or(keys);
                    keys.by_kid(kid).cloned().ok_or(Invalid {
                        kind: Rejection::UnknownKid,
                        reason: "token signed by an unknown key",
                    })?
                }
            },
            None => {
                // No kid: only unambiguous with exactly one key that can
                // verify this algorithm. Trying several would let a forged
                // token cost one signature check per key.
                let mut fitting = keys
                    .keys
                    .iter()
                    .filter(|k| k.algorithms.contains(&parsed.algorithm));
                match (fitting.next(), fitting.next()) {
                    (Some(k), None) => k.clone(),
                    (None, _) => {
                        return Err(Invalid {
                            kind: Rejection::UnknownKid,
                            reason: "no key for the token's algorithm",
                        });
                    }
                    (Some(_), Some(_)) => {
                        return Err(Invalid {
                            kind: Rejection::UnknownKid,
                            reason: "token has no key id and several keys could sign it",
                        });
                    }
                }
            }
        };
        token::verify_signature(&parsed, &key)?;
        let principal = token::check_claims(&parsed, want, unix_now())?;
        Ok((principal, keys.generation))
    }

    /// One refetch per cooldown window; callers inside the window get `None`.
    async fn refetch_for_unknown_kid(&self) -> Option<Arc<KeySet>> {
        {
            let cooldown = *self.cooldown.lock().expect("not poisoned");
            let mut last = self.last_kid_refetch.lock().expect("not poisoned");
            let now = Instant::now();
            if last.is_some_and(|t| now.duration_since(t) < cooldown) {
                return None;
            }
            *last = Some(now);
        }
        self.stats.kid_refetches.fetch_add(1, Ordering::Relaxed);
        self.jwks.refresh(Trigger::KidMiss).await.ok()
    }
}
