//! Hot reload and the process lifecycle, end to end: the real `mcp-warden`
//! binary with its configuration in a temp dir, edited the ways editors,
//! operators and Kubernetes edit it, and observed only from outside: the
//! Protected Resource Metadata on the public port, `/status` and `/metrics`
//! on the admin port, signals, exit codes, and the datagrams it sends to a
//! `NOTIFY_SOCKET` the test owns.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_warden::demo::upstream::Upstream;
use serde_json::{Value, json};
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_mcp-warden");
/// `public.url` + `/mcp`: the audience of the tokens the gateway accepts.
const RESOURCE: &str = "https://mcp.example.com/mcp";
/// Where the single resource's metadata lives on the public listener.
const PRM_PATH: &str = "/.well-known/oauth-protected-resource/mcp";
/// The bound for every awaited condition. Generous: the target for a reload
/// is 500 ms, but the suite runs many daemons in parallel on small machines.
const WITHIN: Duration = Duration::from_secs(10);
/// `shutdown_grace` in every config below.
const GRACE: Duration = Duration::from_secs(1);

const SIGHUP: u32 = 1;
const SIGINT: u32 = 2;
const SIGTERM: u32 = 15;

/// `[resource.scopes] override = [...]`.
fn override_scopes(scopes: &[&str]) -> String {
    format!("[resource.scopes]\noverride = {scopes:?}\n")
}

/// A whole configuration file on fixed ports.
fn config_text(public: u16, admin: u16, resources: &str) -> String {
    format!(
        r#"
[public]
listen = "127.0.0.1:{public}"
url = "https://mcp.example.com"
shutdown_grace = "1s"

[admin]
listen = "127.0.0.1:{admin}"

[cache]
ttl = "5m"
fetch_timeout = "1s"
retry_min = "100ms"
retry_max = "400ms"
{resources}"#
    )
}

/// Truncates the file and writes the new text into the same inode, the way
/// `echo > file` or an editor without backup copies saves.
fn write_in_place(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .expect("open the config for writing");
    f.write_all(text.as_bytes()).expect("write the config");
    f.sync_all().expect("sync the config");
}

/// Writes a temp file beside `path` and renames it over `path`, the way vim
/// and `sed -i` save: the config becomes a new inode in one step.
fn rename_save(path: &Path, text: &str) {
    let tmp = path.with_file_name("sedR4nd0m");
    std::fs::write(&tmp, text).expect("write the temp file");
    std::fs::rename(&tmp, path).expect("rename over the config");
}

/// Whether process `pid` has handlers installed for all of `signals`
/// (`SigCgt` in /proc): the daemon installs them just after it logs that it
/// listens, and a signal sent before would kill it with the default action.
fn catches(pid: u32, signals: &[u32]) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .unwrap_or(0);
    signals.iter().all(|s| mask & (1 << (s - 1)) != 0)
}

/// The value of one Prometheus series (`labels` in any order; a labelled
/// series not yet created counts as absent).
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    wanted.sort();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (n, mut got) = match series.split_once('{') {
                Some((n, rest)) => (
                    n,
                    rest.trim_end_matches('}')
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>(),
                ),
                None => (series, Vec::new()),
            };
            got.sort();
            (n == name && got == wanted).then(|| value.parse().ok())?
        })
}

/// Everything a daemon is launched with: a temp dir holding the config (not
/// yet written), its ports, and the peers the config names.
struct Files {
    dir: tempfile::TempDir,
    config: PathBuf,
    public: u16,
    admin: u16,
    issuer: String,
    upstream: String,
}

impl Files {
    fn new(authz: &AuthServer) -> Files {
        Files::with_upstream(authz, "http://127.0.0.1:9/mcp")
    }

    fn with_upstream(authz: &AuthServer, upstream: &str) -> Files {
        let dir = tempfile::tempdir().expect("create a temp dir");
        Files {
            config: dir.path().join("config.toml"),
            dir,
            public: free_port(),
            admin: free_port(),
            issuer: authz.issuer.clone(),
            upstream: upstream.to_owned(),
        }
    }

    /// One resource `r` at `/mcp` advertising exactly `scopes`.
    fn single(&self, scopes: &[&str]) -> String {
        self.text(&resource_to(
            "r",
            "/mcp",
            &self.issuer,
            &self.upstream,
            &override_scopes(scopes),
        ))
    }

    /// A config on these ports with these `[[resource]]` blocks.
    fn text(&self, resources: &str) -> String {
        config_text(self.public, self.admin, resources)
    }
}

