//! The hexagon's dependency rules, kept by a test: it reads every file under `src/` and fails,
//! naming each file and line, when a ring imports what it must not (`rules.rs` has the table) or
//! a Cargo feature decides what is compiled outside the places made for it. Every violation is
//! reported at once, so one run shows the whole list.

mod rules;
mod source;

use std::path::{Path, PathBuf};

use rules::{FEATURE_GATE_EXCEPTIONS, RULES, feature_gate_allowed};
use source::{Target, scan};

/// One Rust file of `src/`: its path relative to `src/` (with `/`), and its text.
struct File {
    rel: String,
    text: String,
}

fn source_files() -> Vec<File> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    walk(&src, &mut paths);
    paths.sort();
    let files: Vec<File> = paths
        .into_iter()
        .map(|p| File {
            rel: p.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/"),
            text: std::fs::read_to_string(&p).unwrap(),
        })
        .collect();
    assert!(files.len() > 20, "src/ was read ({} files)", files.len());
    files
}

/// `main.rs` and `bin/` are crates of their own: they reach the library as `push_server::` and
/// may import any of it, bootstrap included.
fn in_library(rel: &str) -> bool {
    rel != "main.rs" && !rel.starts_with("bin/")
}

/// The module a library file holds: `app/send.rs` is `app::send`, `app/mod.rs` is `app`,
/// `lib.rs` the crate root.
fn module_of(rel: &str) -> Vec<String> {
    let stem = rel.trim_end_matches(".rs");
    let mut segments: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if matches!(segments.last().map(String::as_str), Some("mod" | "lib")) {
        segments.pop();
    }
    segments
}

fn line_text(file: &File, line: usize) -> &str {
    file.text.lines().nth(line - 1).unwrap_or("").trim()
}

fn fail_with(what: &str, violations: &[String]) {
    assert!(violations.is_empty(), "{what}: {}\n\n{}\n", violations.len(), violations.join("\n\n"));
}

#[test]
fn every_ring_imports_only_what_it_may() {
    let mut violations = Vec::new();
    for file in source_files().iter().filter(|f| in_library(&f.rel)) {
        for path in scan(&file.text, &module_of(&file.rel)).paths {
            // The first rule broken is the one reported: a path is one violation, not several.
            let broken = RULES.iter().filter(|r| r.applies_to(&file.rel)).find(|r| match &path.target {
                Target::Crate(segments) => r.refuses_crate_path(segments),
                Target::External(segments) => r.refuses_external(segments),
            });
            if let Some(rule) = broken {
                let named = match &path.target {
                    Target::Crate(segments) => format!("crate::{}", segments.join("::")),
                    Target::External(segments) => segments.join("::"),
                };
                violations.push(format!(
                    "src/{}:{}: imports {named}: {}\n    {}",
                    file.rel,
                    path.line,
                    rule.why,
                    line_text(file, path.line)
                ));
            }
        }
    }
    fail_with("imports that break the direction of dependencies (DESIGN.md)", &violations);
}

#[test]
fn feature_gates_stand_only_on_adapter_modules_and_in_bootstrap() {
    let mut violations = Vec::new();
    for file in source_files() {
        if FEATURE_GATE_EXCEPTIONS.iter().any(|(f, _)| *f == file.rel) {
            continue;
        }
        for gate in scan(&file.text, &module_of(&file.rel)).gates {
            if !feature_gate_allowed(&file.rel, gate.on_mod) {
                violations.push(format!(
                    "src/{}:{}: a feature gate here: features choose adapters only where an adapter module \
                     is declared (src/adapters/**/mod.rs, the otel switch in src/telemetry/mod.rs) and in \
                     src/bootstrap/\n    {}",
                    file.rel,
                    gate.line,
                    line_text(&file, gate.line)
                ));
            }
        }
    }
    fail_with("feature gates outside their places (DESIGN.md convention 6)", &violations);
}

#[test]
fn the_exceptions_still_exist() {
    // An exception whose file is gone or fixed must go too, or the list stops meaning anything.
    let files = source_files();
    for (rel, why) in FEATURE_GATE_EXCEPTIONS {
        let file = files.iter().find(|f| f.rel == *rel).unwrap_or_else(|| panic!("src/{rel} is gone ({why})"));
        let gates = scan(&file.text, &module_of(rel)).gates;
        assert!(gates.iter().any(|g| !feature_gate_allowed(rel, g.on_mod)), "src/{rel} no longer needs its exception");
    }
}
