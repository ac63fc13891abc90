//! FCM providers from (defaults, credentials), and the check of uploaded service accounts.

use std::sync::Arc;

use super::PushProviderFactory;
use crate::{
    adapters::push::fcm::{
        FcmConfig, FcmConfigError, FcmProvider, InvalidServiceAccount, ServiceAccount, check_project_id,
    },
    domain::FcmCredentials,
    ports::{CredentialProblem, PushProvider},
};

impl PushProviderFactory {
    /// An FCM provider sending as `account` through Firebase project `project_id`, with this
    /// server's endpoint, retries and pool, decorated. `origin` says where the credentials come
    /// from (the provider names it when Google refuses them). The adapter's error names the part
    /// at fault; the caller words it after its source.
    pub fn fcm_provider(
        &self,
        account: ServiceAccount,
        project_id: String,
        origin: String,
    ) -> Result<Arc<dyn PushProvider>, FcmConfigError> {
        let defaults = &self.defaults;
        let mut config = FcmConfig::new(account, project_id, defaults.retry);
        if let Some(endpoint) = &defaults.fcm.endpoint {
            config.endpoint.clone_from(endpoint);
        }
        config.pool = defaults.fcm.pool;
        config.cleartext_http2 = defaults.fcm.cleartext_http2;
        config.egress = defaults.egress.clone();
        config.origin = origin;
        Ok(self.decorated(Arc::new(FcmProvider::new(config)?)))
    }
}

/// An uploaded service account checked without a provider: the JSON and its key, and the
/// project id messages would be sent through.
pub(super) fn check(credentials: &FcmCredentials) -> Result<(), Vec<CredentialProblem>> {
    let mut problems: Vec<CredentialProblem> =
        ServiceAccount::parse(credentials.service_account.expose()).err().map(unusable).into_iter().collect();
    problems.extend(check_project_id(&credentials.project_id).err().map(project_id));
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// A project's provider from its stored service account.
pub(super) fn stored(
    factory: &PushProviderFactory,
    origin: String,
    credentials: &FcmCredentials,
) -> Result<Arc<dyn PushProvider>, String> {
    let account = ServiceAccount::parse(credentials.service_account.expose()).map_err(|e| e.to_string())?;
    factory.fcm_provider(account, credentials.project_id.clone(), origin).map_err(|e| project_id(e).description)
}

fn unusable(error: InvalidServiceAccount) -> CredentialProblem {
    CredentialProblem::new(error.field, error.to_string())
}

/// The adapter's refusal: the project id, or this server's own settings (not the upload's).
fn project_id(error: FcmConfigError) -> CredentialProblem {
    match error {
        FcmConfigError::ProjectId(_) => CredentialProblem::new("project_id", error.to_string()),
        other => CredentialProblem::new("project_id", format!("this server's FCM settings are unusable: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::{
        adapters::push::{
            factory::tests::{counting, defaults},
            fcm::credentials::tests::{account_json, test_key_pem},
        },
        domain::{ProjectId, Secret},
        ports::ProviderFactory,
    };

    fn credentials(json: &serde_json::Value, project_id: &str) -> FcmCredentials {
        FcmCredentials {
            project_id: project_id.into(),
            client_email: "push@demo-project.iam.gserviceaccount.com".into(),
            service_account: Secret::new(json.to_string()),
        }
    }

    #[test]
    fn a_check_reports_every_problem_found_without_building() {
        let (factory, wrapped) = counting(defaults(Some("not a url")));
        let mut json = account_json(&test_key_pem());
        assert_eq!(factory.check_fcm(&credentials(&json, "demo-project")), Ok(()));
        json.as_object_mut().unwrap().remove("client_email");
        let problems = factory.check_fcm(&credentials(&json, "demo project")).unwrap_err();
        assert_eq!(problems.iter().map(|p| p.field).collect::<Vec<_>>(), ["client_email", "project_id"]);
        assert_eq!(wrapped.load(Ordering::SeqCst), 0, "nothing was built");
    }

    #[test]
    fn stored_credentials_build_with_the_defaults_and_are_decorated_once() {
        let (factory, wrapped) = counting(defaults(Some("http://127.0.0.1:9")));
        let project = ProjectId::parse("w1").unwrap();
        let stored = credentials(&account_json(&test_key_pem()), "demo-project");
        assert_eq!(factory.fcm(&project, &stored).unwrap().name(), "fcm");
        assert_eq!(wrapped.load(Ordering::SeqCst), 1);
        let (unusable, _) = counting(defaults(Some("not a url")));
        let refused = unusable.fcm(&project, &stored).err().expect("the endpoint is the server's");
        assert!(refused.contains("this server's FCM settings"), "{refused}");
    }
}
