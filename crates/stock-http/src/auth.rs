//! API keys: how they are made, stored and checked.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use stock_core::Role;
use stock_store::ApiKey;

use crate::error::ApiError;
use crate::AppState;

/// The key that made a request, put in the request's extensions by
/// [`authenticate`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// Refuses with 403 unless this caller's role allows `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs a key with the {} role or above; key {} is {}",
                needed.as_str(),
                self.key_id,
                self.role.as_str()
            )))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::internal(&anyhow::anyhow!("a route behind auth ran without a caller"))
        })
    }
}

/// A role a route needs, as a type, so that [`Authorized`] checks it before
/// any other extractor reads the body: a caller without the role learns
/// nothing from the route, not even that its body was malformed.
pub trait NeededRole: Send + Sync + 'static {
    const ROLE: Role;
}

pub struct StorefrontRole;
pub struct ServiceRole;
pub struct AdminRole;

impl NeededRole for StorefrontRole {
    const ROLE: Role = Role::Storefront;
}
impl NeededRole for ServiceRole {
    const ROLE: Role = Role::Service;
}
impl NeededRole for AdminRole {
    const ROLE: Role = Role::Admin;
}

/// The caller, known to hold at least role `R`; 403 otherwise.
pub struct Authorized<R: NeededRole>(pub Caller, pub std::marker::PhantomData<R>);

impl<S: Send + Sync, R: NeededRole> FromRequestParts<S> for Authorized<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(R::ROLE)?;
        Ok(Authorized(caller, std::marker::PhantomData))
    }
}

/// Everything a write needs from its request besides the body: the caller,
/// checked for role `R` before the body is read, the request's trace id, and
/// its Idempotency-Key if it sent one.
pub struct Writer<R: NeededRole> {
    pub caller: Caller,
    pub trace: crate::trace::TraceId,
    pub idempotency: Option<crate::idempotency::IdempotencyRequest>,
    role: std::marker::PhantomData<R>,
}

impl<S: Send + Sync, R: NeededRole> FromRequestParts<S> for Writer<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authorized(caller, _) = Authorized::<R>::from_request_parts(parts, state).await?;
        let trace = parts
            .extensions
            .get::<crate::trace::TraceId>()
            .cloned()
            .ok_or_else(|| {
                ApiError::internal(&anyhow::anyhow!("a write ran without a trace id"))
            })?;
        let idempotency = parts
            .extensions
            .get::<crate::idempotency::IdempotencyRequest>()
            .cloned();
        Ok(Writer {
            caller,
            trace,
            idempotency,
            role: std::marker::PhantomData,
        })
    }
}

/// A new key: its public id and the secret shown once to whoever made it.
pub struct NewKey {
    pub id: String,
    pub secret: String,
}

/// Random ids that start with the time they were made, in milliseconds
/// since the epoch as 12 hex digits, then `bytes` random bytes in hex: ids
/// made later sort later, so the indexes they are kept in (the ledger's by
/// trace id, the holds' by id) grow at one end rather than everywhere.
pub fn time_ordered_id(bytes: usize) -> String {
    let mut id = String::with_capacity(12 + 2 * bytes);
    let _ = write!(id, "{:012x}", stock_store::now_ms() & 0xffff_ffff_ffff);
    push_random_hex(&mut id, bytes);
    id
}

fn random_hex(bytes: usize) -> String {
    let mut hex = String::with_capacity(2 * bytes);
    push_random_hex(&mut hex, bytes);
    hex
}

fn push_random_hex(out: &mut String, bytes: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buffer = [0u8; 32];
    let mut left = bytes;
    while left > 0 {
        let random = &mut buffer[..left.min(32)];
        getrandom::fill(random).expect("the operating system's random source works");
        for byte in random.iter() {
            out.push(char::from(DIGITS[usize::from(byte >> 4)]));
            out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        left -= random.len();
    }
}

/// Generates a key: 160 random bits for the secret, 48 for the id.
pub fn generate_key() -> NewKey {
    NewKey {
        id: format!("key_{}", random_hex(6)),
        secret: format!("sk_{}", random_hex(20)),
    }
}

/// Random hex for what must not be guessed or collide: sign-in tokens,
/// nonces, webhook and simulated order ids.
pub fn random_id(bytes: usize) -> String {
    random_hex(bytes)
}

/// Keys are stored as the SHA-256 of the secret: they carry 160 random bits,
/// so a slow password hash would add nothing but latency on every request.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The most keys a [`KeyCache`] remembers; it starts afresh when full.
const KEY_CACHE_ENTRIES_MAX: usize = 10_000;

/// Live keys recently found, by secret hash, so that a request does not
/// read its key from the database each time. A key revoked by another
/// process (`stockd keys revoke`, another replica) is refused once its entry
/// is older than the cache's time to live; unknown secrets are never cached.
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (ApiKey, Instant)>>,
}

