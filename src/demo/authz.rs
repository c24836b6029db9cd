//! A small authorization server for the demo and the test suite.
//!
//! **Demo only**: it refuses to bind anything but loopback. It serves RFC 8414
//! and OpenID Connect discovery (at every well-known location the MCP
//! specification has clients try), a JWKS built from signing keys it
//! generates at runtime ([`KeyKind`]), a `client_credentials` token endpoint
//! issuing RFC 9068 JWT access tokens, and can be told to misbehave in each
//! way a real authorization server does ([`Behaviour`]), so the daemon's
//! tests exercise real HTTP against it. Tests mint tokens directly too
//! ([`AuthServer::access_token`], [`AuthServer::sign`]), including malformed
//! and hostile ones.

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes};
use futures_util::Stream;
use serde_json::{Value, json};
use tokio::sync::watch;
use warp::Filter;
use warp::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use super::support::{BodyError, bind_loopback, random_id, read_body};

mod catalog;
mod keys;
mod token_endpoint;

pub use catalog::cloud_catalog;

pub use keys::KeyKind;
use keys::{SigningKey, SigningKeys};

/// Lifetime of the access tokens this server issues and mints.
const TOKEN_TTL_SECS: u64 = 300;
/// A token request is a short form; anything bigger is refused.
const TOKEN_BODY_LIMIT: usize = 64 * 1024;

/// How the server answers discovery and JWKS requests. The token endpoint
/// ignores it: it always answers normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    Normal,
    /// Accept the request and never answer.
    Hang,
    /// Answer after this delay.
    Slow(Duration),
    /// Answer with this HTTP status and a small body.
    Status(u16),
    /// Redirect to itself forever.
    RedirectLoop,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with valid JSON of the wrong shape.
    WrongShape,
    /// 200 with a 5 MiB JSON body.
    Huge,
    /// A discovery document naming another issuer.
    WrongIssuer,
    /// A discovery document without `jwks_uri`.
    NoJwksUri,
}

/// Start-up options.
#[derive(Clone)]
pub struct Options {
    /// Issuer path, e.g. `/v1/oauth2/console` (empty: none).
    pub issuer_path: String,
    pub catalog: Vec<String>,
    /// Serve `/.well-known/oauth-authorization-server…` (else only the OIDC
    /// locations, to exercise the discovery fallback order).
    pub oauth_metadata: bool,
    pub port: u16,
    /// Signing keys generated at start, oldest first (the last is the default).
    pub initial_keys: Vec<KeyKind>,
    /// The one client the token endpoint knows.
    pub client_id: String,
    /// Its secret; random by default.
    pub client_secret: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            issuer_path: String::new(),
            catalog: cloud_catalog(),
            oauth_metadata: true,
            port: 0,
            initial_keys: vec![KeyKind::Rs256],
            client_id: "demo-client".into(),
            client_secret: random_id(),
        }
    }
}

/// Keeps the client secret out of `Debug` output.
impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("issuer_path", &self.issuer_path)
            .field("catalog", &format_args!("[{} scopes]", self.catalog.len()))
            .field("oauth_metadata", &self.oauth_metadata)
            .field("port", &self.port)
            .field("initial_keys", &self.initial_keys)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

struct State {
    issuer: String,
    options: Options,
    catalog: RwLock<Vec<String>>,
    behaviour: RwLock<Behaviour>,
    /// Every key generated so far; the JWKS publishes the published ones.
    keys: RwLock<SigningKeys>,
    /// Numbers kids across kinds, so each kid names one key forever.
    key_serial: AtomicU64,
    /// A test-supplied JWKS document that replaces the generated one.
    jwks_override: RwLock<Option<Value>>,
    discovery_requests: AtomicU64,
    jwks_requests: AtomicU64,
    token_requests: AtomicU64,
}

