//! The RS256 key the simulated identity provider signs operator tokens with: generated in memory
//! per simulator process (on first use), never written to disk, published as a JWKS.

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// An RSA-2048 signing key with its key id.
pub struct RsaKey {
    kid: String,
    encoding: EncodingKey,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaKey")
            .field("kid", &self.kid)
            .field("private", &"<redacted>")
            .finish()
    }
}

impl RsaKey {
    /// A fresh random key. Key generation failing means the crypto library is broken.
    pub fn generate() -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation works");
        let pkcs8 = pair
            .as_der()
            .expect("a generated RSA key serializes to PKCS#8");
        let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec()));
        let encoding =
            EncodingKey::from_rsa_pem(pem.as_bytes()).expect("a PKCS#8 RSA key loads for signing");
        let public = pair.public_key();
        let modulus = public.modulus().big_endian_without_leading_zero().to_vec();
        let exponent = public.exponent().big_endian_without_leading_zero().to_vec();
        // Entra's key ids are opaque strings; a digest of the modulus is unique per key.
        let digest = Sha256::digest(&modulus);
        let kid = URL_SAFE_NO_PAD.encode(&digest[..20]);
        Self {
            kid,
            encoding,
            modulus,
            exponent,
        }
    }

    /// The key id (`kid` header of every token it signs).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as a JWK (RFC 7517 §4, RSA members of RFC 7518 §6.3.1).
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(&self.modulus),
            "e": URL_SAFE_NO_PAD.encode(&self.exponent),
        })
    }

    /// Signs `claims` as an RS256 JWT with this key's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .expect("RS256 signing of JSON claims does not fail")
    }
}
