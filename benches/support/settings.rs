//! The load benches' settings from the environment (`LOAD_*`).

use std::time::Duration;

/// `variable` as seconds (a non-negative number, fractions allowed), if it is set.
pub fn seconds(variable: &str) -> Result<Option<Duration>, String> {
    let Ok(value) = std::env::var(variable) else {
        return Ok(None);
    };
    match value.trim().parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => {
            Ok(Some(Duration::from_secs_f64(seconds)))
        }
        _ => Err(format!("{variable}: `{value}` is not a number of seconds")),
    }
}

/// `variable` as a positive integer, if it is set.
pub fn count(variable: &str) -> Result<Option<usize>, String> {
    let Ok(value) = std::env::var(variable) else {
        return Ok(None);
    };
    match value.trim().parse::<usize>() {
        Ok(count) if count > 0 => Ok(Some(count)),
        _ => Err(format!("{variable}: `{value}` is not a positive integer")),
    }
}
