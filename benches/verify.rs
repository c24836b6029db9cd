//! Bearer-token verification benchmarks (criterion), through the public
//! [`Verifier::verify`] API against a demo authorization server on loopback.
//!
//! The setup mirrors `app::Runtime::new`: a discovery cache and a JWKS cache,
//! each with its background refresher, feed one [`Verifier`]. Both caches are
//! warmed before anything is measured, so no figure includes HTTP.
//!
//! What the names mean (see BENCHMARKS.md for the figures):
//! - `cached`: the same token again, with the same settings: SHA-256 of the
//!   token, one verdict-cache hit.
//! - `uncached`: `Verifier::verify` when the verdict cache cannot answer.
//!   Every call passes a new `settings` value (as after a config reload), so
//!   the stored verdict belongs to other settings and the signature and claims
//!   are checked again; the rest of the request path (key-set lookup, SHA-256,
//!   verdict-cache get and insert) is included.
//! - `cold_pure`: only `token::parse`, the `kid` lookup,
//!   `token::verify_signature` and `token::check_claims`: the floor for a
//!   token seen for the first time, with no cache around it.
//!
//! Why not cycle through more distinct tokens than the verdict cache holds?
//! It would need more than 10,000 RSA signatures before the first
//! measurement, and it does not guarantee misses: moka admits new entries by
//! estimated frequency (TinyLFU), so part of a cyclic pool stays resident and
//! is served from the cache.
//!
//! Tokens live an hour (the demo's `access_token` gives 300 s, shorter than a
//! full run) and the caches' TTL is a day: a JWKS refresh mid-run would start
//! a new key generation and silently turn cached figures into uncached ones.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use mcp_warden::config::{self, IssuerSource, Scopes};
use mcp_warden::demo::authz::{AuthServer, KeyKind, Options};
use mcp_warden::issuer::cache::{self, Cache, Lookup};
use mcp_warden::issuer::discovery::DiscoveryFetcher;
use mcp_warden::issuer::jwks::JwksFetcher;
use mcp_warden::issuer::verifier::{Outcome, TOKEN_CACHE_CAPACITY, Verifier, unix_now};
use mcp_warden::oauth::token::{self, Expectations, Rejection};

/// The protected resource the tokens are minted for.
const RESOURCE: &str = "https://mcp.example.com/mcp";
/// Token lifetime: longer than a whole `cargo bench` run.
const TOKEN_LIFETIME_SECS: u64 = 3600;

/// A demo authorization server and a warm verifier in front of it.
struct Fixture {
    rt: Runtime,
    auth: AuthServer,
    verifier: Verifier,
    /// The resource identifier in both slash forms, as `app` builds them.
    audiences: Vec<String>,
    /// Keys that sign but are not in the JWKS.
    unpublished: Vec<String>,
    /// The default `[resource.token]` settings.
    settings: config::Token,
    /// Distinct `settings` values for the uncached figures.
    next_settings: AtomicU64,
}

impl Fixture {
    /// Starts an authorization server with `keys`, unpublishes the
    /// `unpublished` newest of them (they still sign: forged-token cases),
    /// and warms a verifier on its discovery document and JWKS.
    fn new(keys: Vec<KeyKind>, unpublished: usize) -> Fixture {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let (auth, verifier, unpublished) = rt.block_on(async {
            let auth = AuthServer::start(Options {
                initial_keys: keys,
                ..Options::default()
            })
            .await
            .expect("the demo authorization server starts on loopback");
            let removed: Vec<String> = auth.kids().into_iter().rev().take(unpublished).collect();
            for kid in &removed {
                auth.remove_key(kid);
            }
            let verifier = warm_verifier(&auth).await;
            (auth, verifier, removed)
        });
        Fixture {
            rt,
            auth,
            verifier,
            unpublished,
            audiences: vec![RESOURCE.to_owned(), format!("{RESOURCE}/")],
            settings: config::Token::default(),
            next_settings: AtomicU64::new(1),
        }
    }

