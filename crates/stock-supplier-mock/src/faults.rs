//! The faults a test orders: what is pending, and which one the next call gets.

use std::ops::RangeInclusive;
use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

const FAULT_DELAY_MAX: Duration = Duration::from_secs(120);
/// Injected failures are errors a server can send, never 1xx to 3xx.
const FAULT_STATUS_RANGE: RangeInclusive<u16> = 400..=599;

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusFault {
    pub(crate) count: u32,
    pub(crate) status: u16,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DelayFault {
    pub(crate) count: u32,
    pub(crate) delay_ms: u64,
}

impl DelayFault {
    pub(crate) fn capped(self) -> DelayFault {
        let delay_max_ms = FAULT_DELAY_MAX.as_millis() as u64;
        DelayFault {
            count: self.count,
            delay_ms: self.delay_ms.min(delay_max_ms),
        }
    }
}

/// The faults still to be served; also the answer of `POST /mock/faults`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct PendingFaults {
    pub(crate) fail_next: StatusFault,
    pub(crate) delay_next: DelayFault,
    pub(crate) malformed_next: u32,
    pub(crate) fail_token_next: StatusFault,
}

pub(crate) enum ApiFault {
    Delay(Duration),
    Status(StatusCode),
    Malformed,
}

impl PendingFaults {
    pub(crate) fn take_api_fault(&mut self) -> Option<ApiFault> {
        if take_one(&mut self.delay_next.count) {
            return Some(ApiFault::Delay(Duration::from_millis(
                self.delay_next.delay_ms,
            )));
        }
        if take_one(&mut self.fail_next.count) {
            return Some(ApiFault::Status(fault_status(self.fail_next)));
        }
        if take_one(&mut self.malformed_next) {
            return Some(ApiFault::Malformed);
        }
        None
    }

    pub(crate) fn take_token_fault(&mut self) -> Option<StatusCode> {
        take_one(&mut self.fail_token_next.count).then(|| fault_status(self.fail_token_next))
    }
}

/// Counts one use down; false when none was left.
fn take_one(count: &mut u32) -> bool {
    let pending = *count > 0;
    if pending {
        *count -= 1;
    }
    pending
}

pub(crate) fn status_fault(count: u32, status: u16) -> Result<StatusFault, String> {
    if FAULT_STATUS_RANGE.contains(&status) {
        Ok(StatusFault { count, status })
    } else {
        Err(format!("a fault's status is 4xx or 5xx, not {status}"))
    }
}

fn fault_status(fault: StatusFault) -> StatusCode {
    StatusCode::from_u16(fault.status).expect("fault statuses are checked when they are set")
}
