//! The response dialect (`RESPONSE_DIALECT`): the spec's envelope as built, or the WalletConnect
//! one that the SDKs judge success by (`"status":"SUCCESS"`, `errors[].message`).
//!
//! Applied in one place, on the way out: every handler, the fallback and the admin routes build
//! the spec's envelope, and this middleware rewrites whatever envelope leaves the server. Doing it
//! per handler would leave some response (a 405, a 413 from the framework) in the wrong dialect.

use poem::{Body, Endpoint, IntoResponse, Request, Response, Result, http::header};
use poem_openapi::types::ToJSON;
use serde_json::Value;

use super::envelope::Status;

/// Which envelope the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseDialect {
    /// `{"status":"OK"}` and `errors[]` items of `name` and `description`.
    #[default]
    Spec,
    /// `{"status":"SUCCESS"}`, and each `errors[]` item carries `message` (the description) too;
    /// status codes, `FAILED` and `fields` are unchanged.
    WalletConnect,
}

impl ResponseDialect {
    /// `spec` or `walletconnect`, in any case.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "spec" => Ok(Self::Spec),
            "walletconnect" => Ok(Self::WalletConnect),
            _ => Err(format!("'{s}' is not a response dialect; use spec or walletconnect")),
        }
    }
}

/// Every envelope starts with its `status` member (it is the first field of `Envelope`, and the
/// admin bodies put it first too), which tells an envelope from other JSON (`/openapi.json`)
/// without parsing.
const ENVELOPE_START: &[u8] = br#"{"status":"#;

pub async fn apply<E: Endpoint>(next: E, req: Request, dialect: ResponseDialect) -> Result<Response> {
    let resp = next.call(req).await?.into_response();
    if dialect == ResponseDialect::Spec || !is_json(&resp) {
        return Ok(resp);
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = body.into_bytes().await?;
    let Some(rewritten) = bytes.starts_with(ENVELOPE_START).then(|| walletconnect(&bytes)).flatten() else {
        return Ok(Response::from_parts(parts, Body::from(bytes)));
    };
    // The length changed; the server computes it again from the new body.
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(parts, Body::from(rewritten)))
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The WalletConnect form of a spec envelope, or `None` when `json` is not one.
fn walletconnect(json: &[u8]) -> Option<Vec<u8>> {
    let mut envelope = serde_json::from_slice::<Value>(json).ok()?;
    let object = envelope.as_object_mut()?;
    if object.get("status")? == &Status::Ok.to_json()? {
        object.insert("status".to_owned(), Status::Success.to_json()?);
    }
    if let Some(Value::Array(errors)) = object.get_mut("errors") {
        for error in errors.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(description) = error.get("description").cloned() {
                error.insert("message".to_owned(), description);
            }
        }
    }
    serde_json::to_vec(&envelope).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::http::envelope::{Envelope, Location};

    fn rewrite(envelope: &Envelope) -> String {
        String::from_utf8(walletconnect(envelope.json().as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn success_becomes_success_and_errors_gain_a_message() {
        assert_eq!(rewrite(&Envelope::ok()), r#"{"status":"SUCCESS"}"#);
        assert_eq!(
            rewrite(&Envelope::error("storage_unavailable", "down")),
            r#"{"status":"FAILED","errors":[{"name":"storage_unavailable","description":"down","message":"down"}]}"#
        );
    }

    #[test]
    fn fields_and_other_members_are_untouched() {
        let fields = Envelope::field("type", Location::Body, "bad");
        assert_eq!(rewrite(&fields), fields.json());
        let listing = br#"{"status":"OK","projects":["a"]}"#;
        assert_eq!(walletconnect(listing).unwrap(), br#"{"status":"SUCCESS","projects":["a"]}"#);
        assert!(walletconnect(b"[1]").is_none());
    }

    #[test]
    fn dialects_parse_in_any_case() {
        assert_eq!(ResponseDialect::parse("WalletConnect"), Ok(ResponseDialect::WalletConnect));
        assert_eq!(ResponseDialect::parse("spec"), Ok(ResponseDialect::Spec));
        assert!(ResponseDialect::parse("wc").is_err());
    }
}
