//! Follow-ups: what the contact center still owes customers (callbacks after a
//! dropped transfer, promises made on a call), their due times and what happened to
//! the ones closed. The output types, their order and cursor, and the batch
//! functions over call records (the reference model of the index).
//!
//! Definitions:
//! - a *callback* is owed by the department that made the call's last moved
//!   transfer, from the end of the call; it is due `callback_within` later (no due
//!   time without that policy). It closes when marked done;
//! - a *promise* is owed by its department from when it was made, due at `due_at`;
//!   it closes when marked kept or broken;
//! - a follow-up is *overdue* when it is open and its due time is before `now`;
//! - a closed follow-up was *kept on time* when it was kept (a callback done, a
//!   promise kept) at or before its due time (a callback without a due time always).

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::{Calls, FailedMark, Window};
use crate::core::engine::{CallRecord, CallbackStatus, PromiseOutcome};

/// A callback or a promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FollowUpKind {
    Callback,
    Promise,
}

impl FollowUpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpKind::Callback => "callback",
            FollowUpKind::Promise => "promise",
        }
    }
}

/// One open follow-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FollowUp {
    pub kind: FollowUpKind,
    pub call_id: String,
    /// The promise's id; absent for callbacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promise_id: Option<String>,
    /// The department that owes it.
    pub department: String,
    /// What was promised; absent for callbacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The number to call back; absent for promises.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_number: Option<String>,
    /// Since when it is owed: the end of the call, or when the promise was made.
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// When it is due; absent for callbacks when `callback_within` is not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Timestamp>,
    pub overdue: bool,
    /// How long past its due time it is, in seconds, when overdue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overdue_seconds: Option<i64>,
    /// The newest failed callback attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failed: Option<FailedMark>,
}

/// One page of open follow-ups: overdue ones first, then by due time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FollowUpPage {
    /// Open follow-ups now, on every page.
    pub total: u64,
    /// Of those, overdue now.
    pub overdue: u64,
    pub items: Vec<FollowUp>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Follow-ups of one department.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowUpCounts {
    /// Open now.
    pub owed: u64,
    /// Open and past due now.
    pub overdue: u64,
    /// Closed in the window (done, kept or broken).
    pub closed: u64,
    /// Closed in the window, kept at or before the due time.
    pub kept_on_time: u64,
}

/// The order of the follow-ups list: overdue ones come first because they are due
/// first; follow-ups without a due time last; then by since, callbacks before
/// promises, call and promise id.
pub type FollowUpOrder = (bool, Option<Timestamp>, Timestamp, u8, String, String);

pub fn follow_up_order(item: &FollowUp) -> FollowUpOrder {
    (
        item.due_at.is_none(),
        item.due_at,
        item.since,
        match item.kind {
            FollowUpKind::Callback => 0,
            FollowUpKind::Promise => 1,
        },
        item.call_id.clone(),
        item.promise_id.clone().unwrap_or_default(),
    )
}

/// When a callback owed since `ended_at` is due.
pub fn callback_due(ended_at: Timestamp, within: Option<SignedDuration>) -> Option<Timestamp> {
    within.map(|within| ended_at.checked_add(within).unwrap_or(Timestamp::MAX))
}

/// Whether a follow-up due at `due` is overdue at `now`, and by how many seconds.
pub fn overdue_by(due: Option<Timestamp>, now: Timestamp) -> Option<i64> {
    due.filter(|due| *due < now)
        .map(|due| now.duration_since(due).as_secs())
}

/// The callback a call owes now, as a follow-up.
pub(super) fn callback_follow_up(
    call: &CallRecord,
    within: Option<SignedDuration>,
    now: Timestamp,
) -> Option<FollowUp> {
    if !call.callback_owed() {
        return None;
    }
    let ended_at = call.ended.as_ref()?.occurred_at;
    let department = call.callback_department()?.from.clone();
    let due_at = callback_due(ended_at, within);
    let overdue_seconds = overdue_by(due_at, now);
    Some(FollowUp {
        kind: FollowUpKind::Callback,
        call_id: call.call_id.as_str().to_owned(),
        promise_id: None,
        department,
        text: None,
        callback_number: call.callback_number().map(str::to_owned),
        since: ended_at,
        due_at,
        overdue: overdue_seconds.is_some(),
        overdue_seconds,
        last_failed: call
            .callback
            .as_ref()
            .filter(|mark| mark.status == CallbackStatus::Failed)
            .map(|mark| FailedMark {
                at: mark.occurred_at,
                note: mark.note.clone(),
            }),
    })
}

/// Every open follow-up, in [`follow_up_order`].
pub fn follow_ups<'a>(
    calls: impl Calls<'a>,
    within: Option<SignedDuration>,
    now: Timestamp,
) -> Vec<FollowUp> {
    let mut items: Vec<FollowUp> = Vec::new();
    for call in calls {
        items.extend(callback_follow_up(call, within, now));
        for promise in call.promises.iter().filter(|promise| promise.is_open()) {
            let overdue_seconds = overdue_by(Some(promise.due_at), now);
            items.push(FollowUp {
                kind: FollowUpKind::Promise,
                call_id: call.call_id.as_str().to_owned(),
                promise_id: Some(promise.promise_id.as_str().to_owned()),
                department: promise.department.clone(),
                text: Some(promise.text.clone()),
                callback_number: None,
                since: promise.made_at,
                due_at: Some(promise.due_at),
                overdue: overdue_seconds.is_some(),
                overdue_seconds,
                last_failed: None,
            });
        }
    }
    items.sort_by_cached_key(follow_up_order);
    items
}

