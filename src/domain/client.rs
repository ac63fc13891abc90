//! A registered device: the client id, its push service, its token and which form of
//! notification it wants.

use super::{ClientId, DeviceToken, PushType};

/// A registration. A client has exactly one device, and a device token belongs to at most one
/// client (the stores enforce the second rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub push_type: PushType,
    pub token: DeviceToken,
    /// The wallet asked for the raw form of notifications (`{topic, tag, message}`): a send is
    /// delivered from the request's raw part, and refused when it has none. Stored, returned by
    /// nothing.
    pub always_raw: bool,
}
