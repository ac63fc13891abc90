//! An operation's answer: what its handler returned (`Result<T, ApiError>`), documented in the
//! OpenAPI document by the operation's response enum.
//!
//! poem-openapi documents an operation by its return type, and reads each status's description
//! from that type's variants, so each operation keeps an enum listing what it can answer
//! (`RegisterResponse`, ...). Building those enums by hand in every handler is what made the
//! early-return ladders; instead a handler returns `Result<_, ApiError>` and uses `?`, and
//! [`Answer`] takes the enum `D` only for its documentation. Debug builds check that every refusal
//! an operation gives is one its enum documents.

use std::marker::PhantomData;

use poem::{IntoResponse, Response};
use poem_openapi::{ApiResponse, payload::Json, registry::MetaResponses, registry::Registry, types::ToJSON};

use super::{envelope::Envelope, error::ApiError};

/// A handler's result, answered as JSON (`200` with `T`, or the error's status and envelope) and
/// documented as `D`.
pub struct Answer<D, T = Envelope> {
    result: Result<T, ApiError>,
    _documented_by: PhantomData<fn() -> D>,
}

impl<D, T> From<Result<T, ApiError>> for Answer<D, T> {
    fn from(result: Result<T, ApiError>) -> Self {
        Self { result, _documented_by: PhantomData }
    }
}

impl<D: ApiResponse, T: ToJSON + Send> IntoResponse for Answer<D, T> {
    fn into_response(self) -> Response {
        match self.result {
            Ok(body) => Json(body).into_response(),
            Err(e) => {
                debug_assert!(documents::<D>(e.status().as_u16()), "undocumented answer {e:?}");
                e.into_response()
            }
        }
    }
}

impl<D: ApiResponse, T: ToJSON + Send> ApiResponse for Answer<D, T> {
    fn meta() -> MetaResponses {
        D::meta()
    }

    fn register(registry: &mut Registry) {
        D::register(registry);
    }
}

/// Whether `D` documents `status`.
fn documents<D: ApiResponse>(status: u16) -> bool {
    D::meta().responses.iter().any(|r| r.status == Some(status))
}

#[cfg(test)]
mod tests {
    use poem::http::StatusCode;
    use poem_openapi::ApiResponse;

    use super::*;

    /// Documentation only: the statuses of a made-up operation.
    #[allow(dead_code)]
    #[derive(ApiResponse)]
    enum Documented {
        /// Done.
        #[oai(status = 200)]
        Ok(Json<Envelope>),
        /// Too fast.
        #[oai(status = 429)]
        TooManyRequests(Json<Envelope>, #[oai(header = "Retry-After")] u64),
    }

    #[tokio::test]
    async fn answers_as_the_documented_enum_would() {
        let ok: Answer<Documented> = Ok(Envelope::ok()).into();
        let ok = ok.into_response();
        assert_eq!(ok.status(), StatusCode::OK);
        let expected = Documented::Ok(Json(Envelope::ok())).into_response();
        assert_eq!(ok.headers(), expected.headers());
        assert_eq!(ok.into_body().into_string().await.unwrap(), expected.into_body().into_string().await.unwrap());

        let limited: Answer<Documented> = Err(ApiError::rate_limited(30)).into();
        let limited = limited.into_response();
        let envelope = Envelope::error("rate_limited", "too many requests from this address; retry in 30 s");
        let expected = Documented::TooManyRequests(Json(envelope), 30).into_response();
        assert_eq!(limited.status(), expected.status());
        assert_eq!(limited.headers(), expected.headers());
        assert_eq!(limited.into_body().into_string().await.unwrap(), expected.into_body().into_string().await.unwrap());
    }

    #[test]
    fn the_documentation_is_the_enum_s() {
        let statuses: Vec<_> = Answer::<Documented>::meta().responses.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [Some(200), Some(429)]);
        assert!(documents::<Documented>(429) && !documents::<Documented>(503));
    }
}
