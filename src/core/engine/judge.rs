//! The verdict rules: how one transfer is judged against the hops before it.

use std::cell::OnceCell;

use jiff::Timestamp;

use super::answer::{Finding, FindingSeverity, Party, Suggestion, Verdict};
use super::record::{Hop, is_loop_code};
use super::request::TransferRequest;
use crate::core::rules::Route;
use crate::core::rules::{Action, PolicyMode, Rules, RuntimeCode, TransferMode};

/// The verdict and findings for a transfer, before it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub enforce_verdict: Verdict,
    pub findings: Vec<Finding>,
    pub suggestion: Option<Suggestion>,
}

/// Judges one transfer against the call's hops that happened before it. `from` and
/// `to` are the departments the request's identities resolved to;
/// `transfers_omitted` counts the transfers of hops no longer kept (all older).
pub(super) fn judge(
    rules: &Rules,
    hops: &[Hop],
    transfers_omitted: u32,
    request: &TransferRequest,
    (from, to): (&Party, &Party),
    occurred_at: Timestamp,
) -> Judgement {
    let (from_name, to_name) = (from.department.as_str(), to.department.as_str());
    let policy = &rules.policy;
    let mut findings: Vec<Finding> = Vec::new();
    let mut push = |code: RuntimeCode, message: String| {
        let action = policy.actions.get(code);
        findings.push(Finding {
            code,
            severity: match action {
                Action::Block => FindingSeverity::Error,
                Action::Warn => FindingSeverity::Warning,
                Action::Allow => FindingSeverity::Info,
            },
            action,
            message,
        });
    };

    // Where the call has been before this event, in event time.
    let earlier = &hops[..hops.partition_point(|hop| hop.occurred_at <= occurred_at)];
    let mut path: Vec<(&str, Timestamp)> = Vec::with_capacity(earlier.len() + 2);
    let mut taken: u32 = transfers_omitted;
    for hop in earlier.iter().filter(|hop| hop.moved) {
        if path
            .last()
            .is_none_or(|(department, _)| *department != hop.from)
        {
            path.push((hop.from.as_str(), hop.occurred_at));
        }
        path.push((hop.to.as_str(), hop.occurred_at));
        taken += 1;
    }
    // The platform may report a transfer from somewhere we did not see the call go
    // (a move it made without asking, or a blocked transfer it carried out anyway).
    // We then know where the call is, but not when it left the department before.
    let moved_unseen = path
        .last()
        .is_some_and(|(department, _)| *department != from_name);
    if path
        .last()
        .is_none_or(|(department, _)| *department != from_name)
    {
        path.push((from_name, occurred_at));
    }

    // A return to a department the call left within the bounce window. A return to
    // the department it left unseen is not judged: its departure time is unknown.
    let window = jiff::SignedDuration::from_millis(policy.bounce_window_ms);
    let last = path.len() - 1;
    if let Some(position) = path[..last]
        .iter()
        .rposition(|(department, _)| *department == to_name)
        .filter(|&position| !(moved_unseen && position + 1 == last))
    {
        let left_at = path[position + 1].1;
        let since_left = occurred_at.duration_since(left_at);
        if since_left <= window {
            let minutes = since_left.as_secs() / 60;
            if position + 1 == last {
                push(
                    RuntimeCode::PingPong,
                    format!(
                        "ping-pong: the call came from `{}` to `{}` {} ago and would go straight back",
                        to_name,
                        from_name,
                        describe_minutes(minutes)
                    ),
                );
            } else {
                let cycle: Vec<&str> = path[position..]
                    .iter()
                    .map(|(department, _)| *department)
                    .chain(std::iter::once(to_name))
                    .collect();
                push(
                    RuntimeCode::CircularHandoff,
                    format!(
                        "circular handoff: {} — the call would return to `{}`, which it left {} ago",
                        cycle.join(" → "),
                        to_name,
                        describe_minutes(minutes)
                    ),
                );
            }
        }
    }

    if taken + 1 > policy.max_hops {
        push(
            RuntimeCode::MaxHopsExceeded,
            format!(
                "this would be transfer {} of the call; the limit is max_hops = {}",
                taken + 1,
                policy.max_hops
            ),
        );
    }

    let from_index = rules.department(from_name);
    let to_index = rules.department(to_name);
    // The route from where the call is to the intent's owner: computed at most once,
    // and only when a finding needs it.
    let from_route: OnceCell<Route> = OnceCell::new();
    for (party, index) in [(from, from_index), (to, to_index)] {
        if index.is_none() {
            push(
                RuntimeCode::UnknownDepartment,
                format!(
                    "`{}` is neither a department id nor an alias in the routing rules; the transfer was judged without its routes",
                    party.identity
                ),
            );
        }
    }
    let intent = request.intent.as_deref();
    if let (Some(from), Some(to)) = (from_index, to_index) {
        match rules.transfer_between(from, to) {
            None => push(
                RuntimeCode::TransferNotAllowed,
                format!("the routing rules have no transfer from `{from_name}` to `{to_name}`"),
            ),
            Some(transfer) => {
                if let Some(intent) = intent
                    && !transfer.allows(intent)
                {
                    push(
                        RuntimeCode::TransferNotAllowed,
                        format!(
                            "the transfer from `{from_name}` to `{to_name}` is not allowed for `{intent}`"
                        ),
                    );
                }
            }
        }
        if let Some(intent) = intent
            && let Some(message) = wrong_department(rules, from, to, intent, &from_route)
        {
            push(RuntimeCode::WrongDepartment, message);
        }
    }

    if policy.require_warm_transfer {
        match request.mode {
            Some(TransferMode::Cold) => push(
                RuntimeCode::ColdTransfer,
                "cold (blind) transfer: policy requires a warm transfer, where the agent introduces the caller".to_owned(),
            ),
            None => push(
                RuntimeCode::UnknownTransferMode,
                "the transfer does not say whether it is warm or cold, so it does not count as warm: policy requires warm transfers; send `mode`".to_owned(),
            ),
            Some(TransferMode::Warm) => {}
        }
    }
    match request.callback_number.as_deref() {
        None | Some("") if policy.require_callback_number => push(
            RuntimeCode::MissingCallbackNumber,
            "no callback number: policy requires one so the caller can be called back if the transfer drops".to_owned(),
        ),
        Some(number) if !number.is_empty() && !is_e164(number) => push(
            RuntimeCode::InvalidCallbackNumber,
            format!("callback number `{number}` is not E.164 (a `+`, country code and number, up to 15 digits, e.g. +14155550123)"),
        ),
        _ => {}
    }

    let enforce_verdict = findings
        .iter()
        .map(|finding| finding.action)
        .max()
        .unwrap_or(Verdict::Allow);
    let verdict = match policy.mode {
        PolicyMode::Observe => enforce_verdict.min(Verdict::Warn),
        PolicyMode::Enforce => enforce_verdict,
    };
    let needs_suggestion = findings
        .iter()
        .any(|finding| is_loop_code(finding.code) || finding.code == RuntimeCode::WrongDepartment);
    let suggestion = needs_suggestion
        .then(|| suggest(rules, from_index, from_name, request, &from_route))
        .flatten();
    Judgement {
        verdict,
        enforce_verdict,
        findings,
        suggestion,
    }
}

