//! Property tests for every parser that sees untrusted input: ids and tokens, push types, the
//! notify-message blob decoder, payloads, the signature headers and the signed-message framing,
//! the request-body readers, did:key identifiers and client JWTs. Each property runs arbitrary input through the parser (it must
//! never panic) and checks what a successful parse promises, including that the patterns in the
//! OpenAPI document say exactly what the parsers accept.
//!
//! Bounded for CI: 256 cases per property by default, 32 for the one that signs (`PROPTEST_CASES`
//! overrides both), a few seconds for the whole file in a debug build.

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD},
};
use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;
use push_server::{
    adapters::http::{
        CLIENT_ID_PATTERN, SIGNATURE_PATTERN, TIMESTAMP_PATTERN, json_object, openapi_json, read_notification,
        read_registration, send_field_path,
    },
    app::parse_notification,
    domain::{
        Audiences, ClientId, ClientJwt, ClientJwtClaims, Content, DeviceToken, DidKey, DidKeyError, Flags, Form,
        NotificationId, NotifyMessage, Payload, ProjectKey, PushType, RelayPublicKey, SignatureHeaders, Topic,
        sign_client_jwt, signed_message, verify_client_jwt,
    },
};
use regex::Regex;
use serde_json::{Map, Value, json};
use std::{sync::LazyLock, time::Duration};

fn config() -> ProptestConfig {
    config_with(256)
}

fn config_with(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default_cases);
    // No regression files: a failure prints its minimal input, which belongs in a unit test.
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn is_space_or_control(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}

static CLIENT_ID_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(CLIENT_ID_PATTERN).unwrap());
static TIMESTAMP_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(TIMESTAMP_PATTERN).unwrap());
static SIGNATURE_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(SIGNATURE_PATTERN).unwrap());
static HEX_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[0-9a-fA-F]+$").unwrap());
// The registration `type` patterns, as in the OpenAPI document.
static APNS_TYPE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[aA][pP][nN][sS](-[sS][aA][nN][dD][bB][oO][xX])?$").unwrap());
static FCM_TYPE_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[fF][cC][mM]$").unwrap());

