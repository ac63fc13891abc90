//! The deployment files under `deploy/` agree with the binary: the compose file parses and runs
//! Postgres, Redis, two instances and a load balancer with variable names the binary knows; the
//! Dockerfile is multi-stage and non-root; the Grafana dashboard charts every metric the server
//! exports and no metric it does not. (No Docker engine is needed: the files are read, not run.)

use std::{collections::BTreeSet, path::PathBuf, time::Duration};

use clap::CommandFactory;
use push_server::{cli::Cli, telemetry::Metrics};
use serde_yaml::Value as Yaml;

fn deploy(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy(path)).unwrap_or_else(|e| panic!("deploy/{path}: {e}"))
}

fn yaml(path: &str) -> Yaml {
    let mut value: Yaml = serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("deploy/{path}: {e}"));
    value.apply_merge().unwrap();
    value
}

/// Every variable the binary reads: its flags' `env` names, plus `RUST_LOG` and the standard
/// OpenTelemetry variables that the `otel` feature honours.
fn known_variables() -> BTreeSet<String> {
    let mut names = BTreeSet::from(
        [
            "RUST_LOG",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_SERVICE_NAME",
            "OTEL_RESOURCE_ATTRIBUTES",
            "OTEL_TRACES_SAMPLER",
            "OTEL_TRACES_SAMPLER_ARG",
            "OTEL_SDK_DISABLED",
        ]
        .map(str::to_owned),
    );
    let cli = Cli::command();
    for command in std::iter::once(&cli).chain(cli.get_subcommands()) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                names.insert(env.to_string_lossy().into_owned());
            }
        }
    }
    names
}

#[test]
fn the_spec_variables_are_the_binarys() {
    let known = known_variables();
    for name in [
        "PORT",
        "HOST",
        "DATABASE_URL",
        "REDIS_URL",
        "RELAY_PUBLIC_KEY",
        "RELAY_URL",
        "VALIDATE_SIGNATURES",
        "LOG_SINK",
        "LOG_SINK_PATH",
        "DEDUP_TTL_SECS",
        "APNS_TOPIC",
        "APNS_KEY_PATH",
        "APNS_KEY_ID",
        "APNS_TEAM_ID",
        "APNS_CERT_PATH",
        "APNS_CERT_PASSWORD",
        "APNS_ENDPOINT",
        "APNS_SANDBOX_ENDPOINT",
        "FCM_CREDENTIALS_PATH",
        "FCM_PROJECT_ID",
        "FCM_ENDPOINT",
        "APNS_PLACEHOLDER_TITLE",
        "LOG_FORMAT",
        "RELAY_PRIVATE_KEY",
        "DEDUP_BACKEND",
        "REDIS_CLUSTER_NODES",
        "REDIS_SENTINELS",
        "REDIS_SENTINEL_MASTER",
        "DATABASE_STATEMENT_CACHE",
    ] {
        assert!(known.contains(name), "the binary does not read {name}");
    }
}

#[test]
fn compose_runs_two_instances_behind_a_load_balancer_with_known_variables() {
    let compose = yaml("compose.yaml");
    let services = compose["services"].as_mapping().expect("services");
    let names: BTreeSet<&str> = services.keys().filter_map(Yaml::as_str).collect();
    for needed in ["postgres", "redis", "migrate", "push-server-1", "push-server-2", "lb"] {
        assert!(names.contains(needed), "compose lacks {needed}: {names:?}");
    }
    let known = known_variables();
    for instance in ["migrate", "push-server-1", "push-server-2"] {
        let service = &compose["services"][instance];
        assert_eq!(service["build"]["dockerfile"], "deploy/Dockerfile", "{instance}");
        let env = service["environment"].as_mapping().unwrap_or_else(|| panic!("{instance} has an environment"));
        for key in env.keys() {
            let key = key.as_str().unwrap();
            assert!(known.contains(key), "{instance} sets {key}, which push-server does not read");
        }
        assert!(env[&Yaml::from("DATABASE_URL")].as_str().unwrap().contains("@postgres:5432/"));
        assert!(env[&Yaml::from("REDIS_URL")].as_str().unwrap().starts_with("redis://redis:"));
        assert_eq!(service["depends_on"]["postgres"]["condition"], "service_healthy");
        assert_eq!(service["depends_on"]["redis"]["condition"], "service_healthy");
    }
    assert_eq!(compose["services"]["migrate"]["command"][0], "migrate");
    for instance in ["push-server-1", "push-server-2"] {
        assert_eq!(compose["services"][instance]["command"][0], "serve");
        assert_eq!(
            compose["services"][instance]["depends_on"]["migrate"]["condition"],
            "service_completed_successfully"
        );
    }
    let lb = &compose["services"]["lb"];
    assert!(lb["volumes"][0].as_str().unwrap().starts_with("./nginx.conf:"));
    let nginx = read("nginx.conf");
    for upstream in ["server push-server-1:3000", "server push-server-2:3000"] {
        assert!(nginx.contains(upstream), "nginx.conf lacks {upstream}");
    }

    // The example settings file names only variables the binary reads.
    for line in read("push-server.env.example").lines() {
        let line = line.trim_start_matches('#').trim();
        if let Some((name, _)) = line.split_once('=')
            && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            assert!(known.contains(name), "push-server.env.example names {name}, which push-server does not read");
        }
    }
    let prometheus = yaml("prometheus.yml");
    let targets = &prometheus["scrape_configs"][0]["static_configs"][0]["targets"];
    assert_eq!(targets[0], "push-server-1:3000");
    assert_eq!(targets[1], "push-server-2:3000");
}

