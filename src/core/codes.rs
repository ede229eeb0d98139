//! The registry of lint codes: stable kebab-case names, default severities and the
//! text `loopguard explain CODE` prints. Renderers (SARIF's rule list, JSON) read it
//! from here so a code is described once.

use std::fmt;

use super::diagnostic::Severity;

macro_rules! lint_codes {
    ($($variant:ident => $name:literal, $severity:ident, $summary:literal;)*) => {
        /// A stable lint code. The kebab-case name is part of our public interface:
        /// suppression comments, SARIF rule ids and CI configurations refer to it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum LintCode { $($variant,)* }

        impl LintCode {
            /// Every code, in documentation order.
            pub const ALL: &'static [LintCode] = &[$(LintCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(LintCode::$variant => $name,)* }
            }

            pub fn default_severity(self) -> Severity {
                match self { $(LintCode::$variant => Severity::$severity,)* }
            }

            /// One line: what the check catches.
            pub fn summary(self) -> &'static str {
                match self { $(LintCode::$variant => $summary,)* }
            }
        }
    };
}

lint_codes! {
    TomlSyntax => "toml-syntax", Error, "A rules file is not valid TOML.";
    UnknownKey => "unknown-key", Error, "A key the rules format does not define (often a typo).";
    InvalidValue => "invalid-value", Error, "A value of the wrong type or outside its allowed range.";
    DuplicateId => "duplicate-id", Error, "A department, intent, transfer or [policy] declared twice.";
    UnknownDepartment => "unknown-department", Error, "A transfer names a department that is not declared.";
    UnknownIntent => "unknown-intent", Error, "An intent that is not in the declared [[intent]] catalog.";
    SelfTransfer => "self-transfer", Error, "A transfer from a department to itself.";
    NoEntryPoint => "no-entry-point", Error, "No department is marked `entry = true`, so no call can start.";
    UnreachableDepartment => "unreachable-department", Warning, "A department no call can reach from any entry point.";
    IntentWithoutOwner => "intent-without-owner", Error, "Calls are routed for an intent no department handles.";
    AmbiguousIntentOwner => "ambiguous-intent-owner", Warning, "More than one department handles the same intent.";
    DeadEndDepartment => "dead-end-department", Warning, "A department that handles nothing and transfers nowhere.";
    TransferCycle => "transfer-cycle", Warning, "Allowed transfers form a cycle: a call can come back where it was.";
    PingPongPair => "ping-pong-pair", Error, "Two departments may transfer the same intent to each other.";
    InescapableCycle => "inescapable-cycle", Error, "A cycle a call can enter but never leave toward the intent's owner.";
    MaxHopsExceeded => "max-hops-exceeded", Error, "The shortest allowed path to an intent's owner is longer than max_hops.";
    ColdTransferAllowed => "cold-transfer-allowed", Error, "A cold transfer is allowed while policy requires warm transfers.";
    UnknownEscalation => "unknown-escalation", Error, "The policy's escalation department is not declared.";
    DuplicateAlias => "duplicate-alias", Error, "Two departments claim the same platform identity in `aliases`.";
    AliasShadowsDepartment => "alias-shadows-department", Error, "An alias is another department's id, so it can never apply.";
    MalformedSipAlias => "malformed-sip-alias", Error, "An alias written as a SIP URI that is not a valid `sip:user@host`.";
    UnusedSuppression => "unused-suppression", Warning, "A `# loopguard: ignore[...]` comment that suppresses nothing.";
    InvalidSuppression => "invalid-suppression", Error, "A malformed `# loopguard: ignore[...]` comment.";
}

impl LintCode {
    pub fn parse(name: &str) -> Option<LintCode> {
        LintCode::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == name)
    }

    /// The long explanation printed by `loopguard explain`.
    pub fn explanation(self) -> Explanation {
        explanation(self)
    }
}

impl fmt::Display for LintCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// What a check catches, why callers care, an example and the fix.
#[derive(Debug, Clone, Copy)]
pub struct Explanation {
    pub catches: &'static str,
    pub why: &'static str,
    pub example: &'static str,
    pub fix: &'static str,
}

