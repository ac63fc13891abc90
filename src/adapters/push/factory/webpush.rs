//! Web Push providers from (defaults, a VAPID key and subject).

use std::sync::Arc;

use super::PushProviderFactory;
use crate::{
    adapters::{
        egress::Egress,
        push::{
            pool::TlsOptions,
            webpush::{AllowedHost, Guard, SystemResolver, VapidKey, WebPushConfig, WebPushProvider},
        },
    },
    ports::PushProvider,
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
            egress: Egress::direct(),
            origin,
        })?;
        Ok((self.decorated(Arc::new(provider)), public_key))
    }
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
        let (provider, public) = factory.webpush_provider(key.to_pem().as_bytes(), "mailto:a@b.c", "test".into()).unwrap();
        assert_eq!((provider.name(), public, wrapped.load(Ordering::SeqCst)), ("webpush", key.public_key_base64url(), 1));
        assert!(factory.webpush_provider(b"nope", "mailto:a@b.c", "test".into()).is_err());
        assert!(factory.webpush_provider(key.to_pem().as_bytes(), "a@b.c", "test".into()).is_err());
    }
}