#[test]
fn dockerfile_is_multi_stage_non_root_and_builds_every_backend() {
    let dockerfile = read("Dockerfile");
    let stages: Vec<&str> = dockerfile.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages.len(), 2, "{stages:?}");
    assert!(stages[0].starts_with("FROM rust:") && stages[0].ends_with(" AS builder"));
    assert!(stages[1].contains("-slim"), "a small final image: {}", stages[1]);
    assert!(dockerfile.contains("--features postgres,redis,apns,fcm,webpush,otel"));
    assert!(dockerfile.contains("--locked"));
    let user = dockerfile.lines().find(|l| l.starts_with("USER ")).expect("a USER line");
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
    assert!(dockerfile.contains("EXPOSE 3000"));
    assert!(dockerfile.contains("HEALTHCHECK"));
    // Everything the build copies exists, and the context filter lets it through.
    let ignore = read("Dockerfile.dockerignore");
    for line in dockerfile.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from")) {
        let sources: Vec<&str> = line.split_whitespace().skip(1).collect();
        for source in &sources[..sources.len() - 1] {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(source);
            assert!(path.exists(), "the Dockerfile copies {source}, which does not exist");
            let allowed = format!("!{}", source.trim_end_matches('/'));
            assert!(
                ignore.lines().any(|l| l.trim_end_matches('/') == allowed),
                "the build context leaves out {source}"
            );
        }
    }
}

/// The metric names the server exports, once every kind of observation has been made.
fn exported_metrics() -> BTreeSet<String> {
    let metrics = Metrics::new("");
    metrics.observe_http("health", "GET", 200, Duration::from_millis(1));
    metrics.record_send("default", "fcm", "fcm", "duplicate");
    metrics.record_suspension("w1", "apns", true);
    metrics.observe_provider("fcm", "delivered", Duration::from_millis(1), 1);
    metrics.store_error("find");
    metrics.dedup_error("try_claim");
    metrics
        .render()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

/// `push_*` metric names in a PromQL expression (a name before a `{` selector; `push_type` and
/// the like are labels), without histogram suffixes.
fn names_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("push_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        let name = &tail[..end];
        rest = &tail[end..];
        if !rest.starts_with('{') {
            continue;
        }
        let base = ["_bucket", "_count", "_sum"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
        names.push(base.to_owned());
    }
    names
}

#[test]
fn the_dashboard_charts_every_exported_metric_and_nothing_else() {
    let dashboard: serde_json::Value = serde_json::from_str(&read("grafana/push-server-dashboard.json")).unwrap();
    let exprs: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    let charted: BTreeSet<String> = exprs.iter().flat_map(|e| names_in(e)).collect();
    let exported = exported_metrics();
    assert_eq!(exported.len(), 11, "{exported:?}");
    for name in &exported {
        assert!(charted.contains(name), "the dashboard does not chart {name}");
    }
    for name in &charted {
        // A histogram's bucket/count/sum series belong to the histogram.
        assert!(exported.contains(name), "the dashboard charts {name}, which the server does not export");
    }
    // Every query follows the dashboard's instance selector.
    for expr in exprs {
        assert!(expr.contains(r#"instance=~"$instance""#), "{expr}");
    }
}
