//! Shell: `loopguard replay`. Opens the inputs, frames their records, hands each
//! to the pure parsers and the replayer in `core::replay`, reports bad records on
//! stderr, shows progress on a terminal, writes the replayed events into a store
//! with `--into`, and prints the report. It judges nothing itself.

mod framing;
mod input;
mod progress;
pub mod render;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};

use crate::core::duration::parse_duration;
use crate::core::replay::asterisk::{CelAssembler, CelRow};
use crate::core::replay::connect::{ConnectAssembler, RawCtr};
use crate::core::replay::genesys::{RawConversation, conversation_events};
use crate::core::replay::native::parse_native_line;
use crate::core::replay::twilio::{RawTaskRouterEvent, TwilioAssembler};
use crate::core::replay::{
    HistoryEvent, InputFormat, Origin, Problem, ProblemKind, RecordError, ReplayConfig, Replayer,
};
use crate::core::rules::Rules;
use crate::exit::{FINDINGS_OR_RUNTIME_FAILURE, Failure, SUCCESS};
use crate::rules_files;
use crate::store::HistoryImport;
use crate::store::postgres::is_postgres_url;
use framing::Flow;
use input::InputName;
use progress::Progress;
use render::{Compared, InputSummary, ReplayView};

/// Late records reported one by one; the rest are counted.
const LATE_SHOWN: u64 = 10;
/// Replayed events written to the store per transaction.
const STORE_BATCH: usize = 2000;
/// Records between two housekeeping rounds (eviction, store writes, progress).
const HOUSEKEEPING_EVERY: u64 = 4096;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// History files (`-` for stdin; gzip is recognised). The format of each is
    /// detected from its content unless --input-format says it.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Rules directory or file to judge the history under.
    #[arg(long, default_value = "routing-rules", env = "LOOPGUARD_RULES")]
    pub rules: PathBuf,
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
    /// Another rules directory: replay the same history under it too and report
    /// the transfers whose verdict changes.
    #[arg(long, value_name = "OTHER_RULES")]
    pub compare: Option<PathBuf>,
    /// Write the replayed events and answers into this data directory (the
    /// SQLite store `serve --data-dir` uses). Refused while a server holds it;
    /// a PostgreSQL URL is refused too (importing into a shared database is not
    /// supported).
    #[arg(long, value_name = "DATA_DIR")]
    pub into: Option<PathBuf>,
    /// The input format, when detection should not decide: native, connect,
    /// twilio, genesys or asterisk.
    #[arg(long, value_parser = parse_format)]
    pub input_format: Option<InputFormat>,
    /// How far out of event-time order records may come (e.g. `30m`, `2h`).
    #[arg(long, default_value = "1h", value_parser = parse_window)]
    pub reorder_window: SignedDuration,
    /// Stop at the first record that cannot be replayed (exit 2).
    #[arg(long)]
    pub strict: bool,
    /// No progress bar (it is only ever shown on a terminal).
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReportFormat {
    Human,
    Json,
    Html,
}

fn parse_format(value: &str) -> Result<InputFormat, String> {
    InputFormat::parse(value).ok_or_else(|| {
        format!(
            "`{value}` is not one of {}",
            InputFormat::ALL.map(InputFormat::as_str).join(", ")
        )
    })
}

fn parse_window(value: &str) -> Result<SignedDuration, String> {
    parse_duration(value).map_err(|error| error.to_string())
}

