//! Platform identities: the names a telephony platform gives a department (an
//! extension, a SIP URI, a queue name, an ARN) and how they match `aliases`.
//!
//! SIP URIs match by scheme, user and host: scheme and host case-insensitively, the
//! user exactly (RFC 3261 §19.1.4), ignoring the port, URI parameters, headers
//! (`?Replaces=...`), angle brackets and display names. An alias that is a bare
//! user part (`"2001"`) matches that user on any host; any other alias matches an
//! identity equal to it. URI grammar is the `sip-uri` crate's; this module only
//! peels the header-level wrapper (`"Name" <...>;tag=...`) and decides what matches.

use std::collections::HashMap;

use sip_uri::{Component, SipUri};

/// Longest alias or identity accepted, in characters (the same limit as the
/// platform names of the webhook).
pub const MAX_IDENTITY_LENGTH: usize = 200;

/// A parsed `sip:` or `sips:` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipAddress {
    uri: SipUri,
}

/// Why a text is not a usable SIP address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a valid SIP URI: {reason}; write it as sip:user@host")]
pub struct SipAddressError {
    pub text: String,
    pub reason: String,
}

impl SipAddress {
    /// Parses a SIP URI as a platform writes it: bare (`sip:2001@pbx`), in angle
    /// brackets, after a display name, followed by header parameters (`;tag=`).
    /// Characters the grammar forbids in the user or host part are an error, not a
    /// silent repair: an identity must not match by accident.
    pub fn parse(text: &str) -> Result<SipAddress, SipAddressError> {
        let error = |reason: String| SipAddressError {
            text: text.to_owned(),
            reason,
        };
        let uri_text = addr_spec(text).map_err(|reason| error(reason.to_owned()))?;
        let parsed = SipUri::parse_with_warnings(uri_text).map_err(|problem| error(problem.0))?;
        if let Some(warning) = parsed
            .warnings
            .iter()
            .find(|warning| matches!(warning.component, Component::User | Component::Host))
        {
            return Err(error(warning.to_string()));
        }
        Ok(SipAddress { uri: parsed.value })
    }

    /// `sip` or `sips`.
    pub fn scheme(&self) -> &'static str {
        self.uri.scheme().as_str()
    }

    /// The user part, percent-decoded; `None` for a bare host such as `sip:pbx`.
    pub fn user(&self) -> Option<&str> {
        self.uri.user().filter(|user| !user.is_empty())
    }

    /// The host, lower-case, without brackets for IPv6.
    pub fn host(&self) -> String {
        self.uri.host().bare().to_string().to_ascii_lowercase()
    }

    /// Whether the URI carries a header (after `?`) of this name, case-insensitively.
    pub fn has_header(&self, name: &str) -> bool {
        self.uri.header(name).is_some()
    }

    /// The address without display name, brackets, parameters or headers:
    /// `sip:2001@pbx.example.com:5070`. What is kept on a hop as the identity.
    pub fn identity(&self) -> String {
        format!("{}:{}", self.scheme(), self.uri.user_host())
    }

    fn key(&self) -> Option<SipKey> {
        Some(SipKey {
            scheme: self.scheme(),
            user: self.user()?.to_owned(),
            host: self.host(),
        })
    }
}

/// Whether a text is meant as a SIP address (`sip:` or `sips:`, possibly after a
/// display name and `<`), whether or not it is well formed.
pub fn looks_like_sip(text: &str) -> bool {
    // After a display name and `<` when there is one, even an unclosed one: the
    // text is still meant as a SIP address, and parsing it says what is wrong.
    let uri = addr_spec(text)
        .unwrap_or_else(|_| text.rsplit('<').next().unwrap_or(text))
        .trim_start();
    let scheme = uri.split(':').next().unwrap_or_default();
    uri.contains(':') && (scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips"))
}

/// The URI inside a name-addr (`"Carol" <sip:...>;tag=1`), or the text itself
/// when it has no angle brackets.
fn addr_spec(text: &str) -> Result<&str, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("it is empty");
    }
    let mut in_quotes = false;
    let mut escaped = false;
    for (position, character) in text.char_indices() {
        match character {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '<' if !in_quotes => {
                let inner = &text[position + 1..];
                let end = inner.find('>').ok_or("`<` is never closed by `>`")?;
                return Ok(inner[..end].trim());
            }
            _ => {}
        }
    }
    if in_quotes {
        return Err("a display name's quote is never closed");
    }
    Ok(text)
}

