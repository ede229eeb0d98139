//! Shell: cuts an input into records, with the line each starts on. Native history
//! is JSON Lines (read a line at a time, parsed from the slice: the fast path).
//! JSON records of the platforms come one per line, concatenated (Kinesis Firehose
//! writes them without separators), as a top-level array, or inside an object
//! under one key (`{"events": [...]}`, `{"conversations": [...]}`): each is
//! streamed element by element with serde, so memory holds one record. CEL is CSV.

use std::cell::Cell;
use std::fmt;
use std::io::{BufRead, Read};
use std::marker::PhantomData;
use std::rc::Rc;

use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Whether to read on after a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// A record as read: its line and either the record or why it is not one.
pub type Record<T> = (u64, Result<T, String>);

/// Reads JSON Lines; calls `each` with the 1-based line number and the line's
/// bytes (without the line end). Blank lines are skipped.
pub fn json_lines(
    reader: &mut dyn BufRead,
    mut each: impl FnMut(u64, &[u8]) -> Flow,
) -> Result<(), String> {
    let mut line = Vec::with_capacity(1024);
    let mut number = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|error| format!("read failed after line {number}: {error}"))?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        let text = trim_line(&line);
        if text.is_empty() {
            continue;
        }
        if each(number, text) == Flow::Stop {
            return Ok(());
        }
    }
}

fn trim_line(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|byte| !byte.is_ascii_whitespace())
        .map_or(start, |end| end + 1);
    &line[start..end.max(start)]
}

/// Reads JSON records of type `T`: top-level objects (one per line or
/// concatenated), top-level arrays of them, or objects holding them in an array
/// under `key`. A record that is valid JSON but not a `T` is handed to `each` as
/// an error and skipped; a top-level object that is not valid JSON is skipped up
/// to the end of its line; broken JSON inside an array ends the input (an error
/// naming the line and column).
pub fn json_records<T: DeserializeOwned>(
    reader: &mut dyn BufRead,
    key: Option<&str>,
    mut each: impl FnMut(Record<T>) -> Flow,
) -> Result<(), String> {
    let lines = Rc::new(LineCount::default());
    let mut counted = Counting {
        inner: reader,
        lines: lines.clone(),
    };
    loop {
        // Between top-level values: whitespace, then `{`, `[`, or the end.
        let Some(first) = counted.skip_whitespace()? else {
            return Ok(());
        };
        let line = lines.current();
        let mut stop = false;
        let mut callback = |record: Record<T>| {
            if each(record) == Flow::Stop {
                stop = true;
                Flow::Stop
            } else {
                Flow::Continue
            }
        };
        let mut deserializer = serde_json::Deserializer::from_reader(&mut counted);
        let result = match first {
            b'[' => Elements {
                lines: &lines,
                each: &mut callback,
                marker: PhantomData,
            }
            .deserialize(&mut deserializer)
            .map_err(|error| fatal(&error)),
            b'{' => TopObject {
                key,
                lines: &lines,
                line,
                each: &mut callback,
                marker: PhantomData,
            }
            .deserialize(&mut deserializer)
            .map_err(|error| (line, error.to_string())),
            other => Err((
                line,
                format!(
                    "expected a JSON object or array, found `{}`",
                    char::from(other).escape_default()
                ),
            )),
        };
        drop(deserializer);
        match result {
            Ok(()) => {}
            Err((line, message)) if first != b'[' => {
                // A broken record on its own line: report it and go on with the
                // next line.
                if callback((line, Err(format!("not valid JSON: {message}")))) == Flow::Stop {
                    return Ok(());
                }
                counted.skip_line()?;
            }
            Err((line, message)) => {
                return Err(format!("line {line}: broken JSON: {message}"));
            }
        }
        if stop {
            return Ok(());
        }
    }
}

/// Reads JSON records that stand alone (no wrapper object): JSON Lines, several
/// per line (Kinesis Firehose's concatenation), or one array. JSON Lines are read
/// a line at a time and parsed from the slice, the fast path; an array, or
/// objects spread over several lines, go through [`json_records`].
pub fn json_values<T: DeserializeOwned>(
    reader: &mut dyn BufRead,
    mut each: impl FnMut(Record<T>) -> Flow,
) -> Result<(), String> {
    let buffer = reader
        .fill_buf()
        .map_err(|error| format!("read failed: {error}"))?;
    let start = buffer
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(buffer.len());
    let lines_hold_records = buffer.get(start) != Some(&b'[')
        && buffer[start..]
            .iter()
            .position(|&byte| byte == b'\n')
            .is_some_and(|end| {
                serde_json::Deserializer::from_slice(&buffer[start..start + end])
                    .into_iter::<serde::de::IgnoredAny>()
                    .all(|value| value.is_ok())
            });
    if !lines_hold_records {
        return json_records(reader, None, each);
    }
    json_lines(reader, |line, bytes| {
        let mut values = serde_json::Deserializer::from_slice(bytes).into_iter::<T>();
        for value in &mut values {
            let record = value.map_err(|error| format!("not a record of this format: {error}"));
            let failed = record.is_err();
            if each((line, record)) == Flow::Stop {
                return Flow::Stop;
            }
            if failed {
                break;
            }
        }
        Flow::Continue
    })
}

