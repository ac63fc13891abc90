//! One of their tenant rows as a project's credentials, in the shape an upload through the admin
//! API has, with what the operator must be told about it.

use serde_json::{Map, Value};

use crate::{
    app::{RawApnsCredentials, RawServiceAccount, parse_apns_credentials, parse_service_account},
    cli::settings::pem_text,
    domain::{ApnsCredentials, FcmCredentials},
    ports::TheirTenant,
};

/// What a tenant becomes: credentials still to be checked by the provider factory, and notes.
#[derive(Debug, Default)]
pub struct TenantPlan {
    pub apns: Option<ApnsCredentials>,
    pub fcm: Option<FcmCredentials>,
    pub notes: Vec<String>,
}

/// Reads the tenant's credentials the way their server does (APNS only when `apns_type` is set
/// and every field of that type is present), then parses them as an upload; `Err` with the
/// reason when a set of credentials is malformed (the tenant is then not imported at all).
pub fn plan_tenant(t: &TheirTenant) -> Result<TenantPlan, String> {
    let mut plan = TenantPlan::default();
    let raw = match t.apns_type.as_deref() {
        Some("certificate") => match (text(&t.apns_topic), text(&t.apns_certificate)) {
            (Some(topic), Some(certificate)) => Some(RawApnsCredentials {
                topic: Some(Ok(topic)),
                certificate: Some(Ok(certificate)),
                password: Some(Ok(t.apns_certificate_password.as_deref().unwrap_or(""))),
                ..Default::default()
            }),
            _ => None,
        },
        Some("token") => {
            match (text(&t.apns_topic), text(&t.apns_pkcs8_pem), text(&t.apns_key_id), text(&t.apns_team_id)) {
                (Some(topic), Some(pem), Some(key_id), Some(team_id)) => {
                    let pem = pem_text(pem).ok_or("apns_pkcs8_pem is neither base64 of a .p8 file nor PEM text")?;
                    let apns = parse_token(topic, &pem, key_id, team_id)?;
                    plan.apns = Some(apns);
                    None
                }
                _ => None,
            }
        }
        _ => None,
    };
    if let Some(raw) = raw {
        plan.apns = Some(parse_apns_credentials(raw).map_err(|fields| describe("APNS", fields))?);
    }
    if t.apns_type.is_some() && plan.apns.is_none() {
        plan.notes.push("apns_type is set but its credentials are incomplete: no APNS (as on their server)".into());
    }
    if let Some(json) = text(&t.fcm_v1_credentials) {
        plan.fcm = Some(service_account(json)?);
    } else if text(&t.fcm_api_key).is_some() {
        plan.notes.push(
            "fcm_api_key not imported: Google shut the legacy FCM API down; upload a service account \
             (PUT /admin/projects/{id}/fcm)"
                .into(),
        );
    }
    if t.suspended {
        let why = t.suspended_reason.as_deref().unwrap_or("no reason given");
        plan.notes.push(format!("suspended on their server ({why}); imported and served here"));
    }
    Ok(plan)
}

/// A column's text, when it holds any.
fn text(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|s| !s.trim().is_empty())
}

fn parse_token(topic: &str, pem: &str, key_id: &str, team_id: &str) -> Result<ApnsCredentials, String> {
    parse_apns_credentials(RawApnsCredentials {
        topic: Some(Ok(topic)),
        key: Some(Ok(pem)),
        key_id: Some(Ok(key_id)),
        team_id: Some(Ok(team_id)),
        ..Default::default()
    })
    .map_err(|fields| describe("APNS", fields))
}

/// A service-account JSON as an upload of it would be read.
pub fn service_account(json: &str) -> Result<FcmCredentials, String> {
    let map: Map<String, Value> =
        serde_json::from_str(json).map_err(|_| "fcm_v1_credentials is not a JSON object".to_owned())?;
    let field = |name: &str| map.get(name).map(|v| v.as_str().ok_or("must be a string")).unwrap_or(Err("is required"));
    let raw = RawServiceAccount {
        json,
        project_id: field("project_id"),
        client_email: field("client_email"),
        private_key: field("private_key"),
        token_uri: field("token_uri"),
    };
    parse_service_account(raw).map_err(|fields| describe("FCM", fields))
}

fn describe(what: &str, fields: Vec<crate::app::InvalidField>) -> String {
    refused(what, fields.iter().map(|f| (f.field, f.description.as_str())))
}

/// Refused credentials: each field at fault and why, never a value (which may be a secret).
pub fn refused<'a>(what: &str, problems: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let list: Vec<String> = problems.map(|(field, why)| format!("{field}: {why}")).collect();
    format!("{what} credentials refused ({})", list.join("; "))
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::STANDARD};

    use super::*;

    fn tenant() -> TheirTenant {
        TheirTenant { id: "t1".into(), ..Default::default() }
    }

    #[test]
    fn token_auth_from_base64_or_pem() {
        let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        for stored in [STANDARD.encode(pem), pem.to_owned()] {
            let t = TheirTenant {
                apns_type: Some("token".into()),
                apns_topic: Some("com.example".into()),
                apns_pkcs8_pem: Some(stored),
                apns_key_id: Some("KEY".into()),
                apns_team_id: Some("TEAM".into()),
                ..tenant()
            };
            let plan = plan_tenant(&t).unwrap();
            assert_eq!(plan.apns.unwrap().summary().auth, "token");
            assert!(plan.notes.is_empty());
        }
    }

    #[test]
    fn legacy_fcm_key_and_suspension_are_noted() {
        let t = TheirTenant {
            fcm_api_key: Some("AAAA".into()),
            suspended: true,
            suspended_reason: Some("invalid key".into()),
            ..tenant()
        };
        let plan = plan_tenant(&t).unwrap();
        assert!(plan.apns.is_none() && plan.fcm.is_none());
        assert!(plan.notes[0].starts_with("fcm_api_key not imported"), "{:?}", plan.notes);
        assert!(plan.notes[1].contains("suspended on their server (invalid key)"), "{:?}", plan.notes);
    }

    #[test]
    fn malformed_credentials_refuse_the_tenant_without_echoing_them() {
        let t = TheirTenant { fcm_v1_credentials: Some("{\"private_key\":\"SECRET\"}".into()), ..tenant() };
        let reason = plan_tenant(&t).unwrap_err();
        assert!(reason.starts_with("FCM credentials refused") && !reason.contains("SECRET"), "{reason}");
        let t = TheirTenant { fcm_v1_credentials: Some("SECRET".into()), ..tenant() };
        assert!(!plan_tenant(&t).unwrap_err().contains("SECRET"));
    }
}