/// What an alias of the rules is, once parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Alias {
    /// A SIP URI with a user part: matches that user at that host.
    Sip(SipKey),
    /// Anything else (an extension, a queue name, an ARN): matches an identity
    /// equal to it, and, as a bare user part, a SIP identity with that user.
    Plain(String),
}

/// How a SIP alias is compared: scheme and host lower-case, user as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SipKey {
    scheme: &'static str,
    user: String,
    host: String,
}

/// Why an alias cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    #[error("{0}")]
    MalformedSip(SipAddressError),
    #[error(
        "SIP alias `{0}` has no user part, so it would match every party at that host; write sip:user@host"
    )]
    SipWithoutUser(String),
    #[error("alias is empty; write the extension, SIP URI or queue name the platform sends")]
    Empty,
    #[error("alias is {0} characters long; the limit is {MAX_IDENTITY_LENGTH}")]
    TooLong(usize),
    #[error("alias `{0}` contains a control character")]
    ControlCharacter(String),
}

impl Alias {
    pub fn parse(text: &str) -> Result<Alias, AliasError> {
        if text.trim().is_empty() {
            return Err(AliasError::Empty);
        }
        let length = text.chars().count();
        if length > MAX_IDENTITY_LENGTH {
            return Err(AliasError::TooLong(length));
        }
        if text.chars().any(char::is_control) {
            return Err(AliasError::ControlCharacter(text.to_owned()));
        }
        if !looks_like_sip(text) {
            return Ok(Alias::Plain(text.to_owned()));
        }
        let address = SipAddress::parse(text).map_err(AliasError::MalformedSip)?;
        address
            .key()
            .map(Alias::Sip)
            .ok_or_else(|| AliasError::SipWithoutUser(text.to_owned()))
    }
}

/// Aliases of every department, for [`AliasIndex::resolve`].
#[derive(Debug, Clone, Default)]
pub struct AliasIndex {
    sip: HashMap<SipKey, usize>,
    plain: HashMap<String, usize>,
}