    fn want(&self) -> Expectations<'_> {
        Expectations {
            issuer: &self.auth.issuer,
            audiences: &self.audiences,
            algorithms: &self.settings.algorithms,
            leeway: self.settings.leeway,
            require_typ: self.settings.require_typ,
        }
    }

    /// An RFC 9068 access token signed by `kid`, shaped like the demo
    /// server's own (`jti` makes each one distinct).
    fn token(&self, kid: &str, jti: usize) -> String {
        self.sign(kid, Value::Null, jti)
    }

    fn sign(&self, kid: &str, header_extra: Value, jti: usize) -> String {
        let now = unix_now();
        let claims = json!({
            "iss": self.auth.issuer,
            "aud": RESOURCE,
            "sub": "user-1",
            "client_id": "demo-client",
            "scope": "openid all project:all",
            "iat": now,
            "exp": now + TOKEN_LIFETIME_SECS,
            "jti": format!("{jti:032x}"),
        });
        self.auth.sign(kid, header_extra, claims)
    }

    /// `Verifier::verify` once, on the fixture's runtime.
    fn verify(&self, token: &str, settings: u64) -> Outcome {
        self.rt
            .block_on(self.verifier.verify(token, &self.want(), settings))
    }

    /// Benchmarks `Verifier::verify` with a new `settings` value per call,
    /// so the verdict cache never answers; each outcome must be `expected`.
    fn bench_uncached(
        &self,
        b: &mut criterion::Bencher<'_>,
        token: &str,
        expected: fn(&Outcome) -> bool,
    ) {
        let want = self.want();
        let (verifier, want, next) = (&self.verifier, &want, &self.next_settings);
        b.to_async(&self.rt).iter(|| {
            let settings = next.fetch_add(1, Ordering::Relaxed);
            async move {
                let outcome = verifier.verify(black_box(token), want, settings).await;
                assert!(expected(&outcome), "unexpected outcome: {outcome:?}");
                outcome
            }
        });
    }

    /// Benchmarks `Verifier::verify` on `tokens` in turn, each of which must
    /// be answered from the verdict cache.
    fn bench_cached(&self, b: &mut criterion::Bencher<'_>, tokens: &[String]) {
        let want = self.want();
        let (verifier, want) = (&self.verifier, &want);
        let mut i = 0;
        b.to_async(&self.rt).iter(|| {
            let token = tokens[i].as_str();
            i = (i + 1) % tokens.len();
            async move {
                let outcome = verifier.verify(black_box(token), want, 0).await;
                assert!(is_cached(&outcome), "not a cache hit: {outcome:?}");
                outcome
            }
        });
    }

    /// Benchmarks the pure rules alone: parse, key by `kid`, signature,
    /// claims.
    fn bench_cold_pure(&self, b: &mut criterion::Bencher<'_>, token: &str) {
        let keys = match self.verifier.jwks.lookup() {
            Lookup::Fresh(keys) => keys,
            other => panic!("the JWKS cache is warm: {other:?}"),
        };
        let want = self.want();
        b.iter(|| {
            let parsed = token::parse(black_box(token), want.algorithms).expect("parses");
            let kid = parsed.header.kid.as_deref().expect("the demo sets kid");
            let key = keys.by_kid(kid).expect("a published kid");
            token::verify_signature(&parsed, key).expect("the signature verifies");
            token::check_claims(&parsed, &want, unix_now()).expect("the claims are valid")
        });
    }
}

/// The discovery and JWKS caches as `app::Runtime::new` builds them (with a
/// one-day TTL, see the module docs), loaded once.
async fn warm_verifier(auth: &AuthServer) -> Verifier {
    let defaults = config::CacheSettings::default();
    let policy = cache::Policy {
        ttl: Duration::from_secs(24 * 3600),
        ..cache::Policy::from(&defaults)
    };
    let client = mcp_warden::issuer::fetch::client(defaults.fetch_timeout);
    let discovery = Arc::new(Cache::new(
        DiscoveryFetcher {
            name: "bench".into(),
            source: IssuerSource::Issuer(auth.issuer.clone()),
            client: client.clone(),
            timeout: defaults.fetch_timeout,
            policy: Arc::new(ArcSwap::from_pointee(Scopes::default())),
        },
        policy,
    ));
    discovery.spawn_refresher();
    let jwks = Arc::new(Cache::new(
        JwksFetcher {
            name: "bench".into(),
            discovery: discovery.clone(),
            client,
            timeout: defaults.fetch_timeout,
        },
        policy,
    ));
    jwks.spawn_refresher();
    discovery.get().await.expect("discovery loads");
    jwks.get().await.expect("the JWKS loads");
    Verifier::new(jwks, discovery, defaults.jwks_cooldown)
}

