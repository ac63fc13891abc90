//! A JSON request body kept as raw bytes: the Relay signature is computed over the exact bytes,
//! and field errors are collected by hand so that every bad field is reported at once. The type
//! parameter only names the schema shown in the OpenAPI document.
//!
//! Content-type and size problems do not fail extraction; they are recorded so the handler can
//! answer them in the contract's order (for a signed request the signature is checked first):
//! [`JsonBody::bytes`] and [`JsonBody::object`] hand them over when the handler asks.

use std::{marker::PhantomData, time::Duration};

use bytes::Bytes;
use poem::{Request, RequestBody, Result};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry},
    types::Type,
};
use serde_json::{Map, Value};

use super::envelope::Envelope;

/// How much and how slowly a client may send a body; set per server as request data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub read_timeout: Duration,
}

/// Why a body could not be used as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyProblem {
    TooLarge {
        limit: usize,
    },
    /// The client did not send the whole body in time (a slow-body attack or a stalled client).
    TooSlow {
        timeout: Duration,
    },
    /// Content type missing or not JSON; the body was still read (within the limit).
    WrongContentType {
        given: Option<String>,
    },
    Unreadable(String),
    /// The bytes are not JSON.
    Malformed(String),
    /// JSON, but not an object.
    NotAnObject,
}

impl BodyProblem {
    pub fn envelope(&self) -> Envelope {
        match self {
            BodyProblem::TooLarge { limit } => {
                Envelope::error("payload_too_large", format!("the request body exceeds {limit} bytes"))
            }
            BodyProblem::TooSlow { timeout } => Envelope::error(
                "request_timeout",
                format!("the request body did not arrive within {} s", timeout.as_secs()),
            ),
            BodyProblem::WrongContentType { given } => Envelope::error(
                "unsupported_media_type",
                match given {
                    Some(t) => format!("content type '{t}' is not supported; send application/json"),
                    None => "the Content-Type header is missing; send application/json".to_owned(),
                },
            ),
            BodyProblem::Unreadable(why) => {
                Envelope::error("unreadable_body", format!("the request body could not be read: {why}"))
            }
            BodyProblem::Malformed(why) => {
                Envelope::error("malformed_json", format!("the request body is not valid JSON: {why}"))
            }
            BodyProblem::NotAnObject => Envelope::error("invalid_body", "the request body must be a JSON object"),
        }
    }
}

/// Parses the body as a JSON object, or says why it is not one.
pub fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, BodyProblem> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BodyProblem::NotAnObject),
        Err(e) => Err(BodyProblem::Malformed(e.to_string())),
    }
}

pub struct JsonBody<T> {
    /// The raw bytes, if they could be read within the limit.
    bytes: Result<Bytes, BodyProblem>,
    /// Set when the content type is not JSON (the bytes are still there, for signature checks).
    content_type_problem: Option<BodyProblem>,
    _schema: PhantomData<fn() -> T>,
}

// Members of a JSON object, read one by one: the text of a value, or why it has none, in the
// words a field's description continues ("topic is required", "tag must be ...").

/// A required string member.
pub fn string<'a>(map: &'a Map<String, Value>, key: &str) -> Result<&'a str, &'static str> {
    match map.get(key) {
        None | Some(Value::Null) => Err("is required"),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err("must be a string"),
    }
}

/// A required member that fits a `u32`.
pub fn unsigned_32(map: &Map<String, Value>, key: &str) -> Result<u32, &'static str> {
    match map.get(key) {
        None | Some(Value::Null) => Err("is required"),
        Some(Value::Number(n)) => {
            n.as_u64().and_then(|v| u32::try_from(v).ok()).ok_or("must be an unsigned 32-bit integer")
        }
        Some(_) => Err("must be an unsigned 32-bit integer"),
    }
}

/// An optional boolean: absent is `false`; `null` is refused like any other non-boolean, as the
/// documented schema says (the SDKs leave the member out or send a boolean).
pub fn optional_bool(map: &Map<String, Value>, key: &str) -> Result<bool, &'static str> {
    match map.get(key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err("must be a boolean"),
    }
}

