//! Pure types and rules of push-server: what a valid client, token, notification and message are,
//! and how a Relay request is signed.
//!
//! Nothing here does I/O or knows about HTTP, SQL, Redis or a push provider. Every type is built
//! through a `parse`/`decode` constructor that returns a `Result`, so holding one is proof that the
//! value passed the contract's rules ("parse, don't validate").

mod client;
mod client_id;
mod client_jwt;
mod device_token;
mod did_key;
mod flags;
mod notification;
mod notification_id;
mod notify_message;
mod payload;
mod project;
mod project_credentials;
mod project_id;
mod project_record;
mod push_type;
mod raw_payload;
mod relay_public_key;
mod relay_signature;
mod secret;
mod signature_batch;
mod text;
mod web_push_subscription;

pub use client::Client;
pub use client_id::{ClientId, ClientIdError};
pub use client_jwt::{
    Audiences, CLOCK_LEEWAY_SECS, ClientJwt, ClientJwtClaims, ClientJwtError, sign_client_jwt, verify_client_jwt,
};
pub use device_token::{DeviceToken, DeviceTokenError};
pub use did_key::{DidKey, DidKeyError};
pub use flags::Flags;
pub use notification::{Delivery, Form, FormKind, Notification};
pub use notification_id::{NotificationId, NotificationIdError};
pub use notify_message::{NotifyMessage, NotifyMessageError};
pub use payload::{Content, Payload, PayloadError, Topic, TopicError};
pub use project::ProjectKey;
pub use project_credentials::{
    ApnsCredentials, ApnsCredentialsAuth, ApnsSummary, FcmCredentials, FcmSummary, ProviderKind, WebPushCredentials,
    WebPushSummary,
};
pub use project_id::{MAX_PROJECT_ID_LEN, ProjectId, ProjectIdError, RESERVED_PROJECT_IDS};
pub use project_record::{Project, Suspension};
pub use push_type::{PushType, PushTypeError};
pub use raw_payload::{RawMessage, RawMessageError, RawPayload};
pub use relay_public_key::{RelayPublicKey, RelayPublicKeyError};
pub use relay_signature::{SIGNATURE_HEADER, SignatureHeaderError, SignatureHeaders, TIMESTAMP_HEADER, signed_message};
pub use secret::Secret;
pub use signature_batch::{PreparedSignature, verify_batch};
pub use web_push_subscription::{AUTH_BYTES, P256DH_BYTES, WebPushSubscription, WebPushSubscriptionError};
