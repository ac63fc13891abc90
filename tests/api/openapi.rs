//! The committed OpenAPI document under `openapi/` must equal what the code generates, so API
//! changes are reviewed as document changes. `UPDATE_OPENAPI=1 cargo test --test api openapi`
//! rewrites the copies.

use push_server::adapters::http::openapi_service;

fn check(path: &str, generated: String) {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    let generated = format!("{}\n", generated.trim_end());
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&full, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&full).unwrap_or_default();
    assert!(
        committed == generated,
        "{path} differs from the generated document; run `UPDATE_OPENAPI=1 cargo test --test api openapi` and commit it"
    );
}

#[test]
fn committed_json_matches_the_code() {
    check("openapi/openapi.json", openapi_service().spec());
}

#[test]
fn committed_yaml_matches_the_code() {
    check("openapi/openapi.yaml", openapi_service().spec_yaml());
}

#[test]
fn every_operation_documents_its_status_codes() {
    let doc: serde_json::Value = serde_json::from_str(&openapi_service().spec()).unwrap();
    let codes = |path: &str, method: &str| -> Vec<String> {
        let mut c: Vec<String> = doc["paths"][path][method]["responses"].as_object().unwrap().keys().cloned().collect();
        c.sort();
        c
    };
    assert_eq!(codes("/health", "get"), ["200"]);
    assert_eq!(codes("/clients", "post"), ["200", "400", "401", "408", "413", "415", "429", "503"]);
    assert_eq!(codes("/clients/{client_id}", "delete"), ["200", "400", "401", "429", "503"]);
    // The wallet's client JWT: an optional header of both.
    for (path, method) in [("/clients", "post"), ("/clients/{client_id}", "delete")] {
        let params = doc["paths"][path][method]["parameters"].as_array().unwrap();
        let auth = params.iter().find(|p| p["name"] == "Authorization").unwrap_or_else(|| panic!("{method} {path}"));
        assert_eq!((auth["in"].as_str(), auth["required"].as_bool()), (Some("header"), Some(false)));
    }
    assert_eq!(
        codes("/clients/{client_id}", "post"),
        ["200", "400", "401", "404", "408", "410", "413", "415", "502", "503"]
    );
    let send = &doc["paths"]["/clients/{client_id}"]["post"];
    let headers: Vec<&str> = send["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "header")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(headers, ["X-Ed25519-Timestamp", "X-Ed25519-Signature"]);
    assert!(
        send["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap()
            .ends_with("SendNotificationRequest")
    );
}