/// Text that is mostly near the rules' edges: the `did:key:` prefix, every kind of whitespace
/// and control character the rules name (and look-alikes they do not: U+FEFF, U+200B), multi-byte
/// characters that make bytes and characters differ, and lengths around 255.
fn edgy_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9:_.~-]{1,40}",
        2 => "[é😀\u{7ff}\u{10000}]{1,80}",
        1 => "[ \t\n\r\u{0}\u{1f}\u{7f}\u{85}\u{a0}\u{1680}\u{2000}\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]",
        1 => "[\u{feff}\u{200b}\u{180e}]",
        1 => Just("did:key:".to_owned()),
        1 => "a{250,260}",
    ];
    prop_oneof![
        3 => prop::collection::vec(piece, 0..6).prop_map(|p| p.concat()),
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn client_id_rules_hold_and_match_the_documented_pattern(raw in edgy_text()) {
        let parsed = ClientId::parse(&raw);
        let stripped = raw.strip_prefix("did:key:").unwrap_or(&raw);
        // The schema's pattern plus the byte bound (which JSON Schema cannot say) is the rule.
        let documented = CLIENT_ID_RE.is_match(stripped) && stripped.len() <= 255;
        prop_assert_eq!(parsed.is_ok(), documented, "{:?}", raw);
        if let Ok(id) = parsed {
            prop_assert!(!id.as_str().is_empty() && id.as_str().len() <= 255);
            prop_assert!(!id.as_str().chars().any(is_space_or_control));
            prop_assert_eq!(id.as_str(), stripped);
        }
    }

    #[test]
    fn project_id_rules_match_the_documented_pattern(raw in "[a-zA-Z0-9_.:/ é-]{0,70}") {
        let documented = regex::Regex::new(push_server::adapters::http::PROJECT_ID_PATTERN).unwrap().is_match(&raw)
            && !push_server::domain::RESERVED_PROJECT_IDS.contains(&raw.as_str());
        prop_assert_eq!(push_server::domain::ProjectId::parse(&raw).is_ok(), documented, "{:?}", raw);
    }

    #[test]
    fn did_key_prefix_is_transparent(raw in "[a-zA-Z0-9é😀 ]{0,260}") {
        prop_assume!(!raw.starts_with("did:key:"));
        prop_assert_eq!(ClientId::parse(&format!("did:key:{raw}")), ClientId::parse(&raw));
    }

    #[test]
    fn device_tokens_follow_their_type(raw in edgy_text(), hexish in "[0-9a-fA-Fg]{0,20}", long in 4090usize..4100) {
        for push_type in PushType::ALL {
            for candidate in [raw.as_str(), hexish.as_str(), &"ab".repeat(long / 2)] {
                let Ok(token) = DeviceToken::parse(push_type, candidate) else { continue };
                prop_assert!(!candidate.is_empty() && candidate.len() <= 4096);
                prop_assert_eq!(token.expose(), candidate);
                if push_type.is_apns() {
                    prop_assert!(candidate.bytes().all(|b| b.is_ascii_hexdigit()));
                } else {
                    prop_assert!(!candidate.chars().any(is_space_or_control));
                }
                // Logs show a short prefix only, never the whole token.
                if candidate.chars().count() > 6 {
                    let (debug, display) = (format!("{token:?}"), token.to_string());
                    prop_assert!(!debug.contains(candidate), "Debug shows the token");
                    prop_assert!(!display.contains(candidate), "Display shows the token");
                }
            }
        }
        // Each type accepts exactly its documented pattern (within the byte bound).
        prop_assert_eq!(DeviceToken::parse(PushType::Apns, &hexish).is_ok(), HEX_RE.is_match(&hexish));
        prop_assert_eq!(
            DeviceToken::parse(PushType::Fcm, &raw).is_ok(),
            CLIENT_ID_RE.is_match(&raw) && raw.len() <= 4096
        );
    }

    #[test]
    fn notification_ids_are_bounded_in_bytes(raw in edgy_text()) {
        match NotificationId::parse(&raw) {
            Ok(id) => {
                prop_assert!(!raw.is_empty() && raw.len() <= 255);
                prop_assert_eq!(id.as_str(), raw.as_str());
            }
            Err(_) => prop_assert!(raw.is_empty() || raw.len() > 255),
        }
    }

    #[test]
    fn push_types_ignore_case_and_match_the_documented_patterns(
        raw in prop_oneof!["(?i)(apns|apns-sandbox|fcm)", "[a-zA-Z_ -]{0,14}", any::<String>()]
    ) {
        let known = ["apns", "apns-sandbox", "fcm"].iter().any(|t| t.eq_ignore_ascii_case(&raw));
        let parsed = PushType::parse(&raw);
        prop_assert_eq!(parsed.is_ok(), known, "{:?}", raw);
        prop_assert_eq!(APNS_TYPE_RE.is_match(&raw) || FCM_TYPE_RE.is_match(&raw), known);
        if let Ok(t) = parsed {
            prop_assert_eq!(PushType::parse(t.as_str()), Ok(t));
            prop_assert!(t.as_str().eq_ignore_ascii_case(&raw));
        }
    }

    #[test]
    fn blob_decoder_never_panics(text in any::<String>(), bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = NotifyMessage::decode(&text);
        let _ = NotifyMessage::decode(&STANDARD.encode(&bytes));
        let _ = NotifyMessage::decode(&STANDARD_NO_PAD.encode(&bytes));
    }

    #[test]
    fn notify_messages_round_trip_with_or_without_padding(
        title in any::<String>(),
        body in any::<String>(),
        icon in proptest::option::of(any::<String>()),
        url in proptest::option::of(any::<String>()),
        kind in proptest::option::of(any::<String>()),
        extra in any::<i64>(),
    ) {
        let mut object = json!({"title": title, "body": body, "unknown": extra});
        for (key, value) in [("icon", &icon), ("url", &url), ("type", &kind)] {
            if let Some(v) = value {
                object[key] = json!(v);
            }
        }
        let text = object.to_string();
        for blob in [STANDARD.encode(&text), STANDARD_NO_PAD.encode(&text)] {
            let m = NotifyMessage::decode(&blob).unwrap();
            prop_assert_eq!(m.title(), title.as_str());
            prop_assert_eq!(m.body(), body.as_str());
            prop_assert_eq!(m.icon(), icon.as_deref());
            prop_assert_eq!(m.url(), url.as_deref());
            prop_assert_eq!(m.kind(), kind.as_deref());
        }
        // Anything but an object, or an object missing a required string, is refused.
        let (array, no_body) = (json!([title]).to_string(), json!({"title": title}).to_string());
        prop_assert!(NotifyMessage::decode(&STANDARD.encode(array)).is_err(), "an array is not a message");
        prop_assert!(NotifyMessage::decode(&STANDARD.encode(no_body)).is_err(), "body is required");
    }

    #[test]
    fn payloads_decode_by_their_flags(topic in edgy_text(), flags in any::<u32>(), blob in prop_oneof![any::<String>(), "[A-Za-z0-9+/=]{0,40}"]) {
        let Ok(topic) = Topic::parse(&topic) else {
            prop_assert!(topic.is_empty());
            return Ok(());
        };
        let flags = Flags::new(flags);
        match Payload::new(topic, flags, &blob) {
            Ok(p) => {
                prop_assert_eq!(p.flags(), flags);
                match p.content() {
                    Content::Encrypted(b) => prop_assert!(flags.is_encrypted() && b == &blob && !b.is_empty()),
                    Content::Cleartext(m) => {
                        prop_assert!(!flags.is_encrypted());
                        prop_assert_eq!(Some(m.clone()), NotifyMessage::decode(&blob).ok());
                    }
                }
            }
            Err(_) => {
                let why = if flags.is_encrypted() { blob.is_empty() } else { NotifyMessage::decode(&blob).is_err() };
                prop_assert!(why, "refused only for an empty encrypted or an undecodable cleartext blob");
            }
        }
    }

    #[test]
    fn signature_headers_never_panic_and_promise_their_rules(
        ts in prop_oneof!["[0-9]{1,21}", "[-+ 0-9a]{0,6}", any::<String>()],
        sig in prop_oneof!["[0-9a-fA-F]{126,130}", "[0-9a-gA-G]{128}", any::<String>()],
        now in 0i64..4_000_000_000,
        skew in 0u64..1000,
    ) {
        let parsed = SignatureHeaders::parse(Some(&ts), Some(&sig), now, Duration::from_secs(skew));
        let in_window = TIMESTAMP_RE.is_match(&ts) && ts.parse::<i64>().is_ok_and(|t| t.abs_diff(now) <= skew);
        prop_assert_eq!(parsed.is_ok(), in_window && SIGNATURE_RE.is_match(&sig), "{:?} {:?}", ts, sig);
        // Every problem is reported, each naming its header.
        if let Err(problems) = SignatureHeaders::parse(None, Some(&sig), now, Duration::from_secs(skew)) {
            prop_assert!(problems.iter().any(|p| p.header() == "X-Ed25519-Timestamp"));
        } else {
            prop_assert!(false, "a missing timestamp is refused");
        }
    }

    #[test]
    fn framing_is_unambiguous(ts1 in "[0-9]{1,12}", ts2 in "[0-9]{1,12}", b1 in prop::collection::vec(any::<u8>(), 0..64), b2 in prop::collection::vec(any::<u8>(), 0..64)) {
        // Digits-only timestamps and the length field make the framing injective: a signature
        // for one (timestamp, body) can never be read as one for another.
        let same = signed_message(&ts1, &b1) == signed_message(&ts2, &b2);
        prop_assert_eq!(same, ts1 == ts2 && b1 == b2);
        let m = signed_message(&ts1, &b1);
        let expected = [ts1.as_bytes(), b".", b1.len().to_string().as_bytes(), b".", &b1].concat();
        prop_assert_eq!(m, expected);
    }

    #[test]
    fn body_readers_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(map) = json_object(&bytes) {
            let _ = read_registration(&map);
            let _ = parse_notification(read_notification("c", &map), &ProjectKey::Default);
        }
    }

    #[test]
    fn body_readers_never_panic_on_json(value in json_value()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        match json_object(&bytes) {
            Ok(map) => {
                prop_assert!(value.is_object());
                let raw = read_registration(&map);
                // A field reads as text exactly when it is a JSON string.
                prop_assert_eq!(raw.client_id.ok(), map.get("client_id").and_then(Value::as_str));
                prop_assert_eq!(raw.token.ok(), map.get("token").and_then(Value::as_str));
                let notification = read_notification("c", &map);
                match parse_notification(notification, &ProjectKey::Default) {
                    Ok(n) => match (n.classic(), n.raw()) {
                        (Ok(c), _) => prop_assert_eq!(Some(c.id.as_str()), map.get("id").and_then(Value::as_str)),
                        // The raw form alone: its message was a string.
                        (Err(_), r) => prop_assert!(r.is_ok() && map.get("message").is_some_and(Value::is_string)),
                    },
                    Err(fields) => {
                        prop_assert!(!fields.is_empty());
                        for f in fields {
                            let known = ["id", "payload.topic", "payload.flags", "payload.blob", "topic", "tag", "message"];
                            prop_assert!(known.contains(&send_field_path(f.field)));
                        }
                    }
                }
            }
            Err(_) => prop_assert!(!value.is_object()),
        }
    }

    #[test]
    fn valid_notifications_parse_to_what_was_sent(
        id in "[ -~é😀]{1,60}",
        topic in "[ -~]{1,40}",
        flags in any::<u32>(),
        title in any::<String>(),
        cipher in "[ -~]{1,80}",
        padded in any::<bool>(),
    ) {
        let blob = if flags & 1 == 1 {
            cipher.clone()
        } else {
            let text = json!({"title": title, "body": "b"}).to_string();
            if padded { STANDARD.encode(text) } else { STANDARD_NO_PAD.encode(text) }
        };
        let value = json!({"id": id, "payload": {"topic": topic, "flags": flags, "blob": blob}});
        let map = json_object(value.to_string().as_bytes()).unwrap();
        let request = parse_notification(read_notification("c", &map), &ProjectKey::Default).unwrap();
        let n = request.classic().unwrap();
        prop_assert_eq!(n.id.as_str(), id.as_str());
        let Form::Classic(payload) = &n.form else { panic!("the classic form") };
        prop_assert_eq!(payload.topic().as_str(), topic.as_str());
        prop_assert_eq!(payload.flags().bits(), flags);
        match payload.content() {
            Content::Encrypted(b) => prop_assert_eq!(b, &cipher),
            Content::Cleartext(m) => prop_assert_eq!(m.title(), title.as_str()),
        }
    }
}