/// A running `mcp-warden` process; killed when dropped.
struct Warden {
    child: tokio::process::Child,
    pid: u32,
    files: Files,
    /// Everything it wrote to stderr so far.
    log: Arc<Mutex<String>>,
    http: reqwest::Client,
}

impl Warden {
    /// Writes `text` to the config file and starts the daemon on it.
    async fn start(files: Files, text: &str) -> Warden {
        std::fs::write(&files.config, text).expect("write the config");
        Warden::launch(files, &[], false).await
    }

    /// Starts the daemon on the config already in place, with extra
    /// environment. With `watchdog_pid_is_self`, a shell sets `WATCHDOG_PID`
    /// to its own pid and `exec`s the daemon, so the variable names the
    /// daemon as systemd's does.
    async fn launch(files: Files, env: &[(&str, String)], watchdog_pid_is_self: bool) -> Warden {
        let mut cmd = if watchdog_pid_is_self {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c")
                .arg("export WATCHDOG_PID=$$; exec \"$0\" --config \"$1\"")
                .arg(BIN)
                .arg(&files.config);
            c
        } else {
            let mut c = tokio::process::Command::new(BIN);
            c.arg("--config").arg(&files.config);
            c
        };
        for var in [
            "MCP_OAUTH_SCOPES",
            "MCP_WARDEN_CONFIG",
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "WATCHDOG_PID",
            "RUST_LOG",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn mcp-warden");
        let pid = child.id().expect("a running child has a pid");
        // Drain stderr continuously: a full pipe would block the daemon.
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let sink = log.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncBufReadExt;
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut log = sink.lock().expect("log lock");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut w = Warden {
            child,
            pid,
            files,
            log,
            http: http(),
        };
        w.until_ready().await;
        w
    }

    /// Ready means: both listeners serve, the config watcher is armed (both
    /// happen before the "listening" line) and the signal handlers are in.
    async fn until_ready(&mut self) {
        let deadline = Instant::now() + WITHIN;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                panic!(
                    "mcp-warden exited during start-up ({status}):\n{}",
                    self.log()
                );
            }
            if self.log().contains("mcp-warden listening")
                && catches(self.pid, &[SIGHUP, SIGINT, SIGTERM])
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mcp-warden not ready within {WITHIN:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    fn config(&self) -> &Path {
        &self.files.config
    }

    fn assert_alive(&mut self) {
        let status = self.child.try_wait().expect("poll the child");
        assert!(
            status.is_none(),
            "mcp-warden exited ({status:?}):\n{}",
            self.log()
        );
    }

    /// Waits for the process to exit and returns its exit code and how long
    /// that took.
    async fn exit_within(&mut self, bound: Duration) -> (Option<i32>, Duration) {
        let started = Instant::now();
        match tokio::time::timeout(bound, self.child.wait()).await {
            Ok(status) => (
                status.expect("wait for the child").code(),
                started.elapsed(),
            ),
            Err(_) => panic!("mcp-warden still running after {bound:?}:\n{}", self.log()),
        }
    }

    /// `scopes_supported` of the metadata at `path` on public port `port`,
    /// `None` unless it answers 200.
    async fn scopes_at(&self, port: u16, path: &str) -> Option<Vec<String>> {
        let r = self
            .http
            .get(format!("http://127.0.0.1:{port}{path}"))
            .send()
            .await
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        let doc: Value = r.json().await.ok()?;
        serde_json::from_value(doc["scopes_supported"].clone()).ok()
    }

    /// The single resource's advertised scopes.
    async fn scopes(&self) -> Option<Vec<String>> {
        self.scopes_at(self.files.public, PRM_PATH).await
    }

    /// Waits until the metadata at `path` advertises exactly `want`.
    async fn until_scopes_at(&self, path: &str, want: &[&str]) {
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        eventually(WITHIN, || async {
            (self.scopes_at(self.files.public, path).await.as_ref() == Some(&want)).then_some(())
        })
        .await;
    }

    async fn until_scopes(&self, want: &[&str]) {
        self.until_scopes_at(PRM_PATH, want).await;
    }

    async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("http://127.0.0.1:{}{path}", self.files.admin))
            .send()
            .await
            .expect("the admin listener answers")
    }

    async fn status(&self) -> Value {
        let r = self.admin_get("/status").await;
        assert_eq!(r.status(), 200, "GET /status");
        r.json().await.expect("/status is JSON")
    }

