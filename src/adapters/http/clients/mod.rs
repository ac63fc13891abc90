//! Clients: a wallet registers its device token under its client id, and unregisters it; on the
//! default routes (`/clients...`) and a project's (`/{project_id}/clients...`) alike. Each handler
//! turns the request into domain values, calls one use case and maps its error with `?`.

pub mod body;

use poem::Request;
use poem_openapi::{ApiResponse, payload::Json};

use super::{
    envelope::{Envelope, Location},
    error::ApiError,
    json_body::JsonBody,
    state::HttpState,
};
use crate::app::{check_registered_token, parse_registration, parse_unregistration};
use body::{RegisterClientRequest, object_token, read_registration};

/// Register, for the default project (`project: None`) or a named one: rate limit, project,
/// body, fields, client JWT, store.
pub async fn register(
    state: &HttpState,
    req: &Request,
    project: Option<&str>,
    authorization: Option<&str>,
    body: &JsonBody<RegisterClientRequest>,
) -> Result<Envelope, ApiError> {
    state.rate_limit(req)?;
    let project = state.project(project).await?;
    let map = body.object()?;
    let mut raw = read_registration(&map);
    // A Web Push subscription may come as the object itself rather than as its JSON text; any
    // other type's token is a string, and an object there is refused as not one.
    let webpush = matches!(raw.push_type, Ok(t) if t.eq_ignore_ascii_case("webpush"));
    let token_text = if webpush { object_token(&map) } else { None };
    if let Some(text) = &token_text {
        raw.token = Ok(text);
    }
    let client = parse_registration(raw, &project).map_err(|f| ApiError::invalid(&f, Location::Body))?;
    // After the body: the JWT must name the client that the body names.
    state.config.client_auth.check(authorization, &client.id)?;
    // Last, as it may look the endpoint's host up: whether the provider could ever deliver there.
    check_registered_token(&client, &project).await.map_err(|f| ApiError::invalid(&f, Location::Body))?;
    state.push.register(client).await?;
    Ok(Envelope::ok())
}

/// Unregister, for the default project or a named one: rate limit, project, client id, client
/// JWT, store.
pub async fn unregister(
    state: &HttpState,
    req: &Request,
    project: Option<&str>,
    client_id: &str,
    authorization: Option<&str>,
) -> Result<Envelope, ApiError> {
    state.rate_limit(req)?;
    let project = state.project(project).await?;
    let id = parse_unregistration(client_id, &project.key).map_err(|f| ApiError::invalid(&f, Location::Path))?;
    state.config.client_auth.check(authorization, &id)?;
    state.push.unregister(id).await?;
    Ok(Envelope::ok())
}

// What each operation can answer, for the OpenAPI document (see `answer`): the handlers above
// build the answers, so these variants are read by the document and never constructed.

#[allow(dead_code)]
#[derive(ApiResponse)]
pub enum RegisterResponse {
    /// The client is stored durably: `{"status":"OK"}`.
    #[oai(status = 200)]
    Ok(Json<Envelope>),
    /// A field is invalid (every invalid field is listed in `fields`), or the body is not a JSON
    /// object (`errors`).
    #[oai(status = 400)]
    BadRequest(Json<Envelope>),
    /// The client JWT in `Authorization` does not verify or names another client, or it is
    /// missing while `CLIENT_AUTH=required` (field `Authorization`, `location: header`, with the
    /// reason).
    #[oai(status = 401)]
    Unauthorized(Json<Envelope>),
    /// No such project (field `project_id`, `location: path`; project routes only).
    #[oai(status = 404)]
    NotFound(Json<Envelope>),
    /// The body did not arrive within the body read timeout (`request_timeout`).
    #[oai(status = 408)]
    RequestTimeout(Json<Envelope>),
    /// The body is larger than the server accepts (16 KiB by default).
    #[oai(status = 413)]
    PayloadTooLarge(Json<Envelope>),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<Envelope>),
    /// Too many requests from this client address (`rate_limited`); retry after `Retry-After`
    /// seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<Envelope>, #[oai(header = "Retry-After")] u64),
    /// The client store could not be reached (`storage_unavailable`), or the request did not
    /// complete in time (`request_timeout`); nothing was stored.
    #[oai(status = 503)]
    StorageUnavailable(Json<Envelope>),
}

