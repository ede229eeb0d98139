//! Test files: the raw format (serde structs with spans) and its validation against
//! the rules into [`RuleTest`]s. Problems are lint-style diagnostics (the codes of
//! `loopguard lint`: `toml-syntax`, `unknown-key`, `invalid-value`, `duplicate-id`,
//! `unknown-department`, `unknown-intent`), every one reported, none fatal.

use std::collections::BTreeSet;

use foldhash::{HashMap, HashMapExt};
use jiff::SignedDuration;
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::core::codes::LintCode;
use crate::core::diagnostic::{Diagnostic, Span};
use crate::core::duration::parse_duration;
use crate::core::rules::parse::{Guide, check_keys, deserialize_table};
use crate::core::rules::raw::field_names;
use crate::core::rules::{Action, Origin, Rules, RuntimeCode, Suggestions, TransferMode};
use crate::core::source::{SourceFile, SourceId};

const TESTS_GUIDE: Guide = Guide {
    example: "README.md (\"Rule tests\")",
    reference: "README.md (\"Rule tests\")",
};

/// A list of spanned values, as serde reads TOML arrays.
type SpannedList<T> = Spanned<Vec<Spanned<T>>>;

/// A test file: any number of `[[test]]` tables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTestFile {
    #[serde(default)]
    #[allow(dead_code, reason = "read through field_names only")]
    test: Vec<Spanned<RawTest>>,
}

/// `[[test]]`: a route test (`from`, `intent` and what the route must be) or a
/// chain test (`chain` and the verdicts or findings each hop must get).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    name: Spanned<String>,
    from: Option<Spanned<String>>,
    intent: Option<Spanned<String>>,
    expect_owner: Option<Spanned<String>>,
    expect_path: Option<SpannedList<String>>,
    expect_no_route: Option<Spanned<bool>>,
    chain: Option<SpannedList<RawHop>>,
    expect_verdicts: Option<SpannedList<Action>>,
    expect_findings: Option<SpannedList<Vec<Spanned<RuntimeCode>>>>,
}

/// One transfer of a chain test, as a platform would report it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHop {
    from: Spanned<String>,
    to: Spanned<String>,
    intent: Option<Spanned<String>>,
    mode: Option<Spanned<TransferMode>>,
    callback_number: Option<Spanned<String>>,
    /// Event time after the start of the call (`"90s"`); default: hop number seconds.
    at: Option<Spanned<String>>,
}

/// One validated test.
#[derive(Debug, Clone)]
pub struct RuleTest {
    pub name: String,
    pub source: SourceId,
    /// The `name = "..."` value: where results point when nothing better fits.
    pub name_span: Span,
    pub kind: TestKind,
}

#[derive(Debug, Clone)]
pub enum TestKind {
    Route(RouteTest),
    Chain(ChainTest),
}

/// Where `loopguard route --from FROM --intent INTENT` must lead.
#[derive(Debug, Clone)]
pub struct RouteTest {
    /// Department index.
    pub from: usize,
    pub intent: String,
    pub expect_owner: Option<(usize, Span)>,
    pub expect_path: Option<(Vec<usize>, Span)>,
    pub expect_no_route: Option<Span>,
}

/// A call's transfers, judged one after the other by the engine.
#[derive(Debug, Clone)]
pub struct ChainTest {
    pub hops: Vec<ChainHop>,
    /// Per hop, with the span of each expected value.
    pub expect_verdicts: Option<Vec<(Action, Span)>>,
    /// Per hop: codes that must be among the hop's findings.
    pub expect_findings: Option<Vec<(Vec<RuntimeCode>, Span)>>,
}

#[derive(Debug, Clone)]
pub struct ChainHop {
    pub from: String,
    pub to: String,
    pub intent: Option<String>,
    pub mode: Option<TransferMode>,
    pub callback_number: Option<String>,
    /// Event time after the start of the call.
    pub offset: SignedDuration,
    pub span: Span,
}

