//! Relay signatures verified together: the strict encoding checks, the cofactored batch equation,
//! and the one-by-one fallback when a batch fails.
//!
//! Every Relay request is signed by the same key, and batch verification coalesces that key's
//! terms: a batch of 32 costs a fraction per signature of what `verify_strict` costs one at a
//! time. The rules, in order:
//!
//! 1. **Strict encodings**, judged on the bytes alone: `s` below the group order `l` (no
//!    malleated `s + l`), `R` and the key each a canonical encoding (`y < p`) of a point that is
//!    not of small order. These are the encoding rules of `verify_strict`.
//! 2. **The cofactored equation** `[8][s]B = [8]R + [8][k]A` (ed25519-zebra, ZIP 215), for a
//!    batch with a random 128-bit coefficient per signature, or for one signature alone.
//!
//! The one difference from `verify_strict` (which checks `[s]B = R + [k]A`, no cofactor): a
//! signature whose `R` carries a small-order (torsion) component `T` beside the honest `R'`
//! (`R = R' + T`, `T` of order 2, 4 or 8) passes here and fails there. Only the holder of the
//! private key can make one (it needs a valid signature to start from), so it forges nothing;
//! the README's Security section says why it is harmless for the Relay endpoint.
//!
//! Both paths give the same answer for every input (but with probability 2^-128 per bad
//! signature, the batch's chance of random coefficients cancelling an invalid term), so whether a
//! request shared its batch with others never changes its answer.

use std::sync::LazyLock;

use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_zebra::{Signature, VerificationKeyBytes, batch};
use rand_core::CryptoRng;

use super::RelayPublicKey;

/// One request's signature, ready to verify: the key, the signature and `k = H(R, A, message)`
/// (hashed here, on the request's side, so a batch does only curve arithmetic), and whether the
/// encodings passed the strict checks.
#[derive(Clone, Debug)]
pub struct PreparedSignature {
    item: batch::Item,
    strict: bool,
}

impl PreparedSignature {
    /// Prepares `signature` over `message` (the exact signed bytes) under `key`.
    pub fn new(key: &RelayPublicKey, signature: &Signature, message: &[u8]) -> Self {
        let key_bytes = key.as_verifying_key().to_bytes();
        let strict = scalar_is_canonical(signature.s_bytes())
            && point_is_strict(signature.r_bytes())
            && point_is_strict(&key_bytes);
        Self { item: batch::Item::from((VerificationKeyBytes::from(key_bytes), *signature, message)), strict }
    }

    /// True when this signature alone passes: strict encodings, then the cofactored equation.
    pub fn verify(&self) -> bool {
        self.strict && self.item.clone().verify_single().is_ok()
    }
}

/// Verifies `signatures` together and answers each, in order. The strict encoding checks come
/// first; the ones that pass are verified as one batch with coefficients drawn from `rng`, and if
/// that batch fails, one by one, so a bad signature costs its own verification, never a valid
/// signature's answer.
pub fn verify_batch(signatures: &[PreparedSignature], rng: impl CryptoRng) -> Vec<bool> {
    let mut answers: Vec<bool> = signatures.iter().map(|signature| signature.strict).collect();
    let candidates = answers.iter().filter(|strict| **strict).count();
    if candidates <= 1 {
        // Nothing to share: a batch of one costs what a single verification costs, and needs no
        // coefficients.
        for (answer, signature) in answers.iter_mut().zip(signatures) {
            *answer = *answer && signature.verify();
        }
        return answers;
    }
    let mut verifier = batch::Verifier::new();
    for signature in signatures.iter().filter(|signature| signature.strict) {
        verifier.queue(signature.item.clone());
    }
    if verifier.verify(rng).is_err() {
        for (answer, signature) in answers.iter_mut().zip(signatures) {
            *answer = *answer && signature.verify();
        }
    }
    answers
}

/// `s < l`, the group order: `s + l` would be a second signature for the same message.
fn scalar_is_canonical(s: &[u8; 32]) -> bool {
    curve25519_dalek::Scalar::from_canonical_bytes(*s).is_some().into()
}

/// A canonical encoding (`y < p`) whose `y` is not that of a small-order point. Judged on the
/// bytes, without decompressing (which costs a field inversion per signature): of the points
/// with a given `y`, either both (`x` and `-x`) are of small order or neither is, and the only
/// points with `x = 0` (where the sign bit would make a second encoding) are of small order, so
/// this is exactly "canonical and not of small order" for every point on the curve. A `y` off
/// the curve passes here and fails the equation, which decompresses.
fn point_is_strict(encoding: &[u8; 32]) -> bool {
    let mut y = *encoding;
    y[31] &= 0x7f;
    y_is_canonical(&y) && !SMALL_ORDER_Y.contains(&y)
}

