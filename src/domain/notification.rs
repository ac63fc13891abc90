//! A notification from the Relay, in either of its two forms, and the delivery a provider is
//! asked to make.

use super::{Client, ClientId, DeviceToken, NotificationId, Payload, PushType, RawPayload};

/// What the device is sent: the classic form (`{id, payload}`) or the raw form newer Relays send
/// (`{topic, tag, message}`), which the client asked for with `always_raw`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    Classic(Payload),
    Raw(RawPayload),
}

/// Which of the two forms, without its content: what a refusal names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    Classic,
    Raw,
}

impl Form {
    pub fn kind(&self) -> FormKind {
        match self {
            Form::Classic(_) => FormKind::Classic,
            Form::Raw(_) => FormKind::Raw,
        }
    }
}

/// One notification the Relay asked to deliver: its de-duplication id (the Relay's `id`, or for
/// the raw form the hash of its message) and what to deliver. The id is a field of both forms
/// because dedup, logs and spans treat them alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: NotificationId,
    pub form: Form,
}

impl Notification {
    /// The classic form under the Relay's id.
    pub fn classic(id: NotificationId, payload: Payload) -> Self {
        Self { id, form: Form::Classic(payload) }
    }

    /// The raw form, under the id its message gives it (see [`RawPayload::dedup_id`]).
    pub fn raw(payload: RawPayload) -> Self {
        Self { id: payload.dedup_id(), form: Form::Raw(payload) }
    }
}

/// Everything a push provider needs to deliver one notification to one device.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub client_id: ClientId,
    pub push_type: PushType,
    pub token: DeviceToken,
    pub notification: Notification,
}

impl Delivery {
    /// `notification` for `client`'s device.
    pub fn to(client: &Client, notification: Notification) -> Self {
        Self { client_id: client.id.clone(), push_type: client.push_type, token: client.token.clone(), notification }
    }
}
