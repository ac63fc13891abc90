//! A JSON request body kept as raw bytes: the Relay signature is computed over the exact bytes,
//! and field errors are collected by hand so that every bad field is reported at once. The type
//! parameter only names the schema shown in the OpenAPI document.
//!
//! Content-type and size problems do not fail extraction; they are recorded so the handler can
//! answer them in the contract's order (for a signed request the signature is checked first).

use std::{marker::PhantomData, time::Duration};

use bytes::Bytes;
use poem::{Request, RequestBody, Result};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry},
    types::Type,
};

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
        }
    }
}

pub struct JsonBody<T> {
    /// The raw bytes, if they could be read within the limit.
    pub bytes: Result<Bytes, BodyProblem>,
    /// Set when the content type is not JSON (the bytes are still there, for signature checks).
    pub content_type_problem: Option<BodyProblem>,
    _schema: PhantomData<fn() -> T>,
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
