//! A notification from the Relay and the delivery a provider is asked to make.

use super::{ClientId, DeviceToken, NotificationId, Payload, PushType};

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