/// Reads every test file against the rules. Returns the tests that are valid and
/// the problems found; a caller runs tests only when there are no problems.
pub fn parse_tests(sources: &[SourceFile], rules: &Rules) -> (Vec<RuleTest>, Vec<Diagnostic>) {
    let mut checker = Checker::new(rules);
    for (index, file) in sources.iter().enumerate() {
        let source = SourceId(index);
        if let Some(offset) = file.invalid_utf8_at {
            let at = crate::core::source::floor_char_boundary(&file.text, offset);
            checker.diagnostics.push(Diagnostic::new(
                LintCode::TomlSyntax,
                Span::new(source, at..at),
                format!("test file is not valid UTF-8 (first invalid byte at offset {offset})"),
            ));
            continue;
        }
        checker.file(source, &file.text);
    }
    (checker.tests, checker.diagnostics)
}

/// Validation state across all test files of one run.
struct Checker<'r> {
    rules: &'r Rules,
    known_intents: BTreeSet<&'r str>,
    names: HashMap<String, Span>,
    departments: Suggestions,
    intents: Suggestions,
    tests: Vec<RuleTest>,
    diagnostics: Vec<Diagnostic>,
}

impl<'r> Checker<'r> {
    fn new(rules: &'r Rules) -> Self {
        let known_intents = rules.known_intents();
        Self {
            rules,
            known_intents,
            names: HashMap::new(),
            departments: Suggestions::default(),
            intents: Suggestions::default(),
            tests: Vec::new(),
            diagnostics: Vec::new(),
        }
    }

    fn file(&mut self, source: SourceId, text: &str) {
        let origin = Origin { source, offset: 0 };
        let (root, errors) = DeTable::parse_recoverable(text);
        for error in errors {
            self.diagnostics.push(
                Diagnostic::new(
                    LintCode::TomlSyntax,
                    origin.span(error.span().unwrap_or(0..0)),
                    format!("invalid TOML: {}", error.message().trim()),
                )
                .with_help("fix the syntax here; the rest of the file was checked as far as it could be read"),
            );
        }
        let mut root = root.into_inner();
        check_keys(
            &mut root,
            field_names::<RawTestFile>(),
            "a test file",
            origin,
            &mut self.diagnostics,
        );
        let Some(tests) = root.remove("test") else {
            return;
        };
        let tests_span = origin.span(tests.span());
        let DeValue::Array(tests) = tests.into_inner() else {
            self.diagnostics.push(
                Diagnostic::new(
                    LintCode::InvalidValue,
                    tests_span,
                    "`test` must be an array of tables",
                )
                .with_help("write each test as its own [[test]] table"),
            );
            return;
        };
        for mut element in tests {
            if let DeValue::Table(table) = element.get_mut() {
                check_keys(
                    table,
                    field_names::<RawTest>(),
                    "[[test]]",
                    origin,
                    &mut self.diagnostics,
                );
                if let Some(chain) = table.get_mut("chain")
                    && let DeValue::Array(hops) = chain.get_mut()
                {
                    for hop in hops.iter_mut() {
                        if let DeValue::Table(hop) = hop.get_mut() {
                            check_keys(
                                hop,
                                field_names::<RawHop>(),
                                "a `chain` entry",
                                origin,
                                &mut self.diagnostics,
                            );
                        }
                    }
                }
            }
            if let Some(raw) = deserialize_table::<RawTest>(
                element,
                "[[test]]",
                &TESTS_GUIDE,
                origin,
                &mut self.diagnostics,
            ) {
                self.test(origin, raw);
            }
        }
    }

    fn problem(&mut self, code: LintCode, at: Span, message: String, help: &str) {
        self.diagnostics
            .push(Diagnostic::new(code, at, message).with_help(help.to_owned()));
    }

