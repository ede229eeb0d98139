//! Shell: the progress bar, on a terminal only (never with --quiet or when stderr
//! is a pipe or file): bytes read of the input with an ETA from its size, records
//! and records per second, and the calls open.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    consumed: Option<Rc<Cell<u64>>>,
    started: Instant,
    records: u64,
    held: usize,
}

impl Progress {
    pub fn new(shown: bool) -> Self {
        Self {
            bar: shown.then(ProgressBar::hidden),
            consumed: None,
            started: Instant::now(),
            records: 0,
            held: 0,
        }
    }

    /// A new input: `size` in bytes when known (not for stdin).
    pub fn start_input(&mut self, name: &str, size: Option<u64>, consumed: Rc<Cell<u64>>) {
        let Some(previous) = self.bar.take() else {
            return;
        };
        previous.finish_and_clear();
        let bar = match size {
            Some(size) => ProgressBar::new(size).with_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {bytes}/{total_bytes} {msg} (ETA {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{prefix} {spinner} {bytes} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_prefix(name.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        self.bar = Some(bar);
        self.consumed = Some(consumed);
    }

    pub fn record(&mut self) {
        self.records += 1;
    }

    /// Joining state held by a format (contacts, tasks, calls waiting).
    pub fn held(&mut self, held: usize) {
        self.held = held;
    }

    /// Refreshes the bar (called every few thousand records).
    pub fn update(&mut self, open_calls: usize) {
        let Some(bar) = &self.bar else {
            return;
        };
        if let Some(consumed) = &self.consumed {
            bar.set_position(consumed.get());
        }
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        bar.set_message(format!(
            "{} records, {:.0}/s, {open_calls} calls open, {} records held for joining",
            self.records,
            self.records as f64 / seconds,
            self.held
        ));
    }

    /// Prints a line above the bar (or plainly, without one).
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) if !bar.is_hidden() => bar.suspend(|| eprintln!("{line}")),
            _ => eprintln!("{line}"),
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
