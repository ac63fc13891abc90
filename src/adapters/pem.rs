//! PEM armour (RFC 7468): DER bytes as base64 in 64-character lines between `-----BEGIN label-----`
//! and `-----END label-----`. Written in one place: the APNS adapter turns a `.p12` identity into
//! PEM for rustls, and tests write generated keys the way Apple and Google hand them out.

use base64::{Engine, engine::general_purpose::STANDARD};

/// `der` armoured under `label` (`"PRIVATE KEY"` for PKCS#8, `"CERTIFICATE"`), ending in a newline.
pub fn armour(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    // 64 columns: the width RFC 7468 asks of writers, and what OpenSSL writes.
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_64_columns_between_the_labels() {
        let der: Vec<u8> = (0..=255).collect();
        let pem = armour("PRIVATE KEY", &der);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines.first(), Some(&"-----BEGIN PRIVATE KEY-----"));
        assert_eq!(lines.last(), Some(&"-----END PRIVATE KEY-----"));
        let body = &lines[1..lines.len() - 1];
        assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64), "{pem}");
        assert_eq!(STANDARD.decode(body.concat()).unwrap(), der);
        assert!(pem.ends_with("-----\n"));
    }

    #[test]
    fn an_empty_body_is_just_the_labels() {
        assert_eq!(armour("CERTIFICATE", &[]), "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
    }
}
