//! The metric names the daemon exports, and a small PromQL reader that finds
//! the metric names an expression selects (a static check; the live check
//! against a real Prometheus is separate).

use std::collections::BTreeSet;

/// The metric names the daemon exports (issue 4): the interface every
/// dashboard panel and alert rule may rely on, and nothing else.
const COUNTERS: &[&str] = &[
    "discovery_cache_hits_total",
    "discovery_cache_misses_total",
    "discovery_stale_serves_total",
    "discovery_refresh_total",
    "discovery_refresh_failures_total",
    "jwks_refresh_total",
    "token_verifications_total",
    "token_cache_hits_total",
    "http_requests_total",
    "upstream_requests_total",
    "config_reloads_total",
    "forced_refreshes_total",
];
const GAUGES: &[&str] = &[
    "discovery_age_seconds",
    "discovery_ttl_seconds",
    "discovery_max_stale_seconds",
    "jwks_keys",
    "jwks_age_seconds",
    "advertised_scopes",
    "advertised_scope_chars",
    "advertised_scope_max_chars",
    "scope_override_mismatch",
    "config_last_reload_success",
    "config_last_reload_success_timestamp_seconds",
    "config_generation",
    "runtime_alive_tasks",
    "build_info",
];
const HISTOGRAMS: &[&str] = &[
    "discovery_refresh_duration_seconds",
    "http_request_duration_seconds",
    "upstream_request_duration_seconds",
];
const PROCESS: &[&str] = &[
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
];

/// The metric names a PromQL expression selects: every identifier that is not
/// a function, an aggregation, a keyword, a label (inside `{}` or a grouping
/// list), a string, a duration or a number.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    const AGGREGATIONS: &[&str] = &[
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    const KEYWORDS: &[&str] = &[
        "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
    ];
    const GROUPING: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let c: Vec<char> = expr.chars().collect();
    let skip_ws = |mut i: usize| {
        while i < c.len() && c[i].is_whitespace() {
            i += 1;
        }
        i
    };
    // Index just past the bracket closing the one at `i` (no nesting needed:
    // strings are the only thing inside `{}` that could hold a bracket).
    let skip_to = |mut i: usize, close: char| {
        let mut quote = None;
        while i < c.len() {
            match (quote, c[i]) {
                (Some(_), '\\') => i += 1,
                (Some(q), ch) if ch == q => quote = None,
                (None, '"' | '\'' | '`') => quote = Some(c[i]),
                (None, ch) if ch == close => return i + 1,
                _ => {}
            }
            i += 1;
        }
        i
    };
    let ident_start = |ch: char| ch.is_ascii_alphabetic() || ch == '_' || ch == ':';
    let ident_char = |ch: char| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':';

    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if matches!(ch, '"' | '\'' | '`') {
            i = skip_to(i + 1, ch);
        } else if ch == '{' {
            i = skip_to(i + 1, '}');
        } else if ch == '[' {
            i = skip_to(i + 1, ']');
        } else if ch.is_ascii_digit()
            || (ch == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            // Numbers, including 1e-9, 0x1f and durations such as 5m.
            i += 1;
            while i < c.len()
                && (ident_char(c[i])
                    || c[i] == '.'
                    || (matches!(c[i], '+' | '-') && matches!(c[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
        } else if ch == '$' {
            // A Grafana variable outside a selector.
            i += 1;
            while i < c.len() && ident_char(c[i]) {
                i += 1;
            }
        } else if ident_start(ch) {
            let start = i;
            while i < c.len() && ident_char(c[i]) {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let next = skip_ws(i);
            let call = c.get(next) == Some(&'(');
            if GROUPING.contains(&word.as_str()) {
                if call {
                    i = skip_to(next + 1, ')');
                }
            } else if !call
                && !AGGREGATIONS.contains(&word.as_str())
                && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str())
            {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn metric_names_finds_only_selected_metrics() {
    let expr = r#"sum by (le, route) (rate(foo_bucket{a="x}y", b=~"$v"}[$__rate_interval]))
        / on (instance) group_left (version) bar offset 5m > 0.8 * baz_total
        and 1e-9 < count without (x) (qux) unless time() - nan"#;
    let names: Vec<String> = metric_names(expr).into_iter().collect();
    assert_eq!(names, ["bar", "baz_total", "foo_bucket", "qux"]);
    assert_eq!(metric_names("up{job=\"mcp-warden\"} == 0").len(), 1);
}

/// The exported metric families, each with the series names it exposes
/// (a histogram's `_bucket`, `_sum` and `_count`).
pub fn exported_families() -> Vec<Vec<String>> {
    let prefixed = |m: &str| format!("mcp_warden_{m}");
    let single = COUNTERS.iter().chain(GAUGES).map(|m| vec![prefixed(m)]);
    let histograms = HISTOGRAMS.iter().map(|h| {
        ["_bucket", "_sum", "_count"]
            .iter()
            .map(|s| prefixed(h) + s)
            .collect()
    });
    let process = PROCESS.iter().map(|m| vec![m.to_string()]);
    single.chain(histograms).chain(process).collect()
}

/// Grafana's variables replaced by values Prometheus accepts.
pub fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
        .replace("$instance", ".*")
        .replace("$resource", ".*")
}
