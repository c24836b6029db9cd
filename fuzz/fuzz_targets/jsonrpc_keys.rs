//! Differential check of the JSON-RPC key rule: whenever `called_tools`
//! accepts a body, a case-insensitive, last-key-wins reader (Go's
//! `encoding/json`, case-insensitive .NET) finds exactly the same tool
//! calls, because no envelope or params key can be read two ways.
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const ENVELOPE: [&str; 4] = ["jsonrpc", "method", "params", "id"];
const PARAMS: [&str; 2] = ["name", "uri"];

/// Case-folded as Go's EqualFold would (lowercase, with the two non-ASCII
/// letters that fold onto ASCII ones in these keys).
fn fold(k: &str) -> String {
    k.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'ſ' => 's',
            'ı' => 'i',
            c => c,
        })
        .collect()
}

/// No key of `map` folds onto a reserved key without being it.
fn unambiguous(map: &Map<String, Value>, reserved: &[&str]) {
    for k in map.keys() {
        let f = fold(k);
        if let Some(r) = reserved.iter().find(|r| **r == f) {
            assert_eq!(k, r, "accepted an ambiguous key {k:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(tools) = mcp_warden::oauth::jsonrpc::called_tools(data) else {
        return;
    };
    let value: Value = serde_json::from_slice(data).expect("accepted bodies are JSON");
    let messages = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut seen = Vec::new();
    for m in &messages {
        let m = m.as_object().expect("accepted messages are objects");
        unambiguous(m, &ENVELOPE);
        if let Some(Value::Object(p)) = m.get("params") {
            unambiguous(p, &PARAMS);
        }
        if m.get("method").and_then(Value::as_str) == Some("tools/call") {
            let name = m["params"]["name"].as_str().expect("a call has a tool name");
            seen.push(name.to_owned());
        }
    }
    assert_eq!(tools, seen);
});
