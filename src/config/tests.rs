use super::*;

const MINIMAL: &str = r#"
[public]
url = "https://mcp.example.com"

[[resource]]
name = "appwrite"
path = "/mcp"
issuer = "https://auth.example.com/tenant1"
upstream = "http://127.0.0.1:3000/mcp"
"#;

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse_with_env(text, None)
}

fn errors(text: &str) -> Vec<ConfigError> {
    parse(text).expect_err("config should be rejected").0
}

#[test]
fn minimal_config_gets_defaults() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.public.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.admin.listen.to_string(), "127.0.0.1:9090");
    assert_eq!(c.cache, CacheSettings::default());
    assert_eq!(c.public.max_body_bytes, 4 * 1024 * 1024);
    let r = &c.resources[0];
    assert_eq!(
        r.issuer.as_deref(),
        Some("https://auth.example.com/tenant1")
    );
    assert_eq!(r.scopes.max_chars, 1024);
    assert_eq!(r.token.algorithms.len(), 9);
    assert_eq!(
        r.issuer_source(),
        IssuerSource::Issuer("https://auth.example.com/tenant1".into())
    );
}

#[test]
fn durations_are_human_strings() {
    let text =
        format!("{MINIMAL}\n[cache]\nttl = \"30s\"\nmax_stale = \"2h\"\nretry_min = \"500ms\"\n");
    let c = parse(&text).unwrap();
    assert_eq!(c.cache.ttl, Duration::from_secs(30));
    assert_eq!(c.cache.max_stale, Duration::from_secs(7200));
    assert_eq!(c.cache.retry_min, Duration::from_millis(500));
}

#[test]
fn syntax_error_names_the_line() {
    let e = errors("[public]\nurl = \"https://x\"\nlisten = \n");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].line, Some(3), "{e:?}");
}

#[test]
fn unknown_keys_are_rejected_with_line() {
    let text = MINIMAL.replace("path = \"/mcp\"", "path = \"/mcp\"\npaht = \"/x\"");
    let e = errors(&text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].key.as_deref(), Some("resource[0]"));
    assert!(e[0].message.contains("paht"), "{}", e[0]);
    assert_eq!(e[0].line, Some(8), "{}", e[0]);
}

#[test]
fn all_errors_are_collected() {
    let text = r#"
[public]
url = "https://mcp.example.com"

[cache]
ttl = "soon"

[bogus]
x = 1

[[resource]]
name = "a"
path = "/a"
issuer = "https://as.example"
upstream = "http://127.0.0.1:1/"
[resource.scopes]
override = ["ok", "bad\"scope"]

[[resource]]
name = "a"
path = "mcp"
upstream = "http://127.0.0.1:1/"
"#;
    let e = errors(text);
    let text_of = |key: &str| {
        e.iter()
            .filter(|e| e.key.as_deref() == Some(key))
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Structural errors are reported before semantic validation runs.
    assert!(text_of("cache").contains("line 6"), "{e:?}");
    assert!(text_of("bogus").contains("line 8"), "{e:?}");
    assert_eq!(e.len(), 2, "{e:#?}");

    // With the structure fixed, every semantic problem is reported at once.
    let fixed = text
        .replace("ttl = \"soon\"", "ttl = \"5m\"")
        .replace("[bogus]\nx = 1\n", "");
    let e = errors(&fixed);
    let all = e
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("resource[0].scopes.override"), "{all}");
    assert!(all.contains("bad\\\"scope"), "{all}");
    assert!(all.contains("duplicate resource name"), "{all}");
    assert!(all.contains("resource[1].path"), "{all}");
    assert!(all.contains("resource[1].issuer"), "{all}");
    assert_eq!(e.len(), 4, "{all}");
    let path_err = e
        .iter()
        .find(|e| e.key.as_deref() == Some("resource[1].path"))
        .unwrap();
    assert_eq!(path_err.line, Some(19), "{path_err}");
}