fn fatal(error: &serde_json::Error) -> (u64, String) {
    (error.line() as u64, error.to_string())
}

/// Reads CSV without a header; calls `each` with each row's line and fields.
pub fn csv_rows(
    reader: &mut dyn BufRead,
    mut each: impl FnMut(Record<&[&str]>) -> Flow,
) -> Result<(), String> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut row = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut row) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = row.position().map_or(0, csv::Position::line);
                let fields: Vec<&str> = row.iter().collect();
                if each((line, Ok(&fields))) == Flow::Stop {
                    return Ok(());
                }
            }
            Err(error) => {
                let line = error.position().map_or(0, csv::Position::line);
                if let csv::ErrorKind::Io(io) = error.kind() {
                    return Err(format!("read failed at line {line}: {io}"));
                }
                if each((line, Err(error.to_string()))) == Flow::Stop {
                    return Ok(());
                }
            }
        }
    }
}

/// The line the reader is on, and the line of the first byte of the next record
/// (set by `mark`, noted at the next byte that is not whitespace or a comma).
#[derive(Default)]
struct LineCount {
    line: Cell<u64>,
    marked: Cell<bool>,
    record_line: Cell<u64>,
}

impl LineCount {
    fn current(&self) -> u64 {
        self.line.get() + 1
    }

    fn mark(&self) {
        self.marked.set(true);
        self.record_line.set(self.current());
    }

    fn record_line(&self) -> u64 {
        self.record_line.get()
    }
}

/// A reader that counts lines as serde_json reads through it.
struct Counting<'a> {
    inner: &'a mut dyn BufRead,
    lines: Rc<LineCount>,
}

impl Counting<'_> {
    /// Skips whitespace; returns the next byte without consuming it, or `None` at
    /// the end.
    fn skip_whitespace(&mut self) -> Result<Option<u8>, String> {
        loop {
            let buffer = self.inner.fill_buf().map_err(|error| {
                format!("read failed at line {}: {error}", self.lines.current())
            })?;
            let Some(&byte) = buffer.first() else {
                return Ok(None);
            };
            if matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
                || byte == 0xef
                || byte == 0xbb
                || byte == 0xbf
            {
                if byte == b'\n' {
                    self.lines.line.set(self.lines.line.get() + 1);
                }
                self.inner.consume(1);
                continue;
            }
            return Ok(Some(byte));
        }
    }

    /// Skips to the start of the next line.
    fn skip_line(&mut self) -> Result<(), String> {
        let mut rest = Vec::new();
        let read = self
            .inner
            .read_until(b'\n', &mut rest)
            .map_err(|error| format!("read failed at line {}: {error}", self.lines.current()))?;
        if read > 0 && rest.last() == Some(&b'\n') {
            self.lines.line.set(self.lines.line.get() + 1);
        }
        Ok(())
    }
}

impl Read for Counting<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        let lines = &self.lines;
        for &byte in &buffer[..read] {
            if lines.marked.get() && !matches!(byte, b' ' | b'\t' | b'\r' | b'\n' | b',') {
                lines.marked.set(false);
                lines.record_line.set(lines.current());
            }
            if byte == b'\n' {
                lines.line.set(lines.line.get() + 1);
            }
        }
        Ok(read)
    }
}

/// Streams the elements of an array, one record at a time.
struct Elements<'a, 'f, T> {
    lines: &'a LineCount,
    each: &'f mut dyn FnMut(Record<T>) -> Flow,
    marker: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Elements<'_, '_, T> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Elements<'_, '_, T> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<(), A::Error> {
        loop {
            self.lines.mark();
            let Some(element) = sequence.next_element::<Box<serde_json::value::RawValue>>()? else {
                return Ok(());
            };
            let line = self.lines.record_line();
            let record = serde_json::from_str::<T>(element.get()).map_err(|error| {
                format!("not a record of this format: {}", without_position(&error))
            });
            if (self.each)((line, record)) == Flow::Stop {
                // Stop reading: the rest of the array is not needed.
                while sequence.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                return Ok(());
            }
        }
    }
}

/// A top-level object: either records under `key`, or itself a record.
struct TopObject<'a, 'f, 'k, T> {
    key: Option<&'k str>,
    lines: &'a LineCount,
    line: u64,
    each: &'f mut dyn FnMut(Record<T>) -> Flow,
    marker: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for TopObject<'_, '_, '_, T> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for TopObject<'_, '_, '_, T> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a record, or an object holding records")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut fields = serde_json::Map::new();
        let mut held = false;
        while let Some(name) = map.next_key::<String>()? {
            if self.key == Some(name.as_str()) {
                held = true;
                map.next_value_seed(Elements {
                    lines: self.lines,
                    each: &mut *self.each,
                    marker: PhantomData,
                })?;
            } else if held {
                map.next_value::<serde::de::IgnoredAny>()?;
            } else {
                fields.insert(name, map.next_value::<serde_json::Value>()?);
            }
        }
        if !held {
            let record = serde_json::from_value::<T>(serde_json::Value::Object(fields))
                .map_err(|error| format!("not a record of this format: {error}"));
            (self.each)((self.line, record));
        }
        Ok(())
    }
}

/// serde_json's message without its " at line 1 column 9" (the line is ours).
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(position) => text[..position].to_owned(),
        None => text,
    }
}