#[allow(dead_code)]
#[derive(ApiResponse)]
pub enum UnregisterResponse {
    /// The client is gone (or never existed): `{"status":"OK"}`.
    #[oai(status = 200)]
    Ok(Json<Envelope>),
    /// The client id in the path is invalid (`fields`, `location: path`).
    #[oai(status = 400)]
    BadRequest(Json<Envelope>),
    /// The client JWT in `Authorization` does not verify or names another client, or it is
    /// missing while `CLIENT_AUTH=required` (field `Authorization`, `location: header`, with the
    /// reason).
    #[oai(status = 401)]
    Unauthorized(Json<Envelope>),
    /// No such project (field `project_id`, `location: path`; project routes only).
    #[oai(status = 404)]
    NotFound(Json<Envelope>),
    /// Too many requests from this client address (`rate_limited`); retry after `Retry-After`
    /// seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<Envelope>, #[oai(header = "Retry-After")] u64),
    /// The client store could not be reached (`storage_unavailable`), or the request did not
    /// complete in time (`request_timeout`); nothing was deleted.
    #[oai(status = 503)]
    StorageUnavailable(Json<Envelope>),
}

#[cfg(test)]
mod tests {
    use poem::http::Method;
    use serde_json::json;

    use super::super::{
        HttpConfig,
        test_support::{CLIENT_IP, Harness, client_auth, config, default_project, named_project, relay},
    };
    use crate::{
        app::{ClientAuthMode, MockAdminService, MockPushService, RegisterError, RelayCheck, UnregisterError},
        domain::PushType,
        ports::{ProjectStoreError, StoreError},
    };

    fn registration() -> serde_json::Value {
        json!({"client_id": "did:key:c1", "type": "fcm", "token": "tok", "always_raw": true})
    }

    /// Expects the default project to be looked up, and nothing else yet.
    fn in_default_project() -> MockPushService {
        let mut push = MockPushService::new();
        push.expect_project().withf(|raw| raw.is_none()).returning(|_| Ok(Some(default_project())));
        push
    }

    #[tokio::test]
    async fn a_registration_is_parsed_into_the_project_and_stored() {
        let mut push = MockPushService::new();
        push.expect_project().withf(|raw| *raw == Some("w1")).returning(|_| Ok(Some(named_project("w1"))));
        push.expect_register()
            .withf(|c| {
                c.id.as_str() == "c1"
                    && c.id.project().label() == "w1"
                    && c.push_type == PushType::Fcm
                    && c.token.expose() == "tok"
                    && c.always_raw
            })
            .times(1)
            .returning(|_| Ok(()));
        let answered = Harness::push(push).call(Method::POST, "/w1/clients", Some(registration()), &[]).await;
        assert_eq!((answered.status, answered.json.clone()), (200, json!({"status": "OK"})));
    }

    #[tokio::test]
    async fn every_invalid_field_is_reported_and_nothing_is_stored() {
        let mut push = in_default_project();
        push.expect_register().never();
        let body = json!({"client_id": "", "type": "carrier-pigeon", "always_raw": "yes"});
        let answered = Harness::push(push).call(Method::POST, "/clients", Some(body), &[]).await;
        assert_eq!(answered.status, 400);
        let body = |f: &str| (f.to_owned(), "body".to_owned());
        assert_eq!(answered.fields(), [body("client_id"), body("type"), body("token"), body("always_raw")]);
    }

    #[tokio::test]
    async fn an_unknown_project_is_404_before_the_body_is_judged() {
        let mut push = MockPushService::new();
        push.expect_project().returning(|_| Ok(None));
        push.expect_register().never();
        let answered = Harness::push(push).call(Method::POST, "/nope/clients", Some(json!([1])), &[]).await;
        assert_eq!(answered.status, 404);
        assert_eq!(answered.fields(), [("project_id".to_owned(), "path".to_owned())]);
    }

