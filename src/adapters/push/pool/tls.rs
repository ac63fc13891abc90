//! The TLS side of a pooled connection: one rustls client configuration per endpoint (aws-lc-rs,
//! the platform's trust store plus any extra anchors, ALPN `h2` only, an optional client
//! certificate for APNS certificate auth).

use std::sync::Arc;

use rustls::{ClientConfig, crypto::aws_lc_rs};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS client certificate chain (leaf first) and its private key.
pub struct ClientIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        Self { chain: self.chain.clone(), key: self.key.clone_key() }
    }
}

/// Never prints the key.
impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity").field("certificates", &self.chain.len()).finish_non_exhaustive()
    }
}

impl ClientIdentity {
    /// Checks that rustls can sign with the key and that the key is the leaf certificate's, so a
    /// mismatched pair is refused when a provider is built rather than at the first handshake.
    pub fn check(&self) -> Result<(), String> {
        let provider = aws_lc_rs::default_provider();
        rustls::sign::CertifiedKey::from_der(self.chain.clone(), self.key.clone_key(), &provider)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// What a TLS endpoint trusts and presents.
#[derive(Clone, Default)]
pub struct TlsOptions {
    /// Certificate auth: the client identity presented in every handshake.
    pub identity: Option<ClientIdentity>,
    /// Trust anchors besides the platform's (a gateway with a private CA, TLS test servers).
    pub extra_roots: Vec<CertificateDer<'static>>,
}

/// The client configuration for `https://` endpoints. Only `h2` is offered: APNS speaks nothing
/// else, and HTTP/1.1 to FCM would defeat the pool.
pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(options.extra_roots.iter().cloned(), provider.clone())
            .map_err(|e| format!("cannot load the trust store: {e}"))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match &options.identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
            .map_err(|e| format!("cannot use the client certificate: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}