impl<T> JsonBody<T> {
    /// The bytes as sent, whatever their content type, or why they could not be read.
    pub fn bytes(&self) -> Result<&[u8], BodyProblem> {
        self.bytes.as_deref().map_err(Clone::clone)
    }

    /// The body as a JSON object: read in full, declared as JSON, and an object (checked in that
    /// order).
    pub fn object(&self) -> Result<Map<String, Value>, BodyProblem> {
        let bytes = self.bytes()?;
        if let Some(problem) = &self.content_type_problem {
            return Err(problem.clone());
        }
        json_object(bytes)
    }

    /// The body as text, for a body that is stored as sent (a service account).
    pub fn text(&self) -> Result<&str, BodyProblem> {
        std::str::from_utf8(self.bytes()?).map_err(|_| BodyProblem::Unreadable("not UTF-8".into()))
    }
}

fn is_json(content_type: &str) -> bool {
    content_type
        .parse::<mime::Mime>()
        .is_ok_and(|m| m.type_() == "application" && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json")))
}

impl<'a, T: Type> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType { content_type: "application/json", schema: schema_ref::<T>() }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> Result<Self> {
        let limits = request
            .data::<BodyLimits>()
            .copied()
            .unwrap_or(BodyLimits { max_bytes: 16 * 1024, read_timeout: Duration::from_secs(10) });
        let limit = limits.max_bytes;
        let content_type_problem = match request.content_type() {
            Some(t) if is_json(t) => None,
            given => Some(BodyProblem::WrongContentType { given: given.map(str::to_owned) }),
        };
        let declared_too_large = request
            .header(poem::http::header::CONTENT_LENGTH)
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > limit as u64);
        let bytes = if declared_too_large {
            Err(BodyProblem::TooLarge { limit })
        } else {
            match body.take() {
                Ok(b) => match tokio::time::timeout(limits.read_timeout, b.into_bytes_limit(limit)).await {
                    Ok(read) => read.map_err(|e| match e {
                        poem::error::ReadBodyError::PayloadTooLarge => BodyProblem::TooLarge { limit },
                        other => BodyProblem::Unreadable(other.to_string()),
                    }),
                    Err(_) => Err(BodyProblem::TooSlow { timeout: limits.read_timeout }),
                },
                Err(e) => Err(BodyProblem::Unreadable(e.to_string())),
            }
        };
        Ok(Self { bytes, content_type_problem, _schema: PhantomData })
    }
}

fn schema_ref<T: Type>() -> MetaSchemaRef {
    T::schema_ref()
}

#[cfg(test)]
impl<T> JsonBody<T> {
    /// A body as a handler would receive it, for handler tests.
    pub fn received(bytes: Result<&[u8], BodyProblem>, content_type_problem: Option<BodyProblem>) -> Self {
        Self { bytes: bytes.map(Bytes::copy_from_slice), content_type_problem, _schema: PhantomData }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_objects_are_refused_whole() {
        assert_eq!(json_object(b"[1]"), Err(BodyProblem::NotAnObject));
        assert!(matches!(json_object(b"{"), Err(BodyProblem::Malformed(_))));
        assert!(json_object(br#"{"a":1}"#).is_ok());
    }

    #[test]
    fn the_content_type_is_judged_after_the_bytes_and_before_the_json() {
        let wrong = || Some(BodyProblem::WrongContentType { given: None });
        let too_large = JsonBody::<()>::received(Err(BodyProblem::TooLarge { limit: 1 }), wrong());
        assert_eq!(too_large.object(), Err(BodyProblem::TooLarge { limit: 1 }));
        let not_json = JsonBody::<()>::received(Ok(b"["), wrong());
        assert_eq!(not_json.object(), Err(BodyProblem::WrongContentType { given: None }));
        // The signature is checked over the bytes whatever the content type says.
        assert_eq!(not_json.bytes(), Ok(&b"["[..]));
    }
}
