//! The pages about what is owed to customers: a call's page (its hops, findings,
//! callback and promises), the follow-ups list and the callbacks owed. Overdue
//! follow-ups are marked (class `overdue`, `data-overdue="true"`) wherever they show.

use jiff::{SignedDuration, Timestamp};
use maud::{Markup, html};

use super::ViewQuery;
use super::pages::{Chrome, age, message, page, pager, path_segment, time, verdict_badge};
use crate::core::engine::{CallRecord, CallbackStatus, PromiseOutcome};
use crate::core::stats::follow_ups::{callback_due, overdue_by};
use crate::core::stats::{CallbackPage, FollowUpKind, FollowUpPage};
use crate::render::visible::visible;

/// "due in 1h 5m" or "overdue by 2d 3h".
fn due_words(due: Timestamp, now: Timestamp) -> String {
    match overdue_by(Some(due), now) {
        Some(seconds) => format!("overdue by {}", age(seconds)),
        None => format!("due in {}", age(due.duration_since(now).as_secs().max(0))),
    }
}

/// One call's chain as a timeline: every hop with time, departments (and the
/// platform's names for them), mode, verdict and findings, then the end, the
/// callback and the promises with their due times.
pub fn call(
    chrome: &Chrome,
    call: &CallRecord,
    now: Timestamp,
    callback_within: Option<SignedDuration>,
) -> Markup {
    let call_id = call.call_id.as_str();
    let content = html! {
        p.summary {
            span data-testid="call-id" { (visible(call_id)) }
            " · " (call.transfers_taken()) " transfer(s) taken · "
            @match &call.ended {
                Some(end) => { "ended " b data-testid="call-ended" { (end.outcome.as_str()) } " at " (time(end.occurred_at)) }
                None => { "live" }
            }
            @if !call.omitted.is_empty() {
                " · " (call.omitted.hops) " older hop(s) not kept"
            }
        }
        ol.timeline data-testid="timeline" {
            @for hop in &call.hops {
                li class={ "hop " (hop.verdict.as_str()) } data-testid="hop" data-from=(hop.from) data-to=(hop.to) data-verdict=(hop.verdict.as_str()) {
                    time { (time(hop.occurred_at)) }
                    div.move {
                        span.step data-testid="hop-from" { (visible(&hop.from_label())) }
                        span.arrow { "→" }
                        span.step data-testid="hop-to" { (visible(&hop.to_label())) }
                        @if !hop.moved {
                            " " span.not-moved { "(not carried out)" }
                        }
                    }
                    div.meta {
                        (verdict_badge(hop.verdict)) " "
                        span data-testid="mode" { (hop.mode.map_or("mode not reported", |mode| mode.as_str())) }
                        @if let Some(intent) = &hop.intent {
                            " · intent " (visible(intent))
                        }
                        @if let Some(agent) = &hop.agent_id {
                            " · agent " (visible(agent))
                        }
                        @match &hop.callback_number {
                            Some(number) => { " · callback " (visible(number)) }
                            None => { " · no callback number" }
                        }
                    }
                    ul.findings {
                        @for finding in &hop.findings {
                            li data-testid="finding" data-code=(finding.code.as_str()) {
                                span.code { (finding.code.as_str()) } " " (message(&finding.message))
                            }
                        }
                    }
                }
            }
        }
        @if call.callback_owed() {
            @let ended_at = call.ended.as_ref().map_or(now, |end| end.occurred_at);
            @let due = callback_due(ended_at, callback_within);
            @let overdue = overdue_by(due, now).is_some();
            p.owed.overdue[overdue] data-testid="call-callback-owed" data-overdue=(overdue) {
                "Callback owed to " (visible(call.callback_number().unwrap_or_default()))
                " for " (age(now.duration_since(ended_at).as_secs().max(0))) "."
                @if let Some(due) = due {
                    " Due " (time(due)) ": " b data-testid="callback-due" { (due_words(due, now)) } "."
                }
                " " (mark_buttons(call_id))
            }
        }
        @if let Some(mark) = &call.callback {
            p data-testid="call-callback-mark" {
                "Callback marked "
                b { (match mark.status { CallbackStatus::Done => "done", CallbackStatus::Failed => "failed" }) }
                " at " (time(mark.occurred_at))
                @if let Some(note) = &mark.note {
                    ": " (visible(note))
                }
            }
        }
        @if !call.promises.is_empty() {
            h2 { "Promises" }
            ul.promises data-testid="promises" {
                @for promise in &call.promises {
                    @let overdue = promise.is_open() && overdue_by(Some(promise.due_at), now).is_some();
                    @let status = promise.closed.as_ref().map_or("open", |closed| closed.status.as_str());
                    li.promise.overdue[overdue] data-testid={ "promise-" (promise.promise_id) } data-status=(status) data-overdue=(overdue) {
                        b { (visible(&promise.text)) }
                        " · owed by " (visible(&promise.department_label()))
                        " · made " (time(promise.made_at))
                        " · due " (time(promise.due_at))
                        @match &promise.closed {
                            None => { " · " span.due data-testid="promise-due" { (due_words(promise.due_at, now)) } }
                            Some(closed) => {
                                " · " span class={ "closed " (closed.status.as_str()) } {
                                    (closed.status.as_str()) " at " (time(closed.occurred_at))
                                    @if closed.status == PromiseOutcome::Kept && closed.occurred_at > promise.due_at { " (late)" }
                                }
                                @if let Some(note) = &closed.note { ": " (visible(note)) }
                            }
                        }
                    }
                }
            }
        }
    };
    page(
        &format!("Call {}", visible(call_id)),
        chrome,
        false,
        content,
    )
}