fn explanation(code: LintCode) -> Explanation {
    use LintCode::*;
    match code {
        TomlSyntax => Explanation {
            catches: "A rules file that is not valid TOML: an unclosed bracket, a missing quote, a key written twice in one table.",
            why: "A file that cannot be read cannot be checked; loopguard serve refuses to start on it and keeps the last good rules on reload.",
            example: "[[department]]\nid = customer_service   # bare word: strings must be quoted",
            fix: "Fix the syntax at the position shown; `id = \"customer_service\"`.",
        },
        UnknownKey => Explanation {
            catches: "A key the rules format does not define, such as `entery = true` or `max_hop = 3`.",
            why: "A misspelt key is silently ignored by most tools, so the setting you meant never takes effect.",
            example: "[policy]\nmax_hop = 3",
            fix: "Use the key suggested by \"did you mean\", or remove it. `loopguard schema` lists every key.",
        },
        InvalidValue => Explanation {
            catches: "A value of the wrong type, an unknown enum value, a malformed id or duration, or a number out of range.",
            why: "Routing and policy decisions are made on these values; a wrong one changes how real callers are routed.",
            example: "[policy]\nmax_hops = \"three\"\nbounce_window = \"half an hour\"",
            fix: "Write the value in the form the message names: `max_hops = 3`, `bounce_window = \"30m\"`.",
        },
        DuplicateId => Explanation {
            catches: "Two departments or intents with the same id, the same from→to transfer declared twice, or [policy] in more than one file.",
            why: "Only one of the two declarations can win, and which one depends on file order: the routing you review is not the routing that runs.",
            example: "[[department]]\nid = \"billing\"\n\n[[department]]\nid = \"billing\"",
            fix: "Merge the two declarations into one, or give one of them a different id.",
        },
        UnknownDepartment => Explanation {
            catches: "A transfer whose `from` or `to` is not a declared department id.",
            why: "A transfer to a department that does not exist cannot be carried out; the call lands nowhere.",
            example: "[[transfer]]\nfrom = \"customer_service\"\nto = \"activation\"   # the department is `activations`",
            fix: "Use a declared department id (see the \"did you mean\"), or declare the department.",
        },
        UnknownIntent => Explanation {
            catches: "When an [[intent]] catalog is declared, a `handles` or transfer intent that is not in it.",
            why: "A typo in an intent means the transfer rule or the ownership never matches a real call.",
            example: "[[intent]]\nid = \"reconnect_line\"\n\n[[transfer]]\nfrom = \"customer_service\"\nto = \"activations\"\nintents = [\"reconect_line\"]",
            fix: "Use the catalog's spelling, or add the intent to the catalog.",
        },
        SelfTransfer => Explanation {
            catches: "A transfer whose `from` and `to` are the same department.",
            why: "Transferring a caller to the department they are already in only resets their place in the queue.",
            example: "[[transfer]]\nfrom = \"billing\"\nto = \"billing\"",
            fix: "Remove the transfer; an agent who cannot help should transfer to the department that owns the intent.",
        },
        NoEntryPoint => Explanation {
            catches: "A configuration in which no department has `entry = true`.",
            why: "Every call starts somewhere; without an entry point no reachability or hop check is meaningful.",
            example: "[[department]]\nid = \"customer_service\"\n# entry = true is missing",
            fix: "Mark the departments calls start in (the IVR's targets) with `entry = true`.",
        },
        UnreachableDepartment => Explanation {
            catches: "A department that no chain of allowed transfers reaches from any entry department.",
            why: "Callers who need it can never get there, and agents who try to send them there will be blocked.",
            example: "[[department]]\nid = \"retention\"   # no transfer leads here",
            fix: "Add a transfer into the department, mark it as an entry point, or remove it.",
        },
        IntentWithoutOwner => Explanation {
            catches: "An intent that transfers route calls for, or that the catalog declares, but that no department `handles`.",
            why: "This is the hot potato: every department passes the caller on and nobody owns the problem.",
            example: "[[transfer]]\nfrom = \"customer_service\"\nto = \"activations\"\nintents = [\"reconnect_line\"]\n# ... and no department has handles = [\"reconnect_line\"]",
            fix: "Add the intent to the `handles` of the one department that owns and resolves it.",
        },
        AmbiguousIntentOwner => Explanation {
            catches: "An intent listed in the `handles` of more than one department.",
            why: "When two departments both own a problem, each can assume the other will resolve it; loopguard cannot tell an agent where the call belongs.",
            example: "[[department]]\nid = \"billing\"\nhandles = [\"refund\"]\n\n[[department]]\nid = \"retention\"\nhandles = [\"refund\"]",
            fix: "Give the intent one owner; split it into two intents if the departments really handle different cases.",
        },
        DeadEndDepartment => Explanation {
            catches: "A department that handles no intent and has no outgoing transfer.",
            why: "A call sent there can neither be resolved nor moved on: the caller waits until they hang up.",
            example: "[[department]]\nid = \"overflow\"\nhandles = []",
            fix: "List what the department handles, add a transfer out of it, or remove it.",
        },
        TransferCycle => Explanation {
            catches: "Allowed transfers that form a cycle. One finding per strongly connected group of departments, with a shortest cycle as the witness.",
            why: "A cycle makes circular handoffs possible: A→B→C→A. Some cycles are intended (a supervisor sends the call back); each one deserves a look.",
            example: "customer_service → billing → retention → customer_service",
            fix: "Remove one transfer of the cycle, narrow its `intents`, or suppress the finding with a reason if the cycle is intended.",
        },
        PingPongPair => Explanation {
            catches: "Two departments that may each transfer the same intent to the other (A→B and B→A for a common intent).",
            why: "It is the classic ping-pong: customer service sends the caller to activations, activations sends them back.",
            example: "[[transfer]]\nfrom = \"customer_service\"\nto = \"activations\"\nintents = [\"reconnect_line\"]\n\n[[transfer]]\nfrom = \"activations\"\nto = \"customer_service\"\nintents = [\"reconnect_line\"]",
            fix: "Decide which department owns the intent: add it to that department's `handles` and drop the transfer that sends it back.",
        },
        InescapableCycle => Explanation {
            catches: "A cycle of transfers for an intent from which no department that handles the intent can be reached.",
            why: "A caller who enters the cycle can only be passed around until someone gives up: no path leads to anyone who can help.",
            example: "customer_service ⇄ activations for reconnect_line, and the owner of reconnect_line is not reachable from either",
            fix: "Add a transfer from the cycle to the intent's owner, or make a department in the cycle handle the intent.",
        },
        MaxHopsExceeded => Explanation {
            catches: "An entry department whose shortest allowed path to an intent's owner takes more transfers than `max_hops`.",
            why: "loopguard blocks calls that exceed `max_hops` at run time, so these callers would be stopped on the way to the right department.",
            example: "[policy]\nmax_hops = 2\n# customer_service → technical_support → device_support → repairs handles warranty_claim",
            fix: "Add a more direct transfer toward the owner, or raise `max_hops` if the long path is intended.",
        },
        ColdTransferAllowed => Explanation {
            catches: "A transfer with `mode = \"cold\"` while `[policy] require_warm_transfer = true`.",
            why: "Cold-transferred callers repeat their story and are far more likely to be bounced back; the policy says it must not happen.",
            example: "[policy]\nrequire_warm_transfer = true\n\n[[transfer]]\nfrom = \"billing\"\nto = \"porting\"\nmode = \"cold\"",
            fix: "Make the transfer warm, or relax the policy.",
        },
        UnknownEscalation => Explanation {
            catches: "`[policy] escalation` names a department that is not declared.",
            why: "When loopguard stops a looping call it suggests the escalation department; a suggestion that does not exist leaves the agent stuck.",
            example: "[policy]\nescalation = \"supervisors\"   # the department is supervisor_desk",
            fix: "Name a declared department.",
        },
        DuplicateAlias => Explanation {
            catches: "The same platform identity in the `aliases` of two departments. SIP URIs are compared as they match: `sip:2001@PBX.example.com:5060` and `sip:2001@pbx.example.com` are the same alias.",
            why: "A transfer to that identity can only be credited to one of them: the verdict, the chain and the dashboard would name the first department declared, whatever the platform meant.",
            example: "[[department]]\nid = \"activations\"\naliases = [\"sip:3001@pbx.example.com\"]\n\n[[department]]\nid = \"billing\"\naliases = [\"sip:3001@pbx.example.com\"]",
            fix: "Keep the alias in the one department the platform's identity belongs to; an extension that rings two teams is a queue of its own and needs its own department.",
        },
        AliasShadowsDepartment => Explanation {
            catches: "An alias that is exactly another department's id.",
            why: "Identities are looked up as department ids first, so a transfer naming it always goes to the department with that id: the alias never applies, and the rules say two different things about the same name.",
            example: "[[department]]\nid = \"billing\"\n\n[[department]]\nid = \"collections\"\naliases = [\"billing\"]",
            fix: "Remove the alias, or rename one of the departments so the platform's name means one thing.",
        },
        MalformedSipAlias => Explanation {
            catches: "An alias that starts with `sip:` or `sips:` but is not a valid SIP URI with a user part: no host, an empty user, a space or another character the URI grammar forbids, an unclosed `<`.",
            why: "A malformed alias never matches what the platform sends, so transfers to that department are reported as `unknown-department` and judged without its routes.",
            example: "[[department]]\nid = \"activations\"\naliases = [\"sip:3001@\", \"sip:pbx.example.com\"]",
            fix: "Write the URI the platform sends, `sip:user@host` (port, parameters and display name are optional and ignored), or the bare extension (`\"3001\"`) to match it on any host.",
        },
        UnusedSuppression => Explanation {
            catches: "A `# loopguard: ignore[code]` comment on a line where that finding does not occur.",
            why: "A stale suppression hides the next real finding on that line and misleads readers.",
            example: "# loopguard: ignore[ping-pong-pair] reason=\"legacy\"\n[[transfer]]   # no ping-pong here any more",
            fix: "Remove the comment.",
        },
        InvalidSuppression => Explanation {
            catches: "A `# loopguard:` comment that is not `ignore[code, ...] reason=\"...\"`, names an unknown code, or gives no reason.",
            why: "A suppression without a reason is a finding swept under the rug; one with a typo suppresses nothing.",
            example: "# loopguard: ignore[ping-pong]",
            fix: "Write `# loopguard: ignore[ping-pong-pair] reason=\"why this is intended\"`.",
        },
    }
}
