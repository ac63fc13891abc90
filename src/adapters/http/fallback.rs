//! The last line of the error contract: any error response that did not come from a handler
//! (unknown route, wrong method, a parameter the framework could not parse, a panic) is rewritten
//! into the JSON envelope, with `Allow` on a 405. Handlers' own responses are JSON already and
//! pass through untouched.

use std::sync::LazyLock;

use poem::{
    Endpoint, IntoResponse, Request, Response, Result,
    http::{Method, StatusCode, header},
};
use poem_openapi::OpenApi;

use super::{admin::AdminApi, envelope::Envelope, routes::PublicApi};

/// Paths served outside the OpenAPI document, all read-only.
const EXTRA_GET_PATHS: &[&str] = &["/openapi.json", "/openapi.yaml", "/docs", "/metrics"];

/// A route as path segments (`None` for a `{param}`), with the methods it allows.
type RouteMethods = (Vec<Option<String>>, Vec<Method>);

static ROUTES: LazyLock<Vec<RouteMethods>> = LazyLock::new(|| {
    let mut routes: Vec<RouteMethods> = Vec::new();
    let api_paths = PublicApi::meta().into_iter().chain(AdminApi::meta()).flat_map(|api| api.paths);
    for path in api_paths {
        let methods = path.operations.iter().map(|op| op.method.clone()).collect();
        routes.push((segments(&path.path), methods));
    }
    for path in EXTRA_GET_PATHS {
        routes.push((segments(path), vec![Method::GET]));
    }
    routes
});

fn segments(pattern: &str) -> Vec<Option<String>> {
    pattern
        .trim_start_matches('/')
        .split('/')
        .map(|s| if s.starts_with('{') || s.starts_with(':') { None } else { Some(s.to_owned()) })
        .collect()
}

/// The `Allow` value for a path, or `None` when no route has that path.
fn allowed_methods(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (_, methods) = ROUTES.iter().find(|(pattern, _)| {
        pattern.len() == parts.len()
            && pattern.iter().zip(&parts).all(|(p, s)| match p {
                Some(literal) => literal == s,
                None => !s.is_empty(),
            })
    })?;
    let mut names: Vec<&str> = methods.iter().map(Method::as_str).collect();
    if methods.contains(&Method::GET) {
        names.push("HEAD");
    }
    Some(names.join(", "))
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

pub async fn envelope_errors<E: Endpoint>(next: E, req: Request) -> Result<Response> {
    let path = req.uri().path().to_owned();
    let resp = match next.call(req).await {
        Ok(resp) => resp.into_response(),
        Err(err) => err.into_response(),
    };
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&resp) {
        return Ok(resp);
    }
    let mut out = Response::builder().status(status).content_type("application/json; charset=utf-8");
    let envelope = match status {
        StatusCode::NOT_FOUND => Envelope::error("not_found", "there is no such endpoint"),
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = allowed_methods(&path).unwrap_or_default();
            out = out.header(header::ALLOW, &allow);
            Envelope::error("method_not_allowed", format!("this endpoint accepts only: {allow}"))
        }
        StatusCode::PAYLOAD_TOO_LARGE => Envelope::error("payload_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            Envelope::error("unsupported_media_type", "the content type is not supported; send application/json")
        }
        s if s.is_client_error() => {
            // The framework's own text names the parameter it could not parse; it holds no
            // internals, but is bounded all the same.
            let text = resp.into_body().into_string().await.unwrap_or_default();
            let text: String = text.chars().take(200).collect();
            Envelope::error(
                "bad_request",
                if text.is_empty() { "the request could not be parsed".to_owned() } else { text },
            )
        }
        _ => Envelope::error("internal_error", "the server failed to handle the request"),
    };
    Ok(out.body(envelope.json()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_methods_of_the_matching_route() {
        assert_eq!(allowed_methods("/health").as_deref(), Some("GET, HEAD"));
        assert_eq!(allowed_methods("/clients").as_deref(), Some("POST"));
        let mut both: Vec<_> = allowed_methods("/clients/abc").unwrap().split(", ").map(str::to_owned).collect();
        both.sort();
        assert_eq!(both, ["DELETE", "POST"]);
        assert_eq!(allowed_methods("/nope"), None);
    }
}
