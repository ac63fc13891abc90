//! Certificate auth: the APNS client certificate and its key, from a `.p12` export or a PEM file,
//! turned into the TLS client identity that rustls presents.
//!
//! A `.p12` is opened with the pure-Rust `p12-keystore` (no OpenSSL is linked) and passes through
//! PEM, so both inputs take the same road to rustls.

use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

use super::config::ApnsIdentity;
use crate::adapters::pem::armour;
use crate::adapters::push::pool::ClientIdentity;

/// Why an identity cannot be used, one variant per thing to fix (so a caller can name the file,
/// the password or the stored field). Texts never contain the password.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("is not valid PEM text")]
    NotPemText,
    #[error(
        "holds an encrypted PEM key; use the .p12 with its password, or decrypt the key \
         (openssl pkcs8 -in key.pem -out plain.pem)"
    )]
    EncryptedPem,
    #[error("holds no PEM certificate (expected the APNS certificate and its private key)")]
    NoPemCertificate,
    #[error("holds no PEM private key (expected the APNS certificate and its private key)")]
    NoPemKey,
    /// Not PKCS#12, or a PKCS#12 file the password does not open.
    #[error("is neither PEM nor a PKCS#12 file this server can open with the password given ({0})")]
    Pkcs12(String),
    #[error("is a PKCS#12 file without a private key and its certificate")]
    Pkcs12WithoutKey,
    #[error("is a PKCS#12 file whose private key has no certificate")]
    Pkcs12WithoutCertificate,
    #[error("holds no usable certificate and key: {0}")]
    Unusable(String),
    #[error("holds a certificate and key that cannot be used together: {0}")]
    Mismatch(String),
}

/// The TLS client identity in `material`. A `.p12` is decrypted with its password (an empty one
/// is what Keychain Access writes when the export password is left blank).
pub fn identity(material: &ApnsIdentity) -> Result<ClientIdentity, IdentityError> {
    let pem = match material {
        ApnsIdentity::Pem(bytes) => check_pem(bytes)?,
        ApnsIdentity::Pkcs12 { der, password } => p12_to_pem(der, password)?,
    };
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| IdentityError::Unusable(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| IdentityError::Unusable(e.to_string()))?;
    let identity = ClientIdentity { chain, key };
    // rustls checks that the key is supported and belongs to the leaf certificate; doing that
    // here gives the precise start-up reason instead of a failed handshake later.
    identity.check().map_err(IdentityError::Mismatch)?;
    Ok(identity)
}

/// The leaf certificate's expiry (unix seconds) of a `.p12` identity, for the operator's summary;
/// `None` when it cannot be read (the identity check reports why).
pub fn not_after(material: &ApnsIdentity) -> Option<i64> {
    use x509_cert::der::Decode;
    let ApnsIdentity::Pkcs12 { der, password } = material else { return None };
    let store = KeyStore::from_pkcs12(der, password, Pkcs12ImportPolicy::Strict).ok()?;
    let (_, chain) = store.private_key_chain()?;
    let leaf = x509_cert::Certificate::from_der(chain.certs().first()?.as_der()).ok()?;
    i64::try_from(leaf.tbs_certificate().validity().not_after.to_unix_duration().as_secs()).ok()
}

/// Makes sure PEM text has what a client identity needs, so a wrong file gets a precise reason
/// (a bare parser only says "invalid identity").
fn check_pem(bytes: &[u8]) -> Result<String, IdentityError> {
    let text = std::str::from_utf8(bytes).map_err(|_| IdentityError::NotPemText)?;
    if text.contains("ENCRYPTED PRIVATE KEY") {
        return Err(IdentityError::EncryptedPem);
    }
    let certs = CertificateDer::pem_slice_iter(bytes).filter(Result::is_ok).count();
    if certs == 0 {
        return Err(IdentityError::NoPemCertificate);
    }
    PrivateKeyDer::from_pem_slice(bytes).map_err(|_| IdentityError::NoPemKey)?;
    Ok(text.to_owned())
}

/// Opens a PKCS#12 file and writes its key and certificate chain (leaf first) as PEM.
fn p12_to_pem(bytes: &[u8], password: &str) -> Result<String, IdentityError> {
    let store = KeyStore::from_pkcs12(bytes, password, Pkcs12ImportPolicy::Strict)
        .map_err(|e| IdentityError::Pkcs12(e.to_string()))?;
    let (_, chain) = store.private_key_chain().ok_or(IdentityError::Pkcs12WithoutKey)?;
    if chain.certs().is_empty() {
        return Err(IdentityError::Pkcs12WithoutCertificate);
    }
    let mut pem = String::new();
    for cert in chain.certs() {
        pem.push_str(&armour("CERTIFICATE", cert.as_der()));
    }
    // p12-keystore keeps keys as PKCS#8, which is what the `PRIVATE KEY` label means.
    pem.push_str(&armour("PRIVATE KEY", chain.key().as_der()));
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use p12_keystore::{Certificate as P12Certificate, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    use rcgen::{CertificateParams, KeyPair};

    use super::*;

    fn generated() -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["apns-client.example".into()]).unwrap().self_signed(&key).unwrap();
        (cert, key)
    }

    fn pem(text: String) -> ApnsIdentity {
        ApnsIdentity::detect(text.into_bytes(), None)
    }

    #[test]
    fn pem_with_certificate_and_key() {
        let (cert, key) = generated();
        assert!(identity(&pem(format!("{}{}", cert.pem(), key.serialize_pem()))).is_ok());
    }

    #[test]
    fn pem_without_key_or_certificate_is_refused() {
        let (cert, key) = generated();
        assert!(matches!(identity(&pem(cert.pem())), Err(IdentityError::NoPemKey)));
        assert!(matches!(identity(&pem(key.serialize_pem())), Err(IdentityError::NoPemCertificate)));
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(matches!(identity(&pem(encrypted.into())), Err(IdentityError::EncryptedPem)));
    }

    fn p12(password: &str) -> Vec<u8> {
        let (cert, key) = generated();
        let chain = PrivateKeyChain::new(
            b"apns".to_vec(),
            PrivateKey::from_der(&key.serialize_der()).unwrap(),
            [P12Certificate::from_der(cert.der()).unwrap()],
        );
        let mut store = KeyStore::new();
        store.add_entry("apns", KeyStoreEntry::PrivateKeyChain(chain));
        store.writer(password).write().unwrap()
    }

    #[test]
    fn p12_with_the_right_password() {
        let der = p12("s3cret");
        assert!(identity(&ApnsIdentity::detect(der.clone(), Some("s3cret"))).is_ok());
        let err = identity(&ApnsIdentity::detect(der, Some("wrong"))).unwrap_err();
        assert!(matches!(err, IdentityError::Pkcs12(_)), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("PKCS#12") && !text.contains("wrong") && !text.contains("s3cret"), "{text}");
    }

    #[test]
    fn p12_without_a_password() {
        assert!(identity(&ApnsIdentity::detect(p12(""), None)).is_ok());
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused() {
        let (cert, _) = generated();
        let (_, other_key) = generated();
        let err = identity(&pem(format!("{}{}", cert.pem(), other_key.serialize_pem()))).unwrap_err();
        assert!(err.to_string().contains("cannot be used together"), "{err}");
    }

    #[test]
    fn garbage_is_refused() {
        let err = identity(&ApnsIdentity::detect(b"\x00\x01 not a certificate".to_vec(), None)).unwrap_err();
        assert!(err.to_string().contains("neither PEM nor a PKCS#12"), "{err}");
    }
}
