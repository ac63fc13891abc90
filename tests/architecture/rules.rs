//! The rules themselves: which ring of the hexagon may import which, and where a Cargo feature
//! may decide what is compiled. DESIGN.md's "Which way dependencies point" in table form.

/// Crates that are technology, not rules: the domain, the ports and the use cases name none of
/// them (convention 1 of DESIGN.md), so a backend can change without touching them.
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

/// Where `#[cfg(feature = ...)]` may stand (DESIGN.md convention 6): on module declarations in
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