/// Runs `loopguard replay`: exit 0 without loops, 1 with loops, 2 when an input or
/// the rules cannot be read (or, with --strict, at the first bad record).
pub fn run(args: &ReplayArgs) -> Result<u8, Failure> {
    let rules = load_rules(&args.rules)?;
    let other = args.compare.as_deref().map(load_rules).transpose()?;
    let names: Vec<InputName> = args
        .files
        .iter()
        .map(|file| InputName::parse(file))
        .collect();
    if names.iter().filter(|name| name.path.is_none()).count() > 1 {
        return Err(Failure::usage("`-` (stdin) can be given only once"));
    }
    if let Some(url) = args.into.as_deref().and_then(|path| path.to_str())
        && is_postgres_url(url)
    {
        return Err(Failure::usage(
            "--into takes a data directory (the SQLite store of `serve --data-dir`), not a \
             database URL: replaying into a shared PostgreSQL database is not supported; \
             replay into a data directory, or send the history to a running instance's webhook",
        ));
    }
    let store = args
        .into
        .as_deref()
        .map(|directory| {
            HistoryImport::open(directory).map_err(|error| Failure::usage(error.to_string()))
        })
        .transpose()?;
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let mut session = Session {
        replayer: Replayer::new(
            &rules,
            other.as_ref(),
            ReplayConfig {
                reorder_window: args.reorder_window,
                keep_recorded: store.is_some(),
            },
        ),
        rules: &rules,
        other: other.as_ref(),
        reorder_window: args.reorder_window,
        names: &names,
        strict: args.strict,
        progress: Progress::new(show_progress),
        store,
        late_reported: 0,
        late_total: 0,
        stopped: None,
        imported: 0,
    };
    let mut inputs = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let summary = session.read_input(index as u32, name, args.input_format)?;
        inputs.push(summary);
        if session.stopped.is_some() {
            break;
        }
    }
    if let Some(message) = session.stopped.take() {
        session.progress.finish();
        return Err(Failure::usage(message));
    }
    let Session {
        replayer,
        mut progress,
        late_total,
        late_reported,
        mut imported,
        mut store,
        ..
    } = session;
    let finished = replayer.finish_with(|recorded| {
        if let Some(store) = store.as_mut() {
            for batch in recorded.chunks(STORE_BATCH) {
                imported += store.write(batch).map_err(Failure::usage)?;
            }
        }
        Ok::<(), Failure>(())
    })?;
    progress.finish();
    if late_total > late_reported {
        eprintln!(
            "warning: {} more late records (later than --reorder-window); raise --reorder-window to judge them in event time",
            late_total - late_reported
        );
    }
    if let Some(directory) = args.into.as_deref() {
        eprintln!(
            "imported {imported} new events into {} (events already there were kept as they were)",
            directory.display()
        );
    }
    let rules_shown = args.rules.display().to_string();
    let other_shown = args.compare.as_ref().map(|path| path.display().to_string());
    let view = ReplayView {
        rules: &rules_shown,
        inputs: &inputs,
        report: &finished.report,
        compared: finished.compared.as_ref().zip(other_shown.as_deref()).map(
            |((report, comparison), rules)| Compared {
                rules,
                report,
                comparison,
            },
        ),
    };
    let text = match args.format {
        ReportFormat::Human => render::render_human(&view),
        ReportFormat::Json => render::render_json(&view),
        ReportFormat::Html => render::render_html(&view),
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) is not an error worth reporting.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    Ok(if finished.report.summary.calls_with_loop > 0 {
        FINDINGS_OR_RUNTIME_FAILURE
    } else {
        SUCCESS
    })
}

fn load_rules(directory: &Path) -> Result<Rules, Failure> {
    rules_files::load_clean_rules(directory).map_err(|failure| match failure {
        rules_files::LoadFailure::Unreadable(error) => Failure::usage(error.to_string()),
        rules_files::LoadFailure::Findings { .. } => Failure::usage(format!(
            "the rules in `{}` have errors; run `loopguard lint {}` to see them",
            directory.display(),
            directory.display()
        )),
    })
}

/// The replay in progress: the replayer, the state of the formats that join
/// records, and where problems go.
struct Session<'a> {
    replayer: Replayer<'a>,
    rules: &'a Rules,
    other: Option<&'a Rules>,
    reorder_window: SignedDuration,
    names: &'a [InputName],
    strict: bool,
    progress: Progress,
    store: Option<HistoryImport>,
    late_reported: u64,
    late_total: u64,
    /// Set when --strict stops the replay, with the message to exit with.
    stopped: Option<String>,
    imported: usize,
}

