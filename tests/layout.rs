//! The source tree keeps the shape `src/lib.rs` describes: each top-level
//! module of `src/` may use only modules below it (no import cycles), no
//! file is longer than 600 lines, and every file opens with a `//!` doc
//! stating its job.
//!
//! `cargo test --test layout -- --nocapture` prints the module graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    rust_files(&src(), &mut out);
    out.sort();
    assert!(out.len() > 20, "only {} files under src/", out.len());
    out
}

/// The top-level module a file belongs to (`src/issuer/cache.rs` → `issuer`).
fn top_module(file: &Path) -> String {
    let rel = file.strip_prefix(src()).expect("under src");
    let first = rel.components().next().expect("non-empty").as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// The code of `text` without `//` comments (doc links are not uses).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::name` a file uses, including `crate::{a, b::c}` groups.
fn uses(text: &str) -> BTreeSet<String> {
    let code = code(text);
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                out.insert(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = files();
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| top_module(f))
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for f in &files {
        let from = top_module(f);
        let Some(edges) = graph.get_mut(&from) else {
            continue;
        };
        let text = std::fs::read_to_string(f).expect("read source");
        for to in uses(&text) {
            if to != from && modules.contains(&to) {
                edges.insert(to);
            }
        }
    }
    graph
}

/// A cycle through `start`, if there is one.
fn cycle_from(
    graph: &BTreeMap<String, BTreeSet<String>>,
    start: &str,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    let here = path.last().expect("non-empty path").clone();
    for next in &graph[&here] {
        if next == start {
            let mut cycle = path.clone();
            cycle.push(start.to_owned());
            return Some(cycle);
        }
        if !path.contains(next) {
            path.push(next.clone());
            if let Some(c) = cycle_from(graph, start, path) {
                return Some(c);
            }
            path.pop();
        }
    }
    None
}

#[test]
fn no_import_cycles_between_top_level_modules() {
    let graph = graph();
    for (from, to) in &graph {
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        println!("{from} -> {}", to.join(" "));
    }
    assert!(graph.len() >= 10, "only {} modules found", graph.len());
    assert!(
        graph["daemon"].contains("state"),
        "the parser must see daemon's use of state"
    );
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_from(&graph, m, &mut vec![m.clone()]))
        .map(|c| c.join(" -> "))
        .collect();
    println!("{} top-level modules, {} cycles", graph.len(), cycles.len());
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut graph = BTreeMap::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")] {
        graph
            .entry(from.to_owned())
            .or_insert_with(BTreeSet::new)
            .insert(to.to_owned());
    }
    assert_eq!(
        cycle_from(&graph, "a", &mut vec!["a".into()]),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(cycle_from(&graph, "d", &mut vec!["d".into()]), None);
    assert_eq!(
        uses("use crate::{oauth::x, state}; // crate::admin\ncrate::daemon::start"),
        ["daemon", "oauth", "state"].map(String::from).into()
    );
}

#[test]
fn no_file_is_longer_than_600_lines() {
    let long: Vec<String> = files()
        .into_iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(&f).expect("read").lines().count();
            (n > 600).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "{}", long.join("\n"));
}

#[test]
fn every_file_opens_with_a_module_doc() {
    let undocumented: Vec<String> = files()
        .into_iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            // A test file's module doc is its parent's `mod tests;` line.
            let is_tests = f.file_name().is_some_and(|n| n == "tests.rs");
            !is_tests && !text.starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        undocumented.is_empty(),
        "no //! doc at the top of:\n{}",
        undocumented.join("\n")
    );
}
