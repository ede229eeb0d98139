//! SIP REFER (RFC 3515): the facts a SIP proxy has when a REFER arrives, translated
//! into a `TransferRequest`, and the answer turned into the reply the proxy sends.
//!
//! - `from` is the department of `from_uri` (the transferor, who holds the call);
//!   `to` is the department of the `refer_to` URI (the transfer target).
//! - The mode is the body's `mode` when it says one, else what the REFER says: a
//!   `Replaces` header in the Refer-To URI is an attended (warm) transfer (RFC 3891,
//!   RFC 5589), without one it is blind (cold).
//! - The chain key is `chain_id` when present (carried across legs in User-to-User
//!   or an `X-` header), else the Call-ID: a blind transfer starts a new dialog with
//!   a new Call-ID, so only a key carried across legs catches a loop that spans them.
//! - The event id is the `webhook-id` header when sent, else `call_id;cseq=N`: a
//!   retransmitted REFER has the same Call-ID and CSeq and gets the same answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::core::engine::{
    CallId, EventId, InputError, TransferAnswer, TransferRequest, Verdict, parse_callback_number,
    parse_department_name,
};
use crate::core::rules::{SipAddress, TransferMode};

/// What a SIP proxy sends for one REFER. Names follow what a Kamailio
/// `jansson_set` or an OpenSIPS `json` variable builds from `$ci $cs $fu $tu $rt`
/// and headers; any other field is ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReferBody {
    /// The Call-ID of the dialog the REFER arrived in (Kamailio `$ci`).
    #[schema(example = "a84b4c76e66710@pc33.example.com")]
    pub call_id: Option<String>,
    /// The REFER's CSeq number (Kamailio `$cs`), as a number or a string of digits.
    #[schema(value_type = Option<u32>, example = 2)]
    pub cseq: Option<Cseq>,
    /// The From URI: the transferor, i.e. the department that holds the call now.
    #[schema(example = "sip:2001@pbx.example.com")]
    pub from_uri: Option<String>,
    /// The To URI: the transferee (the caller). Checked to be a SIP URI; not used
    /// for the verdict.
    #[schema(example = "sip:+14155550123@carrier.example.net")]
    pub to_uri: Option<String>,
    /// The Refer-To value: where the call should go, possibly with `?Replaces=...`
    /// (then the transfer is attended, i.e. warm).
    #[schema(
        example = "<sip:3001@pbx.example.com?Replaces=b7e2%40pbx.example.com%3Bto-tag%3D1%3Bfrom-tag%3D2>"
    )]
    pub refer_to: Option<String>,
    /// The Referred-By URI (RFC 3892): the agent who transfers; kept as `agent_id`.
    pub referred_by: Option<String>,
    /// E.164 number to call the customer back on.
    pub callback_number: Option<String>,
    /// What the caller needs, e.g. `reconnect_line`.
    pub intent: Option<String>,
    /// Overrides what the Refer-To says: `warm` (also `attended`, `consult`) or
    /// `cold` (also `blind`); case-insensitive.
    pub mode: Option<String>,
    /// The chain key carried across call legs (User-to-User or an `X-` header);
    /// without it the Call-ID is the chain key.
    pub chain_id: Option<String>,
}

/// A CSeq number as a proxy sends it: a JSON number or a string of digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cseq(u32);

/// The largest CSeq number RFC 3261 §8.1.1.5 allows.
const MAX_CSEQ: u64 = (1 << 31) - 1;

impl<'de> Deserialize<'de> for Cseq {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CseqVisitor;

