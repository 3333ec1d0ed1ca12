//! Deterministic, seeded object ids: the same seed always yields the same sequence of GUIDs, so a
//! seeded tenant looks the same on every run (moto's `/moto-api/seed`).

use serde::{Deserialize, Serialize};

/// A seeded generator of GUID strings (lowercase, hyphenated, version-4 shaped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdGen {
    seed: u64,
    counter: u64,
}

impl IdGen {
    /// A generator whose sequence is fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed, counter: 0 }
    }

    /// The next id of the sequence.
    pub fn next_id(&mut self) -> String {
        self.counter += 1;
        let hi = splitmix64(self.seed ^ self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let lo = splitmix64(hi ^ self.counter);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&hi.to_be_bytes());
        bytes[8..].copy_from_slice(&lo.to_be_bytes());
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    /// A random-looking secret-free token (hex) from the same sequence, e.g. for subscription ids.
    pub fn next_u64(&mut self) -> u64 {
        self.counter += 1;
        splitmix64(self.seed ^ self.counter.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_valid_guids() {
        let mut a = IdGen::new(7);
        let mut b = IdGen::new(7);
        let ids: Vec<String> = (0..100).map(|_| a.next_id()).collect();
        for id in &ids {
            assert_eq!(*id, b.next_id());
            let parsed = uuid::Uuid::parse_str(id).expect("a GUID");
            assert_eq!(parsed.get_version_num(), 4);
        }
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        assert_ne!(IdGen::new(8).next_id(), ids[0]);
    }
}