impl KeyCache {
    /// A cache whose entries last `ttl`; zero turns it off.
    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, hash: &str, now: Instant) -> Option<ApiKey> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self
            .entries
            .lock()
            .expect("the key cache is never poisoned");
        let (key, found_at) = entries.get(hash)?;
        (now.saturating_duration_since(*found_at) < self.ttl).then(|| key.clone())
    }

    fn put(&self, hash: String, key: &ApiKey, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self
            .entries
            .lock()
            .expect("the key cache is never poisoned");
        if entries.len() >= KEY_CACHE_ENTRIES_MAX {
            entries.clear();
        }
        entries.insert(hash, (key.clone(), now));
    }
}

/// The longest secret looked up; anything longer cannot be one of ours.
const SECRET_LENGTH_MAX: usize = 256;

/// Resolves `Authorization: Bearer KEY` into a [`Caller`], or answers 401.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let secret = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, secret)| secret.trim().to_owned());
    let Some(secret) = secret else {
        return unauthorized(
            &state,
            &request,
            "send an API key as Authorization: Bearer KEY",
        );
    };
    if secret.is_empty() || secret.len() > SECRET_LENGTH_MAX {
        return unauthorized(&state, &request, "the API key is not valid");
    }
    let hash = hash_secret(&secret);
    let now = Instant::now();
    let key = match state.keys.get(&hash, now) {
        Some(key) => key,
        None => match state.store.key_by_hash(&hash).await {
            Ok(Some(key)) => {
                state.keys.put(hash, &key, now);
                key
            }
            Ok(None) => {
                return unauthorized(
                    &state,
                    &request,
                    "the API key is not valid or has been revoked",
                )
            }
            Err(error) => return ApiError::internal(&error).into_response(),
        },
    };
    if let Err(limited) = state.limits.check_key(&key.id) {
        return limited.into_response();
    }
    request.extensions_mut().insert(Caller {
        key_id: key.id,
        name: key.name,
        role: key.role,
    });
    next.run(request).await
}

/// 401, or 429 when the client's address is over its limit for requests
/// without a valid key.
fn unauthorized(state: &AppState, request: &Request, message: &str) -> Response {
    if let Err(limited) = state.limits.check_address(request) {
        return limited.into_response();
    }
    let mut response = ApiError::unauthorized(message).into_response();
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, "Bearer".parse().expect("a valid header"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hashed() {
        let first = generate_key();
        let second = generate_key();
        assert_ne!(first.secret, second.secret);
        assert_ne!(first.id, second.id);
        assert!(first.secret.starts_with("sk_") && first.secret.len() == 43);
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_key_cache_forgets_after_its_time_to_live() {
        let key = ApiKey {
            id: "key_1".into(),
            name: "shop".into(),
            role: Role::Service,
            created_at_ms: 0,
            revoked_at_ms: None,
        };
        let start = Instant::now();
        let cache = KeyCache::new(Duration::from_secs(1));
        assert!(cache.get("h", start).is_none());
        cache.put("h".into(), &key, start);
        assert_eq!(
            cache
                .get("h", start + Duration::from_millis(999))
                .unwrap()
                .id,
            "key_1"
        );
        assert!(cache.get("h", start + Duration::from_secs(1)).is_none());
        assert!(cache.get("other", start).is_none());

        let off = KeyCache::new(Duration::ZERO);
        off.put("h".into(), &key, start);
        assert!(off.get("h", start).is_none());
    }

    #[test]
    fn roles_are_enforced() {
        let caller = Caller {
            key_id: "k".into(),
            name: "n".into(),
            role: Role::Storefront,
        };
        assert!(caller.require(Role::Storefront).is_ok());
        assert_eq!(caller.require(Role::Service).unwrap_err().code, "FORBIDDEN");
    }

    #[test]
    fn ids_made_later_sort_later_and_never_repeat() {
        let ids: Vec<String> = (0..2_000).map(|_| time_ordered_id(10)).collect();
        for pair in ids.windows(2) {
            // Only the time part is ordered: within one millisecond the
            // random part decides.
            assert!(pair[0][..12] <= pair[1][..12], "{pair:?}");
        }
        assert!(ids
            .iter()
            .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())));
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        let now_ms = stock_store::now_ms();
        let stamped = i64::from_str_radix(&ids[0][..12], 16).unwrap();
        assert!(stamped <= now_ms && now_ms - stamped < 60_000);
    }
}
