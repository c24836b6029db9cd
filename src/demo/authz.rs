//! A small authorization server for the demo and the test suite.
//!
//! **Demo only**: it refuses to bind anything but loopback. It serves RFC 8414
//! and OpenID Connect discovery (at every well-known location the MCP
//! specification has clients try), a JWKS, and can be told to misbehave in
//! each way a real authorization server does ([`Behaviour`]), so the daemon's
//! tests exercise real HTTP against it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::watch;
use warp::Filter;
use warp::http::{Response, StatusCode, header};

/// How the server answers discovery and JWKS requests.
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
#[derive(Debug, Clone)]
pub struct Options {
    /// Issuer path, e.g. `/v1/oauth2/console` (empty: none).
    pub issuer_path: String,
    pub catalog: Vec<String>,
    /// Serve `/.well-known/oauth-authorization-server…` (else only the OIDC
    /// locations, to exercise the discovery fallback order).
    pub oauth_metadata: bool,
    pub port: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            issuer_path: String::new(),
            catalog: cloud_catalog(),
            oauth_metadata: true,
            port: 0,
        }
    }
}

/// The scope catalog of a reworked cloud authorization server: OIDC scopes,
/// the umbrella scopes `all project:all organization:all`, and 120
/// fine-grained `project:*` / `organization:*` scopes (127 in all).
pub fn cloud_catalog() -> Vec<String> {
    const PROJECT: [&str; 40] = [
        "databases",
        "collections",
        "documents",
        "attributes",
        "indexes",
        "buckets",
        "files",
        "functions",
        "executions",
        "deployments",
        "variables",
        "sites",
        "users",
        "sessions",
        "teams",
        "memberships",
        "messages",
        "topics",
        "subscribers",
        "providers",
        "targets",
        "keys",
        "platforms",
        "webhooks",
        "domains",
        "rules",
        "migrations",
        "backups",
        "policies",
        "tokens",
        "avatars",
        "locale",
        "health",
        "logs",
        "usage",
        "realtime",
        "tables",
        "rows",
        "columns",
        "transactions",
    ];
    const ORGANIZATION: [&str; 20] = [
        "projects",
        "members",
        "invites",
        "billing",
        "invoices",
        "payments",
        "addresses",
        "credits",
        "plans",
        "usage",
        "roles",
        "keys",
        "domains",
        "audit",
        "support",
        "settings",
        "identity",
        "backups",
        "alerts",
        "budgets",
    ];
    let mut catalog: Vec<String> = [
        "openid",
        "profile",
        "email",
        "offline_access",
        "all",
        "project:all",
        "organization:all",
    ]
    .map(String::from)
    .to_vec();
    for (prefix, names) in [
        ("project", &PROJECT[..]),
        ("organization", &ORGANIZATION[..]),
    ] {
        for name in names {
            for access in ["read", "write"] {
                catalog.push(format!("{prefix}:{name}.{access}"));
            }
        }
    }
    catalog
}

struct State {
    issuer: String,
    options: Options,
    catalog: RwLock<Vec<String>>,
    behaviour: RwLock<Behaviour>,
    jwks: RwLock<Value>,
    discovery_requests: AtomicU64,
    jwks_requests: AtomicU64,
}

/// A running demo authorization server; stops when dropped.
pub struct AuthServer {
    pub addr: SocketAddr,
    pub issuer: String,
    state: Arc<State>,
    _stop: watch::Sender<()>,
}

impl AuthServer {
    /// Starts on `127.0.0.1:<options.port>`.
    pub async fn start(options: Options) -> std::io::Result<AuthServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::other(
                "the demo authorization server binds loopback only",
            ));
        }
        let issuer = format!("http://{addr}{}", options.issuer_path);
        let state = Arc::new(State {
            issuer: issuer.clone(),
            catalog: RwLock::new(options.catalog.clone()),
            options,
            behaviour: RwLock::new(Behaviour::Normal),
            jwks: RwLock::new(json!({ "keys": [] })),
            discovery_requests: AtomicU64::new(0),
            jwks_requests: AtomicU64::new(0),
        });
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

    /// Replaces the published JWKS document.
    pub fn set_jwks(&self, jwks: Value) {
        *self.state.jwks.write().expect("lock") = jwks;
    }

    /// Discovery requests received (at any well-known location).
    pub fn discovery_requests(&self) -> u64 {
        self.state.discovery_requests.load(Ordering::SeqCst)
    }

    pub fn jwks_requests(&self) -> u64 {
        self.state.jwks_requests.load(Ordering::SeqCst)
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer)
    }
}

fn routes(
    state: Arc<State>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone + Send + Sync + 'static
{
    warp::path::full().then(move |path: warp::path::FullPath| {
        let state = state.clone();
        async move { answer(&state, path.as_str()).await }
    })
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
        state.jwks.read().expect("lock").clone()
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
