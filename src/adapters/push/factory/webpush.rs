//! Web Push providers from (defaults, a VAPID key and subject).

use std::sync::Arc;

use super::PushProviderFactory;
use crate::{
    adapters::push::{
        pool::TlsOptions,
        webpush::{AllowedHost, Guard, SystemResolver, VapidKey, WebPushConfig, WebPushProvider, check_subject},
    },
    domain::{Secret, WebPushCredentials},
    ports::{CredentialProblem, PushProvider},
};

impl PushProviderFactory {
    /// A Web Push provider signing with the PEM key `key_pem` as `subject`, with this server's
    /// TTL, endpoint guard, retries and pools, decorated; and its public key (base64url), which
    /// pages subscribe with. `origin` says where the key comes from (named in the log when push
    /// services refuse it).
    pub fn webpush_provider(
        &self,
        key_pem: &[u8],
        subject: &str,
        origin: String,
    ) -> Result<(Arc<dyn PushProvider>, String), String> {
        let key = VapidKey::from_pem(key_pem)?;
        let public_key = key.public_key_base64url();
        let defaults = &self.defaults.webpush;
        let allowed = defaults.allowed_hosts.iter().map(|h| AllowedHost::parse(h)).collect::<Result<Vec<_>, _>>()?;
        let provider = WebPushProvider::new(WebPushConfig {
            key,
            subject: subject.to_owned(),
            ttl_secs: defaults.ttl_secs,
            guard: Guard::new(allowed),
            resolver: Arc::new(SystemResolver),
            retry: self.defaults.retry,
            pool: defaults.pool,
            tls: TlsOptions::default(),
            egress: self.defaults.egress.clone(),
            origin,
        })?;
        Ok((self.decorated(Arc::new(provider)), public_key))
    }
}

/// An upload checked and completed: the subject, the key given (or a new one), its public half.
pub(super) fn check(
    subject: &str,
    private_key_pem: Option<Secret<String>>,
) -> Result<WebPushCredentials, Vec<CredentialProblem>> {
    let mut problems = Vec::new();
    if let Err(e) = check_subject(subject) {
        problems.push(CredentialProblem::new("subject", format!("subject {e}")));
    }
    let key = match private_key_pem {
        Some(pem) => VapidKey::from_pem(pem.expose().as_bytes())
            .map_err(|e| problems.push(CredentialProblem::new("private_key", format!("private_key {e}"))))
            .ok(),
        None => match VapidKey::generate() {
            Ok(key) => Some(key),
            Err(e) => return Err(vec![CredentialProblem::new("private_key", e)]),
        },
    };
    match key {
        Some(key) if problems.is_empty() => Ok(WebPushCredentials {
            subject: subject.to_owned(),
            public_key: key.public_key_base64url(),
            private_key_pem: Secret::new(key.to_pem()),
        }),
        _ => Err(problems),
    }
}

/// A project's provider from its stored identity.
pub(super) fn stored(
    factory: &PushProviderFactory,
    origin: String,
    credentials: &WebPushCredentials,
) -> Result<Arc<dyn PushProvider>, String> {
    let pem = credentials.private_key_pem.expose().as_bytes();
    factory.webpush_provider(pem, &credentials.subject, origin).map(|(provider, _)| provider)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::adapters::push::factory::tests::{counting, defaults};

    #[test]
    fn a_pem_key_builds_a_decorated_provider_and_gives_its_public_key() {
        let (factory, wrapped) = counting(defaults(None));
        let key = VapidKey::generate().unwrap();
        let (provider, public) =
            factory.webpush_provider(key.to_pem().as_bytes(), "mailto:a@b.c", "test".into()).unwrap();
        assert_eq!(
            (provider.name(), public, wrapped.load(Ordering::SeqCst)),
            ("webpush", key.public_key_base64url(), 1)
        );
        assert!(factory.webpush_provider(b"nope", "mailto:a@b.c", "test".into()).is_err());
        assert!(factory.webpush_provider(key.to_pem().as_bytes(), "a@b.c", "test".into()).is_err());
    }

    #[test]
    fn an_upload_without_a_key_gets_one_and_bad_fields_are_all_named() {
        let generated = check("mailto:a@b.c", None).unwrap();
        let key = VapidKey::from_pem(generated.private_key_pem.expose().as_bytes()).unwrap();
        assert_eq!(generated.public_key, key.public_key_base64url());
        let given = VapidKey::generate().unwrap();
        let kept = check("https://wallet.example", Some(Secret::new(given.to_pem()))).unwrap();
        assert_eq!(kept.public_key, given.public_key_base64url());
        let problems = check("nobody", Some(Secret::new("not a key".into()))).unwrap_err();
        assert_eq!(problems.iter().map(|p| p.field).collect::<Vec<_>>(), ["subject", "private_key"]);
    }
}
