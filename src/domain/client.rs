//! A registered device: the client id, its push service and its token.

use super::{ClientId, DeviceToken, PushType};

/// A registration. A client has exactly one device, and a device token belongs to at most one
/// client (the stores enforce the second rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub push_type: PushType,
    pub token: DeviceToken,
}
