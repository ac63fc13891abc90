//! The Google service-account JSON: parsed and checked once, when the provider is configured, so
//! credentials that cannot work are refused then, while well-formed but revoked ones only fail
//! each send.

use std::fmt;

use aws_lc_rs::signature::RsaKeyPair;
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::Deserialize;

/// A parsed service account: who we are (`client_email`), the key that signs our OAuth
/// assertions, and where access tokens come from (`token_uri`, configurable so tests can point it
/// at a local fake).
pub struct ServiceAccount {
    pub client_email: String,
    /// Sent as the assertion's `kid`, so Google can pick the right public key at once.
    pub private_key_id: Option<String>,
    pub token_uri: String,
    pub project_id: Option<String>,
    pub key: RsaKeyPair,
}

/// The fields we read; everything else in the file (client id, cert URLs) is ignored.
#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<String>,
    token_uri: Option<String>,
    project_id: Option<String>,
}

/// Why a text is not a usable service account, in one line that never holds key material, and
/// which member of the JSON is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct InvalidServiceAccount {
    /// `type` (also for text that is not a JSON object at all), `client_email`, `token_uri` or
    /// `private_key`.
    pub field: &'static str,
    reason: String,
}

impl ServiceAccount {
    /// Checks service-account JSON text.
    pub fn parse(text: &str) -> Result<Self, InvalidServiceAccount> {
        Self::parse_reason(text).map_err(|(field, reason)| InvalidServiceAccount { field, reason })
    }

    fn parse_reason(text: &str) -> Result<Self, (&'static str, String)> {
        // serde_json's message can quote the offending input; report only where it broke so a
        // fragment of the private key never reaches a log.
        let raw: Raw = serde_json::from_str(text).map_err(|e| {
            ("type", format!("not service-account JSON (invalid JSON at line {} column {})", e.line(), e.column()))
        })?;
        match raw.kind.as_deref() {
            Some("service_account") => {}
            Some(other) => {
                return Err((
                    "type",
                    format!("not service-account JSON (type is '{other}', expected 'service_account')"),
                ));
            }
            None => return Err(("type", "not service-account JSON (no \"type\": \"service_account\")".into())),
        }
        let client_email = required(raw.client_email, "client_email")?;
        let token_uri = required(raw.token_uri, "token_uri")?;
        if !(token_uri.starts_with("https://") || token_uri.starts_with("http://")) {
            return Err(("token_uri", format!("token_uri must be an http:// or https:// URL, got '{token_uri}'")));
        }
        let key = parse_private_key(&required(raw.private_key, "private_key")?).map_err(|e| ("private_key", e))?;
        Ok(Self {
            client_email,
            private_key_id: raw.private_key_id.filter(|s| !s.is_empty()),
            token_uri,
            project_id: raw.project_id.filter(|s| !s.is_empty()),
            key,
        })
    }
}

fn required(value: Option<String>, name: &'static str) -> Result<String, (&'static str, String)> {
    value.filter(|v| !v.trim().is_empty()).ok_or_else(|| (name, format!("not service-account JSON (no \"{name}\")")))
}

