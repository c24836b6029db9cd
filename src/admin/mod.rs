//! The admin listener: what operators look at and press. Its own address
//! (`[admin] listen`), never reachable through the public port.
//!
//! | route | auth | answer |
//! |---|---|---|
//! | `GET /metrics` | open | Prometheus text exposition |
//! | `GET /healthz` | open | 200 while the process runs |
//! | `GET /readyz` | open | 200 once every resource has servable metadata and keys; else 503 naming what is pending |
//! | `GET /status` | token | version, config, last reload, per-resource cache and policy state |
//! | `POST /refresh[?resource=NAME]` | token | forced discovery + JWKS refresh, waited for; 200 all ok, 502 any failed, 404 unknown name |
//! | `POST /reload` | token | re-read the config file now (same path as SIGHUP) |
//!
//! "token": with `admin.token_file`, `Authorization: Bearer <token>` compared
//! in constant time; without it (loopback only) the routes are open.
//!
//! The routes' answers are built in `status`.

mod status;

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use warp::reply::Response;

use crate::reload::{Outcome, Reloader, Trigger};
use crate::server::reply::{error_json, json, method_not_allowed, not_found, value};
use crate::server::{Request, Routed, Router};
use crate::state::{App, Snapshot};

/// The admin listener's router.
pub struct Admin {
    pub app: Arc<App>,
    pub reloader: Arc<Reloader>,
}

impl Router for Admin {
    const LISTENER: &'static str = "admin";

    async fn route(&self, request: Request) -> Routed {
        let (route, response) = handle(
            self,
            &request.method,
            &request.path,
            request.query.as_deref(),
            &request.headers,
        )
        .await;
        Routed { route, response }
    }
}

async fn handle(
    admin: &Admin,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> (&'static str, Response) {
    let app = &admin.app;
    let snapshot = app.snapshot();
    let (route, allowed, needs_token) = match path {
        "/metrics" => ("metrics", Method::GET, false),
        "/healthz" => ("healthz", Method::GET, false),
        "/readyz" => ("readyz", Method::GET, false),
        "/status" => ("status", Method::GET, true),
        "/refresh" => ("refresh", Method::POST, true),
        "/reload" => ("reload", Method::POST, true),
        _ => return ("not_found", not_found()),
    };
    if *method != allowed && !(allowed == Method::GET && *method == Method::HEAD) {
        let allow = if allowed == Method::GET {
            "GET"
        } else {
            "POST"
        };
        return (route, method_not_allowed(allow, "wrong method"));
    }
    if needs_token && !authorized(&snapshot, headers) {
        let mut r = error_json(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "admin token required",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"mcp-warden-admin\""),
        );
        return (route, r);
    }
    let response = match route {
        "metrics" => status::metrics(app, &snapshot),
        "healthz" => json(StatusCode::OK, "{\"status\":\"ok\"}".into()),
        "readyz" => status::readyz(&snapshot),
        "status" => value(StatusCode::OK, &status::status(admin, &snapshot)),
        "refresh" => status::refresh(app, &snapshot, query).await,
        _ => {
            let record = admin.reloader.reload(Trigger::Admin).await;
            let code = if record.result == Outcome::Rejected {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            value(code, &serde_json::to_value(record).expect("serializable"))
        }
    };
    (route, response)
}

fn authorized(snapshot: &Snapshot, headers: &HeaderMap) -> bool {
    let Some(token) = &snapshot.config.admin.token else {
        return true;
    };
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Some(presented) = value.as_bytes().strip_prefix(b"Bearer ") else {
        return false;
    };
    token.matches(presented)
}
