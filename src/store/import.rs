//! Shell: writes replayed history into a data directory, so `serve` starts with
//! it. The same database, schema, lock and insertion as [`super::SqliteStore`]
//! (it reuses `sqlite.rs`), without the engine or the writer thread: the replay
//! has already judged every event. An event id already stored is kept as it is,
//! so importing the same history twice adds nothing.

use std::fs::File;
use std::path::Path;

use super::sqlite::{
    DATABASE_FILE, Duplicates, EventRow, OpenError, StoreConfig, insert_events, open_connection,
    prepare_directory, take_lock,
};
use crate::core::engine::RecordedEvent;

/// An open data directory, locked against a running server for as long as it lives.
pub struct HistoryImport {
    connection: rusqlite::Connection,
    path: String,
    // Held until the import is dropped: `serve` cannot open the directory meanwhile.
    _lock: File,
}

impl HistoryImport {
    /// Opens (creating or migrating) the database in `data_dir`; refuses a
    /// directory a running loopguard holds.
    pub fn open(data_dir: &Path) -> Result<Self, OpenError> {
        prepare_directory(data_dir)?;
        let lock = take_lock(data_dir)?;
        let database = data_dir.join(DATABASE_FILE);
        let connection = open_connection(&database, &StoreConfig::new(data_dir))?;
        Ok(Self {
            connection,
            path: database.display().to_string(),
            _lock: lock,
        })
    }

    /// Writes events in one transaction; returns how many were not stored before.
    pub fn write(&mut self, events: &[RecordedEvent]) -> Result<usize, String> {
        let failed = |error: rusqlite::Error| {
            format!(
                "cannot write to the database `{}`: {error}; the events of this batch were not imported (run the import again: stored events are kept, the rest are added)",
                self.path
            )
        };
        let rows: Vec<EventRow> = events.iter().map(EventRow::new).collect();
        let transaction = self.connection.transaction().map_err(failed)?;
        let inserted = insert_events(&transaction, &rows, Duplicates::Ignore).map_err(failed)?;
        transaction.commit().map_err(failed)?;
        Ok(inserted)
    }
}
