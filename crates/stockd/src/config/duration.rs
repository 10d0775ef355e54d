//! Durations as people write them: `500ms`, `300s`, `5m`, `1h`, or a number
//! of seconds.

use std::fmt;
use std::time::Duration;

use anyhow::{bail, Context};

/// Reads a duration written as text (`300s`) or as a number of seconds
/// (`300`, kept as `300s`); it is parsed by [`parse_duration`] when the
/// configuration is checked.
pub(super) fn duration_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    deserializer.deserialize_any(DurationText)
}

struct DurationText;

impl serde::de::Visitor<'_> for DurationText {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as 300s, 5m or 500ms, or a number of seconds")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<String, E> {
        Ok(text.to_owned())
    }

    fn visit_u64<E: serde::de::Error>(self, seconds: u64) -> Result<String, E> {
        Ok(format!("{seconds}s"))
    }

    fn visit_i64<E: serde::de::Error>(self, seconds: i64) -> Result<String, E> {
        u64::try_from(seconds)
            .map(|seconds| format!("{seconds}s"))
            .map_err(|_| E::custom(format!("a duration cannot be negative ({seconds})")))
    }
}

/// `500ms`, `300s`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration such as 300s"))?;
    let ms = match unit {
        "ms" => number,
        "" | "s" => number.saturating_mul(1000),
        "m" => number.saturating_mul(60_000),
        "h" => number.saturating_mul(3_600_000),
        other => bail!("{text:?}: unknown unit {other:?} (ms, s, m or h)"),
    };
    Ok(Duration::from_millis(ms))
}
