//! Department and intent ids: the names the rules use, which cannot be malformed.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

/// Longest id we accept for departments and intents.
pub const MAX_ID_LENGTH: usize = 64;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Accepts 1 to 64 characters: letters (any script), digits, `_`, `-`, `.`.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                validate_id(value, $what).map(|()| Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A department id such as `customer_service`.
    DepartmentId,
    "department id"
);
id_type!(
    /// An intent id such as `reconnect_line`.
    Intent,
    "intent"
);

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} is empty; write a name such as `customer_service`")]
    Empty { what: &'static str },
    #[error("{what} is {length} characters long; the limit is {MAX_ID_LENGTH}")]
    TooLong { what: &'static str, length: usize },
    #[error(
        "{what} `{value}` contains {character:?}; use letters, digits, `_`, `-` or `.` (for example `{suggestion}`)"
    )]
    InvalidCharacter {
        what: &'static str,
        value: String,
        character: char,
        suggestion: String,
    },
}

fn validate_id(value: &str, what: &'static str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { what });
    }
    let length = value.chars().count();
    if length > MAX_ID_LENGTH {
        return Err(IdError::TooLong { what, length });
    }
    if let Some(character) = value.chars().find(|&character| !is_id_character(character)) {
        let suggestion: String = value
            .chars()
            .map(|character| {
                if is_id_character(character) {
                    character.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        return Err(IdError::InvalidCharacter {
            what,
            value: value.to_owned(),
            character,
            suggestion,
        });
    }
    Ok(())
}

fn is_id_character(character: char) -> bool {
    character.is_alphanumeric() || matches!(character, '_' | '-' | '.')
}

/// The closest candidate to `name` by edit distance, if it is close enough to be a typo.
pub fn did_you_mean<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|left, right| left.0.total_cmp(&right.0).then(right.1.cmp(left.1)))
        .map(|(_, candidate)| candidate)
}

/// How many distinct names one [`Suggestions`] looks up before it stops suggesting.
pub const SUGGESTION_LOOKUPS: usize = 100;

/// "Did you mean" for many unknown names against the same candidates: each distinct
/// name is looked up once, and only the first [`SUGGESTION_LOOKUPS`] distinct names
/// are compared at all. Comparing every unknown name with every declared one was
/// quadratic (20,000 transfers to unknown departments × 10,000 departments); the
/// findings beyond the first hundred are not shown by default anyway.
#[derive(Debug, Default)]
pub struct Suggestions {
    looked_up: HashMap<String, Option<String>>,
}

impl Suggestions {
    pub fn suggest<'a>(
        &mut self,
        name: &str,
        candidates: impl Iterator<Item = &'a str>,
    ) -> Option<String> {
        if let Some(known) = self.looked_up.get(name) {
            return known.clone();
        }
        if self.looked_up.len() >= SUGGESTION_LOOKUPS {
            return None;
        }
        let suggestion = did_you_mean(name, candidates).map(str::to_owned);
        self.looked_up.insert(name.to_owned(), suggestion.clone());
        suggestion
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_unicode_letters_and_reject_spaces() {
        assert!(DepartmentId::parse("relation_clientèle").is_ok());
        let error = DepartmentId::parse("customer service").unwrap_err();
        assert!(error.to_string().contains("customer_service"), "{error}");
        assert!(DepartmentId::parse("").is_err());
        assert!(DepartmentId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn suggestions_stop_after_the_lookup_budget_but_remember_earlier_names() {
        let names = ["activations", "billing"];
        let mut suggestions = Suggestions::default();
        assert_eq!(
            suggestions
                .suggest("activation", names.into_iter())
                .as_deref(),
            Some("activations")
        );
        for index in 0..SUGGESTION_LOOKUPS {
            suggestions.suggest(&format!("billin{index}"), names.into_iter());
        }
        assert_eq!(suggestions.suggest("billng", names.into_iter()), None);
        assert_eq!(
            suggestions
                .suggest("activation", names.into_iter())
                .as_deref(),
            Some("activations")
        );
    }

    #[test]
    fn did_you_mean_finds_close_typos_only() {
        let names = ["activations", "billing"];
        assert_eq!(
            did_you_mean("activation", names.into_iter()),
            Some("activations")
        );
        assert_eq!(did_you_mean("porting", names.into_iter()), None);
    }
}