fn is_cached(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Valid { cached: true, .. })
}

fn is_fresh(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Valid { cached: false, .. })
}

fn is_ambiguous_kidless(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Invalid(i) if i.kind == Rejection::UnknownKid)
}

/// RS256 cached, uncached and pure; ES256 and EdDSA uncached and pure. One
/// server publishes all three keys.
fn algorithms(c: &mut Criterion) {
    let f = Fixture::new(vec![KeyKind::Rs256, KeyKind::Es256, KeyKind::EdDsa], 0);
    let kids = f.auth.kids();
    let mut group = c.benchmark_group("verify");
    for (name, kid) in ["rs256", "es256", "eddsa"].into_iter().zip(&kids) {
        let token = f.token(kid, 0);
        if name == "rs256" {
            assert!(is_fresh(&f.verify(&token, 0)));
            group.bench_function("rs256/cached", |b| {
                f.bench_cached(b, std::slice::from_ref(&token))
            });
        }
        group.bench_function(format!("{name}/uncached"), |b| {
            f.bench_uncached(b, &token, is_fresh)
        });
        group.bench_function(format!("{name}/cold_pure"), |b| {
            f.bench_cold_pure(b, &token)
        });
    }
    group.finish();
}

/// Cached lookups with 1 and with 10,000 (the capacity) verdicts cached.
/// EdDSA tokens: 10,000 of them sign in well under a second.
fn cache_size(c: &mut Criterion) {
    let f = Fixture::new(vec![KeyKind::EdDsa], 0);
    let kid = f.auth.default_kid();
    let capacity = usize::try_from(TOKEN_CACHE_CAPACITY).expect("fits");
    let tokens: Vec<String> = (0..capacity).map(|jti| f.token(&kid, jti)).collect();
    let mut group = c.benchmark_group("cache_size");

    assert!(is_fresh(&f.verify(&tokens[0], 0)));
    assert_eq!(f.verifier.cached_tokens(), 1);
    group.bench_function("1_token", |b| f.bench_cached(b, &tokens[..1]));

    for token in &tokens[1..] {
        assert!(is_fresh(&f.verify(token, 0)));
    }
    assert_eq!(f.verifier.cached_tokens(), TOKEN_CACHE_CAPACITY);
    group.bench_function("10000_tokens/same_token", |b| {
        f.bench_cached(b, &tokens[..1])
    });
    group.bench_function("10000_tokens/cycling", |b| f.bench_cached(b, &tokens));
    group.finish();
}

/// Uncached RS256 with 1 and with 50 keys in the JWKS (token with `kid`),
/// and a forged token without `kid`: refused before any signature check,
/// because several keys could have signed it.
fn jwks_size(c: &mut Criterion) {
    let mut group = c.benchmark_group("jwks_size");
    let one = Fixture::new(vec![KeyKind::Rs256], 0);
    let token = one.token(&one.auth.default_kid(), 0);
    group.bench_function("1_key", |b| one.bench_uncached(b, &token, is_fresh));
    drop(one);

    // 51 keys, the newest unpublished: it signs the forged token.
    let fifty = Fixture::new(vec![KeyKind::Rs256; 51], 1);
    let kids = fifty.auth.kids();
    assert_eq!(kids.len(), 50);
    let token = fifty.token(&fifty.auth.default_kid(), 0);
    group.bench_function("50_keys", |b| fifty.bench_uncached(b, &token, is_fresh));

    let forged = fifty.sign(&fifty.unpublished[0], json!({ "kid": null }), 1);
    group.bench_function("50_keys/no_kid_forged", |b| {
        fifty.bench_uncached(b, &forged, is_ambiguous_kidless)
    });
    group.finish();
}

criterion_group!(benches, algorithms, cache_size, jwks_size);
criterion_main!(benches);
