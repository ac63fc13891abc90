//! APNS providers from (defaults, credentials), and the check of uploaded APNS credentials.

use std::sync::Arc;

use super::PushProviderFactory;
use crate::{
    adapters::push::apns::{
        ApnsAuth, ApnsConfig, ApnsConfigError, ApnsIdentity, ApnsProvider, IdField,
        certificate::{self, IdentityError},
        check_credentials,
    },
    domain::{ApnsCredentials, ApnsCredentialsAuth},
    ports::{ApnsFacts, CredentialProblem, PushProvider},
};

impl PushProviderFactory {
    /// A provider for both APNS types with `topic` and `auth`, this server's endpoints, retries,
    /// pools and placeholder title, decorated. `origin` says where the credentials come from (the
    /// provider names it when Apple refuses them). The adapter's error names the part at fault;
    /// the caller words it after its source.
    pub fn apns_provider(
        &self,
        topic: String,
        auth: ApnsAuth,
        origin: String,
    ) -> Result<Arc<dyn PushProvider>, ApnsConfigError> {
        let defaults = &self.defaults;
        let mut config = ApnsConfig::new(topic, auth, defaults.apns.placeholder_title.clone(), defaults.retry);
        if let Some(endpoint) = &defaults.apns.endpoint {
            config.endpoint.clone_from(endpoint);
        }
        if let Some(endpoint) = &defaults.apns.sandbox_endpoint {
            config.sandbox_endpoint.clone_from(endpoint);
        }
        config.pool = defaults.apns.pool;
        config.egress = defaults.egress.clone();
        config.origin = origin;
        Ok(self.decorated(Arc::new(ApnsProvider::new(config)?)))
    }
}

/// Stored credentials as the adapter takes them.
fn auth(credentials: &ApnsCredentials) -> ApnsAuth {
    match &credentials.auth {
        ApnsCredentialsAuth::Token { key_id, team_id, key_pem } => ApnsAuth::Token {
            key_pem: key_pem.expose().as_bytes().to_vec(),
            key_id: key_id.clone(),
            team_id: team_id.clone(),
        },
        ApnsCredentialsAuth::Certificate { p12, password, .. } => ApnsAuth::Certificate(ApnsIdentity::Pkcs12 {
            der: p12.expose().clone(),
            password: password.expose().clone(),
        }),
    }
}

/// Uploaded credentials checked without a provider; the certificate's expiry for the summary.
pub(super) fn check(credentials: &ApnsCredentials) -> Result<ApnsFacts, Vec<CredentialProblem>> {
    let auth = auth(credentials);
    check_credentials(&credentials.topic, &auth)
        .map_err(|errors| errors.into_iter().map(problem).collect::<Vec<_>>())?;
    let certificate_not_after = match &auth {
        ApnsAuth::Certificate(identity) => certificate::not_after(identity),
        ApnsAuth::Token { .. } => None,
    };
    Ok(ApnsFacts { certificate_not_after })
}

/// A project's provider from its stored credentials.
pub(super) fn stored(
    factory: &PushProviderFactory,
    origin: String,
    credentials: &ApnsCredentials,
) -> Result<Arc<dyn PushProvider>, String> {
    factory.apns_provider(credentials.topic.clone(), auth(credentials), origin).map_err(|e| problem(e).description)
}

/// The adapter's refusal, as the uploaded field an operator has to fix.
fn problem(error: ApnsConfigError) -> CredentialProblem {
    match error {
        ApnsConfigError::Topic(_) => CredentialProblem::new("topic", error.to_string()),
        ApnsConfigError::Id { field: IdField::KeyId, .. } => CredentialProblem::new("key_id", error.to_string()),
        ApnsConfigError::Id { field: IdField::TeamId, .. } => CredentialProblem::new("team_id", error.to_string()),
        ApnsConfigError::Key(reason) => {
            CredentialProblem::new("key", format!("the key {reason}; expected a P-256 PKCS#8 .p8 key (PEM)"))
        }
        ApnsConfigError::Certificate(IdentityError::Pkcs12(detail)) => CredentialProblem::new(
            "certificate",
            format!("is not a .p12 file that opens with the password given ({detail})"),
        ),
        ApnsConfigError::Certificate(other) => CredentialProblem::new("certificate", format!("the .p12 {other}")),
        // The endpoints are this server's settings, not the upload's; say so.
        ApnsConfigError::Endpoint { .. } => {
            CredentialProblem::new("topic", format!("this server's APNS endpoint settings are unusable: {error}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::{
        adapters::push::factory::tests::{counting, defaults},
        domain::{ProjectId, Secret},
        ports::ProviderFactory,
    };

    fn token(topic: &str, key_id: &str, team_id: &str, key_pem: String) -> ApnsCredentials {
        ApnsCredentials {
            topic: topic.into(),
            auth: ApnsCredentialsAuth::Token {
                key_id: key_id.into(),
                team_id: team_id.into(),
                key_pem: Secret::new(key_pem),
            },
        }
    }

    fn p256_pem() -> String {
        use aws_lc_rs::{
            rand::SystemRandom,
            signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair},
        };
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        crate::adapters::pem::armour("PRIVATE KEY", pkcs8.as_ref())
    }

    #[test]
    fn a_check_reports_every_problem_found() {
        let (factory, _) = counting(defaults(None));
        let problems = factory.check_apns(&token("a topic", "K-1", "", "not a key".into())).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        assert_eq!(fields, ["topic", "key_id", "team_id", "key"]);
        assert!(problems.iter().all(|p| !p.description.contains("not a key")), "{problems:?}");
        let certificate = ApnsCredentials {
            topic: "com.example".into(),
            auth: ApnsCredentialsAuth::Certificate {
                p12: Secret::new(b"not a p12".to_vec()),
                password: Secret::new("pw".into()),
                not_after: None,
            },
        };
        let problems = factory.check_apns(&certificate).unwrap_err();
        assert_eq!(problems.iter().map(|p| p.field).collect::<Vec<_>>(), ["certificate"]);
    }

    #[test]
    fn a_check_builds_no_provider_so_the_servers_endpoints_are_not_the_uploads_fault() {
        let (factory, wrapped) = counting(defaults(Some("not a url")));
        let credentials = token("com.example", "KEY1234567", "TEAM123456", p256_pem());
        assert_eq!(factory.check_apns(&credentials), Ok(ApnsFacts { certificate_not_after: None }));
        assert_eq!(wrapped.load(Ordering::SeqCst), 0, "nothing was built");
        let project = ProjectId::parse("w1").unwrap();
        let refused = factory.apns(&project, &credentials).err().expect("building uses the endpoints");
        assert!(refused.contains("endpoint"), "{refused}");
    }

    #[test]
    fn stored_credentials_and_the_environments_build_alike_and_are_decorated_once() {
        let (factory, wrapped) = counting(defaults(Some("http://127.0.0.1:9")));
        let credentials = token("com.example", "KEY1234567", "TEAM123456", p256_pem());
        let project = ProjectId::parse("w1").unwrap();
        assert_eq!(factory.apns(&project, &credentials).unwrap().name(), "apns");
        let from_files = factory.apns_provider("com.example".into(), auth(&credentials), "APNS_KEY_PATH".into());
        assert_eq!(from_files.unwrap().name(), "apns");
        assert_eq!(wrapped.load(Ordering::SeqCst), 2);
    }
}
