//! The live check: the real daemon (in-process, in front of the demo
//! authorization server and a stateless demo upstream), a real Prometheus
//! (Debian package `prometheus`) on loopback scraping the admin `/metrics`
//! every second and loading `dashboards/alerts.yml`, some traffic through the
//! gateway, then every PromQL expression of the dashboard and of the alert
//! rules evaluated through Prometheus's HTTP API.
//!
//! What counts as "returns data":
//! - Dashboard queries (and the `instance` and `resource` variable queries)
//!   as Grafana would send them, template variables substituted: the query
//!   succeeds and its result is not empty.
//! - Alert rules: the expression as written must succeed (it is normally
//!   empty: no threshold is crossed). Then every comparison in it is turned
//!   into a `bool` comparison (`a > 0.25` becomes `a > bool 0.25`), which
//!   keeps every series the comparison matches, with value 0 or 1, instead of
//!   dropping the ones below the threshold; that form must be non-empty. So
//!   each side of every comparison and of every `and on (...)` selects
//!   series, and their labels match, without depending on an alert firing.
//! - Every metric name any expression selects has series scraped from the
//!   daemon (`up` from the scrape job), so a query naming a metric the
//!   daemon does not export fails with that name, even inside an `or`.
//! - Every alert rule Prometheus loaded evaluates with health `ok`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mcp_warden::demo::upstream::{Upstream, UpstreamBehaviour, UpstreamOptions};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::dashboard::{dashboard, dashboard_exprs, variable, variable_selector};
use crate::promql::metric_names;
use crate::rules::rule_exprs;
use crate::support::{AuthServer, Behaviour, auth_server, config, curated_scopes, resource_to};
use crate::{path, read};