/// A callback that was owed and has been marked done: (when, department, on time).
pub(super) fn callback_closed(
    call: &CallRecord,
    within: Option<SignedDuration>,
) -> Option<(Timestamp, &str, bool)> {
    if !call.callback_was_owed() {
        return None;
    }
    let mark = call
        .callback
        .as_ref()
        .filter(|mark| mark.status == CallbackStatus::Done)?;
    let ended_at = call.ended.as_ref()?.occurred_at;
    let department = call.callback_department()?.from.as_str();
    let on_time = callback_due(ended_at, within).is_none_or(|due| mark.occurred_at <= due);
    Some((mark.occurred_at, department, on_time))
}

/// Follow-up counts per department name: owed and overdue now, closed and kept on
/// time in the window.
pub fn follow_up_counts<'a>(
    calls: impl Calls<'a>,
    within: Option<SignedDuration>,
    window: &Window,
    now: Timestamp,
) -> HashMap<String, FollowUpCounts> {
    let mut counts: HashMap<String, FollowUpCounts> = HashMap::new();
    for call in calls.clone() {
        if let Some((at, department, on_time)) = callback_closed(call, within)
            && window.contains(at)
        {
            let entry = counts.entry(department.to_owned()).or_default();
            entry.closed += 1;
            entry.kept_on_time += u64::from(on_time);
        }
        for promise in &call.promises {
            if let Some(closed) = &promise.closed
                && window.contains(closed.occurred_at)
            {
                let entry = counts.entry(promise.department.clone()).or_default();
                entry.closed += 1;
                entry.kept_on_time += u64::from(
                    closed.status == PromiseOutcome::Kept && closed.occurred_at <= promise.due_at,
                );
            }
        }
    }
    for item in follow_ups(calls, within, now) {
        let entry = counts.entry(item.department).or_default();
        entry.owed += 1;
        entry.overdue += u64::from(item.overdue);
    }
    counts
}

/// Where a page of follow-ups ends: the last callback and the last promise shown
/// (the list merges the two, each in its own order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowUpCursor {
    /// (end of the call, call id) of the last callback shown.
    pub callback: Option<(Timestamp, String)>,
    /// (due, made, call id, promise id) of the last promise shown.
    pub promise: Option<(Timestamp, Timestamp, String, String)>,
}

impl FollowUpCursor {
    /// Seven `~`-separated fields, each with `%` and `~` escaped, so ids may hold
    /// anything.
    pub fn encode(&self) -> String {
        let time = |at: Option<Timestamp>| at.map(|at| at.to_string()).unwrap_or_default();
        let (callback_at, callback_call) = match &self.callback {
            Some((at, call)) => (time(Some(*at)), call.as_str()),
            None => (String::new(), ""),
        };
        let (due, made, call, promise) = match &self.promise {
            Some((due, made, call, promise)) => (
                time(Some(*due)),
                time(Some(*made)),
                call.as_str(),
                promise.as_str(),
            ),
            None => (String::new(), String::new(), "", ""),
        };
        ["f", &callback_at, callback_call, &due, &made, call, promise]
            .iter()
            .map(|part| escape(part))
            .collect::<Vec<_>>()
            .join("~")
    }

    pub fn decode(text: &str) -> Option<Self> {
        let parts: Vec<String> = text.split('~').map(unescape).collect::<Option<_>>()?;
        let [tag, callback_at, callback_call, due, made, call, promise] = parts.as_slice() else {
            return None;
        };
        if tag != "f" {
            return None;
        }
        let callback = if callback_at.is_empty() {
            None
        } else {
            Some((callback_at.parse().ok()?, callback_call.clone()))
        };
        let promise = if due.is_empty() {
            None
        } else {
            Some((
                due.parse().ok()?,
                made.parse().ok()?,
                call.clone(),
                promise.clone(),
            ))
        };
        Some(Self { callback, promise })
    }
}

fn escape(text: &str) -> String {
    text.replace('%', "%25").replace('~', "%7E")
}

fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(position) = rest.find('%') {
        out.push_str(&rest[..position]);
        match rest.get(position..position + 3)? {
            "%25" => out.push('%'),
            "%7E" => out.push('~'),
            _ => return None,
        }
        rest = &rest[position + 3..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_whatever_the_ids_hold() {
        let at: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let cursor = FollowUpCursor {
            callback: Some((at, "a~b%7E~".to_owned())),
            promise: Some((at, at, "c%".to_owned(), "~".to_owned())),
        };
        assert_eq!(FollowUpCursor::decode(&cursor.encode()), Some(cursor));
        let empty = FollowUpCursor::default();
        assert_eq!(FollowUpCursor::decode(&empty.encode()), Some(empty));
        assert_eq!(FollowUpCursor::decode("f~x"), None);
        assert_eq!(FollowUpCursor::decode("f~~~~~~%zz"), None);
    }

    #[test]
    fn callbacks_are_due_within_the_policy_and_overdue_after() {
        let ended: Timestamp = "2030-01-01T10:00:00Z".parse().unwrap();
        let due = callback_due(ended, Some(SignedDuration::from_hours(2)));
        assert_eq!(due, Some("2030-01-01T12:00:00Z".parse().unwrap()));
        assert_eq!(
            overdue_by(due, "2030-01-01T12:00:00Z".parse().unwrap()),
            None
        );
        assert_eq!(
            overdue_by(due, "2030-01-01T12:01:00Z".parse().unwrap()),
            Some(60)
        );
        assert_eq!(callback_due(ended, None), None);
    }
}
