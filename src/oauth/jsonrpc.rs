//! The little mcp-warden reads of a JSON-RPC body: which tools a request
//! calls, for per-tool scope enforcement. The body itself is forwarded byte
//! for byte; this parse only looks.

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct CallParams {
    #[serde(default)]
    name: Option<String>,
}

/// The tool names of every `tools/call` in a message or batch. `Err` when
/// the body is not JSON-RPC shaped enough to tell (the caller refuses it
/// rather than let an unparsed call bypass a tool's scopes).
pub fn called_tools(body: &[u8]) -> Result<Vec<String>, &'static str> {
    let value: &RawValue = serde_json::from_slice(body).map_err(|_| "body is not JSON")?;
    let text = value.get().trim_start();
    let messages: Vec<Message<'_>> = if text.starts_with('[') {
        serde_json::from_str(text).map_err(|_| "batch entries are not JSON-RPC messages")?
    } else {
        vec![serde_json::from_str(text).map_err(|_| "body is not a JSON-RPC message")?]
    };
    let mut tools = Vec::new();
    for m in messages {
        let Some(method) = m.method else { continue };
        let method: String =
            serde_json::from_str(method.get()).map_err(|_| "method is not a string")?;
        if method != "tools/call" {
            continue;
        }
        let params: CallParams = m
            .params
            .map(|p| serde_json::from_str(p.get()))
            .transpose()
            .map_err(|_| "tools/call params are not an object")?
            .unwrap_or(CallParams { name: None });
        tools.push(params.name.ok_or("tools/call without a tool name")?);
    }
    Ok(tools)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tool_calls() {
        let cases: &[(&str, Result<Vec<&str>, ()>)] = &[
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"deploy","arguments":{}}}"#,
                Ok(vec!["deploy"]),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
                Ok(vec![]),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                Ok(vec![]),
            ),
            (r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, Ok(vec![])),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"b"}}]"#,
                Ok(vec!["a", "b"]),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#,
                Err(()),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#,
                Err(()),
            ),
            (r#"{"jsonrpc":"2.0","id":1,"method":7}"#, Err(())),
            ("not json", Err(())),
            ("[1,2]", Err(())),
        ];
        for (body, want) in cases {
            let got = called_tools(body.as_bytes()).map_err(|_| ());
            let want = want
                .clone()
                .map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(got, want, "{body}");
        }
    }
}