impl State {
    /// Generates a key outside the lock (RSA takes a while) and publishes it.
    fn add_key(&self, kind: KeyKind) -> String {
        let serial = self.key_serial.fetch_add(1, Ordering::SeqCst) + 1;
        let key = SigningKey::generate(kind, serial);
        let kid = key.kid.clone();
        self.keys.write().expect("lock").insert(key);
        kid
    }

    fn jwks(&self) -> Value {
        match &*self.jwks_override.read().expect("lock") {
            Some(jwks) => jwks.clone(),
            None => self.keys.read().expect("lock").jwks(),
        }
    }

    /// RFC 9068 §2.2 claims for `aud` = `resource`.
    fn claims(&self, sub: &str, client_id: &str, resource: &str, scope: &str) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        json!({
            "iss": self.issuer,
            "aud": resource,
            "sub": sub,
            "client_id": client_id,
            "scope": scope,
            "iat": now,
            "exp": now + TOKEN_TTL_SECS,
            "jti": random_id(),
        })
    }
}

/// A running demo authorization server; stops when dropped.
pub struct AuthServer {
    pub addr: SocketAddr,
    pub issuer: String,
    state: Arc<State>,
    _stop: watch::Sender<()>,
}

impl AuthServer {
    /// Starts on `127.0.0.1:<options.port>` with `options.initial_keys`.
    pub async fn start(options: Options) -> std::io::Result<AuthServer> {
        let listener = bind_loopback(options.port, "the demo authorization server").await?;
        let addr = listener.local_addr()?;
        let issuer = format!("http://{addr}{}", options.issuer_path);
        let state = Arc::new(State {
            issuer: issuer.clone(),
            catalog: RwLock::new(options.catalog.clone()),
            behaviour: RwLock::new(Behaviour::Normal),
            keys: RwLock::new(SigningKeys::default()),
            key_serial: AtomicU64::new(0),
            jwks_override: RwLock::new(None),
            discovery_requests: AtomicU64::new(0),
            jwks_requests: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
            options,
        });
        for kind in state.options.initial_keys.clone() {
            state.add_key(kind);
        }
        let (stop, mut stopped) = watch::channel(());
        let routes = routes(state.clone());
        tokio::spawn(
            warp::serve(routes)
                .incoming(listener)
                .graceful(async move {
                    let _ = stopped.changed().await;
                })
                .run(),
        );
        Ok(AuthServer {
            addr,
            issuer,
            state,
            _stop: stop,
        })
    }

    pub fn set_catalog(&self, catalog: Vec<String>) {
        *self.state.catalog.write().expect("lock") = catalog;
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.state.behaviour.write().expect("lock") = behaviour;
    }

    /// Publishes `jwks` instead of the generated key set, until
    /// [`clear_jwks_override`](Self::clear_jwks_override).
    pub fn set_jwks(&self, jwks: Value) {
        *self.state.jwks_override.write().expect("lock") = Some(jwks);
    }

    /// Publishes the generated key set again.
    pub fn clear_jwks_override(&self) {
        *self.state.jwks_override.write().expect("lock") = None;
    }

    /// Generates a key, publishes it at once and makes it the default.
    /// Returns its kid. (RSA generation blocks for tens of milliseconds.)
    pub fn add_key(&self, kind: KeyKind) -> String {
        self.state.add_key(kind)
    }

    /// Stops publishing `kid`. The key itself is kept, so tests can still
    /// [`sign`](Self::sign) with it: a retired key's token must be refused.
    pub fn remove_key(&self, kid: &str) {
        self.state.keys.write().expect("lock").unpublish(kid);
    }

    /// The published kids, oldest first.
    pub fn kids(&self) -> Vec<String> {
        self.state.keys.read().expect("lock").published_kids()
    }

    /// The newest published key.
    ///
    /// # Panics
    /// When every key was removed (a test bug).
    pub fn default_kid(&self) -> String {
        self.state
            .keys
            .read()
            .expect("lock")
            .newest()
            .expect("the demo authorization server has no published key")
            .kid
            .clone()
    }

