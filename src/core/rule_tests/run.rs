//! Running rule tests: route tests through `Rules::route` (the query behind
//! `loopguard route`), chain tests through a fresh `Engine` (the one behind the
//! webhook), each chain a call of its own with events at fixed times.

use jiff::Timestamp;

use super::parse::{ChainTest, RouteTest, RuleTest, TestKind};
use crate::core::diagnostic::Span;
use crate::core::engine::{CallId, Engine, EventId, TransferRequest, Verdict};
use crate::core::rules::{Route, Rules, RuntimeCode};

/// What one test gave.
#[derive(Debug, Clone)]
pub struct TestResult<'t> {
    pub test: &'t RuleTest,
    /// `None` when the test passed.
    pub failure: Option<Failure>,
}

/// Why a test failed: what was expected where, and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One sentence: what happened instead of what.
    pub message: String,
    /// The expectation that did not hold.
    pub at: Span,
    /// Shown under `at`, e.g. "expected `block`".
    pub label: String,
    /// What the rules or the engine actually answered.
    pub notes: Vec<String>,
}

/// Runs every test against the rules.
pub fn run_tests<'t>(tests: &'t [RuleTest], rules: &Rules) -> Vec<TestResult<'t>> {
    tests
        .iter()
        .enumerate()
        .map(|(index, test)| TestResult {
            test,
            failure: match &test.kind {
                TestKind::Route(route) => run_route(rules, route),
                TestKind::Chain(chain) => run_chain(rules, index, test, chain),
            },
        })
        .collect()
}

fn id(rules: &Rules, department: usize) -> &str {
    rules.departments[department].id.as_str()
}

fn describe_path(rules: &Rules, path: &[usize]) -> String {
    let hops = path.len() - 1;
    let names: Vec<&str> = path.iter().map(|&step| id(rules, step)).collect();
    format!(
        "{} ({hops} hop{})",
        names.join(" → "),
        if hops == 1 { "" } else { "s" }
    )
}

fn run_route(rules: &Rules, test: &RouteTest) -> Option<Failure> {
    let from = id(rules, test.from);
    let intent = &test.intent;
    let route = rules.route(test.from, intent);
    let found = match &route {
        Route::Found(path) => format!("route found: {}", describe_path(rules, path)),
        Route::NoOwner => format!("no route: no department handles `{intent}`"),
        Route::NoPath => {
            let owners: Vec<String> = rules
                .owners(intent)
                .iter()
                .map(|&owner| format!("`{}`", id(rules, owner)))
                .collect();
            format!(
                "no route: no allowed transfer path for `{intent}` leads from `{from}` to {}",
                owners.join(" or ")
            )
        }
    };
    let failure = |message: String, at: Span, label: String| Failure {
        message,
        at,
        label,
        notes: vec![found.clone()],
    };
    if let Some(at) = test.expect_no_route
        && let Route::Found(path) = &route
    {
        let message = if path.len() == 1 {
            format!("`{from}` handles `{intent}` itself, expected no route")
        } else {
            format!(
                "a call for `{intent}` in `{from}` has a route to `{}`, expected none",
                id(rules, path[path.len() - 1])
            )
        };
        return Some(failure(message, at, "expected no route".to_owned()));
    }
    if let Some((owner, at)) = test.expect_owner {
        let reached = match &route {
            Route::Found(path) => Some(path[path.len() - 1]),
            Route::NoOwner | Route::NoPath => None,
        };
        if reached != Some(owner) {
            let what = match reached {
                Some(reached) => format!("ends in `{}`", id(rules, reached)),
                None => "leads nowhere".to_owned(),
            };
            return Some(failure(
                format!(
                    "the route for `{intent}` from `{from}` {what}, expected `{}`",
                    id(rules, owner)
                ),
                at,
                format!("expected `{}`", id(rules, owner)),
            ));
        }
    }
    if let Some((expected, at)) = &test.expect_path {
        let matches = matches!(&route, Route::Found(path) if path == expected);
        if !matches {
            return Some(failure(
                format!(
                    "the route for `{intent}` from `{from}` is not {}",
                    describe_path(rules, expected)
                ),
                *at,
                "expected this path".to_owned(),
            ));
        }
    }
    None
}

