//! The first half of a send: every field the Relay sent, checked before anything is looked up.
//!
//! Both forms are parsed up front, because which one a client gets is known only once the client
//! is found. A body with neither form usable is refused here, before the client is looked up; a
//! body without the form its client needs is refused by the second half (`execute`).

use super::{ClassicField, RawField, SendField};
use crate::{
    app::{InvalidField, InvalidFields},
    domain::{
        Client, ClientId, Flags, Form, FormKind, Notification, NotificationId, Payload, ProjectKey, RawMessage,
        RawPayload, Topic,
    },
};

/// A send as the Relay made it, field by field; an `Err` says why a field has no usable value
/// ("is required", "must be a string", ...).
#[derive(Debug, Clone, Copy)]
pub struct RawNotification<'a> {
    pub client_id: Result<&'a str, &'static str>,
    /// The classic form: `id` and the `payload` members.
    pub id: Result<&'a str, &'static str>,
    pub topic: Result<&'a str, &'static str>,
    pub flags: Result<u32, &'static str>,
    pub blob: Result<&'a str, &'static str>,
    /// The raw form: the top-level `topic`, `tag` and `message`.
    pub raw_topic: Result<&'a str, &'static str>,
    pub tag: Result<u32, &'static str>,
    pub message: Result<&'a str, &'static str>,
    /// Whether the body has any member of the classic form (`id`, `payload`) and of the raw form
    /// (`topic`, `tag`, `message`): a body with neither form usable is answered with the
    /// problems of the forms it tried (of the classic one when it tried none).
    pub has_classic: bool,
    pub has_raw: bool,
}

/// A body without a single member, to name what a missing form lacks.
pub(super) const MISSING: RawNotification<'static> = RawNotification {
    client_id: Err("is required"),
    id: Err("is required"),
    topic: Err("is required"),
    flags: Err("is required"),
    blob: Err("is required"),
    raw_topic: Err("is required"),
    tag: Err("is required"),
    message: Err("is required"),
    has_classic: false,
    has_raw: false,
};

/// Why one form of a send is unusable: each of its invalid fields.
pub type InvalidForm = Vec<InvalidField<SendField>>;

/// A parsed send: which client, and the notification in each form the body holds usably (at
/// least one), or why that form is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub client_id: ClientId,
    classic: Result<Notification, InvalidForm>,
    raw: Result<Notification, InvalidForm>,
}

impl SendRequest {
    /// A send of `notification` alone: the other form is missing.
    pub fn new(client_id: ClientId, notification: Notification) -> Self {
        match notification.form {
            Form::Classic(_) => Self { client_id, classic: Ok(notification), raw: parse_raw(&MISSING) },
            Form::Raw(_) => Self { client_id, classic: parse_classic(&MISSING), raw: Ok(notification) },
        }
    }

    /// The classic form, or why the body's is unusable.
    pub fn classic(&self) -> Result<&Notification, &[InvalidField<SendField>]> {
        self.classic.as_ref().map_err(Vec::as_slice)
    }

    /// The raw form, or why the body's is unusable.
    pub fn raw(&self) -> Result<&Notification, &[InvalidField<SendField>]> {
        self.raw.as_ref().map_err(Vec::as_slice)
    }

    /// What `client` is sent: the raw form when it registered `always_raw`, the classic form
    /// otherwise; that form and its problems when the body's is unusable.
    pub(super) fn for_client(self, client: &Client) -> Result<Notification, (FormKind, InvalidForm)> {
        if client.always_raw {
            self.raw.map_err(|fields| (FormKind::Raw, fields))
        } else {
            self.classic.map_err(|fields| (FormKind::Classic, fields))
        }
    }
}

/// Checks every field of a send to a client of `project`. Both forms are parsed; when neither is
/// usable, every invalid field of the forms the body tried is reported at once (with the client
/// id's, if invalid).
pub fn parse_notification(raw: RawNotification<'_>, project: &ProjectKey) -> Result<SendRequest, InvalidForm> {
    let mut invalid = InvalidFields::default();
    let client_id = invalid
        .parse(SendField::ClientId, raw.client_id, |s| ClientId::parse(s).map(|id| id.in_project(project.clone())));
    let classic = parse_classic(&raw);
    let raw_form = parse_raw(&raw);
    if let (Err(classic_fields), Err(raw_fields)) = (&classic, &raw_form) {
        if raw.has_classic || !raw.has_raw {
            invalid.extend(classic_fields.iter().cloned());
        }
        if raw.has_raw {
            invalid.extend(raw_fields.iter().cloned());
        }
    }
    let request = client_id.map(|client_id| SendRequest { client_id, classic, raw: raw_form });
    invalid.finish(request)
}

/// The classic form: `id` and a payload whose blob fits its flags.
fn parse_classic(raw: &RawNotification<'_>) -> Result<Notification, InvalidForm> {
    let field = SendField::Classic;
    let mut invalid = InvalidFields::default();
    let id = invalid.parse(field(ClassicField::Id), raw.id, NotificationId::parse);
    let topic = invalid.parse(field(ClassicField::Topic), raw.topic, Topic::parse);
    let flags = invalid.parse(field(ClassicField::Flags), raw.flags, |f| Ok::<_, String>(Flags::new(f)));
    let blob = invalid.parse(field(ClassicField::Blob), raw.blob, Ok::<_, String>);
    // The blob can only be judged once the flags say whether it is encrypted.
    let payload = match (topic, flags, blob) {
        (Some(topic), Some(flags), Some(blob)) => {
            invalid.parse(field(ClassicField::Blob), Ok(blob), |blob| Payload::new(topic, flags, blob))
        }
        _ => None,
    };
    let notification = match (id, payload) {
        (Some(id), Some(payload)) => Some(Notification::classic(id, payload)),
        _ => None,
    };
    invalid.finish(notification)
}

