//! Signatures on what stockd pushes (webhooks, channel pushes).
//!
//! Each request carries `Stockd-Signature: t=<unix seconds>,v1=<hex>`, where
//! the hex is HMAC-SHA256, keyed with the webhook's secret, over
//! `<t>.<body>`. A receiver recomputes it over the raw body, compares in
//! constant time, and refuses a `t` more than [`REPLAY_WINDOW_S`] away from
//! its own clock.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Stockd-Signature";
/// How far a receiver should let `t` be from its clock: 5 minutes.
pub const REPLAY_WINDOW_S: i64 = 300;

/// The `Stockd-Signature` value for `body` sent at `timestamp_s`.
pub fn signature(secret: &str, timestamp_s: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp_s},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_time_dot_body() {
        // Python: hmac.new(b"Jefe", b"0.what do ya want for nothing?", "sha256").hexdigest()
        assert_eq!(
            signature("Jefe", 0, b"what do ya want for nothing?"),
            "t=0,v1=37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc"
        );
        assert_ne!(signature("Jefe", 1, b"x"), signature("Jefe", 2, b"x"));
        assert_ne!(signature("Jefe", 1, b"x"), signature("Jeff", 1, b"x"));
    }
}
