//! Replays the fuzz corpora (fuzz/corpus/) through the functions the fuzz
//! targets exercise: every seed and every past crash input stays a regular
//! regression test.

use std::path::Path;

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let inputs: Vec<Vec<u8>> = entries
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(!inputs.is_empty(), "{} has no seeds", dir.display());
    inputs
}

#[test]
fn config_corpus() {
    for input in inputs("config") {
        if let Ok(text) = std::str::from_utf8(&input) {
            let _ = mcp_warden::config::Config::parse_with_env(text, None);
        }
    }
}

#[test]
fn jsonrpc_corpus() {
    for input in inputs("jsonrpc") {
        let _ = mcp_warden::oauth::jsonrpc::called_tools(&input);
    }
}

#[test]
fn documents_corpus() {
    let source = url::Url::parse("https://as.example/.well-known/openid-configuration").unwrap();
    for input in inputs("documents") {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&input) {
            let _ = mcp_warden::issuer::discovery::validate(
                value.clone(),
                &source,
                Some("https://as.example"),
            );
            let _ = mcp_warden::issuer::jwks::parse(value, &source, "fuzz");
        }
        if let Ok(token) = std::str::from_utf8(&input) {
            let _ = mcp_warden::oauth::token::parse(
                token,
                &mcp_warden::oauth::token::JwsAlgorithm::ALL,
            );
        }
    }
}