/// `y < p = 2^255 - 19`, `y` little-endian with the sign bit cleared.
fn y_is_canonical(y: &[u8; 32]) -> bool {
    // The only 255-bit values ≥ p are p..2^255-1: 0x7f, 0xff * 30, then a low byte ≥ 0xed.
    !(y[31] == 0x7f && y[1..31].iter().all(|byte| *byte == 0xff) && y[0] >= 0xed)
}

/// The `y` of each small-order point (sign bit cleared), read from the curve library's table of
/// the eight-torsion subgroup rather than typed in.
static SMALL_ORDER_Y: LazyLock<Vec<[u8; 32]>> = LazyLock::new(|| {
    let mut ys: Vec<[u8; 32]> = EIGHT_TORSION
        .iter()
        .map(|point| {
            let mut y = point.compress().to_bytes();
            y[31] &= 0x7f;
            y
        })
        .collect();
    ys.sort_unstable();
    ys.dedup();
    ys
});

#[cfg(test)]
mod tests {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use ed25519_dalek::{Signer, SigningKey};
    use proptest::prelude::*;
    use rand_core::UnwrapErr;

    use super::*;

    /// The reference definition the byte-level check must equal: decompress, re-encode, ask the
    /// point its order.
    fn point_is_strict_by_decompression(encoding: &[u8; 32]) -> Option<bool> {
        let point = CompressedEdwardsY(*encoding).decompress()?;
        Some(point.compress().to_bytes() == *encoding && !point.is_small_order())
    }

    #[test]
    fn the_small_order_table_has_the_five_y_values_of_the_eight_torsion() {
        // y = 1 (identity), y = -1 (order 2), y = 0 (order 4) and the two y of order 8.
        assert_eq!(SMALL_ORDER_Y.len(), 5);
        for torsion in EIGHT_TORSION {
            let encoding = torsion.compress().to_bytes();
            assert!(!point_is_strict(&encoding));
            assert_eq!(point_is_strict_by_decompression(&encoding), Some(false));
        }
    }

    #[test]
    fn non_canonical_encodings_of_small_order_points_are_refused() {
        // y = p + 1 encodes the identity again, y = p - 1 with the sign bit is "-0, -1".
        let mut p_plus_one = [0xff; 32];
        p_plus_one[0] = 0xee;
        p_plus_one[31] = 0x7f;
        assert!(!point_is_strict(&p_plus_one));
        let mut negative_identity = [0u8; 32];
        negative_identity[0] = 1;
        negative_identity[31] = 0x80;
        assert!(!point_is_strict(&negative_identity));
        assert_eq!(point_is_strict_by_decompression(&negative_identity), Some(false));
    }

    #[test]
    fn y_at_and_above_p_is_not_canonical() {
        for low in [0xed_u8, 0xee, 0xff] {
            let mut y = [0xff; 32];
            y[0] = low;
            y[31] = 0x7f;
            assert!(!y_is_canonical(&y), "low byte {low:#x}");
        }
        let mut below = [0xff; 32];
        below[0] = 0xec;
        below[31] = 0x7f;
        assert!(y_is_canonical(&below));
    }

    proptest! {
        #[test]
        fn the_byte_check_equals_decompression_for_every_point(bytes in any::<[u8; 32]>(), torsion in 0usize..8) {
            // Random bytes are a point half the time; adding a torsion point reaches the
            // encodings near the small-order ones too.
            if let Some(expected) = point_is_strict_by_decompression(&bytes) {
                prop_assert_eq!(point_is_strict(&bytes), expected);
                let shifted = (CompressedEdwardsY(bytes).decompress().unwrap() + EIGHT_TORSION[torsion]).compress().to_bytes();
                prop_assert_eq!(point_is_strict(&shifted), point_is_strict_by_decompression(&shifted).unwrap());
            }
        }
    }

    #[test]
    fn a_batch_answers_each_signature_in_order() {
        let signer = SigningKey::from_bytes(&[3; 32]);
        let key = RelayPublicKey::from(signer.verifying_key());
        let prepared: Vec<_> = (0..10u8)
            .map(|i| {
                let message = [i; 20];
                let signed = if i % 3 == 0 { [i ^ 1; 20] } else { message };
                PreparedSignature::new(&key, &signer.sign(&signed), &message)
            })
            .collect();
        let answers = verify_batch(&prepared, UnwrapErr(getrandom::SysRng));
        let expected: Vec<bool> = (0..10).map(|i| i % 3 != 0).collect();
        assert_eq!(answers, expected);
        assert!(verify_batch(&[], UnwrapErr(getrandom::SysRng)).is_empty());
    }
}
