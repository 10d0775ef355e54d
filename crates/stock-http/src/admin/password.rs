//! Console passwords. New ones are hashed with Argon2id (RFC 9106) and kept
//! as PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), through
//! the `argon2` crate and its `password-hash` API. Hashes of earlier
//! versions, PBKDF2-HMAC-SHA256 as `pbkdf2-sha256$<iterations>$<salt
//! hex>$<hash hex>`, are still accepted (checked with the `pbkdf2` crate)
//! and replaced by an Argon2id hash at the user's next sign-in.
//!
//! Checking costs one hash whatever the outcome: an unknown user name, or a
//! stored hash this version cannot read, is checked against a hash that no
//! password matches, made with the same parameters, so the time of an
//! answer does not tell which names exist.

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sha2::Sha256;

/// Memory one Argon2id hash takes (KiB): OWASP's 19 MiB.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// Passes of Argon2id over that memory (OWASP: 2 with 19 MiB).
pub const ARGON2_ITERATIONS: u32 = 2;
/// Argon2id lanes, each a thread's worth of work (OWASP: 1).
pub const ARGON2_LANES: u32 = 1;
/// Bytes of an Argon2id hash.
const ARGON2_OUTPUT_BYTES: usize = 32;
/// Bytes of a new password's salt.
const SALT_BYTES: usize = 16;
/// The most PBKDF2 iterations a stored legacy hash may name: a bound on the
/// work one sign-in can cause.
const LEGACY_ITERATIONS_MAX: u32 = 10_000_000;
/// The shortest password accepted.
pub const LENGTH_MIN: usize = 12;
/// The longest password accepted.
pub const LENGTH_MAX: usize = 256;

/// What unknown user names are checked against: an Argon2id hash with the
/// parameters above, of a random password nobody knows.
const UNKNOWN_USER_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$I1CXKbg8Qky/rn1E0Q8zjg$TmLP3b2yHAnzRKYW+/2tGmeNfCGYHTpOSmHUyJvdmJM";

/// What checking a password against what is stored found.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// A wrong password, an unknown user, or a stored hash this version
    /// cannot read.
    Refused,
    /// The right password. `rehashed` is its new hash when the stored one
    /// is of an older kind (PBKDF2) or has other parameters than new ones.
    Accepted { rehashed: Option<String> },
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_ITERATIONS,
        ARGON2_LANES,
        Some(ARGON2_OUTPUT_BYTES),
    )
    .expect("the Argon2id parameters are within Argon2's bounds");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A new password's hash: Argon2id with a fresh random salt.
pub fn hash(password: &str) -> String {
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt).expect("the operating system's random numbers");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2id hashes any password of an accepted length")
        .to_string()
}

/// Checks `password` against the stored hash of the user who signs in, or
/// `None` when there is no such user (which costs the same). Slow by design:
/// run it off the async threads.
pub fn check(password: &str, stored: Option<&str>) -> Checked {
    let Some(stored) = stored else {
        return refused_at_full_cost(password);
    };
    if let Some(legacy) = stored.strip_prefix("pbkdf2-sha256$") {
        return match verify_legacy(password, legacy) {
            true => Checked::Accepted {
                rehashed: Some(hash(password)),
            },
            false => Checked::Refused,
        };
    }
    let Some(parsed) = PasswordHash::new(stored)
        .ok()
        .filter(|parsed| parsed.algorithm == Algorithm::Argon2id.ident())
    else {
        return refused_at_full_cost(password);
    };
    if !verify_argon2(password, &parsed) {
        return Checked::Refused;
    }
    let current = Params::try_from(&parsed).is_ok_and(|params| {
        params.m_cost() == ARGON2_MEMORY_KIB
            && params.t_cost() == ARGON2_ITERATIONS
            && params.p_cost() == ARGON2_LANES
    });
    Checked::Accepted {
        rehashed: (!current).then(|| hash(password)),
    }
}

/// Refuses after as much work as checking a real hash takes.
fn refused_at_full_cost(password: &str) -> Checked {
    let unknown = PasswordHash::new(UNKNOWN_USER_HASH).expect("the unknown user's hash parses");
    let _ = verify_argon2(password, &unknown);
    Checked::Refused
}

/// Argon2id, with the parameters and salt the hash names.
fn verify_argon2(password: &str, stored: &PasswordHash) -> bool {
    #[cfg(test)]
    tests::ARGON2_CHECKS.with(|checks| checks.set(checks.get() + 1));
    argon2()
        .verify_password(password.as_bytes(), stored)
        .is_ok()
}