        impl serde::de::Visitor<'_> for CseqVisitor {
            type Value = Cseq;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("the CSeq number, e.g. 2 or \"2\"")
            }

            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Cseq, E> {
                u32::try_from(value)
                    .ok()
                    .filter(|&number| u64::from(number) <= MAX_CSEQ)
                    .map(Cseq)
                    .ok_or_else(|| E::custom(format!("CSeq {value} is over 2^31 - 1")))
            }

            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Cseq, E> {
                u64::try_from(value)
                    .map_err(|_| E::custom(format!("CSeq {value} is negative")))
                    .and_then(|value| self.visit_u64(value))
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Cseq, E> {
                // A proxy may send the whole header value, "2 REFER".
                let number = value.split_whitespace().next().unwrap_or_default();
                match number.parse::<u64>() {
                    Ok(parsed) if number.bytes().all(|byte| byte.is_ascii_digit()) => {
                        self.visit_u64(parsed)
                    }
                    _ => Err(E::custom(format!(
                        "`{value}` is not a CSeq number; send the number only, e.g. 2"
                    ))),
                }
            }
        }

        deserializer.deserialize_any(CseqVisitor)
    }
}

/// Why a REFER body cannot be judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferError {
    #[error("{field} is missing: {what}")]
    Missing {
        field: &'static str,
        what: &'static str,
    },
    #[error(transparent)]
    Invalid(#[from] InputError),
}

/// Translates a REFER into the core's transfer request. `webhook_id` is the
/// `webhook-id` header, when the proxy sent one.
pub fn transfer_request(
    body: ReferBody,
    webhook_id: Option<&str>,
) -> Result<TransferRequest, ReferError> {
    let call_id_text = required(
        body.call_id,
        "call_id",
        "the Call-ID of the dialog the REFER arrived in (Kamailio $ci)",
    )?;
    let sip_call_id = CallId::parse(&call_id_text)?;
    let Some(Cseq(cseq)) = body.cseq else {
        return Err(ReferError::Missing {
            field: "cseq",
            what: "the REFER's CSeq number (Kamailio $cs)",
        });
    };
    let from = sip_address(
        required(
            body.from_uri,
            "from_uri",
            "the From URI of the REFER: the transferor, who holds the call (Kamailio $fu)",
        )?,
        "from_uri",
    )?;
    let from_identity = with_user(&from, "from_uri")?;
    sip_address(
        required(
            body.to_uri,
            "to_uri",
            "the To URI of the REFER: the transferee (Kamailio $tu)",
        )?,
        "to_uri",
    )?;
    let target = sip_address(
        required(
            body.refer_to,
            "refer_to",
            "the Refer-To value: where the call should go (Kamailio $rt)",
        )?,
        "refer_to",
    )?;
    let to_identity = with_user(&target, "refer_to")?;
    let agent_id = body
        .referred_by
        .map(|text| sip_address(text, "referred_by").map(|address| address.identity()))
        .transpose()?;
    let mode = match body.mode {
        Some(word) => mode_word(&word)?,
        // RFC 3891: Replaces names the consultation dialog the target takes over.
        None if target.has_header("Replaces") => TransferMode::Warm,
        None => TransferMode::Cold,
    };
    let call_id = match body.chain_id {
        Some(chain_id) => CallId::parse(&chain_id).map_err(|error| InputError {
            field: "chain_id",
            message: error.message,
        })?,
        None => sip_call_id.clone(),
    };
    let event_id = match webhook_id {
        Some(id) => EventId::parse(id).map_err(|error| InputError {
            field: "webhook-id",
            message: error.message,
        })?,
        None => EventId::parse(&format!("{sip_call_id};cseq={cseq}")).map_err(|error| {
            InputError {
                field: "call_id",
                message: format!(
                    "with the CSeq it makes the event id, which {}; send a shorter Call-ID or a `webhook-id` header",
                    error.message
                ),
            }
        })?,
    };
    Ok(TransferRequest {
        event_id,
        call_id,
        from: from_identity,
        to: to_identity,
        mode: Some(mode),
        intent: body
            .intent
            .map(|intent| parse_department_name(&intent, "intent"))
            .transpose()?,
        callback_number: body
            .callback_number
            .map(|number| parse_callback_number(&number))
            .transpose()?,
        agent_id,
        occurred_at: None,
    })
}

fn required(
    value: Option<String>,
    field: &'static str,
    what: &'static str,
) -> Result<String, ReferError> {
    value.ok_or(ReferError::Missing { field, what })
}

