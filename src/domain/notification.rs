//! A notification from the Relay and the delivery a provider is asked to make.

use super::{Client, ClientId, DeviceToken, NotificationId, Payload, PushType};

/// One notification the Relay asked to deliver: its de-duplication id and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: NotificationId,
    pub payload: Payload,
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