/// `<iterations>$<salt hex>$<hash hex>` of a PBKDF2-HMAC-SHA256 hash.
fn verify_legacy(password: &str, fields: &str) -> bool {
    let [iterations, salt, expected] = fields.split('$').collect::<Vec<_>>()[..] else {
        return false;
    };
    let (Ok(iterations), Ok(salt), Ok(expected)) = (
        iterations.parse::<u32>(),
        hex::decode(salt),
        hex::decode(expected),
    ) else {
        return false;
    };
    if iterations == 0 || iterations > LEGACY_ITERATIONS_MAX {
        return false;
    }
    let mut derived = vec![0u8; expected.len()];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut derived);
    // `Output` compares in constant time.
    match (Output::new(&derived), Output::new(&expected)) {
        (Ok(derived), Ok(expected)) => derived == expected,
        _ => false,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::cell::Cell;

    use super::*;

    thread_local! {
        /// Argon2id checks run on this thread: how the tests see that a
        /// refusal did the work of a real check.
        pub(super) static ARGON2_CHECKS: Cell<u32> = const { Cell::new(0) };
    }

    fn argon2_checks() -> u32 {
        ARGON2_CHECKS.with(Cell::get)
    }

    /// A hash of "correct horse battery staple" as earlier versions wrote
    /// it, with 1,000 iterations rather than their 310,000 so that the test
    /// is quick (the integration tests sign in with one of 310,000).
    const LEGACY: &str = "pbkdf2-sha256$1000$a82d6229753c3948daf65d547cf3aa0e$3b7ff8e2a1a907a48b819e4ab71b8357f6b02327772b5a38d20c31baf6ea707b";

    #[test]
    fn a_new_hash_is_argon2id_with_the_named_parameters_and_checks_its_password_only() {
        let stored = hash("correct horse battery");
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert_eq!(
            check("correct horse battery", Some(&stored)),
            Checked::Accepted { rehashed: None }
        );
        assert_eq!(
            check("correct horse batterY", Some(&stored)),
            Checked::Refused
        );
    }

    #[test]
    fn a_legacy_hash_is_accepted_once_and_rehashed_to_argon2id() {
        assert_eq!(
            check("correct horse battery stapl", Some(LEGACY)),
            Checked::Refused
        );
        let Checked::Accepted {
            rehashed: Some(rehashed),
        } = check("correct horse battery staple", Some(LEGACY))
        else {
            panic!("the legacy hash accepts its password and asks for a new hash");
        };
        assert!(rehashed.starts_with("$argon2id$"), "{rehashed}");
        assert_eq!(
            check("correct horse battery staple", Some(&rehashed)),
            Checked::Accepted { rehashed: None }
        );
        // A legacy hash that names absurd work, or is cut short, is refused.
        let absurd = LEGACY.replace("$1000$", "$4000000000$");
        assert_eq!(
            check("correct horse battery staple", Some(&absurd)),
            Checked::Refused
        );
        assert_eq!(
            check(
                "correct horse battery staple",
                Some("pbkdf2-sha256$1000$07")
            ),
            Checked::Refused
        );
    }

    #[test]
    fn an_unknown_user_or_an_unreadable_hash_costs_one_argon2id_check() {
        for stored in [None, Some("md5$1$00$00"), Some("")] {
            let before = argon2_checks();
            assert_eq!(check("correct horse battery", stored), Checked::Refused);
            assert_eq!(argon2_checks(), before + 1, "{stored:?}");
        }
        let stored = hash("correct horse battery");
        let before = argon2_checks();
        assert_eq!(check("a wrong password", Some(&stored)), Checked::Refused);
        assert_eq!(
            argon2_checks(),
            before + 1,
            "a wrong password costs the same"
        );
    }

    #[test]
    fn the_unknown_users_hash_has_the_parameters_of_new_hashes() {
        let unknown = PasswordHash::new(UNKNOWN_USER_HASH).unwrap();
        let new = hash("correct horse battery");
        let new = PasswordHash::new(&new).unwrap();
        assert_eq!(unknown.algorithm, new.algorithm);
        assert_eq!(unknown.version, new.version);
        assert_eq!(
            unknown.params, new.params,
            "make UNKNOWN_USER_HASH again with hash() when the parameters change"
        );
    }

    #[test]
    fn older_argon2id_parameters_are_rehashed() {
        let weaker = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8, 1, 1, Some(ARGON2_OUTPUT_BYTES)).unwrap(),
        );
        let salt = SaltString::encode_b64(&[7u8; SALT_BYTES]).unwrap();
        let stored = weaker
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string();
        let Checked::Accepted {
            rehashed: Some(rehashed),
        } = check("correct horse battery", Some(&stored))
        else {
            panic!("accepted, with a new hash");
        };
        assert!(rehashed.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }
}