impl Session<'_> {
    fn read_input(
        &mut self,
        index: u32,
        name: &InputName,
        forced: Option<InputFormat>,
    ) -> Result<InputSummary, Failure> {
        let shown = name.shown();
        let mut opened = input::open(name, forced).map_err(Failure::usage)?;
        self.progress
            .start_input(&shown, opened.size, opened.consumed.clone());
        let format = opened.format;
        let records_before = self.replayer_records();
        let skipped_before = self.replayer.skipped();
        let rules = self.rules;
        let other = self.other;
        let known = move |identity: &str| {
            rules.resolve(identity).is_some()
                || other.is_some_and(|other| other.resolve(identity).is_some())
        };
        let origin = |line: u64| Origin { input: index, line };
        let reader = &mut *opened.reader;
        let result = match format {
            InputFormat::Native => framing::json_lines(reader, |line, bytes| {
                self.record(
                    origin(line),
                    parse_native_line(bytes, origin(line)).map(|event| vec![event]),
                )
            }),
            InputFormat::Connect => {
                let mut assembler = ConnectAssembler::new(known);
                let result = framing::json_values::<RawCtr>(reader, |(line, raw)| {
                    let events = raw.map_err(RecordError::new).and_then(|raw| {
                        let mut out = Vec::new();
                        assembler.push(raw, origin(line), &mut out).map(|()| out)
                    });
                    let flow = self.record(origin(line), events);
                    if self.due() {
                        let mut problems = Vec::new();
                        if let Some(before) = self.evict_before() {
                            assembler.evict(before, &mut problems);
                        }
                        self.unplaced(problems);
                        self.progress.held(assembler.held());
                    }
                    flow
                });
                let mut problems = Vec::new();
                assembler.finish(&mut problems);
                self.unplaced(problems);
                result
            }
            InputFormat::Twilio => {
                let mut assembler = TwilioAssembler::new(known);
                let result = framing::json_records::<RawTaskRouterEvent>(
                    reader,
                    Some("events"),
                    |(line, raw)| {
                        let events = raw.map_err(RecordError::new).and_then(|raw| {
                            let mut out = Vec::new();
                            assembler.push(raw, origin(line), &mut out).map(|()| out)
                        });
                        let flow = self.record(origin(line), events);
                        if self.due() {
                            let mut problems = Vec::new();
                            if let Some(before) = self.evict_before() {
                                assembler.evict(before, &mut problems);
                            }
                            self.unplaced(problems);
                            self.progress.held(assembler.held());
                        }
                        flow
                    },
                );
                let mut problems = Vec::new();
                assembler.finish(&mut problems);
                self.unplaced(problems);
                result
            }
            InputFormat::Genesys => framing::json_records::<RawConversation>(
                reader,
                Some("conversations"),
                |(line, raw)| {
                    let events = raw
                        .map_err(RecordError::new)
                        .and_then(|raw| conversation_events(&raw, origin(line), &known));
                    self.record(origin(line), events)
                },
            ),
            InputFormat::Asterisk => {
                let mut assembler = CelAssembler::new();
                framing::csv_rows(reader, |(line, fields)| {
                    let events = fields.map_err(RecordError::new).and_then(|fields| {
                        let row = CelRow::from_fields(fields)?;
                        let mut out = Vec::new();
                        assembler.push(&row, origin(line), &mut out).map(|()| out)
                    });
                    let flow = self.record(origin(line), events);
                    if self.due()
                        && let Some(before) = self.evict_before()
                    {
                        assembler.evict(before);
                        self.progress.held(assembler.held());
                    }
                    flow
                })
            }
        };
        result.map_err(|message| Failure::usage(format!("cannot read `{shown}`: {message}")))?;
        Ok(InputSummary {
            file: shown,
            format,
            records: self.replayer_records() - records_before,
            skipped: self.replayer.skipped() - skipped_before,
        })
    }

    fn replayer_records(&self) -> u64 {
        self.replayer.records()
    }

    /// Takes one record's events (or why it has none).
    fn record(
        &mut self,
        origin: Origin,
        events: Result<impl IntoIterator<Item = HistoryEvent>, RecordError>,
    ) -> Flow {
        self.replayer.count_record();
        self.progress.record();
        match events {
            Ok(events) => {
                for event in events {
                    self.replayer.push(event);
                }
            }
            Err(error) => {
                self.replayer.count_skipped();
                self.problems(vec![Problem::skipped(origin, error.message)]);
            }
        }
        let problems = self.replayer.take_problems();
        if !problems.is_empty() {
            self.problems(problems);
        }
        if self.due() {
            self.housekeeping();
        }
        if self.stopped.is_some() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    /// Whether this record is a housekeeping round.
    fn due(&self) -> bool {
        self.replayer.records().is_multiple_of(HOUSEKEEPING_EVERY)
    }

    /// Event time before which joining state can go: it is older than anything
    /// the replay can still place.
    fn evict_before(&self) -> Option<Timestamp> {
        let keep = self.reorder_window + SignedDuration::from_hours(2);
        self.replayer
            .released()
            .and_then(|released| released.checked_sub(keep).ok())
    }

    fn housekeeping(&mut self) {
        if let Err(failure) = self.flush_store() {
            self.stopped = Some(failure.message);
        }
        self.progress.update(self.replayer.open_calls());
    }

    fn flush_store(&mut self) -> Result<(), Failure> {
        let Some(store) = self.store.as_mut() else {
            return Ok(());
        };
        let recorded = self.replayer.take_recorded();
        for batch in recorded.chunks(STORE_BATCH) {
            self.imported += store.write(batch).map_err(Failure::usage)?;
        }
        Ok(())
    }

    /// Transfers a joining format could never place: not replayed, so skipped.
    fn unplaced(&mut self, problems: Vec<Problem>) {
        for _ in &problems {
            self.replayer.count_skipped();
        }
        self.problems(problems);
    }

    /// Reports problems on stderr: every skipped record, the first late ones.
    fn problems(&mut self, problems: Vec<Problem>) {
        for problem in problems {
            let place = format!(
                "{}:{}",
                self.names[problem.origin.input as usize].shown(),
                problem.origin.line
            );
            match problem.kind {
                ProblemKind::Late => {
                    self.late_total += 1;
                    if self.late_reported < LATE_SHOWN {
                        self.late_reported += 1;
                        self.progress
                            .println(&format!("warning: {place}: {}", problem.message));
                    }
                }
                ProblemKind::Skipped if self.strict => {
                    self.stopped = Some(format!(
                        "{place}: {} (--strict stops at the first record that cannot be replayed)",
                        problem.message
                    ));
                    return;
                }
                ProblemKind::Skipped => {
                    self.progress
                        .println(&format!("skipped: {place}: {}", problem.message));
                }
            }
        }
    }
}
