//! Serde structs that mirror the TOML rules format exactly, with spans.
//!
//! These types are the single description of the format: the parser deserializes
//! into them, the unknown-key check reads their field lists through
//! [`field_names`], and `loopguard schema` generates the JSON Schema from them. They
//! hold unvalidated strings; [`super::model`] turns them into domain types.

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

/// One rules file. All `*.toml` files of a rules directory are merged.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "loopguard routing rules")]
pub struct RawFile {
    /// Policy for the whole configuration. At most one file may define it.
    #[schemars(with = "Option<RawPolicy>")]
    pub policy: Option<Spanned<RawPolicy>>,
    /// The intents calls are classified into (optional). When present the catalog is
    /// closed: every `handles` and transfer intent must be listed here.
    #[serde(default)]
    #[schemars(with = "Vec<RawIntent>")]
    pub intent: Vec<Spanned<RawIntent>>,
    /// The departments (queues, skills, teams) calls are routed between.
    #[serde(default)]
    #[schemars(with = "Vec<RawDepartment>")]
    pub department: Vec<Spanned<RawDepartment>>,
    /// The transfers agents are allowed to make.
    #[serde(default)]
    #[schemars(with = "Vec<RawTransfer>")]
    pub transfer: Vec<Spanned<RawTransfer>>,
}

/// `[policy]`: how calls are judged at run time.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Policy")]
pub struct RawPolicy {
    /// Transfers one call may take (1 to 70). Default 3.
    #[schemars(with = "Option<u32>", range(min = 1, max = 70))]
    pub max_hops: Option<Spanned<i64>>,
    /// A return to a department within this window is a bounce, e.g. "30m", "1h 30m"
    /// (1 second to 7 days). Default "30m".
    #[schemars(with = "Option<String>")]
    pub bounce_window: Option<Spanned<String>>,
    /// Require warm (attended) transfers. Default true.
    #[schemars(with = "Option<bool>")]
    pub require_warm_transfer: Option<Spanned<bool>>,
    /// Require a callback number on every transfer. Default true.
    #[schemars(with = "Option<bool>")]
    pub require_callback_number: Option<Spanned<bool>>,
    /// "enforce" blocks per `[policy.actions]`; "observe" never blocks, only warns. Default "enforce".
    #[schemars(with = "Option<RawPolicyMode>")]
    pub mode: Option<Spanned<RawPolicyMode>>,
    /// Department a looping call should go to instead (e.g. a supervisor desk).
    #[schemars(with = "Option<String>")]
    pub escalation: Option<Spanned<String>>,
    /// Verdict per runtime finding.
    #[schemars(with = "Option<RawActions>")]
    pub actions: Option<Spanned<RawActions>>,
    /// A callback owed after a dropped transfer is due this long after the call
    /// ended, e.g. "2h" (1 minute to 30 days); later ones are overdue on the
    /// dashboard and in the `loopguard_follow_ups_overdue` metric. Default: no due
    /// time, never overdue.
    #[schemars(with = "Option<String>")]
    pub callback_within: Option<Spanned<String>>,
    /// Show per-agent statistics (the agents view, `/v1/stats/agents` and its CSV).
    /// Set to false where agents must not be singled out. Default true.
    #[schemars(with = "Option<bool>")]
    pub show_agents: Option<Spanned<bool>>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "PolicyMode")]
pub enum RawPolicyMode {
    Enforce,
    Observe,
}

/// `[policy.actions]`: the verdict each runtime finding produces.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Actions")]
pub struct RawActions {
    /// A→B→A within bounce_window. Default "block".
    #[serde(rename = "ping-pong")]
    #[schemars(with = "Option<RawAction>")]
    pub ping_pong: Option<Spanned<RawAction>>,
    /// A return to any department visited earlier. Default "block".
    #[serde(rename = "circular-handoff")]
    #[schemars(with = "Option<RawAction>")]
    pub circular_handoff: Option<Spanned<RawAction>>,
    /// More transfers than max_hops. Default "block".
    #[serde(rename = "max-hops-exceeded")]
    #[schemars(with = "Option<RawAction>")]
    pub max_hops_exceeded: Option<Spanned<RawAction>>,
    /// A transfer the rules do not allow for this intent. Default "warn".
    #[serde(rename = "transfer-not-allowed")]
    #[schemars(with = "Option<RawAction>")]
    pub transfer_not_allowed: Option<Spanned<RawAction>>,
    /// The target does not handle the intent. Default "warn".
    #[serde(rename = "wrong-department")]
    #[schemars(with = "Option<RawAction>")]
    pub wrong_department: Option<Spanned<RawAction>>,
    /// A cold (blind) transfer while warm ones are required. Default "block".
    #[serde(rename = "cold-transfer")]
    #[schemars(with = "Option<RawAction>")]
    pub cold_transfer: Option<Spanned<RawAction>>,
    /// The transfer does not say whether it is warm while warm ones are required
    /// (it never passes as warm). Default "warn".
    #[serde(rename = "unknown-transfer-mode")]
    #[schemars(with = "Option<RawAction>")]
    pub unknown_transfer_mode: Option<Spanned<RawAction>>,
    /// No callback number while one is required. Default "block".
    #[serde(rename = "missing-callback-number")]
    #[schemars(with = "Option<RawAction>")]
    pub missing_callback_number: Option<Spanned<RawAction>>,
    /// A callback number that is not E.164. Default "warn".
    #[serde(rename = "invalid-callback-number")]
    #[schemars(with = "Option<RawAction>")]
    pub invalid_callback_number: Option<Spanned<RawAction>>,
    /// The platform named a department the rules do not know. "warn" or "allow" only:
    /// the call must still be served. Default "warn".
    #[serde(rename = "unknown-department")]
    #[schemars(with = "Option<RawAction>")]
    pub unknown_department: Option<Spanned<RawAction>>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "Action")]
