//! Who may call the admin API: `Authorization: Bearer {ADMIN_TOKEN}` (the scheme in any case),
//! compared in constant time.
//!
//! [`gate`] answers every request under `/admin` that may not use the admin API before the
//! router looks at it: `404` while the admin API is off, like any unknown route, and `401` with
//! `WWW-Authenticate: Bearer` without the right token. The router's own answers (a malformed
//! query is `400`, a method a route lacks `405`) would otherwise tell an anonymous caller which
//! routes exist and what they accept. Each operation checks again with the [`AdminAuth`]
//! extractor, which never fails, so that no admin operation runs unauthenticated whatever wraps
//! it; the extractor also declares the bearer security scheme, so the OpenAPI document shows
//! which operations need the token.

use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use poem::{Endpoint, IntoResponse, Request, RequestBody, Response, Result, http::header::AUTHORIZATION};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaSecurityScheme, Registry},
};

use super::super::{error::ApiError, state::HttpState};
use crate::app::bearer_token;

/// The security scheme's name in the OpenAPI document.
const SCHEME: &str = "AdminToken";

/// The `Authorization` header as sent, `None` when absent.
pub struct AdminAuth(Option<String>);

/// Why an admin request is refused (answered by `ApiError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The admin API is off (`ADMIN_TOKEN` unset): answered like any unknown route.
    Off,
    /// Missing or wrong token.
    Unauthorized,
}

impl AdminAuth {
    /// `Ok` when the request carries `Bearer {token}`.
    pub fn check(&self, token: Option<&str>) -> Result<(), Denied> {
        check(self.0.as_deref(), token)
    }
}

/// Whether an `Authorization` value (`None`: absent) opens the admin API whose token is `token`
/// (`None`: the admin API is off).
fn check(authorization: Option<&str>, token: Option<&str>) -> Result<(), Denied> {
    let Some(token) = token else { return Err(Denied::Off) };
    let given = authorization.and_then(bearer_token).unwrap_or_default();
    if !given.is_empty() && same(given.as_bytes(), token.as_bytes()) {
        return Ok(());
    }
    Err(Denied::Unauthorized)
}

/// The admin API's paths: `/admin` and everything under it (`admin` is no project id, so no
/// other route lives there).
fn is_admin_path(path: &str) -> bool {
    path.strip_prefix("/admin").is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Middleware around the routes: a request under `/admin` goes on only with the admin token.
pub async fn gate<E: Endpoint>(next: E, req: Request, state: Arc<HttpState>) -> Result<Response> {
    if is_admin_path(req.uri().path()) {
        if let Err(denied) = check(req.header(AUTHORIZATION), state.admin_token()) {
            return Ok(ApiError::from(denied).into_response());
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// Equality in time that depends on neither content nor length: the digests are compared, every
/// byte of them.
fn same(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (digest(&SHA256, a), digest(&SHA256, b));
    a.as_ref().iter().zip(b.as_ref()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl<'a> ApiExtractor<'a> for AdminAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            SCHEME,
            MetaSecurityScheme {
                ty: "http",
                description: Some(
                    "`Authorization: Bearer {ADMIN_TOKEN}`. With `ADMIN_TOKEN` unset the admin API is off.",
                ),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SCHEME]
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> Result<Self> {
        Ok(Self(request.header(AUTHORIZATION).map(str::to_owned)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_must_match() {
        let auth = |h: Option<&str>| AdminAuth(h.map(str::to_owned));
        assert!(auth(Some("Bearer s3cret")).check(Some("s3cret")).is_ok());
        assert_eq!(auth(Some("Bearer s3cre")).check(Some("s3cret")), Err(Denied::Unauthorized));
        assert_eq!(auth(Some("s3cret")).check(Some("s3cret")), Err(Denied::Unauthorized));
        assert_eq!(auth(None).check(Some("s3cret")), Err(Denied::Unauthorized));
        assert_eq!(auth(Some("Bearer s3cret")).check(None), Err(Denied::Off));
        for scheme in ["bearer", "BEARER", "bEaReR"] {
            assert!(auth(Some(&format!("{scheme} s3cret"))).check(Some("s3cret")).is_ok(), "{scheme}");
        }
        for refused in ["Bearers3cret", "Basic s3cret", "Bearer ", "bearer"] {
            assert_eq!(auth(Some(refused)).check(Some("s3cret")), Err(Denied::Unauthorized), "{refused}");
        }
    }

    #[test]
    fn the_admin_namespace_is_admin_and_everything_under_it() {
        for path in ["/admin", "/admin/", "/admin/projects", "/admin/x/y"] {
            assert!(is_admin_path(path), "{path}");
        }
        for path in ["/", "/administrator", "/admins/projects", "/w1/clients", "/clients/admin"] {
            assert!(!is_admin_path(path), "{path}");
        }
    }
}
