//! Console passwords: PBKDF2-HMAC-SHA256, stored as
//! `pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Iterations for new passwords (OWASP's figure for PBKDF2-HMAC-SHA256 is
/// 600,000; this is what a sign-in can afford on a small machine).
pub const ITERATIONS: u32 = 310_000;
/// The shortest password accepted.
pub const LENGTH_MIN: usize = 12;
pub const LENGTH_MAX: usize = 256;

fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let prf = Hmac::<Sha256>::new_from_slice(password).expect("HMAC takes a key of any length");
    let mut block = prf.clone();
    block.update(salt);
    block.update(&1u32.to_be_bytes());
    let mut u: [u8; 32] = block.finalize().into_bytes().into();
    let mut out = u;
    for _ in 1..iterations {
        let mut next = prf.clone();
        next.update(&u);
        u = next.finalize().into_bytes().into();
        for (o, x) in out.iter_mut().zip(u) {
            *o ^= x;
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    text.len()
        .is_multiple_of(2)
        .then(|| {
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
                .collect()
        })
        .flatten()
}

pub fn hash(password: &str) -> String {
    let salt = crate::auth::random_id(16);
    let salt = unhex(&salt).expect("random ids are hex");
    let derived = pbkdf2(password.as_bytes(), &salt, ITERATIONS);
    format!(
        "pbkdf2-sha256${ITERATIONS}${}${}",
        hex(&salt),
        hex(&derived)
    )
}

pub fn verify(password: &str, stored: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let ["pbkdf2-sha256", iterations, salt, expected] = parts.as_slice() else {
        return false;
    };
    let (Ok(iterations), Some(salt)) = (iterations.parse::<u32>(), unhex(salt)) else {
        return false;
    };
    if iterations == 0 || iterations > 10_000_000 {
        return false;
    }
    let derived = hex(&pbkdf2(password.as_bytes(), &salt, iterations));
    super::session::same(&derived, expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_matches_the_rfc_7914_vector() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256("passwd", "salt", 1, 64), first 32 bytes.
        assert_eq!(
            hex(&pbkdf2(b"passwd", b"salt", 1)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse battery");
        assert!(stored.starts_with("pbkdf2-sha256$310000$"));
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterY", &stored));
        assert!(!verify("x", "md5$1$00$00"));
    }
}