    async fn metrics(&self) -> String {
        let r = self.admin_get("/metrics").await;
        assert_eq!(r.status(), 200, "GET /metrics");
        r.text().await.expect("/metrics is text")
    }

    /// `mcp_warden_config_reloads_total{trigger, result}` (0 when absent).
    async fn reloads(&self, trigger: &str, result: &str) -> u64 {
        let text = self.metrics().await;
        metric(
            &text,
            "mcp_warden_config_reloads_total",
            &[("trigger", trigger), ("result", result)],
        )
        .unwrap_or(0.0) as u64
    }

    /// The sum of `config_reloads_total` over every label.
    async fn all_reloads(&self) -> u64 {
        let text = self.metrics().await;
        text.lines()
            .filter(|l| l.starts_with("mcp_warden_config_reloads_total{"))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    async fn gauge(&self, name: &str) -> Option<f64> {
        metric(&self.metrics().await, name, &[])
    }

    /// Waits until `config_reloads_total{trigger, result}` reaches `n`.
    async fn until_reloads(&self, trigger: &str, result: &str, n: u64) {
        eventually(WITHIN, || async {
            (self.reloads(trigger, result).await >= n).then_some(())
        })
        .await;
        assert_eq!(
            self.reloads(trigger, result).await,
            n,
            "config_reloads_total{{trigger={trigger:?},result={result:?}}} overshot"
        );
    }

    async fn generation(&self) -> u64 {
        self.status().await["config_generation"]
            .as_u64()
            .expect("config_generation is a number")
    }
}

/// Asserts the whole reload bookkeeping after an applied change.
async fn assert_applied(w: &Warden, trigger: &str, generation: u64) {
    let status = w.status().await;
    assert_eq!(status["config_generation"], generation, "{status:#}");
    let last = &status["last_reload"];
    assert_eq!(last["trigger"], trigger, "{status:#}");
    assert_eq!(
        last["result"], "success",
        "the last reload is not the edit's: another reload ran after it without any edit"
    );
    assert_eq!(last["errors"], json!([]), "{status:#}");
    assert_eq!(
        w.gauge("mcp_warden_config_generation").await,
        Some(generation as f64)
    );
    assert_eq!(
        w.gauge("mcp_warden_config_last_reload_success").await,
        Some(1.0)
    );
}

/// The strings of `/status` `last_reload.errors`, joined.
fn errors_of(status: &Value) -> String {
    status["last_reload"]["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("last_reload.errors is a list: {status:#}"))
        .iter()
        .map(|e| e.as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn an_in_place_edit_applies() {
    let authz = auth_server().await;
    let files = Files::new(&authz);
    let before = files.single(&["all"]);
    let after = files.single(&["project:all"]);
    let mut w = Warden::start(files, &before).await;
    assert_eq!(w.scopes().await, Some(vec!["all".to_string()]));
    assert_eq!(w.generation().await, 1);
    assert!(w.status().await["last_reload"].is_null());

    write_in_place(w.config(), &after);
    w.until_scopes(&["project:all"]).await;
    w.until_reloads("watch", "success", 1).await;
    assert_applied(&w, "watch", 2).await;
    assert_eq!(w.reloads("watch", "rejected").await, 0);
    w.assert_alive();
}

#[tokio::test]
async fn a_rename_save_applies_exactly_once() {
    let authz = auth_server().await;
    let files = Files::new(&authz);
    let before = files.single(&["all"]);
    let after = files.single(&["organization:all"]);
    let mut w = Warden::start(files, &before).await;

    rename_save(w.config(), &after);
    w.until_scopes(&["organization:all"]).await;
    w.until_reloads("watch", "success", 1).await;
    // "Exactly once" is a claim about the absence of a later event, which no
    // condition can await: give the watcher three debounce windows (100 ms
    // each) to misfire a second time, then check it did not.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.reloads("watch", "success").await, 1);
    assert_eq!(
        w.all_reloads().await,
        1,
        "one save, more than one reload (watch/unchanged = {}, watch/rejected = {})",
        w.reloads("watch", "unchanged").await,
        w.reloads("watch", "rejected").await,
    );
    assert_applied(&w, "watch", 2).await;
    w.assert_alive();
}

#[tokio::test]
async fn reading_the_config_does_not_reload_it() {
    let authz = auth_server().await;
    let files = Files::new(&authz);
    let text = files.single(&["all"]);
    let mut w = Warden::start(files, &text).await;

    // What `cat`, a backup job, `mcp-warden check` or the reload itself do.
    assert_eq!(std::fs::read_to_string(w.config()).unwrap(), text);
    // A reload that should not happen cannot be awaited: give the watcher
    // three debounce windows (100 ms each) to misfire, then check it did not.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        w.all_reloads().await,
        0,
        "reading the file reloaded it (watch/unchanged = {}): the watcher treats \
         access events (IN_OPEN) as changes, so every reload's own read of the \
         file schedules the next one",
        w.reloads("watch", "unchanged").await,
    );
    assert!(w.status().await["last_reload"].is_null());
    w.assert_alive();
}

#[tokio::test]
async fn a_kubernetes_configmap_symlink_swap_applies() {
    let authz = auth_server().await;
    let files = Files::new(&authz);
    let before = files.single(&["all"]);
    let after = files.single(&["project:databases.read", "project:databases.write"]);
    // The kubelet's layout: config.toml -> ..data/config.toml, ..data -> a
    // timestamped directory, swapped by renaming a new symlink over ..data.
    let dir = files.dir.path().to_owned();
    let first = dir.join("..2025_01_01_00_00_00.000000001");
    std::fs::create_dir(&first).unwrap();
    std::fs::write(first.join("config.toml"), &before).unwrap();
    std::os::unix::fs::symlink(first.file_name().unwrap(), dir.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/config.toml", &files.config).unwrap();
    let mut w = Warden::launch(files, &[], false).await;
    assert_eq!(w.scopes().await, Some(vec!["all".to_string()]));

    let second = dir.join("..2025_01_01_00_05_00.000000002");
    std::fs::create_dir(&second).unwrap();
    std::fs::write(second.join("config.toml"), &after).unwrap();
    std::os::unix::fs::symlink(second.file_name().unwrap(), dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    std::fs::remove_dir_all(&first).unwrap();

    w.until_scopes(&["project:databases.read", "project:databases.write"])
        .await;
    w.until_reloads("watch", "success", 1).await;
    assert_applied(&w, "watch", 2).await;
    assert_eq!(w.reloads("watch", "rejected").await, 0);
    w.assert_alive();
}

#[tokio::test]
async fn a_deleted_file_keeps_the_last_good_config_and_a_recreated_one_applies() {
    let authz = auth_server().await;
    let files = Files::new(&authz);
    let before = files.single(&["all"]);
    let after = files.single(&["project:all", "organization:all"]);
    let mut w = Warden::start(files, &before).await;

    std::fs::remove_file(w.config()).unwrap();
    eventually(WITHIN, || async {
        w.log().contains("configuration file is gone").then_some(())
    })
    .await;
    w.assert_alive();
    assert_eq!(w.scopes().await, Some(vec!["all".to_string()]));
    assert_eq!(w.all_reloads().await, 0, "a deletion is not a reload");
    assert_eq!(w.generation().await, 1);
    assert_eq!(
        w.gauge("mcp_warden_config_last_reload_success").await,
        Some(1.0)
    );

    std::fs::write(w.config(), &after).unwrap();
    w.until_scopes(&["project:all", "organization:all"]).await;
    w.until_reloads("watch", "success", 1).await;
    assert_applied(&w, "watch", 2).await;
    assert_eq!(w.reloads("watch", "rejected").await, 0);
    w.assert_alive();
}

#[tokio::test]
async fn a_syntax_error_is_rejected_and_the_old_config_stays() {
    let authz = auth_server().await;
    let files = Files::new(&authz);
    let good = files.single(&["all"]);
    let fixed = files.single(&["project:all"]);
    let broken = format!("{good}\nthis is not toml\n");
    let line = broken
        .lines()
        .position(|l| l == "this is not toml")
        .unwrap()
        + 1;
    let mut w = Warden::start(files, &good).await;

    write_in_place(w.config(), &broken);
    w.until_reloads("watch", "rejected", 1).await;
    w.assert_alive();
    assert_eq!(w.scopes().await, Some(vec!["all".to_string()]));
    assert_eq!(
        w.gauge("mcp_warden_config_last_reload_success").await,
        Some(0.0)
    );
    assert_eq!(w.gauge("mcp_warden_config_generation").await, Some(1.0));
    assert_eq!(w.reloads("watch", "success").await, 0);
    let status = w.status().await;
    assert_eq!(status["config_generation"], 1);
    assert_eq!(status["last_reload"]["trigger"], "watch", "{status:#}");
    assert_eq!(status["last_reload"]["result"], "rejected", "{status:#}");
    let errors = errors_of(&status);
    assert!(
        errors.contains(&format!("line {line}")),
        "the error names line {line}: {errors}"
    );

    // Fixing the file recovers.
    write_in_place(w.config(), &fixed);
    w.until_scopes(&["project:all"]).await;
    w.until_reloads("watch", "success", 1).await;
    assert_applied(&w, "watch", 2).await;
}

#[tokio::test]
async fn a_non_intersecting_override_is_rejected_whole() {
    let authz = auth_server().await;
    let files = Files::new(&authz);
    let good = files.single(&["all"]);
    let bad = files.single(&["account.admin", "teams.read"]);
    let mut w = Warden::start(files, &good).await;

    write_in_place(w.config(), &bad);
    w.until_reloads("watch", "rejected", 1).await;
    w.assert_alive();
    assert_eq!(w.scopes().await, Some(vec!["all".to_string()]));
    assert_eq!(
        w.gauge("mcp_warden_config_last_reload_success").await,
        Some(0.0)
    );
    let status = w.status().await;
    assert_eq!(status["config_generation"], 1, "{status:#}");
    assert_eq!(status["last_reload"]["result"], "rejected", "{status:#}");
    let errors = errors_of(&status);
    assert!(errors.contains("resource \"r\""), "{errors}");
    assert!(errors.contains("[account.admin teams.read]"), "{errors}");
    assert!(
        w.log().contains("configuration reload rejected"),
        "{}",
        w.log()
    );
}

#[tokio::test]
async fn one_bad_resource_rejects_the_whole_reload() {
    let authz = auth_server().await;
    let files = Files::new(&authz);
    let two = |a: &[&str], b: &[&str]| {
        files.text(&format!(
            "{}{}",
            resource_to(
                "a",
                "/a",
                &files.issuer,
                &files.upstream,
                &override_scopes(a)
            ),
            resource_to(
                "b",
                "/b",
                &files.issuer,
                &files.upstream,
                &override_scopes(b)
            ),
        ))
    };
    let good = two(&["all"], &["project:all"]);
    // `a` changes validly, `b` matches nothing: neither may change.
    let half_bad = two(&["organization:all"], &["account.admin", "teams.read"]);
    let mut w = Warden::start(files, &good).await;
    let (prm_a, prm_b) = (
        "/.well-known/oauth-protected-resource/a",
        "/.well-known/oauth-protected-resource/b",
    );
    w.until_scopes_at(prm_a, &["all"]).await;
    w.until_scopes_at(prm_b, &["project:all"]).await;

    write_in_place(w.config(), &half_bad);
    w.until_reloads("watch", "rejected", 1).await;
    w.assert_alive();
    let public = w.files.public;
    assert_eq!(
        w.scopes_at(public, prm_a).await,
        Some(vec!["all".to_string()]),
        "resource a was partially applied"
    );
    assert_eq!(
        w.scopes_at(public, prm_b).await,
        Some(vec!["project:all".to_string()])
    );
    let status = w.status().await;
    assert_eq!(status["config_generation"], 1, "{status:#}");
    let errors = errors_of(&status);
    assert!(errors.contains("resource \"b\""), "{errors}");
    assert!(errors.contains("[account.admin teams.read]"), "{errors}");
    assert!(!errors.contains("resource \"a\""), "{errors}");
    assert_eq!(
        w.gauge("mcp_warden_config_last_reload_success").await,
        Some(0.0)
    );
}

#[tokio::test]
async fn identical_content_does_not_bump_the_generation() {
    let authz = auth_server().await;
    let files = Files::new(&authz);
    let same = files.single(&["all"]);
    let changed = files.single(&["project:all"]);
    let mut w = Warden::start(files, &same).await;

    write_in_place(w.config(), &same);
    // The watcher reloads on the event and finds the same hash.
    w.until_reloads("watch", "unchanged", 1).await;
    let status = w.status().await;
    assert_eq!(status["config_generation"], 1, "{status:#}");
    assert_eq!(status["last_reload"]["result"], "unchanged", "{status:#}");
    assert_eq!(w.reloads("watch", "success").await, 0);
    assert_eq!(w.gauge("mcp_warden_config_generation").await, Some(1.0));
    assert_eq!(w.scopes().await, Some(vec!["all".to_string()]));

    // A real change after it is generation 2, not 3.
    write_in_place(w.config(), &changed);
    w.until_scopes(&["project:all"]).await;
    w.until_reloads("watch", "success", 1).await;
    assert_applied(&w, "watch", 2).await;
    w.assert_alive();
}

#[tokio::test]
async fn a_listen_change_is_reported_and_the_rest_applies() {
    let authz = auth_server().await;
    let files = Files::new(&authz);
    let before = files.single(&["all"]);
    let new_port = free_port();
    let old = format!("listen = \"127.0.0.1:{}\"", files.public);
    let after = files.single(&["project:all"]).replacen(
        &old,
        &format!("listen = \"127.0.0.1:{new_port}\""),
        1,
    );
    assert_ne!(
        before.replacen(&old, "", 1),
        before,
        "the public listen line"
    );
    let mut w = Warden::start(files, &before).await;

    write_in_place(w.config(), &after);
    // Observed on the old port: it still serves, with the new override.
    w.until_scopes(&["project:all"]).await;
    w.until_reloads("watch", "success", 1).await;
    assert_applied(&w, "watch", 2).await;
    let status = w.status().await;
    let restart = status["last_reload"]["restart_required"].to_string();
    assert!(restart.contains("public.listen"), "{status:#}");
    assert!(!restart.contains("admin.listen"), "{status:#}");
    assert!(
        w.http
            .get(format!("http://127.0.0.1:{new_port}{PRM_PATH}"))
            .send()
            .await
            .is_err(),
        "nothing listens on the new address before a restart"
    );
    w.assert_alive();
}

#[tokio::test]
async fn sighup_reloads_with_the_signal_trigger() {
    let authz = auth_server().await;
    let files = Files::new(&authz);
    let text = files.single(&["all"]);
    let mut w = Warden::start(files, &text).await;

    signal("HUP", w.pid);
    w.until_reloads("signal", "unchanged", 1).await;
    let status = w.status().await;
    assert_eq!(status["last_reload"]["trigger"], "signal", "{status:#}");
    assert_eq!(status["last_reload"]["result"], "unchanged", "{status:#}");
    assert_eq!(status["config_generation"], 1);
    assert_eq!(w.all_reloads().await, 1);
    w.assert_alive();
}

#[tokio::test]
async fn post_reload_uses_the_admin_trigger() {
    let authz = auth_server().await;
    let files = Files::new(&authz);
    let good = files.single(&["all"]);
    let bad = format!("{good}\n[nonsense\n");
    let mut w = Warden::start(files, &good).await;
    let reload = format!("http://127.0.0.1:{}/reload", w.files.admin);

    let r = w.http.post(&reload).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let record: Value = r.json().await.unwrap();
    assert_eq!(record["trigger"], "admin", "{record:#}");
    assert_eq!(record["result"], "unchanged", "{record:#}");
    assert_eq!(w.reloads("admin", "unchanged").await, 1);
    assert_eq!(w.status().await["last_reload"]["trigger"], "admin");

    // A bad file: the watcher rejects it, and so does POST /reload, with 422.
    write_in_place(w.config(), &bad);
    w.until_reloads("watch", "rejected", 1).await;
    let r = w.http.post(&reload).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let record: Value = r.json().await.unwrap();
    assert_eq!(record["trigger"], "admin", "{record:#}");
    assert_eq!(record["result"], "rejected", "{record:#}");
    assert!(record["errors"].as_array().is_some_and(|e| !e.is_empty()));
    assert_eq!(w.reloads("admin", "rejected").await, 1);
    assert_eq!(w.scopes().await, Some(vec!["all".to_string()]));
    w.assert_alive();
}

/// A daemon in front of a stateless demo upstream, with an SSE stream open
/// through it (1000 progress events 100 ms apart: far longer than the grace
/// period) whose first event has arrived.
async fn daemon_with_open_stream() -> (Warden, reqwest::Response, AuthServer, Upstream) {
    let authz = auth_server().await;
    let upstream = stateless_upstream().await;
    let files = Files::with_upstream(&authz, &upstream.url);
    let text = files.single(&["all"]);
    let w = Warden::start(files, &text).await;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "count", "arguments": {"n": 1000, "interval_ms": 100}}});
    let mut stream = w
        .http
        .post(format!("http://127.0.0.1:{}/mcp", w.files.public))
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(authz.access_token(RESOURCE, "all"))
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let first = tokio::time::timeout(WITHIN, stream.chunk())
        .await
        .expect("the first event arrives")
        .expect("the stream is open")
        .expect("an event, not the end");
    assert!(String::from_utf8_lossy(&first).contains("notifications/progress"));
    (w, stream, authz, upstream)
}

#[tokio::test]
async fn sigterm_ends_an_open_sse_stream_cleanly_and_exits_0() {
    let (mut w, mut stream, _authz, _upstream) = daemon_with_open_stream().await;

    let signalled = Instant::now();
    signal("TERM", w.pid);
    let reader = tokio::spawn(async move {
        let mut after = Vec::new();
        let end = loop {
            match stream.chunk().await {
                Ok(Some(chunk)) => after.extend_from_slice(&chunk),
                Ok(None) => break Ok(signalled.elapsed()),
                Err(e) => break Err(format!("{e:?}")),
            }
        };
        (end, String::from_utf8_lossy(&after).into_owned())
    });
    let (code, _) = w.exit_within(GRACE + Duration::from_secs(3)).await;
    let exited = signalled.elapsed();
    assert_eq!(code, Some(0), "{}", w.log());
    assert!(
        exited <= GRACE + Duration::from_secs(1),
        "exited {exited:?} after SIGTERM; shutdown_grace is {GRACE:?}"
    );
    let (end, after) = tokio::time::timeout(WITHIN, reader)
        .await
        .expect("the client's stream ends")
        .unwrap();
    let ended = end.unwrap_or_else(|e| panic!("the stream ended with an error: {e}"));
    assert!(
        after.contains("notifications/progress"),
        "the stream kept flowing during the grace period: {after:?}"
    );
    assert!(
        ended <= exited,
        "the stream ended ({ended:?}) before the exit"
    );
}

#[tokio::test]
async fn a_second_sigint_exits_at_once() {
    let (mut w, _stream, _authz, _upstream) = daemon_with_open_stream().await;
    signal("INT", w.pid);
    // Two signals delivered before the first is handled collapse into one:
    // wait until the drain has begun. The open stream holds the process.
    eventually(WITHIN, || async {
        w.log().contains("shutting down").then_some(())
    })
    .await;
    w.assert_alive();
    signal("INT", w.pid);
    let (code, took) = w.exit_within(GRACE + Duration::from_secs(3)).await;
    assert_eq!(code, Some(130), "{}", w.log());
    assert!(
        took < GRACE,
        "the second SIGINT took {took:?}: it waited for the drain"
    );
    assert!(w.log().contains("second SIGINT"), "{}", w.log());
}

/// Every datagram the daemon sends to a `NOTIFY_SOCKET` the test owns.
struct NotifySocket {
    path: PathBuf,
    _dir: tempfile::TempDir,
    received: Arc<Mutex<Vec<String>>>,
}

impl NotifySocket {
    fn bind() -> NotifySocket {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = tokio::net::UnixDatagram::bind(&path).expect("bind the notify socket");
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf).await {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().unwrap().push(text);
            }
        });
        NotifySocket {
            path,
            _dir: dir,
            received,
        }
    }

