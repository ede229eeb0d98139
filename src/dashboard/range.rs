//! The time range a view covers: one of the presets (`window=1h|1d|7d`, ending now)
//! or any range `from=…&to=…` (RFC 3339; `to` defaults to now), with the interval
//! of its time series chosen so a chart has at most [`MAX_INTERVALS`] bars.

use jiff::{SignedDuration, Timestamp};

use crate::core::duration::parse_duration;
use crate::core::stats::Window;
use crate::http::query::Query;
use crate::http::{ApiError, ErrorCode};

/// A preset window, ending now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowChoice {
    Hour,
    Day,
    Week,
}

impl WindowChoice {
    pub const ALL: [WindowChoice; 3] = [WindowChoice::Hour, WindowChoice::Day, WindowChoice::Week];

    pub fn as_str(self) -> &'static str {
        match self {
            WindowChoice::Hour => "1h",
            WindowChoice::Day => "1d",
            WindowChoice::Week => "7d",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            WindowChoice::Hour => "last hour",
            WindowChoice::Day => "last day",
            WindowChoice::Week => "last week",
        }
    }

    /// How far back the window reaches.
    pub fn duration(self) -> SignedDuration {
        match self {
            WindowChoice::Hour => SignedDuration::from_hours(1),
            WindowChoice::Day => SignedDuration::from_hours(24),
            WindowChoice::Week => SignedDuration::from_hours(24 * 7),
        }
    }

    /// The window ending at `now`: 12 × 5 minutes, 24 × 1 hour, or 28 × 6 hours.
    pub fn window(self, now: Timestamp) -> Window {
        let interval = match self {
            WindowChoice::Hour => SignedDuration::from_mins(5),
            WindowChoice::Day => SignedDuration::from_hours(1),
            WindowChoice::Week => SignedDuration::from_hours(6),
        };
        Window::ending_at(now, self.duration(), interval)
    }
}

/// Bars a chart of a custom range has at most.
pub const MAX_INTERVALS: i64 = 48;

/// Interval lengths a custom range is cut into, in seconds: the shortest giving at
/// most [`MAX_INTERVALS`] intervals is used.
const INTERVALS: [i64; 7] = [60, 300, 900, 3_600, 6 * 3_600, 86_400, 7 * 86_400];

/// What a view covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Preset(WindowChoice),
    /// `[from, to)`; `to` absent means now.
    Between {
        from: Timestamp,
        to: Option<Timestamp>,
    },
}

impl Range {
    /// The parameters a view's query may hold for its range.
    pub const PARAMETERS: [&'static str; 3] = ["window", "from", "to"];

    /// `window`, or `from` and `to`; the default is the last day. Both at once, an
    /// empty range or a `to` without `from` are refused naming the parameter.
    pub fn parse(query: &Query) -> Result<Range, ApiError> {
        let from = query.time("from")?;
        let to = query.time("to")?;
        if let Some(value) = query.get("window") {
            if from.is_some() || to.is_some() {
                return Err(ApiError::new(
                    ErrorCode::InvalidValue,
                    "give either `window` or `from`/`to`, not both",
                )
                .with_field("window"));
            }
            return WindowChoice::ALL
                .into_iter()
                .find(|choice| parse_duration(value).ok() == Some(choice.duration()))
                .map(Range::Preset)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidValue,
                        format!(
                            "window `{value}` is not one of `1h`, `1d`, `7d`; for any other range give `from` and `to` (RFC 3339)"
                        ),
                    )
                    .with_field("window")
                });
        }
        match (from, to) {
            (None, None) => Ok(Range::Preset(WindowChoice::Day)),
            (None, Some(_)) => Err(ApiError::new(
                ErrorCode::InvalidValue,
                "`to` needs a `from` (RFC 3339, e.g. 2026-11-22T08:00:00Z)",
            )
            .with_field("from")),
            (Some(from), Some(to)) if to <= from => Err(ApiError::new(
                ErrorCode::InvalidValue,
                format!("to `{to}` must be later than from `{from}`"),
            )
            .with_field("to")),
            (Some(from), to) => Ok(Range::Between { from, to }),
        }
    }

    /// The window at `now`.
    pub fn window(&self, now: Timestamp) -> Window {
        match *self {
            Range::Preset(choice) => choice.window(now),
            Range::Between { from, to } => {
                let to = to.unwrap_or(now).max(from);
                let length = to.duration_since(from).as_secs().max(1);
                let interval = INTERVALS
                    .into_iter()
                    .find(|interval| (length + interval - 1) / interval <= MAX_INTERVALS)
                    .unwrap_or((length + MAX_INTERVALS - 1) / MAX_INTERVALS);
                Window {
                    from,
                    to,
                    interval_seconds: interval,
                }
            }
        }
    }

    /// The preset, if this is one.
    pub fn preset(&self) -> Option<WindowChoice> {
        match self {
            Range::Preset(choice) => Some(*choice),
            Range::Between { .. } => None,
        }
    }

    /// The range as query parameters, for links that keep it.
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        match self {
            Range::Preset(choice) => vec![("window", choice.as_str().to_owned())],
            Range::Between { from, to } => {
                let mut pairs = vec![("from", from.to_string())];
                if let Some(to) = to {
                    pairs.push(("to", to.to_string()));
                }
                pairs
            }
        }
    }

    /// The range as text, for keys of computed responses.
    pub fn key(&self) -> String {
        self.query_pairs()
            .into_iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Range, ApiError> {
        Range::parse(&Query::parse(Some(text), &Range::PARAMETERS).unwrap())
    }

    #[test]
    fn presets_and_any_range_parse_and_nonsense_names_its_parameter() {
        assert_eq!(parse("").ok(), Some(Range::Preset(WindowChoice::Day)));
        assert_eq!(
            parse("window=60m").ok(),
            Some(Range::Preset(WindowChoice::Hour))
        );
        let from: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let to: Timestamp = "2030-01-03T00:00:00Z".parse().unwrap();
        assert_eq!(
            parse("from=2030-01-01T00:00:00Z&to=2030-01-03T00:00:00Z").ok(),
            Some(Range::Between { from, to: Some(to) })
        );
        for (text, field) in [
            ("window=2h", "window"),
            ("window=1h&from=2030-01-01T00:00:00Z", "window"),
            ("to=2030-01-01T00:00:00Z", "from"),
            ("from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z", "to"),
            ("from=yesterday", "from"),
        ] {
            assert_eq!(
                parse(text).unwrap_err().field.as_deref(),
                Some(field),
                "{text}"
            );
        }
    }

    #[test]
    fn a_custom_range_gets_at_most_48_intervals() {
        let from: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let window = |hours: i64| {
            Range::Between {
                from,
                to: Some(from + SignedDuration::from_hours(hours)),
            }
            .window(from)
        };
        assert_eq!(window(2).interval_seconds, 300);
        assert_eq!(window(48).interval_seconds, 3_600);
        assert_eq!(window(24 * 30).interval_seconds, 86_400);
        assert_eq!(window(24 * 365 * 3).interval_seconds, 1_971_000);
    }
}
