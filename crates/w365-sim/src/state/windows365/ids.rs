//! The deterministic id/name generator of the Windows 365 model (seeded, serialized with the state).

use serde::{Deserialize, Serialize};

/// Seed used by [`IdGenerator::default`].
pub const DEFAULT_SEED: u64 = 0x5745_3336_3553_494d;

/// A small deterministic generator (SplitMix64) for GUIDs, `%RAND%` characters and fault dice.
/// Its whole state is one number, so it survives a save/load round trip exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdGenerator {
    state: u64,
}

impl Default for IdGenerator {
    fn default() -> Self {
        Self::new(DEFAULT_SEED)
    }
}

const RAND_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

impl IdGenerator {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A random (version 4 shaped) GUID in lowercase hyphenated form.
    pub fn guid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    /// `n` characters from `[A-Z0-9]`, as `%RAND:n%` produces.
    pub fn rand_chars(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| {
                let i = (self.next_u64() % RAND_ALPHABET.len() as u64) as usize;
                char::from(RAND_ALPHABET[i])
            })
            .collect()
    }

    /// A uniform number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_guid_shape() {
        let mut a = IdGenerator::new(7);
        let mut b = IdGenerator::new(7);
        let ga = a.guid();
        assert_eq!(ga, b.guid());
        assert_eq!(ga.len(), 36);
        assert_eq!(&ga[14..15], "4");
        assert_ne!(a.guid(), ga);
        let r = a.rand_chars(5);
        assert_eq!(r.len(), 5);
        assert!(
            r.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        let u = a.unit();
        assert!((0.0..1.0).contains(&u));
    }
}
