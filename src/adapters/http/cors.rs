//! CORS for browser wallets (`CORS_ALLOWED_ORIGINS`): pages of the allowed origins may call the
//! wallet routes (register and unregister, on the default and the project forms) and the VAPID
//! key routes, and their preflights are answered. Never the Relay's send (`POST
//! /clients/{client_id}`, which shares a path with the unregister) and never the admin API: a
//! browser must not be able to drive either from a page, whatever origins are allowed.
//!
//! A middleware around the whole server rather than poem's `Cors` on a route: the send and the
//! unregister share one path, so the choice is per (method, path), and a preflight has to be
//! answered before the router would refuse `OPTIONS`.

use poem::{
    Endpoint, IntoResponse, Request, Response, Result,
    http::{HeaderValue, Method, StatusCode, header},
};

/// Which origins may call the wallet routes from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No CORS headers at all (the default).
    #[default]
    Off,
    /// `*`: any page.
    Any,
    /// These origins exactly (`https://wallet.example`, no trailing slash).
    List(Vec<String>),
}

/// How long a browser may cache a preflight's answer.
const MAX_AGE_SECS: &str = "600";
/// What the wallet routes read: the body's type and the client JWT.
const ALLOWED_HEADERS: &str = "content-type, authorization";

impl CorsOrigins {
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins or `*`; blank entries are dropped, and a
    /// trailing `/` is not part of an origin.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let entries: Vec<&str> = entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()).collect();
        if entries.is_empty() {
            return Ok(Self::Off);
        }
        if entries.contains(&"*") {
            return Ok(Self::Any);
        }
        let mut origins = Vec::with_capacity(entries.len());
        for entry in entries {
            let origin = entry.trim_end_matches('/');
            let valid = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.split_once("://").is_some_and(|(_, rest)| rest.is_empty() || rest.contains('/'));
            if !valid {
                return Err(format!("'{entry}' is not an origin (scheme://host[:port]) or *"));
            }
            origins.push(origin.to_ascii_lowercase());
        }
        Ok(Self::List(origins))
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if it is allowed.
    fn allow(&self, origin: &str) -> Option<HeaderValue> {
        match self {
            Self::Off => None,
            Self::Any => Some(HeaderValue::from_static("*")),
            Self::List(list) => list
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
                .then(|| HeaderValue::from_str(origin).ok())
                .flatten(),
        }
    }
}

/// Whether `method` on `path` is a route pages may call: the registration, the unregistration and
/// the VAPID key, on the default routes and on a project's (whose id is never `admin`).
pub fn is_browser_route(method: &Method, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let project = |s: &str| !s.is_empty() && s != "admin";
    match segments.as_slice() {
        ["clients"] => method == Method::POST,
        ["clients", id] => method == Method::DELETE && !id.is_empty(),
        ["webpush", "vapid-public-key"] => method == Method::GET,
        [p, "clients"] => method == Method::POST && project(p),
        [p, "clients", id] => method == Method::DELETE && project(p) && !id.is_empty(),
        [p, "webpush", "vapid-public-key"] => method == Method::GET && project(p),
        _ => false,
    }
}

/// Answers the preflights of browser routes and adds `Access-Control-Allow-Origin` to their
/// answers (errors included, so a page can read why it was refused); leaves every other request
/// alone.
pub async fn cors<E: Endpoint>(next: E, req: Request, origins: &CorsOrigins) -> Result<Response> {
    let origin = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).map(str::to_owned);
    let Some(allowed) = origin.as_deref().and_then(|o| origins.allow(o)) else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    if req.method() == Method::OPTIONS {
        let requested = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .and_then(|m| m.parse::<Method>().ok());
        if let Some(method) = requested.filter(|m| is_browser_route(m, req.uri().path())) {
            return Ok(Response::builder()
                .status(StatusCode::NO_CONTENT)
                .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed)
                .header(header::ACCESS_CONTROL_ALLOW_METHODS, method.as_str())
                .header(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS)
                .header(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE_SECS)
                .header(header::VARY, "Origin")
                .finish());
        }
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let browser_route = is_browser_route(req.method(), req.uri().path());
    let mut response = match next.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    if browser_route {
        response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        response.headers_mut().append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_routes_are_the_wallet_and_key_routes_only() {
        for (method, path) in [
            (Method::POST, "/clients"),
            (Method::DELETE, "/clients/c1"),
            (Method::POST, "/w1/clients"),
            (Method::DELETE, "/w1/clients/c1"),
            (Method::GET, "/webpush/vapid-public-key"),
            (Method::GET, "/w1/webpush/vapid-public-key"),
        ] {
            assert!(is_browser_route(&method, path), "{method} {path}");
        }
        for (method, path) in [
            (Method::POST, "/clients/c1"),
            (Method::POST, "/w1/clients/c1"),
            (Method::PUT, "/admin/projects/w1"),
            (Method::GET, "/admin/projects"),
            (Method::POST, "/admin/clients"),
            (Method::DELETE, "/admin/clients/c1"),
            (Method::GET, "/admin/webpush/vapid-public-key"),
            (Method::GET, "/clients"),
            (Method::GET, "/metrics"),
            (Method::GET, "/health"),
        ] {
            assert!(!is_browser_route(&method, path), "{method} {path}");
        }
    }

    #[test]
    fn origins_parse() {
        let list = |e: &[&str]| CorsOrigins::parse(&e.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(list(&[]), Ok(CorsOrigins::Off));
        assert_eq!(list(&[" "]), Ok(CorsOrigins::Off));
        assert_eq!(list(&["https://a.example", "*"]), Ok(CorsOrigins::Any));
        assert_eq!(
            list(&["https://A.example/", "http://localhost:5173"]),
            Ok(CorsOrigins::List(vec!["https://a.example".into(), "http://localhost:5173".into()]))
        );
        for bad in ["a.example", "https://", "https://a.example/path", "ftp://a"] {
            assert!(list(&[bad]).is_err(), "{bad}");
        }
        let allowed = list(&["https://a.example"]).unwrap();
        assert_eq!(allowed.allow("https://a.example"), Some(HeaderValue::from_static("https://a.example")));
        assert_eq!(allowed.allow("https://b.example"), None);
    }
}
