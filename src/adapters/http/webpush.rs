//! The VAPID public key a page subscribes with (`applicationServerKey`), for the default project
//! and for a named one.

use poem::http::StatusCode;
use poem_openapi::{ApiResponse, Object, payload::Json};

use super::{
    envelope::{Envelope, Status},
    error::ApiError,
    state::HttpState,
};

/// `GET /webpush/vapid-public-key`.
#[derive(Debug, Object)]
pub struct VapidPublicKey {
    pub status: Status,
    /// The uncompressed P-256 public key, base64url without padding: pass it (decoded to bytes)
    /// as `applicationServerKey` to `pushManager.subscribe`.
    pub public_key: String,
}

/// The project's key (`project: None`: the default project's), or `404`
/// `webpush_not_configured` when it has none.
pub async fn public_key(state: &HttpState, project: Option<&str>) -> Result<VapidPublicKey, ApiError> {
    let project = state.project(project).await?;
    let key = project.providers.vapid_public_key().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            Envelope::error("webpush_not_configured", "this project has no VAPID key: Web Push is off"),
        )
    })?;
    Ok(VapidPublicKey { status: Status::Ok, public_key: key.to_owned() })
}

// What the operation can answer, for the OpenAPI document (see `answer`).

#[allow(dead_code)]
#[derive(ApiResponse)]
pub enum VapidKeyResponse {
    /// `{"status":"OK","public_key":"B..."}`.
    #[oai(status = 200)]
    Ok(Json<VapidPublicKey>),
    /// Web Push is not configured for the project (error `webpush_not_configured`), or no such
    /// project (field `project_id`, `location: path`; project route only).
    #[oai(status = 404)]
    NotFound(Json<Envelope>),
    /// The project store could not be reached (error `storage_unavailable`).
    #[oai(status = 503)]
    Unavailable(Json<Envelope>),
}
