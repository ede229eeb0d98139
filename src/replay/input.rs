//! Shell: opens history inputs. A path or `-` (stdin); gzip is recognised by its
//! magic bytes and decompressed on the fly (flate2, several members allowed);
//! the format is detected from the first bytes unless given. The compressed
//! bytes read so far are counted for the progress bar's ETA.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::rc::Rc;

use flate2::read::MultiGzDecoder;

use crate::core::replay::{InputFormat, detect};

/// How much of a file the format detection looks at.
const DETECT_BYTES: usize = 64 * 1024;
/// Read buffer: large enough for the detection window.
const BUFFER_BYTES: usize = 256 * 1024;

/// An input as named on the command line.
#[derive(Debug, Clone)]
pub struct InputName {
    /// `None` for stdin.
    pub path: Option<PathBuf>,
}

impl InputName {
    pub fn parse(argument: &str) -> Self {
        Self {
            path: (argument != "-").then(|| PathBuf::from(argument)),
        }
    }

    /// How messages name it.
    pub fn shown(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "<stdin>".to_owned(), |path| path.display().to_string())
    }
}

/// An opened input, positioned at its first byte, decompressed.
pub struct OpenInput {
    pub reader: Box<dyn BufRead>,
    pub format: InputFormat,
    /// Size on disk (for the ETA); `None` for stdin.
    pub size: Option<u64>,
    /// Bytes read from the file or stdin so far (compressed bytes for gzip).
    pub consumed: Rc<Cell<u64>>,
}

/// Opens an input and settles its format. Errors say what is wrong and what to do.
pub fn open(name: &InputName, forced: Option<InputFormat>) -> Result<OpenInput, String> {
    let shown = name.shown();
    let (raw, size): (Box<dyn Read>, Option<u64>) = match &name.path {
        None => (Box::new(std::io::stdin().lock()), None),
        Some(path) => {
            let file = File::open(path).map_err(|error| {
                format!("cannot read `{shown}`: {error}; check the path and its permissions")
            })?;
            let size = file.metadata().ok().map(|metadata| metadata.len());
            (Box::new(file), size)
        }
    };
    let consumed = Rc::new(Cell::new(0));
    let mut counted = BufReader::with_capacity(
        BUFFER_BYTES,
        Counted {
            inner: raw,
            consumed: consumed.clone(),
        },
    );
    let head = counted
        .fill_buf()
        .map_err(|error| format!("cannot read `{shown}`: {error}"))?;
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::with_capacity(
            BUFFER_BYTES,
            MultiGzDecoder::new(counted),
        ))
    } else {
        Box::new(counted)
    };
    let format = match forced {
        Some(format) => format,
        None => {
            let prefix = fill_prefix(&mut reader).map_err(|error| {
                format!(
                    "cannot read `{shown}`{}: {error}",
                    if gzip { " (gzip)" } else { "" }
                )
            })?;
            detect(prefix).ok_or_else(|| {
                format!(
                    "cannot tell the format of `{shown}` from its first bytes; name it with --input-format ({})",
                    InputFormat::ALL.map(InputFormat::as_str).join(", ")
                )
            })?
        }
    };
    Ok(OpenInput {
        reader,
        format,
        size,
        consumed,
    })
}

/// The buffered start of the input, up to [`DETECT_BYTES`] (less if the input is
/// shorter), without consuming it.
fn fill_prefix(reader: &mut Box<dyn BufRead>) -> std::io::Result<&[u8]> {
    // A BufReader fills once; a gzip stream may return little per call, so the
    // first buffer is what detection sees. It is at least one deflate block.
    let buffer = reader.fill_buf()?;
    let end = buffer.len().min(DETECT_BYTES);
    Ok(&buffer[..end])
}

/// Counts the bytes read through it.
struct Counted {
    inner: Box<dyn Read>,
    consumed: Rc<Cell<u64>>,
}

impl Read for Counted {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.consumed.set(self.consumed.get() + read as u64);
        Ok(read)
    }
}