proptest! {
    // Signing and verifying in a debug build costs milliseconds a case, so fewer cases here.
    #![proptest_config(config_with(32))]

    #[test]
    fn a_signature_covers_every_byte(
        seed in any::<[u8; 32]>(),
        body in prop::collection::vec(any::<u8>(), 1..256),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        offset in -300i64..=300,
    ) {
        let key = SigningKey::from_bytes(&seed);
        let now = 1_700_000_000i64;
        let ts = (now + offset).to_string();
        let sig = hex::encode(key.sign(&signed_message(&ts, &body)).to_bytes());
        let skew = Duration::from_secs(300);
        let headers = SignatureHeaders::parse(Some(&ts), Some(&sig), now, skew).unwrap();
        let public = RelayPublicKey::from(key.verifying_key());
        prop_assert!(headers.verify(&public, &body));
        // Any one changed body byte fails.
        let mut changed = body.clone();
        changed[at.index(body.len())] ^= flip;
        prop_assert!(!headers.verify(&public, &changed));
        // A longer or shorter body fails.
        prop_assert!(!headers.verify(&public, &body[..body.len() - 1]));
        // Any one changed timestamp digit fails (the timestamp is signed as text).
        let i = at.index(ts.len());
        let digit = ts.as_bytes()[i];
        let other = if digit == b'9' { b'0' } else { digit + 1 };
        let mut ts2 = ts.clone().into_bytes();
        ts2[i] = other;
        let ts2 = String::from_utf8(ts2).unwrap();
        if let Ok(h2) = SignatureHeaders::parse(Some(&ts2), Some(&sig), now, Duration::from_secs(u64::MAX / 4)) {
            prop_assert!(!h2.verify(&public, &body));
        }
        // Any one changed signature character (to another hex digit) fails.
        let mut sig2 = sig.clone().into_bytes();
        let j = at.index(sig2.len());
        sig2[j] = if sig2[j] == b'0' { b'1' } else { b'0' };
        let sig2 = String::from_utf8(sig2).unwrap();
        let h3 = SignatureHeaders::parse(Some(&ts), Some(&sig2), now, skew).unwrap();
        prop_assert!(!h3.verify(&public, &body));
    }
}

