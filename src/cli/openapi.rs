//! `push-server openapi`: prints the OpenAPI document that `/openapi.json` serves.

use std::process::ExitCode;

use crate::adapters::http;

pub fn run(format: &str) -> ExitCode {
    let service = http::openapi_service();
    println!("{}", if format == "yaml" { service.spec_yaml() } else { service.spec() });
    ExitCode::SUCCESS
}