impl AliasIndex {
    /// Registers an alias for a department; returns the department that already
    /// claims it, if one does (and then keeps that first claim).
    pub fn insert(&mut self, alias: Alias, department: usize) -> Option<usize> {
        let claimed = match alias {
            Alias::Sip(key) => self.sip.entry(key),
            Alias::Plain(text) => {
                return match self.plain.get(&text) {
                    Some(&owner) => Some(owner),
                    None => {
                        self.plain.insert(text, department);
                        None
                    }
                };
            }
        };
        match claimed {
            std::collections::hash_map::Entry::Occupied(entry) => Some(*entry.get()),
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(department);
                None
            }
        }
    }

    /// The department an identity is an alias of. A SIP identity matches a SIP
    /// alias of the same scheme, user and host first, then a bare alias equal to
    /// its user part; any other identity matches an alias equal to it.
    pub fn resolve(&self, identity: &str) -> Option<usize> {
        if looks_like_sip(identity) {
            let address = SipAddress::parse(identity).ok()?;
            let key = address.key()?;
            return self
                .sip
                .get(&key)
                .or_else(|| self.plain.get(key.user.as_str()))
                .copied();
        }
        self.plain.get(identity).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.sip.is_empty() && self.plain.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(aliases: &[(&str, usize)]) -> AliasIndex {
        let mut index = AliasIndex::default();
        for (alias, department) in aliases {
            assert_eq!(
                index.insert(Alias::parse(alias).unwrap(), *department),
                None
            );
        }
        index
    }

    #[test]
    fn sip_identities_match_by_scheme_user_and_host_ignoring_the_rest() {
        let index = index(&[("sip:activations@pbx.example.com", 1)]);
        for identity in [
            "sip:activations@pbx.example.com",
            "SIP:activations@PBX.Example.COM",
            "sip:activations@pbx.example.com:5070",
            "sip:activations@pbx.example.com;transport=tcp",
            "<sip:activations@pbx.example.com?Replaces=abc%40pbx%3Bto-tag%3D1%3Bfrom-tag%3D2>",
            "\"Activations <desk>\" <sip:activations@pbx.example.com>;tag=8a7",
            "Activations <sip:%61ctivations@pbx.example.com>",
        ] {
            assert_eq!(index.resolve(identity), Some(1), "{identity}");
        }
        for identity in [
            "sips:activations@pbx.example.com",
            "sip:Activations@pbx.example.com",
            "sip:activations@other.example.com",
            "sip:pbx.example.com",
            "activations",
        ] {
            assert_eq!(index.resolve(identity), None, "{identity}");
        }
    }

    #[test]
    fn a_bare_user_alias_matches_that_user_on_any_host_and_a_full_uri_wins() {
        let index = index(&[("2001", 1), ("sip:2001@branch.example.com", 2)]);
        assert_eq!(index.resolve("sip:2001@pbx.example.com"), Some(1));
        assert_eq!(index.resolve("sips:2001@10.0.0.7:5061"), Some(1));
        assert_eq!(index.resolve("2001"), Some(1));
        assert_eq!(index.resolve("sip:2001@branch.example.com"), Some(2));
        assert_eq!(index.resolve("sip:20011@pbx.example.com"), None);
    }

    #[test]
    fn other_aliases_match_exactly() {
        let arn = "arn:aws:connect:us-east-1:123456789012:instance/abc/queue/def";
        let index = index(&[(arn, 3), ("Billing Queue", 4)]);
        assert_eq!(index.resolve(arn), Some(3));
        assert_eq!(index.resolve("Billing Queue"), Some(4));
        assert_eq!(index.resolve("billing queue"), None);
    }

    #[test]
    fn equal_aliases_are_reported_as_already_claimed() {
        let mut index = index(&[("sip:2001@pbx.example.com", 0)]);
        let same = Alias::parse("<sip:2001@PBX.example.com:5060>").unwrap();
        assert_eq!(index.insert(same, 1), Some(0));
        assert_eq!(index.resolve("sip:2001@pbx.example.com"), Some(0));
    }

    #[test]
    fn malformed_sip_aliases_say_what_is_wrong() {
        for (alias, expected) in [
            ("sip:2001@", "missing host"),
            ("sip:@pbx.example.com", "empty userinfo"),
            ("sip:20 01@pbx.example.com", "invalid character"),
            ("sip:2001@pbx example.com", "invalid hostname"),
            ("<sip:2001@pbx.example.com", "never closed"),
        ] {
            let error = Alias::parse(alias).unwrap_err().to_string();
            assert!(error.contains(expected), "{alias}: {error}");
        }
        let error = Alias::parse("sip:pbx.example.com").unwrap_err();
        assert!(matches!(error, AliasError::SipWithoutUser(_)), "{error}");
        assert!(matches!(Alias::parse(" "), Err(AliasError::Empty)));
    }

    #[test]
    fn addresses_expose_what_integrations_need() {
        let address = SipAddress::parse(
            "\"Act\" <sip:3001@PBX.example.com:5070;transport=tcp?Replaces=x%40y%3Bto-tag%3D1>",
        )
        .unwrap();
        assert_eq!(address.identity(), "sip:3001@pbx.example.com:5070");
        assert!(address.has_header("replaces"));
        assert_eq!(address.user(), Some("3001"));
        assert!(
            !SipAddress::parse("sip:3001@pbx")
                .unwrap()
                .has_header("Replaces")
        );
        assert!(looks_like_sip("Carol <sips:carol@pbx>"));
        assert!(!looks_like_sip("sipping-queue"));
    }
}
