//! Who may call the admin API: `Authorization: Bearer {ADMIN_TOKEN}`, compared in constant time.
//!
//! The check is an extractor that never fails, so that the handler answers in the contract's
//! terms (`404` while the admin API is off, `401` with `WWW-Authenticate: Bearer` otherwise)
//! instead of the framework's plain errors; it still declares the bearer security scheme, so the
//! OpenAPI document shows which operations need the token.

use aws_lc_rs::digest::{SHA256, digest};
use poem::{Request, RequestBody, Result};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaSecurityScheme, Registry},
};

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
        let Some(token) = token else { return Err(Denied::Off) };
        let given = self.0.as_deref().and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default();
        if !given.is_empty() && same(given.as_bytes(), token.as_bytes()) {
            return Ok(());
        }
        Err(Denied::Unauthorized)
    }
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
        Ok(Self(request.header(poem::http::header::AUTHORIZATION).map(str::to_owned)))
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
    }
}