    fn env(&self) -> (&'static str, String) {
        ("NOTIFY_SOCKET", self.path.display().to_string())
    }

    fn all(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }

    /// The datagrams other than watchdog pings.
    fn states(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|m| m.trim() != "WATCHDOG=1")
            .collect()
    }

    async fn until(&self, what: &str, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + WITHIN;
        while !done(&self.states()) {
            assert!(
                Instant::now() < deadline,
                "no {what} within {WITHIN:?}; got {:?}",
                self.all()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn has_line(message: &str, line: &str) -> bool {
    message.lines().any(|l| l == line)
}

fn line_value<'a>(message: &'a str, key: &str) -> Option<&'a str> {
    message.lines().find_map(|l| l.strip_prefix(key))
}

#[tokio::test]
async fn sd_notify_ready_reloading_ready_stopping_in_order() {
    let authz = auth_server().await;
    let notify = NotifySocket::bind();
    let files = Files::new(&authz);
    let before = files.single(&["all"]);
    let after = files.single(&["project:all"]);
    std::fs::write(&files.config, &before).unwrap();
    let mut w = Warden::launch(files, &[notify.env()], false).await;

    notify
        .until("READY=1", |m| m.iter().any(|m| has_line(m, "READY=1")))
        .await;
    write_in_place(w.config(), &after);
    w.until_scopes(&["project:all"]).await;
    notify
        .until(
            "READY=1 after RELOADING=1 (systemd keeps the unit in \"reloading\" until it comes)",
            |m| {
                m.iter()
                    .skip_while(|m| !has_line(m, "RELOADING=1"))
                    .any(|m| has_line(m, "READY=1"))
            },
        )
        .await;
    signal("TERM", w.pid);
    let (code, _) = w.exit_within(GRACE + Duration::from_secs(3)).await;
    assert_eq!(code, Some(0), "{}", w.log());
    notify
        .until("STOPPING=1", |m| {
            m.iter().any(|m| has_line(m, "STOPPING=1"))
        })
        .await;

    let states = notify.states();
    assert_eq!(
        states.len(),
        4,
        "READY, RELOADING, READY, STOPPING: {states:?}"
    );
    let ready = &states[0];
    assert!(has_line(ready, "READY=1"), "{states:?}");
    let status = line_value(ready, "STATUS=").expect("READY=1 comes with a STATUS=");
    assert!(status.contains("config gen 1"), "{status}");
    let reloading = &states[1];
    assert!(has_line(reloading, "RELOADING=1"), "{states:?}");
    let usec = line_value(reloading, "MONOTONIC_USEC=")
        .expect("RELOADING=1 comes with MONOTONIC_USEC=")
        .parse::<u64>()
        .expect("MONOTONIC_USEC is a number");
    assert!(usec > 0);
    assert!(has_line(&states[2], "READY=1"), "{states:?}");
    assert!(has_line(&states[3], "STOPPING=1"), "{states:?}");
}

/// Waits for at least `n` `WATCHDOG=1` datagrams.
async fn until_watchdog_pings(notify: &NotifySocket, n: usize) {
    let deadline = Instant::now() + WITHIN;
    loop {
        let pings = notify
            .all()
            .iter()
            .filter(|m| has_line(m, "WATCHDOG=1"))
            .count();
        if pings >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{pings} WATCHDOG=1 pings within {WITHIN:?} (WATCHDOG_USEC=200000: one per 100 ms expected); got {:?}",
            notify.all()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn sd_notify_watchdog_pings_when_watchdog_pid_names_the_daemon() {
    let authz = auth_server().await;
    let notify = NotifySocket::bind();
    let files = Files::new(&authz);
    std::fs::write(&files.config, files.single(&["all"])).unwrap();
    let env = [notify.env(), ("WATCHDOG_USEC", "200000".to_string())];
    let mut w = Warden::launch(files, &env, true).await;
    until_watchdog_pings(&notify, 3).await;
    w.assert_alive();
}

#[tokio::test]
async fn sd_notify_watchdog_pings_when_watchdog_pid_is_unset() {
    // libsystemd's sd_watchdog_enabled(3) only rejects a WATCHDOG_PID that
    // names another process; unset, the watchdog is this process's. (The
    // sd-notify crate's `watchdog_enabled` requires the variable to be set.)
    let authz = auth_server().await;
    let notify = NotifySocket::bind();
    let files = Files::new(&authz);
    std::fs::write(&files.config, files.single(&["all"])).unwrap();
    let env = [notify.env(), ("WATCHDOG_USEC", "200000".to_string())];
    let mut w = Warden::launch(files, &env, false).await;
    until_watchdog_pings(&notify, 3).await;
    w.assert_alive();
}

#[tokio::test]
async fn reload_latency_write_to_visible() {
    let authz = auth_server().await;
    let files = Files::new(&authz);
    let names = [
        "databases",
        "collections",
        "documents",
        "attributes",
        "indexes",
        "buckets",
        "files",
        "functions",
        "executions",
        "deployments",
        "variables",
        "sites",
        "users",
        "sessions",
        "teams",
        "memberships",
        "messages",
        "topics",
        "subscribers",
        "providers",
    ];
    let first = files.single(&["all"]);
    let texts: Vec<(String, Vec<String>)> = names
        .iter()
        .map(|n| {
            let scope = format!("project:{n}.read");
            (files.single(&[&scope]), vec![scope])
        })
        .collect();
    let w = Warden::start(files, &first).await;

    let mut latencies = Vec::new();
    for (i, (text, want)) in texts.iter().enumerate() {
        let written = Instant::now();
        write_in_place(w.config(), text);
        loop {
            if w.scopes().await.as_ref() == Some(want) {
                break;
            }
            assert!(
                written.elapsed() < Duration::from_secs(5),
                "edit {i} not visible within 5 s:\n{}",
                w.log()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(written.elapsed());
        // The next edit starts after this reload is fully accounted for.
        w.until_reloads("watch", "success", i as u64 + 1).await;
    }
    latencies.sort();
    let median = (latencies[9] + latencies[10]) / 2;
    let max = latencies[19];
    eprintln!(
        "reload latency, write to visible on the public listener, over {} edits: median {median:?}, max {max:?} (min {:?})",
        latencies.len(),
        latencies[0]
    );
    assert_eq!(w.generation().await, 21);
    assert_eq!(w.reloads("watch", "rejected").await, 0);
}
