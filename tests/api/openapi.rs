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
    // The default and the project routes share one response type each; 404 (unknown project)
    // only happens on the project routes.
    for path in ["/clients", "/{project_id}/clients"] {
        assert_eq!(codes(path, "post"), ["200", "400", "401", "404", "408", "413", "415", "429", "503"]);
    }
    for path in ["/clients/{client_id}", "/{project_id}/clients/{client_id}"] {
        assert_eq!(codes(path, "delete"), ["200", "400", "401", "404", "429", "503"]);
        assert_eq!(codes(path, "post"), ["200", "400", "401", "404", "408", "410", "413", "415", "502", "503"]);
    }
    // The admin API: every operation needs the bearer token and documents 401, 404 and 503.
    assert_eq!(doc["components"]["securitySchemes"]["AdminToken"]["scheme"], "bearer");
    for (path, method, mut expected) in [
        ("/admin/projects", "get", vec!["200", "400"]),
        ("/admin/projects/{project_id}", "put", vec!["200", "400"]),
        ("/admin/projects/{project_id}", "get", vec!["200"]),
        ("/admin/projects/{project_id}", "delete", vec!["200", "400"]),
        ("/admin/projects/{project_id}/apns", "put", vec!["200", "400", "408", "413", "415"]),
        ("/admin/projects/{project_id}/apns", "delete", vec!["200", "400"]),
        ("/admin/projects/{project_id}/fcm", "put", vec!["200", "400", "408", "413", "415"]),
        ("/admin/projects/{project_id}/fcm", "delete", vec!["200", "400"]),
    ] {
        expected.extend(["401", "404", "503"]);
        expected.sort();
        assert_eq!(codes(path, method), expected, "{method} {path}");
        assert_eq!(doc["paths"][path][method]["security"], serde_json::json!([{"AdminToken": []}]), "{method} {path}");
        let unauthorized = &doc["paths"][path][method]["responses"]["401"];
        assert!(unauthorized["headers"]["WWW-AUTHENTICATE"].is_object(), "{method} {path}: {unauthorized}");
    }
    // The wallet's client JWT: an optional header of register and unregister, on both families.
    for (path, method) in [
        ("/clients", "post"),
        ("/clients/{client_id}", "delete"),
        ("/{project_id}/clients", "post"),
        ("/{project_id}/clients/{client_id}", "delete"),
    ] {
        let params = doc["paths"][path][method]["parameters"].as_array().unwrap();
        let auth = params.iter().find(|p| p["name"] == "Authorization").unwrap_or_else(|| panic!("{method} {path}"));
        assert_eq!((auth["in"].as_str(), auth["required"].as_bool()), (Some("header"), Some(false)));
    }
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
