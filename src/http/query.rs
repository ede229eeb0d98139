//! The one query-string parser: decodes `name=value` pairs, refuses parameters the
//! endpoint does not take (naming the ones it does), and turns values into times,
//! durations and numbers with errors that name the parameter.

use jiff::Timestamp;

use super::error::{ApiError, ErrorCode};
use super::fields::parse_timestamp;
use crate::core::duration::parse_duration;

/// The decoded parameters of one request, checked against what the endpoint takes.
#[derive(Debug, Default, Clone)]
pub struct Query {
    parameters: Vec<(String, String)>,
}

impl Query {
    /// Decodes the raw query; any name outside `allowed` is a 422 naming it.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let parameters: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|error| {
                ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("the query string cannot be decoded: {error}"),
                )
            })?;
        if let Some((name, _)) = parameters
            .iter()
            .find(|(name, _)| !allowed.contains(&name.as_str()))
        {
            let names: Vec<String> = allowed.iter().map(|name| format!("`{name}`")).collect();
            let known = match names.len() {
                0 => "this endpoint takes no query parameters".to_owned(),
                _ => format!("use {}", names.join(", ")),
            };
            return Err(ApiError::new(
                ErrorCode::UnknownParameter,
                format!("unknown query parameter `{name}`; {known}"),
            )
            .with_field(name.clone()));
        }
        Ok(Self { parameters })
    }

    /// The last value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// An RFC 3339 time, or a duration back from `now` (`15m`, `1h`, `2d`).
    pub fn time_or_ago(&self, name: &str, now: Timestamp) -> Result<Option<Timestamp>, ApiError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        if let Ok(at) = value.parse::<Timestamp>() {
            return Ok(Some(at));
        }
        parse_duration(value)
            .ok()
            .and_then(|duration| now.checked_sub(duration).ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidValue,
                    format!(
                        "{name} `{value}` is neither an RFC 3339 time (2026-11-22T08:00:00Z) nor a duration (15m, 1h, 2d)"
                    ),
                )
                .with_field(name)
            })
    }

    /// An RFC 3339 time.
    pub fn time(&self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        self.get(name)
            .map(|value| parse_timestamp(value, name))
            .transpose()
    }

    /// A whole number within `range`.
    pub fn number(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<usize>,
    ) -> Result<Option<usize>, ApiError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        value
            .parse::<usize>()
            .ok()
            .filter(|number| range.contains(number))
            .map(Some)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidValue,
                    format!(
                        "{name} `{value}` must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )
                .with_field(name)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_second(1_795_000_000).unwrap()
    }

    #[test]
    fn durations_in_days_and_times_both_work_for_since() {
        let query = Query::parse(Some("since=1d"), &["since"]).unwrap();
        assert_eq!(
            query.time_or_ago("since", now()).unwrap(),
            Some(Timestamp::from_second(1_795_000_000 - 86_400).unwrap())
        );
        let query = Query::parse(Some("since=2026-11-22T08:00:00Z"), &["since"]).unwrap();
        assert!(query.time_or_ago("since", now()).unwrap().is_some());
        let query = Query::parse(Some("since=yesterday"), &["since"]).unwrap();
        let error = query.time_or_ago("since", now()).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("since"));
    }

    #[test]
    fn unknown_parameters_are_refused_naming_the_known_ones() {
        let error = Query::parse(Some("limit=5&bogus=1"), &["limit"]).unwrap_err();
        assert_eq!(error.code, ErrorCode::UnknownParameter);
        assert!(error.message.contains("`limit`"), "{}", error.message);
    }

    #[test]
    fn numbers_outside_their_range_are_refused() {
        let query = Query::parse(Some("limit=0"), &["limit"]).unwrap();
        assert!(query.number("limit", 1..=1000).is_err());
        let query = Query::parse(Some("limit=10"), &["limit"]).unwrap();
        assert_eq!(query.number("limit", 1..=1000).unwrap(), Some(10));
    }
}