// did:key and client JWTs: what a wallet proves its client id with.

proptest! {
    #![proptest_config(config())]

    #[test]
    fn did_keys_round_trip_and_are_client_ids(seed in any::<[u8; 32]>()) {
        let key = SigningKey::from_bytes(&seed).verifying_key();
        let did = DidKey::from(key);
        let text = did.to_string();
        prop_assert!(text.starts_with("did:key:z6Mk"), "{}", text);
        prop_assert_eq!(*DidKey::parse(&text).unwrap().key(), key);
        prop_assert_eq!(DidKey::parse_multibase(&did.multibase()).unwrap(), did);
        // The client id a wallet registers is the did without its prefix, in either spelling.
        prop_assert_eq!(ClientId::parse(&text).unwrap().as_str().to_owned(), did.multibase());
    }

    #[test]
    fn did_key_decoding_never_panics(
        text in any::<String>(),
        // The base58btc alphabet (Bitcoin's): no `0`, `O`, `I`, `l`.
        base58 in "[1-9A-HJ-NP-Za-km-z]{0,60}",
    ) {
        let _ = DidKey::parse(&text);
        let _ = DidKey::parse_multibase(&text);
        if let Ok(did) = DidKey::parse(&format!("did:key:z{base58}")) {
            // Whatever decodes is canonical: it encodes back to the same text.
            prop_assert_eq!(did.multibase(), format!("z{base58}"));
        }
    }

    #[test]
    fn other_multicodecs_and_multibases_are_refused(
        codec in any::<[u8; 2]>(),
        key in any::<[u8; 32]>(),
        prefix in any::<char>(),
    ) {
        prop_assume!(codec != [0xed, 0x01]);
        let encoded = bs58::encode([codec.as_slice(), &key].concat()).into_string();
        prop_assert_eq!(DidKey::parse_multibase(&format!("z{encoded}")), Err(DidKeyError::Multicodec));
        prop_assume!(prefix != 'z');
        let real = DidKey::from(SigningKey::from_bytes(&key).verifying_key()).multibase();
        let other_base = format!("{prefix}{}", &real[1..]);
        prop_assert_eq!(DidKey::parse_multibase(&other_base), Err(DidKeyError::Multibase(prefix)));
    }

    #[test]
    fn client_jwt_decoding_never_panics(text in any::<String>(), parts in "[A-Za-z0-9_.-]{0,300}") {
        let _ = ClientJwt::decode(&text);
        let _ = ClientJwt::decode(&parts);
    }
}

