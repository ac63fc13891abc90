//! One of their client rows as one of our clients, or the reason it cannot be.

use crate::{
    domain::{Client, ClientId, DeviceToken, ProjectId, ProjectKey, PushType},
    ports::{THEIR_DEFAULT_TENANT, TheirClient},
};

/// The project a row of theirs belongs to: their single-tenant default tenant is our default
/// project; any other tenant id is the project of that id.
pub fn project_of(tenant_id: &str) -> Result<ProjectKey, String> {
    if tenant_id == THEIR_DEFAULT_TENANT {
        return Ok(ProjectKey::Default);
    }
    ProjectId::parse(tenant_id).map(ProjectKey::Named).map_err(|e| format!("tenant id '{tenant_id}': {e}"))
}

/// Their push types (`apnssandbox` is spelled without the dash) as ours.
fn push_type(raw: &str) -> Result<PushType, String> {
    match raw {
        "apns" => Ok(PushType::Apns),
        "apnssandbox" => Ok(PushType::ApnsSandbox),
        "fcm" => Ok(PushType::Fcm),
        "noop" => Ok(PushType::Noop),
        other => Err(format!("unknown push type '{other}'")),
    }
}

/// The client this row registers, checked as a registration would be.
pub fn client_of(row: &TheirClient) -> Result<Client, String> {
    let project = project_of(&row.tenant_id)?;
    let push_type = push_type(&row.push_type)?;
    if push_type == PushType::Noop && !project.is_default() {
        // The log sink, which serves `noop`, serves the default project only.
        return Err("push type noop is served in the default project only".into());
    }
    let id = ClientId::parse(&row.id).map_err(|e| e.to_string())?.in_project(project);
    let token = DeviceToken::parse(push_type, &row.device_token).map_err(|e| format!("device token: {e}"))?;
    Ok(Client { id, push_type, token, always_raw: row.always_raw })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tenant: &str, push_type: &str, token: &str) -> TheirClient {
        TheirClient {
            id: "did:key:z6Mk1".into(),
            tenant_id: tenant.into(),
            push_type: push_type.into(),
            device_token: token.into(),
            always_raw: true,
        }
    }

    #[test]
    fn maps_tenants_types_and_ids() {
        let apns = "ab".repeat(32);
        let c = client_of(&row(THEIR_DEFAULT_TENANT, "apnssandbox", &apns)).unwrap();
        assert_eq!((c.id.as_str(), c.push_type, c.always_raw), ("z6Mk1", PushType::ApnsSandbox, true));
        assert!(c.id.project().is_default());
        let c = client_of(&row("wallet-1", "fcm", "fcm-token")).unwrap();
        assert_eq!(c.id.project().storage_key(), "wallet-1");
        assert!(client_of(&row(THEIR_DEFAULT_TENANT, "noop", "x")).is_ok());
    }

    #[test]
    fn refuses_what_a_registration_would() {
        assert!(client_of(&row(THEIR_DEFAULT_TENANT, "apns", "not hex")).unwrap_err().starts_with("device token"));
        assert!(client_of(&row("wallet-1", "noop", "x")).unwrap_err().contains("default project"));
        assert!(client_of(&row("a b", "fcm", "x")).unwrap_err().contains("tenant id"));
        assert!(client_of(&row(THEIR_DEFAULT_TENANT, "webpush", "x")).unwrap_err().contains("unknown push type"));
    }
}