/// Google issues service-account keys as unencrypted PKCS#8 PEM (`BEGIN PRIVATE KEY`) holding a
/// 2048-bit RSA key. The PEM armour is simple enough to take apart here without a PEM crate.
fn parse_private_key(pem: &str) -> Result<RsaKeyPair, String> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    if pem.contains("BEGIN RSA PRIVATE KEY") || pem.contains("BEGIN ENCRYPTED PRIVATE KEY") {
        return Err("private_key must be an unencrypted PKCS#8 key (BEGIN PRIVATE KEY)".into());
    }
    let start = pem.find(BEGIN).ok_or("private_key is not a PEM PKCS#8 key (no BEGIN PRIVATE KEY line)")?;
    let body = &pem[start + BEGIN.len()..];
    let end = body.find(END).ok_or("private_key is not a PEM PKCS#8 key (no END PRIVATE KEY line)")?;
    let b64: String = body[..end].chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD.decode(b64).map_err(|_| "private_key is not valid PEM (bad base64)".to_owned())?;
    RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("private_key is not a usable RSA PKCS#8 key ({e})"))
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use aws_lc_rs::{
        encoding::AsDer,
        rsa::{KeyPair, KeySize},
    };
    use serde_json::{Value, json};

    use super::*;

    /// A fresh 2048-bit key as PEM PKCS#8 (a test-only key; nothing is committed).
    pub(crate) fn test_key_pem() -> String {
        let key = KeyPair::generate(KeySize::Rsa2048).expect("key generation");
        crate::adapters::pem::armour("PRIVATE KEY", key.as_der().expect("PKCS#8").as_ref())
    }

    pub(crate) fn account_json(pem: &str) -> Value {
        json!({
            "type": "service_account",
            "project_id": "demo-project",
            "private_key_id": "kid-1",
            "private_key": pem,
            "client_email": "push@demo-project.iam.gserviceaccount.com",
            "token_uri": "http://127.0.0.1:1/token",
        })
    }

    fn parse_with(change: impl FnOnce(&mut Value)) -> Result<ServiceAccount, String> {
        let mut v = account_json(&test_key_pem());
        change(&mut v);
        ServiceAccount::parse(&v.to_string()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_google_style_file_parses() {
        let account = parse_with(|_| {}).unwrap();
        assert_eq!(account.client_email, "push@demo-project.iam.gserviceaccount.com");
        assert_eq!(account.project_id.as_deref(), Some("demo-project"));
        assert_eq!(account.private_key_id.as_deref(), Some("kid-1"));
        assert_eq!(account.token_uri, "http://127.0.0.1:1/token");
        assert!(!format!("{account:?}").contains("PRIVATE"));
    }

    #[test]
    fn files_that_cannot_work_are_refused() {
        type Change = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|v| v["type"] = json!("authorized_user")), "type is 'authorized_user'"),
            (Box::new(|v| drop(v.as_object_mut().unwrap().remove("type"))), "no \"type\""),
            (Box::new(|v| drop(v.as_object_mut().unwrap().remove("client_email"))), "no \"client_email\""),
            (Box::new(|v| drop(v.as_object_mut().unwrap().remove("private_key"))), "no \"private_key\""),
            (Box::new(|v| drop(v.as_object_mut().unwrap().remove("token_uri"))), "no \"token_uri\""),
            (Box::new(|v| v["token_uri"] = json!("ftp://x")), "token_uri must be"),
            (Box::new(|v| v["private_key"] = json!("garbage")), "no BEGIN PRIVATE KEY"),
            (
                Box::new(|v| {
                    v["private_key"] = json!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                }),
                "not a usable RSA PKCS#8 key",
            ),
            (
                Box::new(|v| {
                    v["private_key"] = json!("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----")
                }),
                "unencrypted PKCS#8",
            ),
        ];
        for (change, expected) in cases {
            let err = parse_with(change).unwrap_err();
            assert!(err.contains(expected), "{err:?} should mention {expected:?}");
        }
    }

    #[test]
    fn a_refusal_names_the_member_at_fault() {
        let field = |change: fn(&mut Value)| {
            let mut v = account_json(&test_key_pem());
            change(&mut v);
            ServiceAccount::parse(&v.to_string()).unwrap_err().field
        };
        assert_eq!(field(|v| v["type"] = json!("authorized_user")), "type");
        assert_eq!(field(|v| drop(v.as_object_mut().unwrap().remove("client_email"))), "client_email");
        assert_eq!(field(|v| v["token_uri"] = json!("ftp://x")), "token_uri");
        assert_eq!(field(|v| v["private_key"] = json!("garbage")), "private_key");
        assert_eq!(ServiceAccount::parse("[]").unwrap_err().field, "type");
    }

    #[test]
    fn json_errors_do_not_echo_the_input() {
        let err = ServiceAccount::parse("{\"private_key\": \"SECRET-MATERIAL\" oops").unwrap_err().to_string();
        assert!(err.starts_with("not service-account JSON"), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
    }
}
