//! Path and header parameters with precise documented schemas whose extraction never fails.
//!
//! poem-openapi would enforce a parameter's schema itself and answer a bad value with its own
//! `400` before the handler runs; the contract instead wants `401` (signature headers, checked
//! first) or `400` with a `fields` entry (`client_id`, `location: path`). So these types carry
//! the schema for the OpenAPI document only and hand the raw text to the handler, which applies
//! the domain rules in the contract's order.

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseFromParameter, ParseResult, Type},
};

/// A client id: no whitespace (Unicode `White_Space`) and no control characters (`Cc`), the
/// same rule as `domain::ClientId`. Written with explicit code points because the regex
/// dialects that read the document (ECMA-262, Python, Rust) disagree on what `\s` means.
pub const CLIENT_ID_PATTERN: &str =
    r"^[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$";
/// Unix seconds as decimal digits; at most 19 so the value fits an `i64`.
pub const TIMESTAMP_PATTERN: &str = r"^[0-9]{1,19}$";
/// 64 bytes of Ed25519 signature in hex, any case.
pub const SIGNATURE_PATTERN: &str = r"^[0-9a-fA-F]{128}$";

fn string_schema(pattern: &str, min_length: Option<usize>, max_length: Option<usize>) -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        pattern: Some(pattern.to_owned()),
        min_length,
        max_length,
        ..MetaSchema::new("string")
    }))
}

macro_rules! raw_param {
    ($(#[$doc:meta])* $name:ident($inner:ty), $schema:expr, $parse_one:expr, $absent:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub $inner);

        impl Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                "string".into()
            }

            fn schema_ref() -> MetaSchemaRef {
                $schema
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                Box::new(std::iter::once(self))
            }
        }

        impl ParseFromParameter for $name {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                Ok(Self($parse_one(value)))
            }

            fn parse_from_parameters<I: IntoIterator<Item = A>, A: AsRef<str>>(iter: I) -> ParseResult<Self> {
                Ok(iter.into_iter().next().map_or_else(|| Self($absent), |v| Self($parse_one(v.as_ref()))))
            }
        }
    };
}

raw_param!(
    /// The `{client_id}` path segment as sent (percent-decoded); the handler parses it.
    ClientIdPath(String),
    string_schema(CLIENT_ID_PATTERN, Some(1), Some(255)),
    str::to_owned,
    String::new()
);

raw_param!(
    /// `X-Ed25519-Timestamp` as sent, `None` when absent (the handler answers `401`). Documented
    /// as required: no Relay request succeeds without it.
    TimestampHeader(Option<String>),
    string_schema(TIMESTAMP_PATTERN, None, None),
    |v: &str| Some(v.to_owned()),
    None
);

raw_param!(
    /// `X-Ed25519-Signature` as sent, `None` when absent (the handler answers `401`).
    SignatureHeader(Option<String>),
    string_schema(SIGNATURE_PATTERN, None, None),
    |v: &str| Some(v.to_owned()),
    None
);

/// A project id: 1 to 64 of `A-Z a-z 0-9 _ -` (the reserved route names excepted).
pub const PROJECT_ID_PATTERN: &str = r"^[A-Za-z0-9_-]{1,64}$";

raw_param!(
    /// The `{project_id}` path segment as sent; the handler resolves it (`404` when unknown).
    ProjectIdPath(String),
    string_schema(PROJECT_ID_PATTERN, Some(1), Some(64)),
    str::to_owned,
    String::new()
);