fn sip_address(text: String, field: &'static str) -> Result<SipAddress, InputError> {
    SipAddress::parse(&text).map_err(|error| InputError {
        field,
        message: error.to_string(),
    })
}

/// The identity of an address that must name a party: it needs a user part.
fn with_user(address: &SipAddress, field: &'static str) -> Result<String, InputError> {
    if address.user().is_none() {
        return Err(InputError {
            field,
            message: format!(
                "`{}` has no user part, so it names a host, not a department; send the URI with the extension or queue, e.g. sip:3001@{}",
                address.identity(),
                address.host()
            ),
        });
    }
    Ok(address.identity())
}

fn mode_word(word: &str) -> Result<TransferMode, InputError> {
    TransferMode::WORDS
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(word))
        .map(|&(_, mode)| mode)
        .ok_or_else(|| InputError {
            field: "mode",
            message: format!(
                "`{word}` is not one of {}",
                TransferMode::WORDS
                    .iter()
                    .map(|(known, _)| format!("`{known}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// What the proxy should answer the REFER with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SipReply {
    /// 202 (allow, warn) or 403 (block).
    #[schema(example = 403)]
    pub status: u16,
    /// The reason phrase for the status line: `Accepted` or `Forbidden`.
    #[schema(example = "Forbidden")]
    pub phrase: &'static str,
    /// For a 403, the value of the Reason header (RFC 3326) naming the finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        example = "SIP;cause=403;text=\"ping-pong: the call came from `activations` to `customer_service` less than a minute ago and would go straight back\""
    )]
    pub reason: Option<String>,
}

/// The answer to a REFER: the verdict JSON of `/v1/transfers`, the reply for the
/// proxy, and the Reason as a flat top-level string (beside the flat `verdict`)
/// for configuration languages that can only read top-level strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReferAnswer {
    #[serde(flatten)]
    pub answer: TransferAnswer,
    pub sip: SipReply,
    /// The Reason header value when the REFER is to be refused, "" otherwise.
    pub reason: String,
}

/// The reply a proxy sends for this answer: the engine's verdict, in SIP terms.
pub fn refer_answer(answer: TransferAnswer) -> ReferAnswer {
    let sip = match answer.verdict {
        Verdict::Allow | Verdict::Warn => SipReply {
            status: 202,
            phrase: "Accepted",
            reason: None,
        },
        Verdict::Block => {
            let text = answer
                .findings
                .iter()
                .find(|finding| finding.action == Verdict::Block)
                .map(|finding| named_finding(finding.code.as_str(), &finding.message))
                .unwrap_or_else(|| "blocked by loopguard".to_owned());
            SipReply {
                status: 403,
                phrase: "Forbidden",
                reason: Some(format!("SIP;cause=403;text=\"{}\"", quoted_text(&text))),
            }
        }
    };
    ReferAnswer {
        reason: sip.reason.clone().unwrap_or_default(),
        sip,
        answer,
    }
}

/// `code: message`, without repeating the code when the message starts with it
/// (`ping-pong: the call came ...`, `circular handoff: ...`).
fn named_finding(code: &str, message: &str) -> String {
    let spoken = code.replace('-', " ");
    let rest = [code, spoken.as_str()]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix)?.strip_prefix(": "))
        .unwrap_or(message);
    format!("{code}: {rest}")
}

