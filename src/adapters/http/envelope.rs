//! The response envelope that every JSON answer uses: `{"status":"OK"}` or
//! `{"status":"FAILED","errors":[...],"fields":[...]}`, and its WalletConnect dialect (`SUCCESS`,
//! `errors[].message`), which `dialect` derives from it on the way out.

use poem_openapi::{Enum, Object};

use crate::app::InvalidField;

/// Whether the request succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum Status {
    #[oai(rename = "OK")]
    Ok,
    #[oai(rename = "FAILED")]
    Failed,
    /// Success in the WalletConnect dialect (`RESPONSE_DIALECT=walletconnect`), in place of `OK`.
    #[oai(rename = "SUCCESS")]
    Success,
}

/// The body of every JSON response. `errors` and `fields` are absent (never `null`) when empty.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Envelope {
    /// `OK` on success (`SUCCESS` with `RESPONSE_DIALECT=walletconnect`), `FAILED` otherwise.
    pub status: Status,
    /// Problems with the request as a whole or with the server (storage down, provider down,
    /// malformed JSON, ...). Present only when there are some.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<ErrorDetail>>,
    /// Problems with individual values the caller supplied. Present only when there are some.
    #[oai(skip_serializing_if_is_none)]
    pub fields: Option<Vec<FieldDetail>>,
}

/// A problem that is not about one supplied value.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ErrorDetail {
    /// A stable snake_case code to match on, for example `storage_unavailable`.
    pub name: String,
    /// A human-readable explanation.
    pub description: String,
    /// The same text as `description`; present only with `RESPONSE_DIALECT=walletconnect`, where
    /// the SDKs read it.
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<String>,
}

/// Where a supplied value was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum Location {
    Body,
    Query,
    Header,
    Path,
}

/// A supplied value that was refused.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct FieldDetail {
    /// The field's name as the caller spelled it, for example `type` or `payload.blob`.
    pub field: String,
    /// Why the value was refused.
    pub description: String,
    /// Where the value was: `body`, `query`, `header` or `path`.
    pub location: Location,
}

impl Envelope {
    pub fn ok() -> Self {
        Self { status: Status::Ok, errors: None, fields: None }
    }

    pub fn error(name: &str, description: impl Into<String>) -> Self {
        Self {
            status: Status::Failed,
            errors: Some(vec![ErrorDetail { name: name.to_owned(), description: description.into(), message: None }]),
            fields: None,
        }
    }

    pub fn fields(fields: Vec<FieldDetail>) -> Self {
        Self { status: Status::Failed, errors: None, fields: Some(fields) }
    }

    pub fn field(field: &str, location: Location, description: impl Into<String>) -> Self {
        Self::fields(vec![FieldDetail::new(field, location, description)])
    }

    pub fn invalid_fields(fields: &[InvalidField], location: Location) -> Self {
        Self::fields(fields.iter().map(|f| FieldDetail::new(f.field, location, f.description.clone())).collect())
    }

    /// The JSON text, for the few places that build a response without poem-openapi.
    pub fn json(&self) -> String {
        poem_openapi::types::ToJSON::to_json_string(self)
    }
}

impl FieldDetail {
    pub fn new(field: &str, location: Location, description: impl Into<String>) -> Self {
        Self { field: field.to_owned(), description: description.into(), location }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_lists_are_absent_not_null() {
        assert_eq!(Envelope::ok().json(), r#"{"status":"OK"}"#);
        assert_eq!(
            Envelope::field("type", Location::Body, "bad").json(),
            r#"{"status":"FAILED","fields":[{"field":"type","description":"bad","location":"body"}]}"#
        );
    }
}
