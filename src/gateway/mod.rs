//! The public listener: what MCP clients talk to.
//!
//! - `GET|HEAD|OPTIONS /.well-known/oauth-protected-resource<path>`: RFC 9728
//!   metadata, and the root form when unambiguous (`metadata`);
//! - `/.well-known/oauth-authorization-server`, `/.well-known/openid-configuration`:
//!   the authorization server metadata mirror for 2025-03-26-era clients,
//!   when exactly one resource opts in (`legacy_as_metadata`);
//! - each resource's MCP endpoint: checked ([`mcp`]), then forwarded
//!   ([`crate::proxy`]); every way a request is refused is one [`Denial`];
//! - `GET /healthz`;
//! - everything else: 404 JSON.

mod denial;
pub mod mcp;
mod metadata;

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;

pub use denial::Denial;

use crate::server::reply::{json, not_found};
use crate::server::{Request, Routed, Router};
use crate::state::App;

/// The public listener's router.
pub struct Public {
    pub app: Arc<App>,
}

impl Router for Public {
    const LISTENER: &'static str = "public";

    async fn route(&self, request: Request) -> Routed {
        let app = &self.app;
        let snapshot = app.snapshot();
        let path = request.path.as_str();
        let (route, response) = if let Some(resource) = snapshot.resource_for_endpoint(path) {
            let resource = resource.clone();
            ("mcp", mcp::handle(app, &snapshot, &resource, request).await)
        } else if path == "/healthz" {
            (
                "healthz",
                json(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}")),
            )
        } else if path.starts_with(crate::oauth::prm::WELL_KNOWN)
            && let Some(resource) = snapshot.resource_for_prm(path)
        {
            (
                "prm",
                metadata::protected_resource(&request.method, resource).await,
            )
        } else if matches!(
            path,
            "/.well-known/oauth-authorization-server" | "/.well-known/openid-configuration"
        ) && let Some(resource) = snapshot.legacy_metadata_resource()
        {
            (
                "as_metadata",
                metadata::authorization_server(&request.method, resource).await,
            )
        } else {
            ("not_found", not_found())
        };
        Routed { route, response }
    }
}