proptest! {
    // Signing costs milliseconds a case in a debug build.
    #![proptest_config(config_with(32))]

    #[test]
    fn any_changed_character_of_a_client_jwt_is_refused(
        seed in any::<[u8; 32]>(),
        at in any::<prop::sample::Index>(),
        replacement in "[A-Za-z0-9_.=+/ -]",
    ) {
        let key = SigningKey::from_bytes(&seed);
        let now = 1_800_000_000;
        let client = ClientId::parse(&DidKey::from(key.verifying_key()).to_string()).unwrap();
        let audiences = Audiences::new(["https://push.example.com"]);
        let claims = ClientJwtClaims { sub: "s".into(), aud: "https://push.example.com".into(), iat: now, exp: None };
        let token = sign_client_jwt(&key, &claims);
        prop_assert!(verify_client_jwt(&token, &client, &audiences, now).is_ok());
        let i = at.index(token.len());
        prop_assume!(token[i..i + 1] != replacement);
        let changed = format!("{}{replacement}{}", &token[..i], &token[i + 1..]);
        prop_assert!(verify_client_jwt(&changed, &client, &audiences, now).is_err(), "{}", changed);
    }
}

/// Arbitrary JSON, biased towards the field names the readers look up.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        edgy_text().prop_map(Value::String),
    ];
    let key = prop_oneof![
        Just("client_id".to_owned()),
        Just("type".to_owned()),
        Just("token".to_owned()),
        Just("id".to_owned()),
        Just("payload".to_owned()),
        Just("topic".to_owned()),
        Just("flags".to_owned()),
        Just("blob".to_owned()),
        Just("tag".to_owned()),
        Just("message".to_owned()),
        "[a-z]{1,6}",
    ];
    leaf.prop_recursive(3, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Every pattern in the OpenAPI document is one the properties above check against a parser.
#[test]
fn documented_patterns_are_the_checked_ones() {
    let doc: Value = serde_json::from_str(&openapi_json()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let mut seen = 0;
    for name in ["ApnsRegistration", "FcmRegistration", "NoopRegistration"] {
        assert_eq!(schemas[name]["properties"]["client_id"]["pattern"], CLIENT_ID_PATTERN, "{name}");
        seen += 1;
    }
    assert_eq!(schemas["FcmRegistration"]["properties"]["token"]["pattern"], CLIENT_ID_PATTERN);
    // A noop token follows the FCM token rules.
    assert_eq!(schemas["NoopRegistration"]["properties"]["token"]["pattern"], CLIENT_ID_PATTERN);
    assert!(
        Regex::new(schemas["NoopRegistration"]["properties"]["type"]["pattern"].as_str().unwrap())
            .unwrap()
            .is_match("nOoP")
    );
    assert_eq!(schemas["ApnsRegistration"]["properties"]["token"]["pattern"], HEX_RE.as_str());
    assert_eq!(schemas["ApnsRegistration"]["properties"]["type"]["pattern"], APNS_TYPE_RE.as_str());
    assert_eq!(schemas["FcmRegistration"]["properties"]["type"]["pattern"], FCM_TYPE_RE.as_str());
    let send = &doc["paths"]["/clients/{client_id}"]["post"]["parameters"];
    let header =
        |name: &str| send.as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()["schema"]["pattern"].clone();
    assert_eq!(header("X-Ed25519-Timestamp"), TIMESTAMP_PATTERN);
    assert_eq!(header("X-Ed25519-Signature"), SIGNATURE_PATTERN);
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for op in ops.as_object().unwrap().values() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["name"] == "client_id" {
                    assert_eq!(p["schema"]["pattern"], CLIENT_ID_PATTERN, "{path}");
                    seen += 1;
                }
                if p["name"] == "project_id" {
                    assert_eq!(p["schema"]["pattern"], push_server::adapters::http::PROJECT_ID_PATTERN, "{path}");
                }
            }
        }
    }
    // Three registration schemas (APNS, FCM, noop), and `{client_id}` on the default and the project
    // routes.
    assert_eq!(seen, 7);
}
