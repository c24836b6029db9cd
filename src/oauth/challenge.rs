//! RFC 6750 §3 challenges, as MCP 2025-11-25 (authorization, "Protected
//! Resource Metadata Discovery" and "Scope Selection Strategy") wants them.
//!
//! Pure functions: given what went wrong, the status, the
//! `WWW-Authenticate` value and the JSON body. Every header value is built
//! from sanitized parts, so no catalog entry, token or claim can inject a
//! quote, backslash, CR or LF into a header.
//!
//! | situation | status | `error` |
//! |---|---|---|
//! | no credentials (RFC 6750 §3.1: then no error code) | 401 | none |
//! | bad, expired, wrong-audience, unknown-key token | 401 | `invalid_token` |
//! | malformed request (two Authorization headers, token in the query, bad syntax) | 400 | `invalid_request` |
//! | token lacks scopes the operation needs | 403 | `insufficient_scope` |
//!
//! Every challenge carries `resource_metadata` (RFC 9728 §5.1); the 401 also
//! carries the advertised `scope`, and the 403 exactly the scopes needed.

use serde::Serialize;

use crate::oauth::grammar::{is_scope_token, quoted_safe};
use crate::oauth::scopes::OFFLINE_ACCESS;

/// The RFC 6750 §3.1 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidToken,
    InsufficientScope,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest => 400,
            ErrorCode::InvalidToken => 401,
            ErrorCode::InsufficientScope => 403,
        }
    }
}

/// One challenge to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `None`: the request had no credentials (401 without an error code).
    pub error: Option<ErrorCode>,
    pub description: Option<String>,
    /// Scopes to put in `scope=`: the advertised set for a 401, exactly the
    /// needed scopes for a 403.
    pub scopes: Vec<String>,
    /// The resource's metadata URL.
    pub resource_metadata: String,
}

impl Challenge {
    pub fn status(&self) -> u16 {
        self.error.map_or(401, ErrorCode::status)
    }

    /// The `WWW-Authenticate` header value. Each auth-param appears at most
    /// once (RFC 6750 §3).
    pub fn www_authenticate(&self) -> String {
        let mut out = String::from("Bearer ");
        push_param(
            &mut out,
            "resource_metadata",
            &quoted_safe(&self.resource_metadata),
        );
        let scope = scope_param(&self.scopes);
        if !scope.is_empty() {
            push_param(&mut out, "scope", &scope);
        }
        if let Some(error) = self.error {
            push_param(&mut out, "error", error.as_str());
            if let Some(d) = &self.description {
                push_param(&mut out, "error_description", &quoted_safe(d));
            }
        }
        out
    }

    /// The JSON body: `{"error": …, "error_description": …}`.
    pub fn body(&self) -> String {
        let error = self.error.map_or("unauthorized", ErrorCode::as_str);
        let description = self
            .description
            .clone()
            .unwrap_or_else(|| "a bearer token is required".to_owned());
        serde_json::json!({ "error": error, "error_description": description }).to_string()
    }
}

fn push_param(out: &mut String, name: &str, value: &str) {
    if !out.ends_with(' ') {
        out.push_str(", ");
    }
    out.push_str(name);
    out.push_str("=\"");
    out.push_str(value);
    out.push('"');
}

/// Scopes joined by spaces: only valid scope tokens, never `offline_access`
/// (MCP 2026-07-28), no duplicates.
pub fn scope_param(scopes: &[String]) -> String {
    let mut seen = std::collections::HashSet::new();
    scopes
        .iter()
        .filter(|s| is_scope_token(s) && s.as_str() != OFFLINE_ACCESS && seen.insert(s.as_str()))
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(
        error: Option<ErrorCode>,
        description: Option<&str>,
        scopes: &[&str],
    ) -> Challenge {
        Challenge {
            error,
            description: description.map(str::to_owned),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            resource_metadata: "https://h/.well-known/oauth-protected-resource/mcp".into(),
        }
    }

    #[test]
    fn no_credentials_has_no_error_code() {
        let c = challenge(None, Some("ignored"), &["openid", "all"]);
        assert_eq!(c.status(), 401);
        assert_eq!(
            c.www_authenticate(),
            "Bearer resource_metadata=\"https://h/.well-known/oauth-protected-resource/mcp\", scope=\"openid all\""
        );
        assert!(c.body().contains("\"error\":\"unauthorized\""));
    }

    #[test]
    fn each_error_code_and_status() {
        let cases = [
            (ErrorCode::InvalidRequest, 400, "invalid_request"),
            (ErrorCode::InvalidToken, 401, "invalid_token"),
            (ErrorCode::InsufficientScope, 403, "insufficient_scope"),
        ];
        for (code, status, text) in cases {
            let c = challenge(Some(code), Some("why"), &["a"]);
            assert_eq!(c.status(), status);
            let h = c.www_authenticate();
            assert!(
                h.ends_with(&format!("error=\"{text}\", error_description=\"why\"")),
                "{h}"
            );
            let body: serde_json::Value = serde_json::from_str(&c.body()).unwrap();
            assert_eq!(body["error"], text);
            assert_eq!(body["error_description"], "why");
        }
    }

    #[test]
    fn hostile_catalog_and_descriptions_cannot_break_the_header() {
        let c = challenge(
            Some(ErrorCode::InvalidToken),
            Some("bad \"kid\" \\ here\r\nSet-Cookie: x=1"),
            &[
                "ok",
                "in\"jected",
                "back\\slash",
                "cr\r\nlf",
                "",
                "offline_access",
                "ok",
            ],
        );
        let h = c.www_authenticate();
        assert_eq!(
            h,
            "Bearer resource_metadata=\"https://h/.well-known/oauth-protected-resource/mcp\", scope=\"ok\", \
             error=\"invalid_token\", error_description=\"bad kid  hereSet-Cookie: x=1\""
        );
        assert!(warp::http::HeaderValue::from_str(&h).is_ok());
        for param in [
            "resource_metadata=",
            "scope=",
            "error=",
            "error_description=",
        ] {
            assert_eq!(h.matches(param).count(), 1, "{param} once in {h}");
        }
    }

    #[test]
    fn empty_scope_list_omits_the_param() {
        let h = challenge(None, None, &[]).www_authenticate();
        assert!(!h.contains("scope="), "{h}");
    }

    #[test]
    fn long_descriptions_are_bounded() {
        let c = challenge(Some(ErrorCode::InvalidToken), Some(&"x".repeat(5000)), &[]);
        assert!(c.www_authenticate().len() < 400);
    }
}