fn mark_buttons(call_id: &str) -> Markup {
    html! {
        button.mark type="button" data-mark="done" data-call=(call_id) data-testid="mark-done" { "Mark done" }
        " "
        button.mark.secondary type="button" data-mark="failed" data-call=(call_id) data-testid="mark-failed" { "Mark failed" }
    }
}

/// Open follow-ups, overdue first: what the contact center still owes customers.
pub fn follow_ups(chrome: &Chrome, page_of: &FollowUpPage, query: &ViewQuery) -> Markup {
    let content = html! {
        p.hint {
            "Callbacks owed after a dropped transfer and promises made on calls, overdue first, then by due time. "
            b data-testid="follow-ups-overdue" { (page_of.overdue) } " of " (page_of.total) " are overdue."
        }
        @if page_of.items.is_empty() {
            p.empty data-testid="follow-ups-empty" { "Nothing is owed to any customer." }
        } @else {
            table.follow-ups data-testid="follow-ups" {
                thead {
                    tr { th { "Call" } th { "What" } th { "Owed by" } th { "Since" } th { "Due" } th { "Status" } }
                }
                tbody {
                    @for item in &page_of.items {
                        @let id = match &item.promise_id { Some(promise) => format!("{}/{}", item.call_id, promise), None => item.call_id.clone() };
                        tr.overdue[item.overdue] data-testid={ "follow-up-" (id) } data-kind=(item.kind.as_str()) data-overdue=(item.overdue) {
                            td { a href={ "/calls/" (path_segment(&item.call_id)) } { (visible(&item.call_id)) } }
                            td {
                                @match item.kind {
                                    FollowUpKind::Callback => {
                                        "Call back " (visible(item.callback_number.as_deref().unwrap_or_default()))
                                        @if let Some(failed) = &item.last_failed {
                                            br; span.hint { "tried " (time(failed.at)) @if let Some(note) = &failed.note { ": " (visible(note)) } }
                                        }
                                    }
                                    FollowUpKind::Promise => { (visible(item.text.as_deref().unwrap_or_default())) }
                                }
                            }
                            td { (visible(&item.department)) }
                            td { (time(item.since)) }
                            td { @match item.due_at { Some(due) => { (time(due)) }, None => { span.hint { "no due time" } } } }
                            td data-testid="follow-up-status" {
                                @match item.overdue_seconds {
                                    Some(seconds) => { span.badge.block { "overdue" } " by " (age(seconds)) }
                                    None => { "open" }
                                }
                            }
                        }
                    }
                }
            }
        }
        (pager("/follow-ups", query, page_of.items.len(), page_of.total, page_of.next.as_deref()))
        (super::pages::csv_link("/v1/stats/follow-ups", query))
    };
    page("Follow-ups", chrome, false, content)
}

/// Callbacks owed are not limited to a window, so this page has no range selector.
pub fn callbacks(chrome: &Chrome, owed: &CallbackPage, query: &ViewQuery) -> Markup {
    let content = html! {
        @if owed.items.is_empty() {
            p.empty data-testid="callbacks-empty" { "Nobody is owed a callback." }
        } @else {
            table.callbacks data-testid="callbacks" {
                thead {
                    tr {
                        th { "Call" } th { "Callback number" } th { "Dropped after" } th { "Ended" }
                        th { "Waiting" } th { "Due" } th { "Last attempt" } th {}
                    }
                }
                tbody {
                    @for entry in &owed.items {
                        tr.overdue[entry.overdue] data-testid={ "callback-" (entry.call_id) } data-call-id=(entry.call_id) data-overdue=(entry.overdue) {
                            td { a href={ "/calls/" (path_segment(&entry.call_id)) } { (visible(&entry.call_id)) } }
                            td data-testid="callback-number" { (visible(&entry.callback_number)) }
                            td { (visible(&entry.last_from)) " → " (visible(&entry.last_to)) }
                            td { (time(entry.ended_at)) }
                            td data-testid="callback-age" data-seconds=(entry.age_seconds) { (age(entry.age_seconds)) }
                            td {
                                @if let Some(due) = entry.due_at {
                                    (time(due))
                                    @if entry.overdue { " " span.badge.block data-testid="callback-overdue" { "overdue" } }
                                }
                            }
                            td {
                                @if let Some(failed) = &entry.last_failed {
                                    "failed " (time(failed.at))
                                    @if let Some(note) = &failed.note {
                                        ": " (visible(note))
                                    }
                                }
                            }
                            td { (mark_buttons(&entry.call_id)) }
                        }
                    }
                }
            }
        }
        (pager("/callbacks", query, owed.items.len(), owed.total, owed.next.as_deref()))
    };
    page("Callbacks owed", chrome, false, content)
}
