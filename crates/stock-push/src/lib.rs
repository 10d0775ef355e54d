//! What stockd sends out over HTTP: signed JSON POSTs to a webhook or to a
//! channel's endpoint. It knows nothing of stockd's store or routes: it
//! takes a URL, a body and a secret, and says how the receiver answered.

mod signing;

use std::time::Duration;

pub use signing::{signature, REPLAY_WINDOW_S, SIGNATURE_HEADER};

/// A client for pushes: redirects are never followed (a receiver moved is a
/// receiver to be reconfigured, not followed blindly), and every push has a
/// timeout of its own. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Pusher {
    client: reqwest::Client,
}

/// One POST.
#[derive(Debug)]
pub struct Push<'a> {
    pub url: &'a str,
    /// JSON.
    pub body: Vec<u8>,
    /// Signs the body in `Stockd-Signature` when set.
    pub secret: Option<&'a str>,
    /// Further headers.
    pub headers: &'a [(&'static str, String)],
    /// The whole exchange, connecting included.
    pub timeout: Duration,
    /// The signature's time (Unix seconds).
    pub sent_at_s: i64,
}

/// How a receiver answered a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// A 2xx.
    Accepted { status: u16 },
    /// Any other status.
    Refused { status: u16, reason: String },
    /// No answer within the push's timeout.
    TimedOut { timeout_ms: u64 },
    /// No connection, or the exchange broke off.
    Unreachable { error: String },
}

impl PushOutcome {
    pub fn is_accepted(&self) -> bool {
        matches!(self, PushOutcome::Accepted { .. })
    }

    /// The receiver's status, when it answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            PushOutcome::Accepted { status } | PushOutcome::Refused { status, .. } => Some(*status),
            PushOutcome::TimedOut { .. } | PushOutcome::Unreachable { .. } => None,
        }
    }
}

impl Default for Pusher {
    fn default() -> Self {
        Pusher::new()
    }
}

impl Pusher {
    pub fn new() -> Pusher {
        Pusher {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client with no redirects"),
        }
    }

    /// Sends one push and says how it went; it never fails otherwise.
    pub async fn send(&self, push: Push<'_>) -> PushOutcome {
        let mut request = self
            .client
            .post(push.url)
            .timeout(push.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(secret) = push.secret {
            request = request.header(
                SIGNATURE_HEADER,
                signature(secret, push.sent_at_s, &push.body),
            );
        }
        for (name, value) in push.headers {
            request = request.header(*name, value);
        }
        match request.body(push.body).send().await {
            Ok(response) if response.status().is_success() => PushOutcome::Accepted {
                status: response.status().as_u16(),
            },
            Ok(response) => PushOutcome::Refused {
                status: response.status().as_u16(),
                reason: response.status().to_string(),
            },
            Err(error) if error.is_timeout() => PushOutcome::TimedOut {
                timeout_ms: u64::try_from(push.timeout.as_millis()).unwrap_or(u64::MAX),
            },
            Err(error) => PushOutcome::Unreachable {
                error: format!("{error:#}"),
            },
        }
    }
}
