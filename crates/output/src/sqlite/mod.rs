//! SQLite output: every trace, span, thread, event count, sum and protocol attribute as rows
//! a user can query (schema in `schema.sql`, documented with example queries in
//! `docs/sqlite.md`). The whole analysis is written in one transaction, committed by
//! [`TraceSink::finish`]: a file left by a failed analysis has the tables but no rows.

mod rows;

use crate::{OutputContext, TraceSink};
use kspan_engine::{Summary, Trace};
use rusqlite::Connection;
use std::io;
use std::path::Path;

/// The tables and indexes, created in a new database.
const SCHEMA: &str = include_str!("schema.sql");

/// Writes traces into a new SQLite database.
pub struct SqliteSink {
    db: Connection,
    context: OutputContext,
}

impl SqliteSink {
    /// Creates the database at `path`, replacing a file already there (as `-o` does for
    /// every format), and opens the transaction the traces go into.
    pub fn create(path: &Path, context: OutputContext) -> io::Result<SqliteSink> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let db = Connection::open(path).map_err(io::Error::other)?;
        db.execute_batch(SCHEMA).map_err(io::Error::other)?;
        db.execute_batch("BEGIN").map_err(io::Error::other)?;
        Ok(SqliteSink { db, context })
    }
}

impl TraceSink for SqliteSink {
    fn trace(&mut self, trace: &Trace) -> io::Result<()> {
        rows::insert_trace(&self.db, &self.context, trace).map_err(io::Error::other)
    }

    fn finish(&mut self, _summary: &Summary) -> io::Result<()> {
        self.db.execute_batch("COMMIT").map_err(io::Error::other)
    }
}