    #[tokio::test]
    async fn an_unreachable_project_store_is_503() {
        let mut push = MockPushService::new();
        push.expect_project().returning(|_| Err(ProjectStoreError::Unavailable("10.0.0.7 refused".into())));
        let answered = Harness::push(push).call(Method::DELETE, "/w1/clients/c1", None, &[]).await;
        assert_eq!((answered.status, answered.error()), (503, "storage_unavailable"));
        assert!(!answered.json.to_string().contains("10.0.0.7"), "the cause stays in the log");
    }

    #[tokio::test]
    async fn a_required_client_jwt_is_checked_after_the_body_and_before_the_store() {
        let mut push = in_default_project();
        push.expect_register().never();
        let config = HttpConfig { client_auth: client_auth(ClientAuthMode::Required), ..config() };
        let harness = Harness::new(push, MockAdminService::new(), relay(RelayCheck::Disabled), config);
        let answered = harness.call(Method::POST, "/clients", Some(registration()), &[]).await;
        assert_eq!(answered.status, 401);
        assert_eq!(answered.fields(), [("Authorization".to_owned(), "header".to_owned())]);
        // A bad body is refused as such first.
        let answered = harness.call(Method::POST, "/clients", Some(json!({})), &[]).await;
        assert_eq!(answered.status, 400);
    }

    #[tokio::test]
    async fn a_store_failure_is_503_without_its_cause() {
        let mut push = in_default_project();
        push.expect_register()
            .returning(|_| Err(RegisterError::ClientStore(StoreError::Unavailable("pg at 10.0.0.7 down".into()))));
        push.expect_unregister()
            .returning(|_| Err(UnregisterError::ClientStore(StoreError::Unavailable("pg at 10.0.0.7 down".into()))));
        let harness = Harness::push(push);
        for answered in [
            harness.call(Method::POST, "/clients", Some(registration()), &[]).await,
            harness.call(Method::DELETE, "/clients/c1", None, &[]).await,
        ] {
            assert_eq!((answered.status, answered.error()), (503, "storage_unavailable"));
            assert_eq!(answered.json["errors"][0]["description"], "the client store could not be reached");
        }
    }

    #[tokio::test]
    async fn an_unregistration_names_the_client_of_the_path() {
        let mut push = in_default_project();
        push.expect_unregister()
            .withf(|id| id.as_str() == "c1" && id.project().is_default())
            .times(1)
            .returning(|_| Ok(()));
        let answered = Harness::push(push).call(Method::DELETE, "/clients/did:key:c1", None, &[]).await;
        assert_eq!(answered.status, 200);
        // A client id no client can have is the path's fault.
        let mut push = in_default_project();
        push.expect_unregister().never();
        let answered = Harness::push(push).call(Method::DELETE, "/clients/did:key:", None, &[]).await;
        assert_eq!((answered.status, answered.fields()), (400, vec![("client_id".to_owned(), "path".to_owned())]));
    }

    #[tokio::test]
    async fn registrations_are_rate_limited_per_address_before_anything_else() {
        let mut push = in_default_project();
        push.expect_register().times(1).returning(|_| Ok(()));
        push.expect_unregister().times(1).returning(|_| Ok(()));
        let config = HttpConfig { rate_limit_per_minute: 1, ..config() };
        let harness = Harness::new(push, MockAdminService::new(), relay(RelayCheck::Disabled), config);
        let from = [(CLIENT_IP, "192.0.2.1")];
        assert_eq!(harness.call(Method::POST, "/clients", Some(registration()), &from).await.status, 200);
        let limited = harness.call(Method::POST, "/clients", Some(registration()), &from).await;
        assert_eq!((limited.status, limited.error()), (429, "rate_limited"));
        assert_eq!(limited.headers["retry-after"], "60");
        // Another address has its own budget.
        let other = harness.call(Method::DELETE, "/clients/c1", None, &[(CLIENT_IP, "192.0.2.2")]).await;
        assert_eq!(other.status, 200);
    }
}
