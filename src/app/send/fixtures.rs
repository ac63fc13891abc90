//! Sends as a Relay would make them, shared by the tests of both halves of the use case.

use super::{
    ClassicField, InvalidForm, RawField, RawNotification, SendField, SendRequest, parse::MISSING, parse_notification,
};
use crate::{app::InvalidField, domain::ProjectKey};

/// The classic form's fields, in the order they are reported.
pub const CLASSIC_FIELDS: [SendField; 4] = [
    SendField::Classic(ClassicField::Id),
    SendField::Classic(ClassicField::Topic),
    SendField::Classic(ClassicField::Flags),
    SendField::Classic(ClassicField::Blob),
];

/// The raw form's fields, in the order they are reported.
pub const RAW_FIELDS: [SendField; 3] =
    [SendField::Raw(RawField::Topic), SendField::Raw(RawField::Tag), SendField::Raw(RawField::Message)];

/// A send to the default project.
pub fn parse(raw: RawNotification<'_>) -> Result<SendRequest, InvalidForm> {
    parse_notification(raw, &ProjectKey::Default)
}

/// A classic body to client `c1` with topic `t`.
pub fn raw<'a>(
    id: &'a str,
    flags: Result<u32, &'static str>,
    blob: Result<&'a str, &'static str>,
) -> RawNotification<'a> {
    RawNotification { client_id: Ok("c1"), id: Ok(id), topic: Ok("t"), flags, blob, has_classic: true, ..MISSING }
}

/// A body with the raw form only, to client `c1` with topic `rt`.
pub fn raw_form(message: &str, tag: u32) -> RawNotification<'_> {
    RawNotification {
        client_id: Ok("c1"),
        raw_topic: Ok("rt"),
        tag: Ok(tag),
        message: Ok(message),
        has_raw: true,
        ..MISSING
    }
}

/// A body with both forms: classic id `n1` (encrypted blob `cipher`), raw message `message`.
pub fn both_forms(message: &str) -> RawNotification<'_> {
    RawNotification {
        id: Ok("n1"),
        topic: Ok("t"),
        flags: Ok(1),
        blob: Ok("cipher"),
        has_classic: true,
        ..raw_form(message, 9)
    }
}

pub fn fields(invalid: &[InvalidField<SendField>]) -> Vec<SendField> {
    invalid.iter().map(|f| f.field).collect()
}

/// The raw form's id for `message`.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes()))
}
