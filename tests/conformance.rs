//! CONFORMANCE.md checks itself: every `path::test_name` it cites must be a
//! test that exists, every row must be complete (a MUST row not marked `n/a`
//! cites a test, an `n/a` row says why), and the counts it states must be
//! the counts of its table.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn matrix() -> String {
    std::fs::read_to_string(root().join("CONFORMANCE.md")).expect("CONFORMANCE.md at the repo root")
}

/// Every `` `src/…rs::name` `` or `` `tests/…rs::name` `` span in `text`.
fn citations(text: &str) -> Vec<(String, String)> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|span| {
            let (path, name) = span.split_once("::")?;
            let path_ok = (path.starts_with("src/") || path.starts_with("tests/"))
                && path.ends_with(".rs")
                && path
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.'));
            let name_ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            (path_ok && name_ok).then(|| (path.to_owned(), name.to_owned()))
        })
        .collect()
}

/// Whether `file` defines `fn name(` (a test function, sync or async).
fn defines(file: &Path, name: &str) -> bool {
    std::fs::read_to_string(file).is_ok_and(|text| text.contains(&format!("fn {name}(")))
}

#[test]
fn conformance_md_cites_only_existing_tests() {
    let text = matrix();
    let cited = citations(&text);
    assert!(
        cited.len() >= 50,
        "only {} citations found: is the `path::name` parser broken?",
        cited.len()
    );
    let mut missing: Vec<String> = cited
        .iter()
        .filter(|(path, name)| !defines(&root().join(path), name))
        .map(|(path, name)| format!("{path}::{name}"))
        .collect();
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "CONFORMANCE.md cites tests that do not exist:\n  {}",
        missing.join("\n  ")
    );
}

struct Row {
    id: String,
    level: &'static str,
    status: String,
    behaviour: String,
    tests: usize,
}

/// The matrix rows: seven cells, the first an id like `MCP-12`.
fn rows(text: &str) -> Vec<Row> {
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .strip_prefix('|')?
                .strip_suffix('|')?
                .split('|')
                .map(str::trim)
                .collect();
            let [id, _source, _requirement, level, status, behaviour, tests] = cells[..] else {
                return None;
            };
            let (prefix, number) = id.split_once('-')?;
            if prefix.is_empty()
                || !prefix.chars().all(|c| c.is_ascii_uppercase())
                || number.parse::<u32>().is_err()
            {
                return None;
            }
            // The strongest keyword of the cell decides.
            let level = ["MUST", "SHOULD", "MAY"]
                .into_iter()
                .find(|k| level.contains(k))
                .unwrap_or("?");
            Some(Row {
                id: id.to_owned(),
                level,
                status: status.to_owned(),
                behaviour: behaviour.to_owned(),
                tests: citations(tests).len(),
            })
        })
        .collect()
}

#[test]
fn conformance_md_rows_are_complete_and_counted() {
    let text = matrix();
    let rows = rows(&text);
    assert!(rows.len() >= 50, "only {} rows parsed", rows.len());
    let mut problems = Vec::new();
    let mut ids = HashSet::new();
    for r in &rows {
        if !ids.insert(r.id.as_str()) {
            problems.push(format!("{}: duplicate id", r.id));
        }
        if r.level == "?" {
            problems.push(format!("{}: level is not MUST, SHOULD or MAY", r.id));
        }
        match r.status.as_str() {
            "covered" | "deviation" | "violation" if r.tests == 0 => {
                problems.push(format!("{}: `{}` without a test", r.id, r.status));
            }
            "covered" | "deviation" | "violation" => {}
            "n/a" if r.behaviour.len() < 20 => {
                problems.push(format!("{}: `n/a` without a reason", r.id));
            }
            "n/a" => {}
            other => problems.push(format!("{}: unknown status `{other}`", r.id)),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let count = |f: &dyn Fn(&Row) -> bool| rows.iter().filter(|r| f(r)).count();
    let stated = format!(
        "**Counts:** {} rows · {} MUST · {} SHOULD · {} MAY · {} covered · {} deviation · {} n/a · {} violation",
        rows.len(),
        count(&|r| r.level == "MUST"),
        count(&|r| r.level == "SHOULD"),
        count(&|r| r.level == "MAY"),
        count(&|r| r.status == "covered"),
        count(&|r| r.status == "deviation"),
        count(&|r| r.status == "n/a"),
        count(&|r| r.status == "violation"),
    );
    assert!(
        text.lines().any(|l| l == stated),
        "the Counts line of CONFORMANCE.md should read:\n{stated}"
    );
}