    /// A compact JWS over `claims`, signed by `kid` with its algorithm. The
    /// header is `{alg, typ: "at+jwt", kid}` with each field of
    /// `header_extra` replacing the default (`null` removes it), so tests can
    /// forge lying `alg`s, missing `typ`s or foreign kids.
    ///
    /// # Panics
    /// When this server never generated `kid`.
    pub fn sign(&self, kid: &str, header_extra: Value, claims: Value) -> String {
        self.key(kid).sign(&header_extra, &claims)
    }

    /// `claims` signed by the default key with the default header.
    pub fn mint(&self, claims: Value) -> String {
        self.sign(&self.default_kid(), Value::Null, claims)
    }

    /// A valid RFC 9068 access token for `resource` with `scope`
    /// (`sub` = `user-1`, `client_id` = the configured client, 300 s).
    pub fn access_token(&self, resource: &str, scope: &str) -> String {
        let claims = self
            .state
            .claims("user-1", &self.state.options.client_id, resource, scope);
        self.mint(claims)
    }

    /// The public key of `kid` as PEM SPKI: the "secret" of an HS256
    /// key-confusion attack.
    ///
    /// # Panics
    /// When this server never generated `kid`.
    pub fn public_key_pem(&self, kid: &str) -> String {
        self.key(kid).public_key_pem()
    }

    /// The public JWK of `kid`, published or not.
    ///
    /// # Panics
    /// When this server never generated `kid`.
    pub fn public_jwk(&self, kid: &str) -> Value {
        self.key(kid).public_jwk()
    }

    fn key(&self, kid: &str) -> Arc<SigningKey> {
        self.state
            .keys
            .read()
            .expect("lock")
            .get(kid)
            .unwrap_or_else(|| panic!("the demo authorization server has no key `{kid}`"))
    }

    /// The token endpoint's client secret.
    pub fn client_secret(&self) -> &str {
        &self.state.options.client_secret
    }

    /// Discovery requests received (at any well-known location).
    pub fn discovery_requests(&self) -> u64 {
        self.state.discovery_requests.load(Ordering::SeqCst)
    }

    pub fn jwks_requests(&self) -> u64 {
        self.state.jwks_requests.load(Ordering::SeqCst)
    }

    /// Requests to the token endpoint, successful or not.
    pub fn token_requests(&self) -> u64 {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }
}

fn routes(
    state: Arc<State>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone + Send + Sync + 'static
{
    warp::method()
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            move |method: Method, path: warp::path::FullPath, headers: HeaderMap, body| {
                let state = state.clone();
                async move {
                    let p = &state.options.issuer_path;
                    if path.as_str() == format!("{p}/token") {
                        token_endpoint(&state, &method, &headers, body).await
                    } else {
                        answer(&state, path.as_str()).await
                    }
                }
            },
        )
        .recover(|_| async {
            // Only `warp::body::stream` rejects, and only if the body was taken.
            Ok::<_, Infallible>(reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "{\"error\":\"server_error\"}".into(),
            ))
        })
        .unify()
}

