//! `push-server send`: signs a test notification exactly as the Relay does and sends it to a
//! running server, printing the answer, so a wallet developer can test a device end to end. The
//! classic form by default; `--raw` sends the raw form `{topic, tag, message}` that newer Relays
//! send to clients registered with `always_raw: true`.

use std::{
    process::ExitCode,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use clap::{ArgGroup, Args};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

use crate::domain::{Flags, SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_message};

#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("content").required(true).args(["title", "blob"])))]
pub struct SendArgs {
    /// Base URL of the running server.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// The client to notify (as registered; a leading `did:key:` is fine).
    #[arg(long)]
    pub client_id: String,
    /// The project the client is registered in (`/{project}/clients/...`) [default: the default
    /// project, `/clients/...`]
    #[arg(long)]
    pub project: Option<String>,
    /// The Relay's private key: hex of the 32-byte Ed25519 seed (`push-server keygen` makes one).
    #[arg(long, env = "RELAY_PRIVATE_KEY", hide_env_values = true)]
    pub key: String,
    /// The notification id, which de-duplicates [default: random]
    #[arg(long, conflicts_with = "raw")]
    pub id: Option<String>,
    /// The topic the SDK uses to find the decryption key.
    #[arg(long, default_value = "push-server-test")]
    pub topic: String,
    /// Cleartext notification title (with --body); sent as a base64 notify message, flags Notify.
    #[arg(long, requires = "body")]
    pub title: Option<String>,
    /// Cleartext notification body (with --title).
    #[arg(long, requires = "title")]
    pub body: Option<String>,
    /// An encrypted blob, forwarded as is; flags Encrypted|Notify.
    #[arg(long, conflicts_with_all = ["title", "body"])]
    pub blob: Option<String>,
    /// Overrides the flags that --title/--body or --blob imply.
    #[arg(long, conflicts_with = "raw")]
    pub flags: Option<u32>,
    /// Sends the raw form `{"topic", "tag", "message"}` with --blob as the message (for clients
    /// registered with `always_raw: true`); the server de-duplicates it by the message's SHA-256.
    #[arg(long, conflicts_with_all = ["title", "body"])]
    pub raw: bool,
    /// The raw form's tag (with --raw).
    #[arg(long, requires = "raw", default_value_t = 0)]
    pub tag: u32,
}

/// The request body: `{"id", "payload": {"topic", "flags", "blob"}}`, or with `--raw`
/// `{"topic", "tag", "message"}`.
pub fn notification_body(args: &SendArgs, id: &str) -> String {
    if args.raw {
        let message = args.blob.as_deref().unwrap_or_default();
        return json!({"topic": args.topic, "tag": args.tag, "message": message}).to_string();
    }
    let (blob, flags) = match (&args.blob, &args.title, &args.body) {
        (Some(blob), _, _) => (blob.clone(), Flags::ENCRYPTED | Flags::NOTIFY),
        (None, Some(title), Some(body)) => {
            let message = json!({"title": title, "body": body});
            (STANDARD.encode(message.to_string()), Flags::NOTIFY)
        }
        // clap's group and `requires` rule this out; an empty blob lets the server say so.
        _ => (String::new(), Flags::NOTIFY),
    };
    json!({"id": id, "payload": {"topic": args.topic, "flags": args.flags.unwrap_or(flags), "blob": blob}}).to_string()
}

fn signing_key(hex_seed: &str) -> Result<SigningKey, String> {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(hex_seed.trim(), &mut seed)
        .map_err(|_| "the Relay private key must be 64 hexadecimal characters (a 32-byte seed)".to_owned())?;
    Ok(SigningKey::from_bytes(&seed))
}

fn random_id() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random bytes for the notification id: {e}"))?;
    Ok(hex::encode(bytes))
}

/// `{url}[/{project}]/clients/{client_id}`, each part escaped as one path segment.
fn endpoint(base: &str, project: Option<&str>, client_id: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(base).map_err(|e| format!("--url '{base}' is not a URL: {e}"))?;
    url.path_segments_mut()
        .map_err(|()| format!("--url '{base}' cannot take a path"))?
        .pop_if_empty()
        .extend(project)
        .extend(["clients", client_id]);
    Ok(url)
}