/// The inside of a SIP quoted-string (RFC 3261 §25.1): `"` and `\` escaped,
/// control characters (which would end the header) replaced by spaces.
fn quoted_text(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(character);
            }
            character if character.is_control() => quoted.push(' '),
            character => quoted.push(character),
        }
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> ReferBody {
        serde_json::from_value(json).expect("a REFER body")
    }

    fn refer(refer_to: &str) -> serde_json::Value {
        serde_json::json!({
            "call_id": "a84b4c76e66710@pc33.example.com",
            "cseq": 2,
            "from_uri": "sip:2001@pbx.example.com",
            "to_uri": "sip:+14155550123@carrier.example.net",
            "refer_to": refer_to,
        })
    }

    #[test]
    fn replaces_in_refer_to_means_warm_and_its_absence_cold() {
        let warm = transfer_request(
            body(refer(
                "<sip:3001@pbx.example.com?Replaces=b7e2%40pbx.example.com%3Bto-tag%3D1%3Bfrom-tag%3D2>",
            )),
            None,
        )
        .unwrap();
        assert_eq!(warm.mode, Some(TransferMode::Warm));
        assert_eq!(warm.to, "sip:3001@pbx.example.com");
        let cold = transfer_request(body(refer("sip:3001@pbx.example.com")), None).unwrap();
        assert_eq!(cold.mode, Some(TransferMode::Cold));
        let mut explicit = refer("sip:3001@pbx.example.com");
        explicit["mode"] = "Attended".into();
        let explicit = transfer_request(body(explicit), None).unwrap();
        assert_eq!(explicit.mode, Some(TransferMode::Warm));
    }

    #[test]
    fn the_chain_key_is_chain_id_else_call_id_and_the_event_is_call_id_and_cseq() {
        let mut json = refer("sip:3001@pbx.example.com");
        let plain = transfer_request(body(json.clone()), None).unwrap();
        assert_eq!(plain.call_id.as_str(), "a84b4c76e66710@pc33.example.com");
        assert_eq!(
            plain.event_id.as_str(),
            "a84b4c76e66710@pc33.example.com;cseq=2"
        );
        json["chain_id"] = "56a390f3d2b7310023a2".into();
        json["cseq"] = "2 REFER".into();
        let chained =
            transfer_request(body(json), Some("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")).unwrap();
        assert_eq!(chained.call_id.as_str(), "56a390f3d2b7310023a2");
        assert_eq!(chained.event_id.as_str(), "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W");
    }

    #[test]
    fn bad_refers_name_the_field() {
        let cases: &[(&str, serde_json::Value)] = &[
            ("call_id", serde_json::json!(null)),
            ("from_uri", "sip:2001@".into()),
            ("to_uri", "mailto:carol@example.com".into()),
            ("refer_to", "sip:pbx.example.com".into()),
            ("refer_to", "<sip:3001@pbx.example.com".into()),
            ("referred_by", "sip:agent 7@pbx".into()),
            ("mode", "sideways".into()),
            ("chain_id", "".into()),
        ];
        for (field, value) in cases {
            let mut json = refer("sip:3001@pbx.example.com");
            json[*field] = value.clone();
            let error = transfer_request(body(json), None).unwrap_err();
            let named = match &error {
                ReferError::Missing { field, .. } => *field,
                ReferError::Invalid(input) => input.field,
            };
            assert_eq!(named, *field, "{error}");
        }
    }

    #[test]
    fn cseq_takes_numbers_and_digit_strings_only() {
        for good in [serde_json::json!(7), "7".into(), "7 REFER".into()] {
            let cseq: Cseq = serde_json::from_value(good).unwrap();
            assert_eq!(cseq, Cseq(7));
        }
        for bad in [
            serde_json::json!(-1),
            serde_json::json!(4_294_967_296_u64),
            "seven".into(),
            "+7".into(),
            serde_json::json!(true),
        ] {
            assert!(
                serde_json::from_value::<Cseq>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_reason_names_the_finding_once() {
        assert_eq!(
            named_finding("ping-pong", "ping-pong: the call came back"),
            "ping-pong: the call came back"
        );
        assert_eq!(
            named_finding("circular-handoff", "circular handoff: a → b → a"),
            "circular-handoff: a → b → a"
        );
        assert_eq!(
            named_finding("max-hops-exceeded", "this would be transfer 4"),
            "max-hops-exceeded: this would be transfer 4"
        );
    }

    #[test]
    fn reason_text_is_a_valid_quoted_string() {
        assert_eq!(quoted_text("a \"b\" \\ c\r\nd"), "a \\\"b\\\" \\\\ c  d");
    }
}