fn describe_minutes(minutes: i64) -> String {
    match minutes {
        0 => "less than a minute".to_owned(),
        1 => "1 minute".to_owned(),
        _ => format!("{minutes} minutes"),
    }
}

/// The target neither handles the intent nor brings the call closer to its owner.
fn wrong_department(
    rules: &Rules,
    from: usize,
    to: usize,
    intent: &str,
    from_route: &OnceCell<Route>,
) -> Option<String> {
    let owners = rules.owners(intent);
    if owners.is_empty() || owners.contains(&to) {
        return None;
    }
    let from_route = from_route.get_or_init(|| rules.route(from, intent));
    let to_route = rules.route(to, intent);
    let closer = match (from_route, &to_route) {
        (Route::Found(from_path), Route::Found(to_path)) => to_path.len() < from_path.len(),
        (_, Route::Found(_)) => true,
        _ => false,
    };
    if closer {
        return None;
    }
    let owner_names: Vec<&str> = owners
        .iter()
        .map(|&owner| rules.departments[owner].id.as_str())
        .collect();
    if let Route::Found(path) = from_route
        && path.len() == 1
    {
        return Some(format!(
            "`{}` does not handle `{intent}`; `{}`, where the call is now, handles it: keep the call",
            rules.departments[to].id, rules.departments[from].id,
        ));
    }
    let route = match from_route {
        Route::Found(path) => format!(
            "; the allowed path is {}",
            path.iter()
                .map(|&step| rules.departments[step].id.as_str())
                .collect::<Vec<_>>()
                .join(" → ")
        ),
        _ => String::new(),
    };
    Some(format!(
        "`{}` does not handle `{intent}` and is no closer to `{}`, which does{route}",
        rules.departments[to].id,
        owner_names.join("`, `"),
    ))
}

/// Where the call should go instead: the intent's owner, else the escalation desk.
fn suggest(
    rules: &Rules,
    from: Option<usize>,
    from_name: &str,
    request: &TransferRequest,
    from_route: &OnceCell<Route>,
) -> Option<Suggestion> {
    let name = |step: usize| rules.departments[step].id.as_str().to_owned();
    if let (Some(from), Some(intent)) = (from, request.intent.as_deref())
        && let Route::Found(path) = from_route.get_or_init(|| rules.route(from, intent))
    {
        let owner = name(path[path.len() - 1]);
        let message = if path.len() == 1 {
            format!("keep the call: `{owner}` handles `{intent}` itself")
        } else {
            format!(
                "transfer to `{owner}`, which handles `{intent}` ({} transfer{})",
                path.len() - 1,
                if path.len() == 2 { "" } else { "s" }
            )
        };
        return Some(Suggestion {
            department: owner,
            path: path.iter().map(|&step| name(step)).collect(),
            message,
        });
    }
    let escalation = rules.policy.escalation.as_ref()?;
    let mut path = vec![from_name.to_owned()];
    if from_name != escalation.as_str() {
        path.push(escalation.as_str().to_owned());
    }
    Some(Suggestion {
        department: escalation.as_str().to_owned(),
        path,
        message: format!("escalate to `{escalation}` instead of passing the caller on"),
    })
}

/// E.164: `+`, a non-zero first digit, 2 to 15 digits in all.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|byte| byte.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_need_a_plus_and_at_most_fifteen_digits() {
        assert!(is_e164("+14155550123"));
        assert!(!is_e164("4155550123"));
        assert!(!is_e164("+0123"));
        assert!(!is_e164("+1234567890123456"));
        assert!(!is_e164("+1 415 555"));
    }
}