/// `POST <issuer>/token`: the client credentials grant, see [`token`].
async fn token_endpoint<S, B>(
    state: &State,
    method: &Method,
    headers: &HeaderMap,
    body: S,
) -> warp::reply::Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    state.token_requests.fetch_add(1, Ordering::SeqCst);
    if method != Method::POST {
        let mut r = token_endpoint::TokenError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            error: "invalid_request",
            description: "the token endpoint takes POST".into(),
        }
        .into_response();
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let body = match read_body(body, TOKEN_BODY_LIMIT).await {
        Ok(body) => body,
        Err(e) => {
            let (status, description) = match e {
                BodyError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "the form is too large"),
                BodyError::Read => (StatusCode::BAD_REQUEST, "the body could not be read"),
            };
            return token_endpoint::TokenError {
                status,
                error: "invalid_request",
                description: description.into(),
            }
            .into_response();
        }
    };
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let client = token_endpoint::Client {
        id: &state.options.client_id,
        secret: &state.options.client_secret,
    };
    let catalog = state.catalog.read().expect("lock").clone();
    let grant = match token_endpoint::check(
        text(header::CONTENT_TYPE),
        text(header::AUTHORIZATION),
        &body,
        &client,
        &catalog,
    ) {
        Ok(grant) => grant,
        Err(e) => return e.into_response(),
    };
    let Some(key) = state.keys.read().expect("lock").newest() else {
        return token_endpoint::TokenError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "no signing key is published".into(),
        }
        .into_response();
    };
    // RFC 9068 §2.2: without a resource owner, `sub` names the client.
    let claims = state.claims(
        &grant.client_id,
        &grant.client_id,
        &grant.resource,
        &grant.scope,
    );
    let body = json!({
        "access_token": key.sign(&Value::Null, &claims),
        "token_type": "Bearer",
        "expires_in": TOKEN_TTL_SECS,
        "scope": grant.scope,
    });
    let mut r = reply(StatusCode::OK, body.to_string().into());
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn answer(state: &State, path: &str) -> warp::reply::Response {
    let p = &state.options.issuer_path;
    let mut discovery = vec![
        format!("/.well-known/openid-configuration{p}"),
        format!("{p}/.well-known/openid-configuration"),
    ];
    if state.options.oauth_metadata {
        discovery.push(format!("/.well-known/oauth-authorization-server{p}"));
    }
    let document = if discovery.iter().any(|d| d == path) {
        state.discovery_requests.fetch_add(1, Ordering::SeqCst);
        discovery_document(state)
    } else if path == format!("{p}/jwks") {
        state.jwks_requests.fetch_add(1, Ordering::SeqCst);
        state.jwks()
    } else {
        return reply(StatusCode::NOT_FOUND, "{\"error\":\"not_found\"}".into());
    };
    let behaviour = state.behaviour.read().expect("lock").clone();
    match behaviour {
        Behaviour::Normal | Behaviour::WrongIssuer | Behaviour::NoJwksUri => {
            reply(StatusCode::OK, document.to_string().into())
        }
        Behaviour::Hang => std::future::pending().await,
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            reply(StatusCode::OK, document.to_string().into())
        }
        Behaviour::Status(code) => reply(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "{\"error\":\"server_error\"}".into(),
        ),
        Behaviour::RedirectLoop => {
            let mut r = reply(StatusCode::FOUND, Bytes::new());
            r.headers_mut().insert(
                header::LOCATION,
                path.parse().expect("a request path is a valid header"),
            );
            r
        }
        Behaviour::Garbage => reply(StatusCode::OK, "<html>maintenance</html>".into()),
        Behaviour::WrongShape => reply(StatusCode::OK, "[\"issuer\", \"jwks_uri\"]".into()),
        Behaviour::Huge => {
            let padding = "x".repeat(5 * 1024 * 1024);
            reply(
                StatusCode::OK,
                json!({ "padding": padding }).to_string().into(),
            )
        }
    }
}

fn discovery_document(state: &State) -> Value {
    let behaviour = state.behaviour.read().expect("lock").clone();
    let issuer = if behaviour == Behaviour::WrongIssuer {
        format!("{}/other", state.issuer)
    } else {
        state.issuer.clone()
    };
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{}/auth", state.issuer),
        "token_endpoint": format!("{}/token", state.issuer),
        "jwks_uri": format!("{}/jwks", state.issuer),
        "scopes_supported": *state.catalog.read().expect("lock"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    });
    if behaviour == Behaviour::NoJwksUri {
        doc.as_object_mut().expect("object").remove("jwks_uri");
    }
    doc
}

fn reply(status: StatusCode, body: Bytes) -> warp::reply::Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/json".parse().expect("static"),
    );
    r
}

#[cfg(test)]
mod tests;
