//! The binary: exit codes and messages of `mcp-warden` and `mcp-warden check`.

mod support;

use std::process::Output;

use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_mcp-warden");

fn write_config(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
    f
}

async fn run(args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env_remove("MCP_OAUTH_SCOPES")
        .env_remove("MCP_WARDEN_CONFIG")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn version() {
    let o = run(&["--version"]).await;
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("mcp-warden {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn check_accepts_the_example_config() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml.example");
    let o = run(&["check", "--config", example]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("ok (1 resource)"));
}

#[tokio::test]
async fn check_reports_every_error_with_lines_and_exits_78() {
    let f = write_config(
        "[public]\nurl = \"https://h\"\nlisten = \"nope\"\n[[resource]]\nname = \"a\"\npath = \"/a\"\n",
    );
    let o = run(&["check", "--config", f.path().to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(78));
    let err = stderr(&o);
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("public"), "{err}");
    assert!(err.contains("resource[0]"), "{err}");
    assert!(err.contains("missing field"), "{err}");
}

/// `check` reads every file the daemon reads: a missing secret file fails
/// here, not only when the daemon starts.
#[tokio::test]
async fn check_refuses_missing_secret_files_naming_key_line_and_path() {
    let text = format!(
        "{}\nupstream_header_files = {{ \"X-Api-Key\" = \"/nonexistent/api-key\" }}\n",
        config(&format!(
            "[admin]\ntoken_file = \"/nonexistent/admin-token\"\n{}",
            resource("r", "/mcp", "https://as.example.com", "")
        ))
        .replacen("[admin]\nlisten = \"127.0.0.1:0\"\n", "", 1)
    );
    let f = write_config(&text);
    let o = run(&["check", "--config", f.path().to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(78), "{}", stderr(&o));
    let err = stderr(&o);
    let line_of = |needle: &str| 1 + text[..text.find(needle).unwrap()].matches('\n').count();
    for (key, needle, path) in [
        ("admin.token_file", "token_file", "/nonexistent/admin-token"),
        (
            "resource[0].upstream_header_files.X-Api-Key",
            "upstream_header_files",
            "/nonexistent/api-key",
        ),
    ] {
        let line = line_of(needle);
        assert!(
            err.contains(&format!("line {line}: `{key}`: cannot read {path}")),
            "{key} at line {line}: {err}"
        );
    }

    // The same files present: check passes.
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("admin-token");
    let key = dir.path().join("api-key");
    std::fs::write(&token, "t0ken\n").unwrap();
    std::fs::write(&key, "k3y\n").unwrap();
    let text = text
        .replace("/nonexistent/admin-token", token.to_str().unwrap())
        .replace("/nonexistent/api-key", key.to_str().unwrap());
    let f = write_config(&text);
    let o = run(&["check", "--config", f.path().to_str().unwrap()]).await;
    assert!(o.status.success(), "{}", stderr(&o));
}

#[tokio::test]
async fn missing_config_file_is_a_config_error() {
    let o = run(&["check", "--config", "/nonexistent/mcp-warden.toml"]).await;
    assert_eq!(o.status.code(), Some(78));
    assert!(stderr(&o).contains("cannot read /nonexistent/mcp-warden.toml"));
}

#[tokio::test]
async fn config_path_comes_from_the_environment() {
    let o = tokio::process::Command::new(BIN)
        .arg("check")
        .env("MCP_WARDEN_CONFIG", "/nonexistent/from-env.toml")
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(78));
    assert!(stderr(&o).contains("/nonexistent/from-env.toml"));
}

#[tokio::test]
async fn check_online_prints_the_advertised_set() {
    let authz = auth_server().await;
    let f = write_config(&config(&resource(
        "appwrite",
        "/mcp",
        &authz.issuer,
        &curated_scopes(),
    )));
    let o = run(&["check", "--online", "--config", f.path().to_str().unwrap()]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("6 of 127 scopes advertised (curated"), "{out}");
    assert!(
        out.contains("openid profile email all project:all organization:all"),
        "{out}"
    );
}

#[tokio::test]
async fn check_online_and_startup_exit_78_on_a_strict_mismatch() {
    let authz = auth_server().await;
    let extra = "[resource.scopes]\noverride = [\"teams.read\"]\n";
    let f = write_config(&config(&resource("appwrite", "/mcp", &authz.issuer, extra)));
    let path = f.path().to_str().unwrap();
    for args in [
        vec!["check", "--online", "--config", path],
        vec!["--config", path],
    ] {
        let o = run(&args).await;
        assert_eq!(o.status.code(), Some(78), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("resource \"appwrite\""), "{err}");
        assert!(err.contains("[teams.read]"), "{err}");
        assert!(err.contains("project:all"), "{err}");
    }
}

#[tokio::test]
async fn the_environment_override_is_strict_too() {
    let authz = auth_server().await;
    let f = write_config(&config(&resource(
        "appwrite",
        "/mcp",
        &authz.issuer,
        &curated_scopes(),
    )));
    let o = tokio::process::Command::new(BIN)
        .args(["check", "--online", "--config", f.path().to_str().unwrap()])
        .env("MCP_OAUTH_SCOPES", "account.admin")
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(78), "{}", stderr(&o));
    assert!(stderr(&o).contains("[account.admin]"));
}

#[tokio::test]
async fn bind_failure_names_the_address_and_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let authz = auth_server().await;
    let text = config(&resource("r", "/mcp", &authz.issuer, "")).replacen(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"{addr}\""),
        1,
    );
    let f = write_config(&text);
    let o = run(&["--config", f.path().to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test]
async fn sigterm_stops_the_daemon_cleanly() {
    let authz = auth_server().await;
    let f = write_config(&config(&resource("r", "/mcp", &authz.issuer, "")));
    let mut child = tokio::process::Command::new(BIN)
        .args(["--config", f.path().to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Ready once it logs that it listens.
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stderr.take().unwrap()));
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.contains("mcp-warden listening") {
            break;
        }
    }
    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(5), child.wait())
        .await
        .expect("exits within the grace period")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