const NAME: &str = "demo";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const INSTALL: &str = "apt-get install -y prometheus (./scripts/test does this when run as root)";
/// Everything, from the daemon's start to the last query, stays within this.
const BUDGET: Duration = Duration::from_secs(55);
/// Scrapes of the daemon before the first evaluation (rate windows need 2).
const MIN_SAMPLES: u64 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_and_alert_expression_returns_data_from_a_live_prometheus() {
    let deadline = Instant::now() + BUDGET;
    let rules_yaml = read("dashboards/alerts.yml");
    let job = scrape_job(&rules_yaml);

    let authz = auth_server().await;
    let upstream = Upstream::start(UpstreamOptions {
        stateless: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let extra = format!(
        "{}\n[resource.tools]\ndeploy = [\"project:all\"]\n",
        curated_scopes()
    );
    let daemon = crate::support::start(&config(&resource_to(
        NAME,
        "/mcp",
        &authz.issuer,
        &upstream.url,
        &extra,
    )))
    .await
    .expect("the daemon starts");
    let public = format!("http://{}", daemon.public_addr);
    let admin = format!("http://{}", daemon.admin_addr);
    let target = daemon.admin_addr.to_string();
    let c = client();

    // One of each request, checked, before Prometheus starts.
    let traffic = Traffic::new(&public, &authz);
    traffic.round(&c, true).await;

    let prometheus = Prometheus::start(&job, &target, &path("dashboards/alerts.yml")).await;

    // Steady traffic so every rate() window has movement.
    let rounds = Arc::new(AtomicUsize::new(0));
    let background = {
        let (c, traffic, rounds) = (c.clone(), traffic.clone(), rounds.clone());
        tokio::spawn(async move {
            loop {
                traffic.round(&c, false).await;
                rounds.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    // The rare events (forced refreshes, an outage, upstream 5xx) between
    // scrapes, so increase() and the refresh-duration histogram see them
    // move; then enough scrapes for every series, old or new, to have a
    // run of samples.
    let scrapes = Scrapes::new(&job, &target);
    scrapes.at_least(&prometheus, 2, deadline).await;
    one_off_events(&c, &admin, &authz, &upstream, &traffic).await;
    let now = scrapes.count(&prometheus).await;
    scrapes
        .at_least(&prometheus, MIN_SAMPLES.max(now + 3), deadline)
        .await;

    let vars = BTreeMap::from([
        ("resource", NAME.to_string()),
        ("instance", target.clone()),
        ("__rate_interval", "1m".to_string()),
        ("__interval", "15s".to_string()),
        ("__range", "5m".to_string()),
        ("datasource", "prometheus".to_string()),
    ]);
    let checks = checks(&rules_yaml, &vars, &job, &target);
    // Normally the first pass is clean; later passes (for at most 10 s) only
    // absorb a scrape or a rule evaluation that is a moment late.
    let retry_until = deadline.min(Instant::now() + Duration::from_secs(10));
    let failures = loop {
        let failures = run_checks(&prometheus, &checks).await;
        if failures.is_empty() || Instant::now() + Duration::from_secs(1) > retry_until {
            break failures;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    background.abort();

    // The check catches what it is for: a query naming a metric the daemon
    // does not export comes back empty and fails.
    let bogus = [Check {
        kind: Kind::Dashboard,
        origin: "self-check".to_string(),
        what: What::NonEmpty(format!(
            "sum by (route) (rate(mcp_warden_not_exported_total{{instance=~\"{target}\"}}[1m]))"
        )),
    }];
    assert_eq!(
        run_checks(&prometheus, &bogus).await.len(),
        1,
        "a query for a metric the daemon does not export must fail the check"
    );
    assert!(
        rounds.load(Ordering::Relaxed) > 0,
        "no traffic during the scrapes"
    );
    assert!(
        failures.is_empty(),
        "{} of {} live checks failed:\n\n{}\n\n{}",
        failures.len(),
        checks.len(),
        failures.join("\n\n"),
        prometheus.log_tail()
    );

    let count = |kind: Kind| checks.iter().filter(|c| c.kind == kind).count();
    println!(
        "live Prometheus: verified {} dashboard expressions, {} dashboard variable queries, \
         {} alert rule expressions (each as written and with bool comparisons), \
         {} metric names scraped, rule health of all alerts",
        count(Kind::Dashboard),
        count(Kind::Variable),
        count(Kind::Alert) / 2,
        count(Kind::Metric),
    );
    drop(prometheus); // kills and waits for it
    daemon.shutdown().await;
}

/// How many times Prometheus has scraped the daemon (within the last minute,
/// longer than the whole test).
struct Scrapes {
    query: String,
}

impl Scrapes {
    fn new(job: &str, target: &str) -> Scrapes {
        Scrapes {
            query: format!("count_over_time(up{{job=\"{job}\", instance=\"{target}\"}}[1m])"),
        }
    }

    async fn count(&self, p: &Prometheus) -> u64 {
        p.query(&self.query)
            .await
            .ok()
            .and_then(|d| d["result"][0]["value"][1].as_str()?.parse::<f64>().ok())
            .unwrap_or(0.0) as u64
    }

    async fn at_least(&self, p: &Prometheus, n: u64, deadline: Instant) {
        loop {
            let count = self.count(p).await;
            if count >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus scraped the daemon's /metrics only {count} times (want {n}); \
                 targets: {}\n{}",
                p.get("/api/v1/targets").await,
                p.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The job name the instance-down rule matches (`up{job="..."}`): the scrape
/// job must have it or that alert could never fire.
fn scrape_job(rules_yaml: &str) -> String {
    rule_exprs(rules_yaml)
        .iter()
        .find_map(|e| {
            let rest = e.split_once("up{")?.1;
            let rest = rest.split_once("job=\"")?.1;
            Some(rest.split_once('"')?.0.to_string())
        })
        .expect("dashboards/alerts.yml has an `up{job=\"...\"}` rule naming the scrape job")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// One kind of request of each through the public listener.
#[derive(Clone)]
struct Traffic {
    mcp: String,
    prm: String,
    good: String,
    wrong_audience: String,
}

fn call(tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": tool, "arguments": {"message": "m"}}})
}

impl Traffic {
    fn new(public: &str, authz: &AuthServer) -> Traffic {
        Traffic {
            mcp: format!("{public}/mcp"),
            prm: format!("{public}/.well-known/oauth-protected-resource/mcp"),
            good: authz.access_token(RESOURCE, "all"),
            wrong_audience: authz.access_token("https://other.example/mcp", "all"),
        }
    }

    async fn post(&self, c: &reqwest::Client, token: Option<&str>, tool: &str) -> Option<u16> {
        let mut req = c.post(&self.mcp).json(&call(tool));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.ok().map(|r| r.status().as_u16())
    }

    /// PRM, no token (401), a good token (200), a garbage token (401), a
    /// token for another resource (401), a tool the scope does not allow
    /// (403). `check`: assert each status (the first round).
    async fn round(&self, c: &reqwest::Client, check: bool) {
        let prm = c
            .get(&self.prm)
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16());
        let got = [
            ("PRM", prm, 200),
            ("no token", self.post(c, None, "echo").await, 401),
            (
                "good token",
                self.post(c, Some(&self.good), "echo").await,
                200,
            ),
            (
                "invalid token",
                self.post(c, Some("not-a-jwt"), "echo").await,
                401,
            ),
            (
                "wrong audience",
                self.post(c, Some(&self.wrong_audience), "echo").await,
                401,
            ),
            (
                "insufficient scope",
                self.post(c, Some(&self.good), "deploy").await,
                403,
            ),
        ];
        if check {
            for (what, status, want) in got {
                assert_eq!(status, Some(want), "{what}");
            }
        }
    }
}

/// A forced refresh that succeeds, one that fails (authorization server
/// answering 500) and upstream 5xx answers: the series behind the failure,
/// refresh and 5xx panels.
async fn one_off_events(
    c: &reqwest::Client,
    admin: &str,
    authz: &AuthServer,
    upstream: &Upstream,
    traffic: &Traffic,
) {
    let refresh = |q: &'static str| {
        let url = format!("{admin}/refresh{q}");
        async move { c.post(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(refresh("").await, 200, "forced refresh");
    authz.set_behaviour(Behaviour::Status(500));
    assert_eq!(
        refresh("?resource=demo").await,
        502,
        "forced refresh while the authorization server answers 500"
    );
    authz.set_behaviour(Behaviour::Normal);
    assert_eq!(refresh("").await, 200, "forced refresh after the outage");

    upstream.set_behaviour(UpstreamBehaviour::Status(500));
    for _ in 0..3 {
        let status = traffic.post(c, Some(&traffic.good), "echo").await;
        assert!(
            status.is_some_and(|s| s >= 500),
            "upstream answering 500: got {status:?}"
        );
    }
    upstream.set_behaviour(UpstreamBehaviour::Normal);
}

/// A child process killed (and waited for) when dropped, also on a panic.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real Prometheus on a free loopback port with a temporary TSDB. Fields
/// drop in order: the process is gone before its directory is removed.
struct Prometheus {
    _child: KillOnDrop,
    base: String,
    log: PathBuf,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start(job: &str, target: &str, rules: &Path) -> Prometheus {
        let binary = ["/usr/bin/prometheus", "prometheus"]
            .into_iter()
            .find(|b| !b.starts_with('/') || Path::new(b).exists())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        let quote = |s: &str| serde_json::to_string(s).unwrap(); // JSON strings are YAML
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: {}\n    static_configs:\n      - targets: [{}]\n",
                quote(&rules.display().to_string()),
                quote(job),
                quote(target),
            ),
        )
        .unwrap();
        // The port is free when picked; another process may take it before
        // Prometheus binds, so a bind failure picks another.
        for _attempt in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let log = dir.path().join(format!("prometheus-{port}.log"));
            let out = File::create(&log).unwrap();
            let child = Command::new(binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot run `{binary}` ({e}); this test needs it: {INSTALL}")
                });
            let mut child = KillOnDrop(child);
            let base = format!("http://127.0.0.1:{port}");
            let http = client();
            let started = Instant::now();
            loop {
                let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
                if let Some(status) = child.0.try_wait().unwrap() {
                    if log_text().contains("address already in use") {
                        break;
                    }
                    panic!(
                        "prometheus exited ({status}) before it was ready:\n{}",
                        log_text()
                    );
                }
                let ready = http.get(format!("{base}/-/ready")).send().await;
                if ready.is_ok_and(|r| r.status().is_success()) {
                    return Prometheus {
                        _child: child,
                        base,
                        log,
                        http,
                        _dir: dir,
                    };
                }
                assert!(
                    started.elapsed() < Duration::from_secs(15),
                    "prometheus not ready within 15 s:\n{}",
                    log_text()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("prometheus found no free port in 3 attempts");
    }

    async fn get(&self, path_and_query: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path_and_query}: {e}"));
        r.json()
            .await
            .unwrap_or_else(|e| panic!("GET {path_and_query}: not JSON: {e}"))
    }

    /// `/api/v1/<api>` with the given query parameters: its `data`, or the
    /// error Prometheus reports.
    async fn api(&self, api: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let url = url::Url::parse_with_params(&format!("{}/api/v1/{api}", self.base), params)
            .expect("valid URL");
        let r = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let v: Value = r.json().await.map_err(|e| format!("not JSON: {e}"))?;
        if v["status"] != "success" {
            return Err(format!("{}: {}", v["errorType"], v["error"]));
        }
        Ok(v["data"].clone())
    }

    async fn query(&self, expr: &str) -> Result<Value, String> {
        self.api("query", &[("query", expr)]).await
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("--- prometheus log (last 20 lines)\n{tail}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dashboard,
    Variable,
    Alert,
    Metric,
    RulesHealth,
}

/// One thing to ask the live Prometheus.
struct Check {
    kind: Kind,
    /// Where it comes from, for the failure message.
    origin: String,
    what: What,
}

enum What {
    /// An instant query that must succeed and return data.
    NonEmpty(String),
    /// An instant query that must succeed (an alert as written).
    Succeeds(String),
    /// `label_values(selector, label)` must list `want`.
    LabelValues {
        selector: String,
        label: String,
        want: String,
    },
    /// Every rule of every group evaluates with health `ok`; `rules` of them.
    RulesHealthy { rules: usize },
}

fn checks(rules_yaml: &str, vars: &BTreeMap<&str, String>, job: &str, target: &str) -> Vec<Check> {
    let d = dashboard();
    let mut out = Vec::new();
    let mut names = BTreeSet::new();

    for (name, want) in [("instance", target), ("resource", NAME)] {
        let v = variable(&d, name);
        let q = v["query"]["query"]
            .as_str()
            .or(v["query"].as_str())
            .unwrap();
        let label = q
            .trim_end_matches(')')
            .rsplit_once(',')
            .expect("label_values(selector, label)")
            .1
            .trim()
            .to_string();
        let selector = substitute(&variable_selector(v), vars);
        names.extend(metric_names(&selector));
        out.push(Check {
            kind: Kind::Variable,
            origin: format!("dashboard variable `{name}`: {q}"),
            what: What::LabelValues {
                selector,
                label,
                want: want.to_string(),
            },
        });
    }

    for (title, expr) in dashboard_exprs(&d) {
        let expr = substitute(&expr, vars);
        names.extend(metric_names(&expr));
        out.push(Check {
            kind: Kind::Dashboard,
            origin: format!("dashboard panel \"{title}\""),
            what: What::NonEmpty(expr),
        });
    }

    let alerts: Vec<&str> = rules_yaml
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- alert:"))
        .map(str::trim)
        .collect();
    let exprs = rule_exprs(rules_yaml);
    assert_eq!(alerts.len(), exprs.len(), "one expr per alert");
    for (alert, expr) in alerts.iter().zip(exprs) {
        names.extend(metric_names(&expr));
        out.push(Check {
            kind: Kind::Alert,
            origin: format!("alert {alert} (as written)"),
            what: What::Succeeds(expr.clone()),
        });
        out.push(Check {
            kind: Kind::Alert,
            origin: format!("alert {alert} (thresholds as bool comparisons)"),
            what: What::NonEmpty(with_bool(&expr)),
        });
    }

    for name in names {
        out.push(Check {
            kind: Kind::Metric,
            origin: format!("metric `{name}` (selected by a dashboard or alert expression)"),
            what: What::NonEmpty(format!("{name}{{job=\"{job}\", instance=\"{target}\"}}")),
        });
    }
    out.push(Check {
        kind: Kind::RulesHealth,
        origin: "alert rules loaded from dashboards/alerts.yml".to_string(),
        what: What::RulesHealthy {
            rules: alerts.len(),
        },
    });
    out
}

/// The failures, each with its origin, the query and what came back.
async fn run_checks(p: &Prometheus, checks: &[Check]) -> Vec<String> {
    let mut failures = Vec::new();
    for check in checks {
        let problem = match &check.what {
            What::NonEmpty(expr) => match p.query(expr).await {
                Err(e) => Some(format!("query error {e}\n  query: {expr}")),
                Ok(data) if !has_data(&data) => Some(format!(
                    "no data (does the daemon export every metric and label it selects?)\n  query: {expr}\n  answer: {data}"
                )),
                Ok(_) => None,
            },
            What::Succeeds(expr) => p
                .query(expr)
                .await
                .err()
                .map(|e| format!("query error {e}\n  query: {expr}")),
            What::LabelValues {
                selector,
                label,
                want,
            } => match p
                .api(&format!("label/{label}/values"), &[("match[]", selector)])
                .await
            {
                Err(e) => Some(format!("label values error {e}\n  match[]: {selector}")),
                Ok(data) if !data.as_array().is_some_and(|a| a.iter().any(|v| v == want)) => {
                    Some(format!(
                        "`{label}` values do not include {want:?}: {data}\n  match[]: {selector}"
                    ))
                }
                Ok(_) => None,
            },
            What::RulesHealthy { rules } => match p.api("rules", &[]).await {
                Err(e) => Some(format!("rules API error {e}")),
                Ok(data) => {
                    let all: Vec<&Value> = data["groups"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
                        .collect();
                    let bad: Vec<String> = all
                        .iter()
                        .filter(|r| r["health"] != "ok")
                        .map(|r| format!("{} health {} {}", r["name"], r["health"], r["lastError"]))
                        .collect();
                    if all.len() != *rules {
                        Some(format!("{} rules loaded, want {rules}", all.len()))
                    } else if !bad.is_empty() {
                        Some(bad.join("; "))
                    } else {
                        None
                    }
                }
            },
        };
        if let Some(problem) = problem {
            failures.push(format!("{}: {problem}", check.origin));
        }
    }
    failures
}

/// A vector or matrix with at least one series; a scalar or string is data.
fn has_data(data: &Value) -> bool {
    match data["resultType"].as_str() {
        Some("vector" | "matrix") => data["result"].as_array().is_some_and(|r| !r.is_empty()),
        Some("scalar" | "string") => true,
        _ => false,
    }
}

/// Grafana's `$name`, `${name}` and `${name:format}` replaced from `vars`;
/// an unknown variable fails the test (a new one needs a value here).
fn substitute(expr: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find('}').expect("closing } of ${...}");
            let inner = &braced[..end];
            (inner.split(':').next().unwrap(), end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let value = vars
            .get(name)
            .unwrap_or_else(|| panic!("no value for Grafana variable `{name}` in `{expr}`"));
        out.push_str(value);
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// Every comparison operator outside selectors, ranges and strings gets the
/// `bool` modifier: the comparison then keeps all the series it matches.
fn with_bool(expr: &str) -> String {
    let c: Vec<char> = expr.chars().collect();
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0usize; // inside {} or []
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if let Some(q) = quote {
            out.push(ch);
            if ch == '\\' && i + 1 < c.len() {
                out.push(c[i + 1]);
                i += 1;
            } else if ch == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match ch {
            '"' | '\'' | '`' => quote = Some(ch),
            '{' | '[' => depth += 1,
            '}' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        let two: String = c[i..(i + 2).min(c.len())].iter().collect();
        let op = if depth > 0 {
            None
        } else if ["==", "!=", ">=", "<="].contains(&two.as_str()) {
            Some(two)
        } else if ch == '>' || ch == '<' {
            Some(ch.to_string())
        } else {
            None
        };
        let Some(op) = op else {
            out.push(ch);
            i += 1;
            continue;
        };
        out.push_str(&op);
        i += op.len();
        let next: String = c[i..].iter().collect();
        if !next.trim_start().starts_with("bool") {
            out.push_str(" bool");
            if !next.starts_with(char::is_whitespace) {
                out.push(' ');
            }
        }
    }
    out
}

#[test]
fn bool_comparisons_and_substitution() {
    assert_eq!(
        with_bool(r#"up{job="mcp-warden"} == 0"#),
        r#"up{job="mcp-warden"} == bool 0"#
    );
    assert_eq!(
        with_bool("a{r!=\"x>y\"} > 0.8 * (b + c[5m]) and on (j) d >= 20 unless e != bool 1 or f<2"),
        "a{r!=\"x>y\"} > bool 0.8 * (b + c[5m]) and on (j) d >= bool 20 unless e != bool 1 or f< bool 2"
    );
    let vars = BTreeMap::from([
        ("resource", "demo".to_string()),
        ("__rate_interval", "1m".to_string()),
    ]);
    assert_eq!(
        substitute(
            r#"rate(x{resource=~"$resource", r="${resource:regex}"}[$__rate_interval])"#,
            &vars
        ),
        r#"rate(x{resource=~"demo", r="demo"}[1m])"#
    );
}