pub fn run(args: &SendArgs) -> ExitCode {
    match send(args) {
        Ok((status, text)) => {
            println!("HTTP {status}");
            println!("{text}");
            if (200..300).contains(&status) { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(e) => super::fail(e),
    }
}

fn send(args: &SendArgs) -> Result<(u16, String), String> {
    let key = signing_key(&args.key)?;
    let id = match &args.id {
        Some(id) => id.clone(),
        None => random_id()?,
    };
    let url = endpoint(&args.url, args.project.as_deref(), &args.client_id)?;
    let body = notification_body(args, &id);
    let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs().to_string();
    let signature = hex::encode(key.sign(&signed_message(&timestamp, body.as_bytes())).to_bytes());
    if args.raw {
        eprintln!("sending a raw notification to {url}");
    } else {
        eprintln!("sending notification {id} to {url}");
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let response = client
            .post(url.clone())
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(SIGNATURE_HEADER, &signature)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("cannot reach {url}: {e}"))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| format!("cannot read the answer: {e}"))?;
        // Pretty-print the envelope when it is JSON; anything else as it came.
        let text = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or(text);
        Ok((status, text))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> SendArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            args: SendArgs,
        }
        let mut argv = vec!["x", "--client-id", "c", "--key", "00"];
        argv.extend_from_slice(extra);
        Wrap::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn cleartext_builds_a_notify_message() {
        let body: Value =
            serde_json::from_str(&notification_body(&args(&["--title", "T", "--body", "B"]), "n1")).unwrap();
        assert_eq!(body["id"], "n1");
        assert_eq!(body["payload"]["flags"], 16);
        let blob = STANDARD.decode(body["payload"]["blob"].as_str().unwrap()).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&blob).unwrap(), json!({"title": "T", "body": "B"}));
    }

    #[test]
    fn encrypted_blob_is_forwarded_and_flags_can_be_overridden() {
        let body: Value = serde_json::from_str(&notification_body(&args(&["--blob", "cipher"]), "n")).unwrap();
        assert_eq!(body["payload"], json!({"topic": "push-server-test", "flags": 17, "blob": "cipher"}));
        let body: Value =
            serde_json::from_str(&notification_body(&args(&["--blob", "c", "--flags", "25"]), "n")).unwrap();
        assert_eq!(body["payload"]["flags"], 25);
    }

    #[test]
    fn raw_sends_the_raw_form() {
        let body: Value =
            serde_json::from_str(&notification_body(&args(&["--raw", "--blob", "sealed", "--tag", "1100"]), "n"))
                .unwrap();
        assert_eq!(body, json!({"topic": "push-server-test", "tag": 1100, "message": "sealed"}));
        let body: Value = serde_json::from_str(&notification_body(&args(&["--raw", "--blob", "m"]), "n")).unwrap();
        assert_eq!(body["tag"], 0);
        use clap::Parser;
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            args: SendArgs,
        }
        let refused = |extra: &[&str]| {
            let mut argv = vec!["x", "--client-id", "c", "--key", "00"];
            argv.extend_from_slice(extra);
            Wrap::try_parse_from(argv).is_err()
        };
        assert!(refused(&["--raw", "--title", "T", "--body", "B"]), "the raw message is --blob");
        assert!(refused(&["--raw", "--blob", "m", "--id", "i"]), "the raw form has no id");
        assert!(refused(&["--blob", "m", "--tag", "1"]), "--tag needs --raw");
    }

    #[test]
    fn the_client_id_is_one_escaped_path_segment() {
        assert_eq!(endpoint("http://h:1/", None, "did:key:a b").unwrap().as_str(), "http://h:1/clients/did:key:a%20b");
        assert_eq!(endpoint("http://h:1/base", None, "x/y").unwrap().as_str(), "http://h:1/base/clients/x%2Fy");
        assert_eq!(endpoint("http://h:1", Some("w1"), "c").unwrap().as_str(), "http://h:1/w1/clients/c");
    }

    #[test]
    fn key_must_be_a_hex_seed() {
        assert!(signing_key(&"ab".repeat(32)).is_ok());
        assert!(signing_key("abcd").is_err());
    }
}
