//! The demo upstream's tools, as pure functions of the call's arguments and
//! the request headers: `whoami`, `echo` and `count`.

use serde_json::{Map, Value, json};
use warp::http::{HeaderMap, header};

/// Bounds on `count`, so a typo cannot tie the server up for hours.
const MAX_COUNT: u64 = 10_000;
const MAX_INTERVAL_MS: u64 = 60_000;

/// Identity headers a gateway adds after verifying a token; `whoami` shows
/// what arrived, so tests can tell forwarded identity from smuggled identity.
const IDENTITY_HEADERS: [&str; 3] = [
    "x-mcp-auth-subject",
    "x-mcp-auth-client-id",
    "x-mcp-auth-scopes",
];

/// What a `tools/call` asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Call {
    /// Answer at once with this `CallToolResult`.
    Done(Value),
    /// Stream `n` progress notifications `interval_ms` apart, then the result.
    Count { n: u64, interval_ms: u64 },
}

/// A JSON-RPC error: code and message.
pub(super) type RpcError = (i64, String);

/// JSON-RPC 2.0 §5.1: invalid method parameters.
pub(super) const INVALID_PARAMS: i64 = -32602;

/// The `tools/list` result.
pub(super) fn list() -> Value {
    json!({
        "tools": [
            {
                "name": "whoami",
                "description": "Shows the identity headers this server received, and the Authorization scheme (never the credentials).",
                "inputSchema": { "type": "object", "properties": {} },
            },
            {
                "name": "echo",
                "description": "Answers \"Echo: <message>\".",
                "inputSchema": {
                    "type": "object",
                    "properties": { "message": { "type": "string" } },
                    "required": ["message"],
                },
            },
            {
                "name": "count",
                "description": "Streams n progress notifications interval_ms apart over SSE, then the result.",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "n": { "type": "integer", "minimum": 0, "maximum": MAX_COUNT },
                        "interval_ms": { "type": "integer", "minimum": 0, "maximum": MAX_INTERVAL_MS },
                    },
                    "required": ["n"],
                },
            },
        ]
    })
}

/// Decides a `tools/call` from its `params`.
pub(super) fn call(params: Option<&Value>, headers: &HeaderMap) -> Result<Call, RpcError> {
    let invalid = |message: &str| (INVALID_PARAMS, message.to_string());
    let name = params
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("params.name is required"))?;
    let empty = Value::Object(Map::new());
    let arguments = params.and_then(|p| p.get("arguments")).unwrap_or(&empty);
    match name {
        "whoami" => Ok(Call::Done(whoami(headers))),
        "echo" => {
            let message = arguments
                .get("message")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("echo needs a string `message`"))?;
            Ok(Call::Done(text(format!("Echo: {message}"))))
        }
        "count" => {
            let bounded = |name: &str, max: u64, default: Option<u64>| {
                match arguments.get(name) {
                    None => default,
                    Some(v) => v.as_u64().filter(|n| *n <= max),
                }
                .ok_or_else(|| invalid(&format!("count needs an integer `{name}` in 0..={max}")))
            };
            Ok(Call::Count {
                n: bounded("n", MAX_COUNT, None)?,
                interval_ms: bounded("interval_ms", MAX_INTERVAL_MS, Some(0))?,
            })
        }
        other => Err(invalid(&format!("unknown tool `{other}`"))),
    }
}

/// The `count` tool's final result.
pub(super) fn counted(n: u64) -> Value {
    text(format!("counted to {n}"))
}

/// A `CallToolResult` with one text block.
fn text(text: String) -> Value {
    json!({ "content": [{ "type": "text", "text": text }] })
}

/// Each identity header: `null` when absent, a string when sent once, an
/// array when repeated. `authorization` shows only the scheme.
fn whoami(headers: &HeaderMap) -> Value {
    let mut seen = Map::new();
    for name in IDENTITY_HEADERS {
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned().into())
            .collect();
        let value = match values.len() {
            0 => Value::Null,
            1 => values[0].clone(),
            _ => Value::Array(values),
        };
        seen.insert(name.into(), value);
    }
    let scheme = headers.get(header::AUTHORIZATION).map(|v| {
        let v = String::from_utf8_lossy(v.as_bytes());
        v.split_whitespace().next().unwrap_or_default().to_string()
    });
    seen.insert("authorization".into(), scheme.into());
    let identity = Value::Object(seen);
    let mut result = text(identity.to_string());
    result["structuredContent"] = identity;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whoami_shows_identity_and_only_the_auth_scheme() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer secret.token".parse().unwrap());
        headers.insert("x-mcp-auth-subject", "user-1".parse().unwrap());
        headers.append("x-mcp-auth-scopes", "a".parse().unwrap());
        headers.append("x-mcp-auth-scopes", "b".parse().unwrap());
        let Ok(Call::Done(result)) = call(Some(&json!({ "name": "whoami" })), &headers) else {
            panic!("whoami answers at once");
        };
        assert_eq!(
            result["structuredContent"],
            json!({
                "x-mcp-auth-subject": "user-1",
                "x-mcp-auth-client-id": null,
                "x-mcp-auth-scopes": ["a", "b"],
                "authorization": "Bearer",
            })
        );
        assert!(!result.to_string().contains("secret.token"));
    }

    #[test]
    fn arguments_are_checked() {
        let headers = HeaderMap::new();
        let cases = [
            (
                json!({ "name": "echo", "arguments": { "message": "hi" } }),
                true,
            ),
            (
                json!({ "name": "echo", "arguments": { "message": 3 } }),
                false,
            ),
            (json!({ "name": "count", "arguments": { "n": 2 } }), true),
            (json!({ "name": "count", "arguments": { "n": -1 } }), false),
            (
                json!({ "name": "count", "arguments": { "n": 2, "interval_ms": 1e9 } }),
                false,
            ),
            (json!({ "name": "count" }), false),
            (json!({ "name": "nope" }), false),
            (json!({}), false),
        ];
        for (params, ok) in cases {
            let result = call(Some(&params), &headers);
            assert_eq!(result.is_ok(), ok, "{params}: {result:?}");
            if let Err((code, _)) = result {
                assert_eq!(code, INVALID_PARAMS);
            }
        }
        assert_eq!(
            call(
                Some(&json!({ "name": "count", "arguments": { "n": 2 } })),
                &headers
            ),
            Ok(Call::Count {
                n: 2,
                interval_ms: 0
            })
        );
    }
}
