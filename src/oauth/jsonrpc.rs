//! The little mcp-warden reads of a JSON-RPC body: which tools a request
//! calls, for per-tool scope enforcement. The body itself is forwarded byte
//! for byte; this parse only looks.
//!
//! A body is refused when another JSON parser could read it differently
//! from this one: Go's `encoding/json` (mcp-go) and case-insensitive .NET
//! serializers match object keys case-insensitively (Unicode simple case
//! folding: `ſ` is `s`, `ı` is `i`) and let the last duplicate win. So a
//! message whose envelope key (`jsonrpc`, `method`, `params`, `id`) or
//! params key (`name`, `uri`) is written in another case, or appears twice,
//! is refused as an invalid request (JSON-RPC 2.0 §5.1, `-32600`) instead
//! of being read one way here and another way upstream.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// JSON-RPC 2.0 §5.1: the body is not valid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC 2.0 §5.1: the JSON is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;

/// Envelope keys another parser could match case-insensitively.
const ENVELOPE: [&str; 4] = ["jsonrpc", "method", "params", "id"];
/// `params` keys that name what is called or read.
const PARAMS: [&str; 2] = ["name", "uri"];

/// Why a body cannot be read for per-tool scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Not JSON, or not shaped like JSON-RPC messages (`-32700`).
    Parse(&'static str),
    /// A key another parser would read differently (`-32600`).
    Ambiguous(&'static str),
}

impl BodyError {
    /// The JSON-RPC error code.
    pub fn code(self) -> i64 {
        match self {
            BodyError::Parse(_) => PARSE_ERROR,
            BodyError::Ambiguous(_) => INVALID_REQUEST,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            BodyError::Parse(m) | BodyError::Ambiguous(m) => m,
        }
    }
}

/// An object key, borrowed unless it had escapes (then decoded: `"\u004dethod"`
/// is `Method` to every parser).
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON object's entries in document order, duplicates kept.
struct Object<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Object<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Object<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object<'de>, A::Error> {
                let mut entries = Vec::new();
                while let Some((Key(k), v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    entries.push((k, v));
                }
                Ok(Object(entries))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> Object<'a> {
    /// The value of `key`, after [`Object::check`] made it unambiguous.
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// Refuses a key of `reserved` spelled in another case, or repeated.
    fn check(&self, reserved: &[&str]) -> Result<(), BodyError> {
        let mut seen = Vec::new();
        for (key, _) in &self.0 {
            let Some(r) = reserved.iter().find(|r| folds_to(key, r)) else {
                continue;
            };
            if key != r {
                return Err(BodyError::Ambiguous(
                    "a JSON-RPC key is spelled in another case",
                ));
            }
            if seen.contains(r) {
                return Err(BodyError::Ambiguous("a JSON-RPC key appears twice"));
            }
            seen.push(*r);
        }
        Ok(())
    }
}

/// Whether `key` equals the ASCII `reserved` under Unicode simple case
/// folding, as Go's `strings.EqualFold` and .NET's `OrdinalIgnoreCase` see it.
fn folds_to(key: &str, reserved: &str) -> bool {
    key.chars().count() == reserved.len()
        && key.chars().zip(reserved.chars()).all(|(k, r)| {
            k == r
                || k.to_lowercase().eq(std::iter::once(r))
                || k.to_uppercase().eq(r.to_uppercase())
        })
}

/// The tool names of every `tools/call` in a message or batch. `Err` when
/// the body is not JSON-RPC shaped enough to tell, or another parser could
/// read a key differently (the caller refuses it rather than let an
/// unparsed or misread call bypass a tool's scopes).
pub fn called_tools(body: &[u8]) -> Result<Vec<String>, BodyError> {
    let text = std::str::from_utf8(body).map_err(|_| BodyError::Parse("body is not JSON"))?;
    let value: &RawValue =
        serde_json::from_str(text).map_err(|_| BodyError::Parse("body is not JSON"))?;
    let text = value.get().trim_start();
    let messages: Vec<Object<'_>> = if text.starts_with('[') {
        serde_json::from_str(text)
            .map_err(|_| BodyError::Parse("batch entries are not JSON-RPC messages"))?
    } else {
        vec![
            serde_json::from_str(text)
                .map_err(|_| BodyError::Parse("body is not a JSON-RPC message"))?,
        ]
    };
    let mut tools = Vec::new();
    for m in messages {
        m.check(&ENVELOPE)?;
        let params = match m.get("params") {
            Some(p) if p.get().trim_start().starts_with('{') => {
                let params: Object<'_> = serde_json::from_str(p.get())
                    .map_err(|_| BodyError::Parse("params are not an object"))?;
                params.check(&PARAMS)?;
                Some(params)
            }
            _ => None,
        };
        let Some(method) = m.get("method") else {
            continue;
        };
        let method: Cow<'_, str> = serde_json::from_str(method.get())
            .map_err(|_| BodyError::Parse("method is not a string"))?;
        if method != "tools/call" {
            continue;
        }
        if m.get("params").is_some() && params.is_none() {
            return Err(BodyError::Parse("tools/call params are not an object"));
        }
        let name = params
            .as_ref()
            .and_then(|p| p.get("name"))
            .ok_or(BodyError::Parse("tools/call without a tool name"))?;
        let name: String = serde_json::from_str(name.get())
            .map_err(|_| BodyError::Parse("tools/call without a tool name"))?;
        tools.push(name);
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
            let got = called_tools(body.as_bytes())
                .map_err(|e| assert_eq!(e.code(), PARSE_ERROR, "{body}"));
            let want = want
                .clone()
                .map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(got, want, "{body}");
        }
    }

    /// Each spelling that reached a case-insensitive upstream as a call of
    /// `deploy` (or hid one), refused as an invalid request.
    #[test]
    fn keys_another_parser_reads_differently_are_refused() {
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"Method":"tools/call","params":{"name":"deploy"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","METHOD":"tools/call","params":{"name":"deploy"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","NAME":"deploy"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"},"Params":{"name":"deploy"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"deploy"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"deploy"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"\u004dethod":"tools/call","params":{"name":"deploy"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","paramſ":{"name":"deploy"},"params":{"name":"echo"}}"#,
            r#"{"jsonrpc":"2.0","ıd":1,"id":2,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"a","URI":"b"}}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"Method":"tools/call","params":{"name":"deploy"}}]"#,
        ] {
            let got = called_tools(body.as_bytes());
            assert!(
                matches!(got, Err(BodyError::Ambiguous(_))),
                "{body}: {got:?}"
            );
            assert_eq!(got.unwrap_err().code(), INVALID_REQUEST);
        }
        // Unrelated keys in any case stay fine.
        assert_eq!(
            called_tools(
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","Meta":1,"params":{"name":"echo","Arguments":{"Name":"x"}}}"#
            ),
            Ok(vec!["echo".to_owned()])
        );
    }

    #[test]
    fn case_folding_matches_what_go_and_dotnet_fold() {
        for (key, reserved) in [
            ("Method", "method"),
            ("paramſ", "params"),
            ("ıd", "id"),
            ("ID", "id"),
        ] {
            assert!(folds_to(key, reserved), "{key}");
        }
        for (key, reserved) in [("methods", "method"), ("mèthod", "method"), ("i d", "id")] {
            assert!(!folds_to(key, reserved), "{key}");
        }
    }
}
