//! The one duration syntax of loopguard: `90s`, `30m`, `1h 30m`, `2d`, `1d12h`.
//!
//! Used by the rules (`bounce_window`), the command line (`--retention`) and the HTTP
//! queries (`since`, `window`), so a duration that works in one place works in all.

use jiff::SignedDuration;

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a duration: {reason}; write whole numbers with a unit `s`, `m`, `h` or `d`, e.g. `90s`, `30m`, `1h 30m`, `2d`"
)]
pub struct DurationError {
    pub text: String,
    pub reason: &'static str,
}

/// Parses a sum of `<whole number><unit>` parts, units `s`, `m`, `h`, `d` (a day is
/// 24 hours), optionally separated by spaces. The result is never negative.
pub fn parse_duration(text: &str) -> Result<SignedDuration, DurationError> {
    let error = |reason| DurationError {
        text: text.to_owned(),
        reason,
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(error("it is empty"));
    }
    let mut total = SignedDuration::ZERO;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(error("each part must start with a whole number"));
        }
        let number: i64 = rest[..digits]
            .parse()
            .map_err(|_| error("a number is too large"))?;
        rest = &rest[digits..];
        let seconds_per_unit: i64 = match rest.as_bytes().first() {
            Some(b's') => 1,
            Some(b'm') => 60,
            Some(b'h') => 3_600,
            Some(b'd') => 86_400,
            Some(_) => return Err(error("a unit is not one of `s`, `m`, `h`, `d`")),
            None => return Err(error("a number has no unit")),
        };
        rest = rest[1..].trim_start();
        let part = number
            .checked_mul(seconds_per_unit)
            .map(SignedDuration::from_secs)
            .ok_or_else(|| error("it is too long"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| error("it is too long"))?;
    }
    Ok(total)
}

/// Formats a duration in the same syntax, largest units first (`1d 2h`, `30m`, `0s`).
pub fn format_duration(duration: SignedDuration) -> String {
    let mut seconds = duration.as_secs().abs();
    if seconds == 0 {
        return "0s".to_owned();
    }
    let mut parts = Vec::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if seconds >= size {
            parts.push(format!("{}{unit}", seconds / size));
            seconds %= size;
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_and_combination_parses() {
        let cases = [
            ("90s", 90),
            ("30m", 1_800),
            ("1h", 3_600),
            ("2d", 172_800),
            ("1h 30m", 5_400),
            ("1h30m", 5_400),
            ("1d12h", 129_600),
            (" 7d ", 604_800),
            ("0s", 0),
        ];
        for (text, seconds) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(SignedDuration::from_secs(seconds)),
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_durations_say_why() {
        for text in [
            "",
            "h",
            "30",
            "30x",
            "-5m",
            "1.5h",
            "half an hour",
            "99999999999999999999d",
        ] {
            let error = parse_duration(text).unwrap_err();
            assert!(error.to_string().contains("`30m`"), "{text}: {error}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for seconds in [0, 59, 60, 3_661, 90_000, 604_800] {
            let duration = SignedDuration::from_secs(seconds);
            assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }
    }
}