/// What the engine answered for one hop.
struct Answer {
    verdict: Verdict,
    codes: Vec<RuntimeCode>,
}

fn run_chain(rules: &Rules, index: usize, test: &RuleTest, chain: &ChainTest) -> Option<Failure> {
    let mut engine = Engine::new();
    let mut answers = Vec::with_capacity(chain.hops.len());
    for (position, hop) in chain.hops.iter().enumerate() {
        let Some(occurred_at) = Timestamp::UNIX_EPOCH.checked_add(hop.offset).ok() else {
            return Some(Failure {
                message: format!("hop {} happens too late to be represented", position + 1),
                at: hop.span,
                label: "`at` out of range".to_owned(),
                notes: Vec::new(),
            });
        };
        // Ids of at most a few dozen ASCII characters always validate.
        let ids = (
            EventId::parse(&format!("test-{index}-hop-{}", position + 1)),
            CallId::parse(&format!("test-{index}")),
        );
        let (Ok(event_id), Ok(call_id)) = ids else {
            return Some(Failure {
                message: "the test's event ids were refused".to_owned(),
                at: test.name_span,
                label: "this test".to_owned(),
                notes: Vec::new(),
            });
        };
        let request = TransferRequest {
            event_id,
            call_id,
            from: hop.from.clone(),
            to: hop.to.clone(),
            mode: hop.mode,
            intent: hop.intent.clone(),
            callback_number: hop.callback_number.clone(),
            agent_id: None,
            occurred_at: Some(occurred_at),
        };
        match engine.transfer(rules, request, occurred_at) {
            Ok(outcome) => answers.push(Answer {
                verdict: outcome.answer.verdict,
                codes: outcome
                    .answer
                    .findings
                    .iter()
                    .map(|finding| finding.code)
                    .collect(),
            }),
            Err(error) => {
                return Some(Failure {
                    message: format!("the engine refused hop {}: {error}", position + 1),
                    at: hop.span,
                    label: "refused".to_owned(),
                    notes: Vec::new(),
                });
            }
        }
    }

    let describe_hop = |position: usize| {
        let hop = &chain.hops[position];
        let answer = &answers[position];
        let codes: Vec<&str> = answer.codes.iter().map(|code| code.as_str()).collect();
        format!(
            "hop {} `{}` → `{}`: {}{}",
            position + 1,
            hop.from,
            hop.to,
            answer.verdict.as_str(),
            if codes.is_empty() {
                String::new()
            } else {
                format!(" ({})", codes.join(", "))
            }
        )
    };
    // (hop, what was expected, where) for every expectation that did not hold.
    let mut mismatches: Vec<(usize, String, Span)> = Vec::new();
    for (position, answer) in answers.iter().enumerate() {
        if let Some(verdicts) = &chain.expect_verdicts
            && let Some(&(expected, at)) = verdicts.get(position)
            && expected != answer.verdict
        {
            mismatches.push((position, format!("`{}`", expected.as_str()), at));
        }
        if let Some(findings) = &chain.expect_findings
            && let Some((expected, at)) = findings.get(position)
        {
            let missing: Vec<&str> = expected
                .iter()
                .filter(|code| !answer.codes.contains(code))
                .map(|code| code.as_str())
                .collect();
            if !missing.is_empty() {
                mismatches.push((
                    position,
                    format!(
                        "finding{} `{}`",
                        if missing.len() == 1 { "" } else { "s" },
                        missing.join("`, `")
                    ),
                    *at,
                ));
            }
        }
    }
    let &(position, ref expected, at) = mismatches.first()?;
    let hop = &chain.hops[position];
    let answer = &answers[position];
    let mut notes: Vec<String> = (0..answers.len()).map(describe_hop).collect();
    if mismatches.len() > 1 {
        let more: Vec<String> = mismatches[1..]
            .iter()
            .map(|(position, expected, _)| format!("hop {}: expected {expected}", position + 1))
            .collect();
        notes.push(format!("also wrong: {}", more.join("; ")));
    }
    Some(Failure {
        message: format!(
            "hop {} (`{}` → `{}`) was answered `{}`, expected {expected}",
            position + 1,
            hop.from,
            hop.to,
            answer.verdict.as_str()
        ),
        at,
        label: format!("expected {expected}"),
        notes,
    })
}