    fn test(&mut self, origin: Origin, raw: Spanned<RawTest>) {
        let header = origin.span(raw.span());
        let raw = raw.into_inner();
        let name_span = origin.span(raw.name.span());
        let name = raw.name.into_inner();
        if name.trim().is_empty() {
            self.problem(
                LintCode::InvalidValue,
                name_span,
                "a test needs a name".to_owned(),
                "say what the test proves, e.g. name = \"reconnect calls end in activations\"",
            );
            return;
        }
        if let Some(&first) = self.names.get(&name) {
            self.diagnostics.push(
                Diagnostic::new(
                    LintCode::DuplicateId,
                    name_span,
                    format!("test name `{name}` is used twice"),
                )
                .with_primary_label("second test with this name")
                .with_label(first, "first used here")
                .with_help("give every test its own name, so a failure says which one failed"),
            );
            return;
        }
        self.names.insert(name.clone(), name_span);
        let is_route = raw.from.is_some() || raw.intent.is_some();
        let kind = match (is_route, raw.chain) {
            (true, Some(_)) => {
                self.problem(LintCode::InvalidValue, header, format!("test `{name}` has both `from`/`intent` and `chain`"), "a test is either a route test (from, intent, expect_owner / expect_path / expect_no_route) or a chain test (chain, expect_verdicts / expect_findings); split it in two");
                return;
            }
            (false, None) => {
                self.problem(
                    LintCode::InvalidValue,
                    header,
                    format!("test `{name}` has neither `from` and `intent` nor `chain`"),
                    "give a route test `from` and `intent`, or a chain test a `chain` of transfers",
                );
                return;
            }
            (true, None) => {
                for (key, span) in [
                    (
                        "expect_verdicts",
                        raw.expect_verdicts.as_ref().map(|value| value.span()),
                    ),
                    (
                        "expect_findings",
                        raw.expect_findings.as_ref().map(|value| value.span()),
                    ),
                ] {
                    if let Some(span) = span {
                        self.problem(LintCode::InvalidValue, origin.span(span), format!("`{key}` belongs to chain tests; test `{name}` is a route test"), "use expect_owner, expect_path or expect_no_route, or make it a chain test");
                    }
                }
                let route = RawRoute {
                    from: raw.from,
                    intent: raw.intent,
                    expect_owner: raw.expect_owner,
                    expect_path: raw.expect_path,
                    expect_no_route: raw.expect_no_route,
                };
                match self.route(origin, header, &name, route) {
                    Some(route) => TestKind::Route(route),
                    None => return,
                }
            }
            (false, Some(chain)) => {
                for (key, span) in [
                    (
                        "expect_owner",
                        raw.expect_owner.as_ref().map(|value| value.span()),
                    ),
                    (
                        "expect_path",
                        raw.expect_path.as_ref().map(|value| value.span()),
                    ),
                    (
                        "expect_no_route",
                        raw.expect_no_route.as_ref().map(|value| value.span()),
                    ),
                ] {
                    if let Some(span) = span {
                        self.problem(
                            LintCode::InvalidValue,
                            origin.span(span),
                            format!(
                                "`{key}` belongs to route tests; test `{name}` is a chain test"
                            ),
                            "use expect_verdicts or expect_findings, or make it a route test",
                        );
                    }
                }
                match self.chain(
                    origin,
                    header,
                    &name,
                    chain,
                    raw.expect_verdicts,
                    raw.expect_findings,
                ) {
                    Some(chain) => TestKind::Chain(chain),
                    None => return,
                }
            }
        };
        self.tests.push(RuleTest {
            name,
            source: origin.source,
            name_span,
            kind,
        });
    }

