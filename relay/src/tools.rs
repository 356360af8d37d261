//! Offline and online maintenance: backup snapshots, JSONL export and import.

use std::io::{BufRead, Write};
use std::path::Path;

use nostr::prelude::Timestamp;

use crate::config::Config;
use crate::error::RelayError;
use crate::store::{Store, WriteJob, WriteOutcome, parse_stored};

/// Events per transaction when importing.
const IMPORT_BATCH: usize = 500;

/// What an import did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    /// Newly stored.
    pub stored: u64,
    /// Already present (or superseded by a newer replaceable version).
    pub duplicates: u64,
    /// Refused by a storage rule (for example an id its author deleted).
    pub refused: u64,
}

/// Write a consistent snapshot of a running (or stopped) relay's SQLite database to `out`.
pub async fn backup(config: &Config, out: &Path) -> Result<(), RelayError> {
    Store::open(&config.database).await?.backup(out).await
}

/// Write every stored event as one JSON object per line, oldest first; returns the count.
pub async fn export(config: &Config, out: &mut impl Write) -> Result<u64, RelayError> {
    let store = Store::open(&config.database).await?;
    let mut after = None;
    let mut count = 0;
    loop {
        let page = store.export_page(after.take(), 1000).await?;
        let Some((at, id, _)) = page.last() else {
            break;
        };
        after = Some((*at, id.clone()));
        for (_, _, raw) in &page {
            writeln!(out, "{raw}")?;
            count += 1;
        }
    }
    out.flush()?;
    Ok(count)
}

/// Store the events of a JSONL file. Every line must be a validly signed event; the first bad
/// line stops the import before anything of its batch is written.
pub async fn import(config: &Config, input: impl BufRead) -> Result<ImportReport, RelayError> {
    let store = Store::open(&config.database).await?;
    let mut report = ImportReport::default();
    let mut batch = Vec::with_capacity(IMPORT_BATCH);
    for (index, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event = parse_stored(&line, index + 1)?;
        event.verify().map_err(|_| RelayError::BadEvent {
            line: index + 1,
            reason: "bad event id or signature".into(),
        })?;
        if event.kind.is_ephemeral() {
            continue;
        }
        let raw = event.as_json();
        batch.push(WriteJob {
            event,
            raw,
            received_at: Timestamp::now(),
        });
        if batch.len() == IMPORT_BATCH {
            tally(&mut report, store.write_batch(&batch).await?);
            batch.clear();
        }
    }
    if !batch.is_empty() {
        tally(&mut report, store.write_batch(&batch).await?);
    }
    Ok(report)
}

fn tally(report: &mut ImportReport, outcomes: Vec<WriteOutcome>) {
    for outcome in outcomes {
        match outcome {
            WriteOutcome::Stored => report.stored += 1,
            WriteOutcome::Duplicate(_) => report.duplicates += 1,
            WriteOutcome::Refused(_) => report.refused += 1,
        }
    }
}
