//! The hexagon's dependency rules, kept by a test: it reads every file under `src/` and fails,
//! naming each file and line, when a ring imports what it must not (`rules.rs` has the table) or
//! a Cargo feature decides what is compiled outside the places made for it; and it reads the
//! test code (`tests/`, `crates/`) and the manifest, failing when the library depends on test
//! code or test code is shared by included files instead of through push-testkit. Every violation
//! is reported at once, so one run shows the whole list. The rules are those of
//! docs/ARCHITECTURE.md.

mod rules;
mod source;

use std::path::{Path, PathBuf};

use rules::{FEATURE_GATE_EXCEPTIONS, RULES, TEST_CRATES, feature_gate_allowed, shares_by_file};
use source::{Target, scan};

/// One Rust file: its path relative to the folder it was read from (with `/`), and its text.
struct File {
    rel: String,
    text: String,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every Rust file under `dir` (relative to the repository), in a stable order.
fn rust_files(dir: &str) -> Vec<File> {
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
    let base = root().join(dir);
    let mut paths = Vec::new();
    walk(&base, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| File {
            rel: p.strip_prefix(&base).unwrap().to_string_lossy().replace('\\', "/"),
            text: std::fs::read_to_string(&p).unwrap(),
        })
        .collect()
}

fn source_files() -> Vec<File> {
    let files = rust_files("src");
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
    fail_with(
        "imports that break the direction of dependencies (docs/ARCHITECTURE.md, \"The rules the architecture test keeps\")",
        &violations,
    );
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
    fail_with("feature gates outside their places (docs/ARCHITECTURE.md, convention 6)", &violations);
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

#[test]
fn the_library_never_depends_on_test_code() {
    let mut violations = Vec::new();
    // The manifest: test crates in `[dev-dependencies]` only (a feature may still turn on a
    // test crate's feature; that is not a dependency).
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let mut table = String::new();
    for (n, line) in manifest.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = header.trim().to_owned();
        }
        // `[dependencies]`, `[build-dependencies]`, `[target.'cfg(..)'.dependencies]`, and the
        // `[dependencies.name]` form; not `[dev-dependencies]` (any target's) nor the workspace's
        // shared declarations.
        let dependencies =
            |t: &str| t.ends_with("dependencies") && !t.ends_with("dev-dependencies") && t != "workspace.dependencies";
        let key = line.split(['=', ' ']).next().unwrap_or("");
        for (package, _) in TEST_CRATES {
            let named = dependencies(&table) && key == *package;
            let own_table =
                line.starts_with('[') && table.strip_suffix(&format!(".{package}")).is_some_and(dependencies);
            if named || own_table {
                violations.push(format!(
                    "Cargo.toml:{}: {package} in [{table}]: test code is a dev-dependency only, or the library and \
                     the release binary would link it\n    {line}",
                    n + 1
                ));
            }
        }
    }
    // The library's and the binary's code.
    for file in source_files() {
        for path in scan(&file.text, &module_of(&file.rel)).paths {
            if let Target::External(segments) = &path.target
                && let Some((package, _)) =
                    TEST_CRATES.iter().find(|(_, name)| segments.first().is_some_and(|s| s == name))
            {
                violations.push(format!(
                    "src/{}:{}: names {package}, test code, from the server's code\n    {}",
                    file.rel,
                    path.line,
                    line_text(&file, path.line)
                ));
            }
        }
    }
    fail_with(
        "the server depending on test code (docs/ARCHITECTURE.md, \"The rules the architecture test keeps\")",
        &violations,
    );
}

#[test]
fn test_code_is_shared_through_the_test_kit_not_by_included_files() {
    let mut violations = Vec::new();
    let mut read = 0;
    for dir in ["tests", "crates"] {
        for file in rust_files(dir) {
            read += 1;
            for attribute in scan(&file.text, &[]).attributes {
                if let Some(why) = shares_by_file(attribute.inner, &attribute.words) {
                    violations.push(format!(
                        "{dir}/{}:{}: {why}\n    {}",
                        file.rel,
                        attribute.line,
                        line_text(&file, attribute.line)
                    ));
                }
            }
        }
    }
    assert!(read > 40, "tests/ and crates/ were read ({read} files)");
    fail_with(
        "test code shared by file (docs/ARCHITECTURE.md, \"The rules the architecture test keeps\")",
        &violations,
    );
}

#[test]
fn every_test_binary_is_an_area_folder() {
    // `tests/x.rs` would be a test binary of its own beside the areas (api, backends, providers,
    // projects, ops, architecture), each a folder with its `main.rs`.
    let mut violations = Vec::new();
    for entry in std::fs::read_dir(root().join("tests")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
            violations.push(format!(
                "tests/{}:1: a loose test file: put its tests in the area folder they belong to",
                path.file_name().unwrap().to_string_lossy()
            ));
        } else if path.is_dir() && !path.join("main.rs").exists() {
            violations.push(format!(
                "tests/{}/: a folder without main.rs: an area is one test binary",
                path.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    violations.sort();
    fail_with(
        "tests outside the area binaries (docs/ARCHITECTURE.md, \"The rules the architecture test keeps\")",
        &violations,
    );
}
