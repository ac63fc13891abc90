//! The notification's flag bits.

/// The `flags` bit set of a notification. Bits this server does not know are kept untouched, so
/// they reach the device exactly as the Relay sent them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flags(u32);

impl Flags {
    pub const ENCRYPTED: u32 = 1 << 0;
    pub const SIGN: u32 = 1 << 1;
    pub const AUTH: u32 = 1 << 2;
    pub const CHAT: u32 = 1 << 3;
    pub const NOTIFY: u32 = 1 << 4;

    pub fn new(bits: u32) -> Self {
        Self(bits)
    }

    pub fn bits(self) -> u32 {
        self.0
    }

    /// Encrypted blobs are opaque and forwarded as they are; others are decoded notify messages.
    pub fn is_encrypted(self) -> bool {
        self.0 & Self::ENCRYPTED != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_is_bit_zero_and_unknown_bits_survive() {
        assert!(Flags::new(17).is_encrypted());
        assert!(!Flags::new(16).is_encrypted());
        assert_eq!(Flags::new(u32::MAX).bits(), u32::MAX);
    }
}
