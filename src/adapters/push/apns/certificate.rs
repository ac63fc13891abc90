//! Certificate auth: the APNS client certificate and its key, from a `.p12` export or a PEM file,
//! turned into the TLS client identity that reqwest's rustls backend takes.
//!
//! reqwest only reads PKCS#12 through native-tls (OpenSSL on Linux), which this project does not
//! link; so a `.p12` is opened here with the pure-Rust `p12-keystore` and handed to rustls as PEM.

use std::path::Path;

use base64::{Engine, engine::general_purpose::STANDARD};
use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use reqwest::Identity;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

/// Reads `path` and returns the identity in it. A file that starts with a PEM armour line is read
/// as PEM (a certificate chain, leaf first, and an unencrypted private key); anything else as
/// PKCS#12, decrypted with `password` (an empty password when none is configured, which is what
/// Keychain Access writes when the export password is left blank).
///
/// Errors are one line, for the start-up message; they never contain the password.
pub fn load(path: &Path, password: Option<&str>) -> Result<Identity, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    let pem = if looks_like_pem(&bytes) { check_pem(&bytes)? } else { p12_to_pem(&bytes, password.unwrap_or(""))? };
    let identity =
        Identity::from_pem(pem.as_bytes()).map_err(|e| format!("holds no usable certificate and key: {e}"))?;
    // rustls checks that the key is supported and belongs to the leaf certificate only when a
    // client is built with it; doing that here gives the precise start-up reason.
    reqwest::Client::builder()
        .identity(identity.clone())
        .build()
        .map_err(|e| format!("holds a certificate and key that cannot be used together: {}", source_text(&e)))?;
    Ok(identity)
}

fn source_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    if let Some(source) = e.source() {
        text.push_str(": ");
        text.push_str(&source_text(source));
    }
    text
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().starts_with(b"-----BEGIN")
}

/// Makes sure a PEM file has what a client identity needs, so a wrong file gets a precise reason
/// (reqwest's own parser only says "invalid identity").
fn check_pem(bytes: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "is not valid PEM text".to_owned())?;
    if text.contains("ENCRYPTED PRIVATE KEY") {
        return Err("holds an encrypted PEM key; use the .p12 with APNS_CERT_PASSWORD, or decrypt the key \
                    (openssl pkcs8 -in key.pem -out plain.pem)"
            .to_owned());
    }
    let certs = CertificateDer::pem_slice_iter(bytes).filter(Result::is_ok).count();
    if certs == 0 {
        return Err("holds no PEM certificate (expected the APNS certificate and its private key)".to_owned());
    }
    PrivateKeyDer::from_pem_slice(bytes)
        .map_err(|_| "holds no PEM private key (expected the APNS certificate and its private key)".to_owned())?;
    Ok(text.to_owned())
}

/// Opens a PKCS#12 file and writes its key and certificate chain (leaf first) as PEM.
fn p12_to_pem(bytes: &[u8], password: &str) -> Result<String, String> {
    let store = KeyStore::from_pkcs12(bytes, password, Pkcs12ImportPolicy::Strict)
        .map_err(|e| format!("is neither PEM nor a PKCS#12 file this server can open with APNS_CERT_PASSWORD ({e})"))?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| "is a PKCS#12 file without a private key and its certificate".to_owned())?;
    if chain.certs().is_empty() {
        return Err("is a PKCS#12 file whose private key has no certificate".to_owned());
    }
    let mut pem = String::new();
    for cert in chain.certs() {
        pem.push_str(&armour("CERTIFICATE", cert.as_der()));
    }
    // p12-keystore keeps keys as PKCS#8, which is what the `PRIVATE KEY` label means.
    pem.push_str(&armour("PRIVATE KEY", chain.key().as_der()));
    Ok(pem)
}

fn armour(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
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

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn pem_with_certificate_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = generated();
        let path = write(&dir, "apns.pem", format!("{}{}", cert.pem(), key.serialize_pem()).as_bytes());
        assert!(load(&path, None).is_ok());
    }

    #[test]
    fn pem_without_key_or_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = generated();
        let only_cert = write(&dir, "cert.pem", cert.pem().as_bytes());
        assert!(load(&only_cert, None).unwrap_err().contains("no PEM private key"));
        let only_key = write(&dir, "key.pem", key.serialize_pem().as_bytes());
        assert!(load(&only_key, None).unwrap_err().contains("no PEM certificate"));
        assert!(load(&dir.path().join("missing.pem"), None).unwrap_err().contains("cannot be read"));
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
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "apns.p12", &p12("s3cret"));
        assert!(load(&path, Some("s3cret")).is_ok());
        let err = load(&path, Some("wrong")).unwrap_err();
        assert!(err.contains("PKCS#12") && !err.contains("s3cret"), "{err}");
    }

    #[test]
    fn p12_without_a_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "apns.p12", &p12(""));
        assert!(load(&path, None).is_ok());
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = generated();
        let (_, other_key) = generated();
        let path = write(&dir, "apns.pem", format!("{}{}", cert.pem(), other_key.serialize_pem()).as_bytes());
        let err = load(&path, None).unwrap_err();
        assert!(err.contains("cannot be used together"), "{err}");
    }

    #[test]
    fn garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "apns.p12", b"\x00\x01 not a certificate");
        assert!(load(&path, None).unwrap_err().contains("neither PEM nor a PKCS#12"));
    }
}
