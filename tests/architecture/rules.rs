//! The rules themselves: which ring of the hexagon may import which, where a Cargo feature may
//! decide what is compiled, and how test code is shared. docs/ARCHITECTURE.md's "The rules the
//! architecture test keeps" in table form.

/// Crates that are technology, not rules: the domain, the ports and the use cases name none of
/// them (convention 1 of docs/ARCHITECTURE.md), so a backend can change without touching them.
pub const TECHNOLOGY: &[&str] = &[
    "sqlx",
    "poem",
    "poem_openapi",
    "redis",
    "reqwest",
    "hyper",
    "hyper_util",
    "a2",
    "tokio::net",
    "prometheus",
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "tracing_opentelemetry",
];

/// One rule: the files under `under` (paths relative to `src/`, a prefix each; empty means every
/// file) except those under `except` may import from the crate only what `only` allows (when
/// set), never what `never` names, and, when `pure`, none of [`TECHNOLOGY`].
pub struct Rule {
    pub under: &'static [&'static str],
    pub except: &'static [&'static str],
    pub only: Option<&'static [&'static str]>,
    pub never: &'static [&'static str],
    pub pure: bool,
    pub why: &'static str,
}

pub const RULES: &[Rule] = &[
    Rule {
        under: &["domain/"],
        except: &[],
        only: Some(&["domain"]),
        never: &[],
        pure: true,
        why: "the domain imports nothing of the crate but itself, and no technology",
    },
    Rule {
        under: &["ports/"],
        except: &[],
        only: Some(&["domain", "ports"]),
        never: &[],
        pure: true,
        why: "ports speak the domain's language only",
    },
    Rule {
        under: &["app/"],
        except: &[],
        only: Some(&["domain", "ports", "app"]),
        never: &[],
        pure: true,
        why: "use cases see the domain and the ports: no adapter, settings, telemetry or command line",
    },
    Rule {
        under: &["adapters/store/", "adapters/dedup/", "adapters/push/", "adapters/relay_key/"],
        except: &[],
        only: None,
        never: &["app", "bootstrap", "cli", "adapters::http"],
        pure: false,
        why: "a driven adapter plugs into a port and owns a plain configuration type; bootstrap builds it \
              from the settings",
    },
    Rule {
        under: &["adapters/http/"],
        except: &[],
        only: None,
        never: &["bootstrap", "cli"],
        pure: false,
        why: "the HTTP adapter drives the use cases; bootstrap builds and serves it, not the other way round",
    },
    Rule {
        under: &["telemetry/"],
        except: &[],
        only: None,
        never: &["bootstrap", "cli", "app"],
        pure: false,
        why: "telemetry wraps ports and installs logging; it knows no use case and no start-up",
    },
    Rule {
        under: &[""],
        except: &["bootstrap/", "cli/", "cli.rs", "lib.rs"],
        only: None,
        never: &["bootstrap"],
        pure: false,
        why: "only bootstrap and the command line know how the whole is assembled",
    },
];

impl Rule {
    pub fn applies_to(&self, file: &str) -> bool {
        self.under.iter().any(|u| file.starts_with(u)) && !self.except.iter().any(|e| file.starts_with(e))
    }

    /// Whether importing crate path `target` (from the crate root) breaks this rule.
    pub fn refuses_crate_path(&self, target: &[String]) -> bool {
        let path = target.join("::");
        let outside_only = self.only.is_some_and(|only| !only.iter().any(|m| under_module(&path, m)));
        outside_only || self.never.iter().any(|m| under_module(&path, m))
    }

    /// Whether an external path (as written) is technology this rule keeps out.
    pub fn refuses_external(&self, segments: &[String]) -> bool {
        self.pure && TECHNOLOGY.iter().any(|m| under_module(&segments.join("::"), m))
    }
}

fn under_module(path: &str, module: &str) -> bool {
    path == module || path.strip_prefix(module).is_some_and(|rest| rest.starts_with("::"))
}

/// Where `#[cfg(feature = ...)]` may stand (convention 6 of docs/ARCHITECTURE.md): on module declarations in
/// `src/adapters/**/mod.rs` (which adapters are compiled in) and in `src/telemetry/mod.rs` (the
/// `otel` switch between `otlp.rs` and `otlp_off.rs`), and anywhere in `src/bootstrap/` (which
/// adapters are built from the configuration, and the start-up error naming a missing feature).
pub fn feature_gate_allowed(file: &str, on_mod: bool) -> bool {
    let module_file = file == "telemetry/mod.rs" || (file.starts_with("adapters/") && file.ends_with("/mod.rs"));
    file.starts_with("bootstrap/") || (module_file && on_mod)
}

/// Feature gates outside those places that are there on purpose: (file, reason). None today;
/// an entry here must say why the gate cannot move to a module declaration or to bootstrap.
pub const FEATURE_GATE_EXCEPTIONS: &[(&str, &str)] = &[];

/// The workspace's test code: the crates that only tests and the benchmark may depend on. The
/// library and its binary never do (they would ship test code), so the root manifest names them
/// in `[dev-dependencies]` only, and nothing under `src/` names them.
pub const TEST_CRATES: &[(&str, &str)] = &[("push-testkit", "push_testkit"), ("push-bench", "push_bench")];

/// Why an attribute (`inner` for `#![...]`, its `words`) shares test code by file instead of by
/// crate, if it does: a `#[path]` include compiles a file into each binary that wants it (half
/// dead in most), and a module-wide `#![allow(dead_code)]` is what such an include then needs.
/// Shared test code is a function of push-testkit instead.
pub fn shares_by_file(inner: bool, words: &[String]) -> Option<&'static str> {
    match words {
        [first, ..] if first == "path" => Some("a `#[path]` include: share test code through push-testkit, a crate"),
        [first, rest @ ..] if inner && first == "allow" && rest.iter().any(|w| w == "dead_code") => {
            Some("a module-wide `#![allow(dead_code)]`: code a test binary does not use belongs in push-testkit")
        }
        _ => None,
    }
}