#[test]
fn semantic_rules() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "issuer = \"https://auth.example.com/tenant1\"",
            "issuer = \"http://auth.example.com\"",
            "must use https",
        ),
        (
            "issuer = \"https://auth.example.com/tenant1\"",
            "issuer = \"https://a.example?x=1\"",
            "no query",
        ),
        (
            "issuer = \"https://auth.example.com/tenant1\"",
            "issuer = \"not a url\"",
            "not a URL",
        ),
        (
            "issuer = \"https://auth.example.com/tenant1\"",
            "issuer = \"https://a.example\"\ndiscovery_url = \"https://a.example/d\"",
            "not both",
        ),
        ("path = \"/mcp\"", "path = \"/.well-known/x\"", "reserved"),
        ("path = \"/mcp\"", "path = \"/a/../b\"", ". or .."),
        ("name = \"appwrite\"", "name = \"has space\"", "only A-Z"),
        (
            "url = \"https://mcp.example.com\"",
            "url = \"https://mcp.example.com\"\nallowed_origins = [\"https://a.example/path\"]",
            "not an origin",
        ),
        (
            "url = \"https://mcp.example.com\"",
            "url = \"ftp://mcp.example.com\"",
            "unsupported scheme",
        ),
    ];
    for (from, to, want) in cases {
        let text = MINIMAL.replace(from, to);
        let all = errors(&text)
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(all.contains(want), "{to}: {all}");
    }
}

#[test]
fn plain_http_is_fine_for_loopback_issuers_and_any_upstream() {
    let text = MINIMAL
        .replace("https://auth.example.com/tenant1", "http://127.0.0.1:4444")
        .replace(
            "http://127.0.0.1:3000/mcp",
            "http://mcp-backend.internal:3000/mcp",
        );
    parse(&text).unwrap();
}

#[test]
fn cache_rules() {
    let text =
        format!("{MINIMAL}\n[cache]\nttl = \"0s\"\nretry_min = \"10m\"\nretry_max = \"1m\"\n");
    let all = errors(&text)
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("cache.ttl"), "{all}");
    assert!(all.contains("must not exceed cache.retry_max"), "{all}");
}

#[test]
fn non_loopback_admin_needs_a_token_file() {
    let text = format!("{MINIMAL}\n[admin]\nlisten = \"0.0.0.0:9090\"\n");
    let all = errors(&text)
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("admin.token_file"), "{all}");
    let text = format!(
        "{MINIMAL}\n[admin]\nlisten = \"0.0.0.0:9090\"\ntoken_file = \"/run/secrets/admin\"\n"
    );
    parse(&text).unwrap();
}

#[test]
fn missing_sections() {
    let all = errors("")
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("[public]"), "{all}");
    assert!(all.contains("no [[resource]]"), "{all}");
}

#[test]
fn hmac_and_none_algorithms_cannot_be_configured() {
    for alg in ["HS256", "none"] {
        let text = format!("{MINIMAL}[resource.token]\nalgorithms = [\"RS256\", \"{alg}\"]\n");
        let all = errors(&text)
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(all.contains(alg), "{all}");
    }
}

#[test]
fn scopes_env_replaces_every_override() {
    let c = Config::parse_with_env(MINIMAL, Some("  all  project:all ")).unwrap();
    assert_eq!(c.resources[0].scopes.override_, ["all", "project:all"]);
    let c = Config::parse_with_env(MINIMAL, Some("   ")).unwrap();
    assert!(c.resources[0].scopes.override_.is_empty());
    let e = Config::parse_with_env(MINIMAL, Some("ok bad\\scope")).unwrap_err();
    assert!(e.to_string().contains("scopes.override"), "{e}");
}

#[test]
fn example_config_is_valid() {
    let text = include_str!("../../config.toml.example");
    let c = parse(text).unwrap_or_else(|e| panic!("config.toml.example: {e}"));
    assert!(!c.resources.is_empty());
}
