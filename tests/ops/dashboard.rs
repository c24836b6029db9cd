//! The Grafana dashboard: variables, rows, a datasource and a query on every
//! panel; and every expression in it and in the alert rules: it parses and
//! selects only metrics the daemon exports.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::promql::{exported_families, metric_names, substitute};
use crate::rules::rule_exprs;
use crate::{read, run, text};

pub fn dashboard() -> Value {
    serde_json::from_str(&read("dashboards/mcp-warden.json"))
        .expect("dashboards/mcp-warden.json is valid JSON")
}

/// Every panel, including those nested in collapsed rows.
pub fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(nested) = p["panels"].as_array() {
            out.extend(nested);
        }
    }
    out
}

/// (panel title, expression) for every query of every panel.
pub fn dashboard_exprs(d: &Value) -> Vec<(String, String)> {
    panels(d)
        .into_iter()
        .filter(|p| p["type"] != "row")
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or("?").to_string();
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| (title.clone(), t["expr"].as_str().unwrap_or("").to_string()))
        })
        .collect()
}

pub fn variable<'a>(d: &'a Value, name: &str) -> &'a Value {
    d["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no `{name}` template variable"))
}

/// The series selector inside `label_values(<selector>, <label>)`.
pub fn variable_selector(v: &Value) -> String {
    let q = v["query"]["query"]
        .as_str()
        .or(v["query"].as_str())
        .unwrap();
    let inner = q
        .strip_prefix("label_values(")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not a label_values query: {q}"));
    inner
        .rsplit_once(',')
        .expect("label_values(selector, label)")
        .0
        .to_string()
}

#[test]
fn dashboard_has_variables_rows_and_a_datasource_on_every_panel() {
    let d = dashboard();
    assert!(d["schemaVersion"].as_u64().unwrap() >= 39);

    let ds = variable(&d, "datasource");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    for (name, metric) in [
        ("instance", "mcp_warden_build_info"),
        ("resource", "mcp_warden_discovery_age_seconds"),
    ] {
        let v = variable(&d, name);
        assert_eq!(v["type"], "query");
        assert_eq!(v["datasource"]["uid"], "${datasource}", "{name}");
        let q = v["query"]["query"].as_str().unwrap();
        assert!(
            q.starts_with(&format!("label_values({metric}")) && q.ends_with(&format!(", {name})")),
            "{name}: {q}"
        );
    }

    let all = panels(&d);
    let rows: Vec<&str> = all
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            "Traffic",
            "Authentication",
            "Authorization server",
            "Scope policy",
            "Configuration",
            "Upstream",
            "Process"
        ]
    );
    let mut ids = BTreeSet::new();
    for p in &all {
        let title = p["title"].as_str().unwrap_or("?");
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "duplicate id: {title}"
        );
        assert!(p["gridPos"]["w"].as_u64().is_some(), "{title}: no gridPos");
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        assert!(!targets.is_empty(), "{title}: no targets");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
            assert!(
                !t["expr"].as_str().unwrap_or("").trim().is_empty(),
                "{title}"
            );
        }
    }
}

#[test]
fn every_expression_uses_only_exported_metrics() {
    let families = exported_families();
    let exported: BTreeSet<&String> = families.iter().flatten().collect();
    let d = dashboard();
    let mut exprs = dashboard_exprs(&d);
    for name in ["instance", "resource"] {
        exprs.push((
            format!("${name} variable"),
            variable_selector(variable(&d, name)),
        ));
    }
    let alerts: Vec<(String, String)> = rule_exprs(&read("dashboards/alerts.yml"))
        .into_iter()
        .map(|e| ("alerts.yml".to_string(), e))
        .collect();

    let mut used = BTreeSet::new();
    let mut unknown = Vec::new();
    for (origin, expr) in exprs.iter().chain(&alerts) {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{origin}: no metric in `{expr}`");
        for name in names {
            // `up` is Prometheus's own per-target series (the instance-down alert).
            let ok = exported.contains(&name) || (name == "up" && origin == "alerts.yml");
            if !ok {
                unknown.push(format!("{origin}: {name}"));
            }
            used.insert(name);
        }
    }
    assert!(
        unknown.is_empty(),
        "metrics the daemon does not export:\n{}",
        unknown.join("\n")
    );

    // And every exported metric is shown or alerted on.
    let unused: Vec<&String> = families
        .iter()
        .filter(|names| !names.iter().any(|n| used.contains(n)))
        .map(|names| &names[0])
        .collect();
    assert!(
        unused.is_empty(),
        "exported but never shown or alerted on: {unused:?}"
    );
}

#[test]
fn every_dashboard_expression_parses() {
    // promtool has no "parse this PromQL" command; recording rules it parses.
    let d = dashboard();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let exprs = dashboard_exprs(&d);
    for (i, (_, expr)) in exprs.iter().enumerate() {
        let quoted = serde_json::to_string(&substitute(expr)).unwrap(); // JSON strings are YAML
        rules.push_str(&format!(
            "      - record: dashboard:expr_{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dashboard.rules.yml"), &rules).unwrap();
    let o = run(
        "promtool",
        &["check", "rules", "dashboard.rules.yml"],
        dir.path(),
    );
    assert!(
        o.status.success(),
        "dashboard PromQL does not parse:\n{}\n{rules}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{}",
        text(&o)
    );
}