/// The raw form: `topic`, `tag` and a non-empty `message`, whose hash is its id.
fn parse_raw(raw: &RawNotification<'_>) -> Result<Notification, InvalidForm> {
    let field = SendField::Raw;
    let mut invalid = InvalidFields::default();
    let topic = invalid.parse(field(RawField::Topic), raw.raw_topic, Topic::parse);
    let tag = invalid.parse(field(RawField::Tag), raw.tag, Ok::<u32, std::convert::Infallible>);
    let message = invalid.parse(field(RawField::Message), raw.message, RawMessage::parse);
    let notification = match (topic, tag, message) {
        (Some(topic), Some(tag), Some(message)) => Some(Notification::raw(RawPayload::new(topic, tag, message))),
        _ => None,
    };
    invalid.finish(notification)
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::STANDARD};

    use super::super::fixtures::{CLASSIC_FIELDS, RAW_FIELDS, both_forms, fields, parse, raw, raw_form, sha256_hex};
    use super::*;

    #[test]
    fn parse_reports_every_bad_field() {
        let err = parse(RawNotification {
            client_id: Ok("c1"),
            id: Ok(""),
            topic: Ok(""),
            flags: Err("must be an unsigned 32-bit integer"),
            blob: Err("must be a string"),
            has_classic: true,
            ..MISSING
        })
        .unwrap_err();
        assert_eq!(fields(&err), CLASSIC_FIELDS);
        // A problem of the value's kind names the field by its name, not by where it was.
        assert_eq!(err[2].description, "flags must be an unsigned 32-bit integer");
        assert_eq!(err[3].description, "blob must be a string");
    }

    #[test]
    fn a_body_with_neither_form_is_refused_by_the_forms_it_tried() {
        // Nothing at all: the classic form's fields, as before the raw form existed.
        let none = parse(RawNotification { client_id: Ok("c1"), ..MISSING }).unwrap_err();
        assert_eq!(fields(&none), CLASSIC_FIELDS);
        // A raw attempt only: its own fields.
        let raw_only =
            parse(RawNotification { tag: Err("must be an unsigned 32-bit integer"), ..raw_form("", 1) }).unwrap_err();
        assert_eq!(fields(&raw_only), [SendField::Raw(RawField::Tag), SendField::Raw(RawField::Message)]);
        assert_eq!(raw_only[1].description, "message must not be empty");
        // Both tried, both broken: every problem of each.
        let both = parse(RawNotification { id: Ok(""), ..both_forms("") }).unwrap_err();
        assert_eq!(fields(&both), [SendField::Classic(ClassicField::Id), SendField::Raw(RawField::Message)]);
        // With a bad client id too.
        let with_path = parse(RawNotification { client_id: Ok(""), ..raw_form("", 1) }).unwrap_err();
        assert_eq!(fields(&with_path), [SendField::ClientId, SendField::Raw(RawField::Message)]);
    }

    #[test]
    fn one_usable_form_is_enough_to_parse_and_the_other_keeps_its_problems() {
        let raw_only = parse(raw_form("sealed", 4)).unwrap();
        assert_eq!(fields(raw_only.classic().unwrap_err()), CLASSIC_FIELDS);
        let n = raw_only.raw().unwrap();
        assert_eq!(n.id.as_str(), sha256_hex("sealed"));
        assert!(
            matches!(&n.form, Form::Raw(r) if r.topic().as_str() == "rt" && r.tag() == 4 && r.message() == "sealed")
        );
        let classic_only = parse(raw("n1", Ok(1), Ok("cipher"))).unwrap();
        assert_eq!(fields(classic_only.raw().unwrap_err()), RAW_FIELDS);
        assert_eq!(classic_only.raw().unwrap_err()[2].description, "message is required");
    }

    #[test]
    fn parse_decodes_cleartext_blobs() {
        let blob = STANDARD.encode(r#"{"title":"T","body":"B"}"#);
        assert!(parse(raw("i", Ok(16), Ok(&blob))).is_ok());
        let err = parse(raw("i", Ok(16), Ok("@@"))).unwrap_err();
        assert_eq!(err[0].field, SendField::Classic(ClassicField::Blob));
    }

    #[test]
    fn the_client_gets_the_form_it_registered_for_or_that_form_s_problems() {
        let client = crate::app::test_support::client("c1");
        let raw_client = Client { always_raw: true, ..client.clone() };
        let classic_only = parse(raw("n1", Ok(1), Ok("cipher"))).unwrap();
        assert!(matches!(classic_only.clone().for_client(&client), Ok(n) if n.id.as_str() == "n1"));
        let (form, problems) = classic_only.for_client(&raw_client).unwrap_err();
        assert_eq!((form, fields(&problems)), (FormKind::Raw, RAW_FIELDS.to_vec()));
        let (form, problems) = parse(raw_form("m", 1)).unwrap().for_client(&client).unwrap_err();
        assert_eq!((form, fields(&problems)), (FormKind::Classic, CLASSIC_FIELDS.to_vec()));
    }
}