pub enum RawAction {
    Block,
    Warn,
    Allow,
}

/// `[[intent]]`: one entry of the optional intent catalog.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Intent")]
pub struct RawIntent {
    /// Stable id: letters, digits, `_`, `-`, `.`; at most 64 characters.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// What callers with this intent want, for humans.
    pub description: Option<String>,
}

/// `[[department]]`: a queue, skill or team calls are transferred between.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Department")]
pub struct RawDepartment {
    /// Stable id: letters, digits, `_`, `-`, `.`; at most 64 characters.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// Display name. Defaults to the id.
    pub name: Option<String>,
    /// Calls can start here (the IVR or the main number routes here). Default false.
    #[schemars(with = "Option<bool>")]
    pub entry: Option<Spanned<bool>>,
    /// Intents this department owns and resolves.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub handles: Vec<Spanned<String>>,
    /// The identities a telephony platform uses for this department: extensions
    /// ("2001"), SIP URIs ("sip:activations@pbx.example.com"), queue names, queue ARNs
    /// or SIDs. A SIP URI matches by scheme, user and host (port, parameters and
    /// headers ignored); a bare user part ("2001") matches that user on any host;
    /// anything else matches exactly.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub aliases: Vec<Spanned<String>>,
}

/// `[[transfer]]`: an allowed transfer between two departments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Transfer")]
pub struct RawTransfer {
    /// Department id the call leaves.
    #[schemars(with = "String")]
    pub from: Spanned<String>,
    /// Department id the call goes to.
    #[schemars(with = "String")]
    pub to: Spanned<String>,
    /// Intents this transfer is allowed for. Omitted = any intent.
    #[schemars(with = "Option<Vec<String>>")]
    pub intents: Option<Spanned<Vec<Spanned<String>>>>,
    /// "warm" (attended, consult) or "cold" (blind). Default "warm".
    #[schemars(with = "Option<RawTransferMode>")]
    pub mode: Option<Spanned<RawTransferMode>>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "TransferMode")]
pub enum RawTransferMode {
    Warm,
    Cold,
}

/// The JSON Schema of one rules file, for editors (taplo, Even Better TOML).
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(RawFile);
    let mut value = serde_json::to_value(&schema).unwrap_or_default();
    remove_null_alternatives(&mut value);
    value
}

/// TOML has no null: an optional key is simply absent. Rewrites schemars' `Option`
/// encodings (`anyOf: [X, {type: null}]`, `type: [T, "null"]`) to plain `X` / `T`.
fn remove_null_alternatives(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(object) => {
            if let Some(Value::Array(types)) = object.get_mut("type") {
                types.retain(|kind| kind != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    object.insert("type".to_owned(), only);
                }
            }
            if let Some(Value::Array(alternatives)) = object.get("anyOf") {
                let kept: Vec<Value> = alternatives
                    .iter()
                    .filter(|alternative| alternative.get("type") != Some(&Value::from("null")))
                    .cloned()
                    .collect();
                if kept.len() == 1 {
                    object.remove("anyOf");
                    if let Value::Object(inner) = &kept[0] {
                        for (key, inner_value) in inner {
                            object
                                .entry(key.clone())
                                .or_insert_with(|| inner_value.clone());
                        }
                    }
                }
            }
            if object.get("default") == Some(&Value::Null) {
                object.remove("default");
            }
            for child in object.values_mut() {
                remove_null_alternatives(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(remove_null_alternatives),
        _ => {}
    }
}

/// The keys a serde-derived struct accepts, read from serde itself so the list can
/// never drift from the struct.
pub fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    // The introspector fails on purpose after recording the field list.
    let _ = T::deserialize(FieldNames {
        fields: &mut fields,
    });
    fields
}

struct FieldNames<'a> {
    fields: &'a mut &'static [&'static str],
}

impl<'de> serde::Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.fields = fields;
        Err(serde::de::Error::custom("field names recorded"))
    }

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_come_from_serde_renames() {
        assert!(field_names::<RawActions>().contains(&"ping-pong"));
        assert_eq!(
            field_names::<RawTransfer>(),
            &["from", "to", "intents", "mode"]
        );
    }
}