    fn route(
        &mut self,
        origin: Origin,
        header: Span,
        name: &str,
        raw: RawRoute,
    ) -> Option<RouteTest> {
        let (Some(from), Some(intent)) = (raw.from, raw.intent) else {
            self.problem(
                LintCode::InvalidValue,
                header,
                format!("route test `{name}` needs both `from` and `intent`"),
                "name the department the call is in and what the caller needs",
            );
            return None;
        };
        let from = self.department(origin, &from);
        let intent_ok = self.intent(origin, &intent);
        let expect_owner = raw
            .expect_owner
            .map(|owner| (self.department(origin, &owner), origin.span(owner.span())));
        let expect_path = raw.expect_path.map(|path| {
            let span = origin.span(path.span());
            let steps: Vec<Option<usize>> = path
                .into_inner()
                .iter()
                .map(|step| self.department(origin, step))
                .collect();
            (steps, span)
        });
        let expect_no_route = raw
            .expect_no_route
            .map(|value| (*value.get_ref(), origin.span(value.span())));
        if expect_owner.is_none() && expect_path.is_none() && expect_no_route.is_none() {
            self.problem(LintCode::InvalidValue, header, format!("route test `{name}` expects nothing"), "add expect_owner, expect_path or expect_no_route = true: a test that asserts nothing proves nothing");
            return None;
        }
        if let Some((false, span)) = expect_no_route {
            self.problem(
                LintCode::InvalidValue,
                span,
                "`expect_no_route = false` expects nothing".to_owned(),
                "write expect_owner or expect_path to say where the route must go",
            );
            return None;
        }
        if let (Some((true, span)), true) = (
            expect_no_route,
            expect_owner.is_some() || expect_path.is_some(),
        ) {
            self.problem(
                LintCode::InvalidValue,
                span,
                format!("route test `{name}` expects no route and a route"),
                "keep either expect_no_route or expect_owner / expect_path",
            );
            return None;
        }
        if let Some((path, span)) = &expect_path
            && path.first().copied().flatten() != from
            && from.is_some()
            && path.iter().all(Option::is_some)
        {
            self.problem(
                LintCode::InvalidValue,
                *span,
                format!("`expect_path` of test `{name}` must start with `from`"),
                "a route starts in the department the call is in now",
            );
            return None;
        }
        let from = from?;
        if !intent_ok {
            return None;
        }
        let expect_owner = match expect_owner {
            Some((Some(owner), span)) => Some((owner, span)),
            Some((None, _)) => return None,
            None => None,
        };
        let expect_path = match expect_path {
            Some((steps, span)) => Some((steps.into_iter().collect::<Option<Vec<usize>>>()?, span)),
            None => None,
        };
        Some(RouteTest {
            from,
            intent: intent.into_inner(),
            expect_owner,
            expect_path,
            expect_no_route: expect_no_route.map(|(_, span)| span),
        })
    }

