//! The alert rules: `promtool check rules`, `promtool test rules`, a runbook
//! on every alert, and the expressions for the metric-name check.

use crate::{path, read, run, text};

#[test]
fn alert_rules_pass_promtool_check_and_unit_tests() {
    let dir = path("dashboards");
    let o = run("promtool", &["check", "rules", "alerts.yml"], &dir);
    assert!(o.status.success(), "promtool check rules:\n{}", text(&o));
    let o = run("promtool", &["test", "rules", "alerts.test.yml"], &dir);
    assert!(o.status.success(), "promtool test rules:\n{}", text(&o));
}

/// The `expr:` of every rule in a rules file we write ourselves: either one
/// line, or a `|` block scalar (the lines indented deeper than the key).
pub fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut exprs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if value != "|" && value != "|-" {
            exprs.push(value.to_string());
            continue;
        }
        let block: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || indent(l) > indent(line))
            .map(|l| l.trim())
            .collect();
        exprs.push(block.join("\n").trim().to_string());
    }
    exprs
}

#[test]
fn every_alert_has_a_runbook_and_the_expected_names() {
    let yaml = read("dashboards/alerts.yml");
    let alerts: Vec<&str> = yaml
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- alert:"))
        .map(str::trim)
        .collect();
    let runbooks = yaml
        .lines()
        .filter(|l| l.trim_start().starts_with("runbook:"))
        .count();
    assert_eq!(
        alerts,
        [
            "McpWardenAuthServerUnreachable",
            "McpWardenMetadataNearMaxStale",
            "McpWardenScopeOverrideMismatch",
            "McpWardenConfigReloadRejected",
            "McpWardenTokenVerificationFailures",
            "McpWardenUpstreamErrors",
            "McpWardenFileDescriptorsNearLimit",
            "McpWardenDown",
        ]
    );
    assert_eq!(runbooks, alerts.len(), "every alert needs a runbook line");
    assert_eq!(rule_exprs(&yaml).len(), alerts.len());
    let tests = read("dashboards/alerts.test.yml");
    for alert in &alerts {
        assert!(
            tests.contains(&format!("alertname: {alert}")),
            "alerts.test.yml has no test for {alert}"
        );
    }
}