    #[allow(
        clippy::type_complexity,
        reason = "the raw serde shapes, unpacked once here"
    )]
    fn chain(
        &mut self,
        origin: Origin,
        header: Span,
        name: &str,
        chain: SpannedList<RawHop>,
        verdicts: Option<SpannedList<Action>>,
        findings: Option<SpannedList<Vec<Spanned<RuntimeCode>>>>,
    ) -> Option<ChainTest> {
        let chain_span = origin.span(chain.span());
        let raw_hops = chain.into_inner();
        if raw_hops.is_empty() {
            self.problem(LintCode::InvalidValue, chain_span, format!("the chain of test `{name}` is empty"), "list the call's transfers in order, e.g. { from = \"a\", to = \"b\", intent = \"x\" }");
            return None;
        }
        if verdicts.is_none() && findings.is_none() {
            self.problem(LintCode::InvalidValue, header, format!("chain test `{name}` expects nothing"), "add expect_verdicts (one per transfer) or expect_findings: a test that asserts nothing proves nothing");
            return None;
        }
        let mut valid = true;
        let expect_verdicts = verdicts.map(|verdicts| {
            let span = origin.span(verdicts.span());
            let list: Vec<(Action, Span)> = verdicts
                .into_inner()
                .into_iter()
                .map(|verdict| (*verdict.get_ref(), origin.span(verdict.span())))
                .collect();
            (list, span)
        });
        let expect_findings = findings.map(|findings| {
            let span = origin.span(findings.span());
            let list: Vec<(Vec<RuntimeCode>, Span)> = findings
                .into_inner()
                .into_iter()
                .map(|codes| {
                    let at = origin.span(codes.span());
                    (
                        codes
                            .into_inner()
                            .into_iter()
                            .map(Spanned::into_inner)
                            .collect(),
                        at,
                    )
                })
                .collect();
            (list, span)
        });
        for (key, length, span) in [
            (
                "expect_verdicts",
                expect_verdicts.as_ref().map(|(list, _)| list.len()),
                expect_verdicts.as_ref().map(|(_, span)| *span),
            ),
            (
                "expect_findings",
                expect_findings.as_ref().map(|(list, _)| list.len()),
                expect_findings.as_ref().map(|(_, span)| *span),
            ),
        ] {
            if let (Some(length), Some(span)) = (length, span)
                && length != raw_hops.len()
            {
                self.problem(
                    LintCode::InvalidValue,
                    span,
                    format!(
                        "`{key}` of test `{name}` has {length} entr{}, the chain has {} transfer{}",
                        if length == 1 { "y" } else { "ies" },
                        raw_hops.len(),
                        if raw_hops.len() == 1 { "" } else { "s" }
                    ),
                    "give one entry per transfer of the chain, in order",
                );
                valid = false;
            }
        }
        let mut hops = Vec::with_capacity(raw_hops.len());
        for (position, raw) in raw_hops.into_iter().enumerate() {
            let span = origin.span(raw.span());
            let raw = raw.into_inner();
            // An unknown department is a mistake in the test, unless the hop expects
            // the engine's `unknown-department` finding.
            let expects_unknown = expect_findings.as_ref().is_some_and(|(list, _)| {
                list.get(position)
                    .is_some_and(|(codes, _)| codes.contains(&RuntimeCode::UnknownDepartment))
            });
            for department in [&raw.from, &raw.to] {
                if !expects_unknown && self.department(origin, department).is_none() {
                    valid = false;
                }
            }
            if let Some(intent) = &raw.intent
                && !self.intent(origin, intent)
            {
                valid = false;
            }
            let offset = match &raw.at {
                None => SignedDuration::from_secs(position as i64),
                Some(at) => match parse_duration(at.get_ref()) {
                    Ok(offset) => offset,
                    Err(error) => {
                        self.problem(LintCode::InvalidValue, origin.span(at.span()), error.to_string(), "`at` is the event's time after the start of the call, e.g. at = \"90s\"");
                        valid = false;
                        continue;
                    }
                },
            };
            hops.push(ChainHop {
                from: raw.from.into_inner(),
                to: raw.to.into_inner(),
                intent: raw.intent.map(Spanned::into_inner),
                mode: raw.mode.map(Spanned::into_inner),
                callback_number: raw.callback_number.map(Spanned::into_inner),
                offset,
                span,
            });
        }
        valid.then(|| ChainTest {
            hops,
            expect_verdicts: expect_verdicts.map(|(list, _)| list),
            expect_findings: expect_findings.map(|(list, _)| list),
        })
    }

    /// The department's index, or a diagnostic with "did you mean".
    fn department(&mut self, origin: Origin, name: &Spanned<String>) -> Option<usize> {
        if let Some(index) = self.rules.department(name.get_ref()) {
            return Some(index);
        }
        let at = origin.span(name.span());
        let diagnostic = Diagnostic::new(
            LintCode::UnknownDepartment,
            at,
            format!("unknown department `{}` in a test", name.get_ref()),
        )
        .with_primary_label("not declared in the rules");
        let rules = self.rules;
        let suggestion = self.departments.suggest(
            name.get_ref(),
            rules
                .departments
                .iter()
                .map(|department| department.id.as_str()),
        );
        self.diagnostics.push(match suggestion {
            Some(suggestion) => diagnostic.with_help(format!("did you mean `{suggestion}`?")),
            None => diagnostic
                .with_help("use a department id of the rules (`loopguard graph` lists them)"),
        });
        None
    }

    /// Whether the intent is one the rules know (their catalog, or any intent they
    /// handle or route when there is no catalog); reports it when not.
    fn intent(&mut self, origin: Origin, intent: &Spanned<String>) -> bool {
        if self.known_intents.contains(intent.get_ref().as_str()) {
            return true;
        }
        let diagnostic = Diagnostic::new(
            LintCode::UnknownIntent,
            origin.span(intent.span()),
            format!("intent `{}` is not one the rules know", intent.get_ref()),
        )
        .with_primary_label("no [[intent]], `handles` or transfer names it");
        let known = &self.known_intents;
        let suggestion = self
            .intents
            .suggest(intent.get_ref(), known.iter().copied());
        self.diagnostics.push(match suggestion {
            Some(suggestion) => diagnostic.with_help(format!("did you mean `{suggestion}`?")),
            None => diagnostic.with_help("use an intent of the rules"),
        });
        false
    }
}

/// The route-test keys of a [`RawTest`].
struct RawRoute {
    from: Option<Spanned<String>>,
    intent: Option<Spanned<String>>,
    expect_owner: Option<Spanned<String>>,
    expect_path: Option<SpannedList<String>>,
    expect_no_route: Option<Spanned<bool>>,
}
