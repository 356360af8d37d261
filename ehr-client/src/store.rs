//! The local store of a client (feature `local-store`): a mirror of the practice's events and
//! an outbox of signed events the relay has not acknowledged yet.
//!
//! Both are JSON Lines files, rewritten through a temporary file and a rename, so a crash
//! leaves either the old or the new file. The outbox is written before the mirror and is merged
//! into the mirror on open: an event in the outbox is never lost, even if the mirror write did
//! not happen. An outbox file can be carried to an online machine (`ehr publish --outbox`).

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use nostr::prelude::{Event, EventId};

/// Largest event line the store reads.
const MAX_LINE: usize = crate::event::MAX_EVENT_JSON;

/// Why the store could not be read or written. Paths are named; event contents never are.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not an event.
    #[error("{path}, line {line}: not a Nostr event")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
}

/// Events in a JSON Lines file. Signatures are not checked here: every reader of events
/// (`access`, `roster`, the relay) verifies them, so checking here would do it twice.
pub fn read_events(path: &Path) -> Result<Vec<Event>, StoreError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(StoreError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut events = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || StoreError::BadLine {
            path: path.to_owned(),
            line: index + 1,
        };
        if line.len() > MAX_LINE {
            return Err(bad());
        }
        events.push(Event::from_json(line).map_err(|_| bad())?);
    }
    Ok(events)
}

/// Write events as JSON Lines, atomically (temporary file, fsync, rename).
pub fn write_events<'a>(
    path: &Path,
    events: impl IntoIterator<Item = &'a Event>,
) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let mut buffer = Vec::new();
    for event in events {
        buffer.extend_from_slice(event.as_json().as_bytes());
        buffer.push(b'\n');
    }
    let temporary = path.with_extension("jsonl.tmp");
    let mut file = fs::File::create(&temporary).map_err(io)?;
    file.write_all(&buffer).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&temporary, path).map_err(io)
}

/// A client's mirror and outbox.
#[derive(Debug)]
pub struct LocalStore {
    mirror_path: PathBuf,
    outbox_path: PathBuf,
    events: Vec<Event>,
    ids: BTreeSet<EventId>,
    outbox: Vec<Event>,
}

impl LocalStore {
    /// Open (or create) the store in `dir`, with its outbox at `outbox` (default
    /// `dir/outbox.jsonl`).
    pub fn open(dir: &Path, outbox: Option<&Path>) -> Result<Self, StoreError> {
        fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let mirror_path = dir.join("events.jsonl");
        let outbox_path = outbox.map_or_else(|| dir.join("outbox.jsonl"), Path::to_owned);
        let mut store = Self {
            events: Vec::new(),
            ids: BTreeSet::new(),
            outbox: read_events(&outbox_path)?,
            mirror_path,
            outbox_path,
        };
        let mirror = read_events(&store.mirror_path)?;
        let pending = store.outbox.clone();
        store.add(mirror.into_iter().chain(pending));
        Ok(store)
    }

    fn add(&mut self, events: impl IntoIterator<Item = Event>) -> usize {
        let mut added = 0;
        for event in events {
            if self.ids.insert(event.id) {
                self.events.push(event);
                added += 1;
            }
        }
        added
    }

    /// Every event known here.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Events waiting for the relay, oldest first.
    pub fn pending(&self) -> &[Event] {
        &self.outbox
    }

    /// Add events fetched from a relay (or imported from a file) to the mirror. Returns how
    /// many were new.
    pub fn merge(&mut self, events: impl IntoIterator<Item = Event>) -> Result<usize, StoreError> {
        let added = self.add(events);
        if added > 0 {
            write_events(&self.mirror_path, &self.events)?;
        }
        Ok(added)
    }

    /// Store newly signed events: outbox first, then mirror, both as a whole.
    pub fn stage(&mut self, events: Vec<Event>) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut outbox = self.outbox.clone();
        outbox.extend(events.iter().cloned());
        write_events(&self.outbox_path, &outbox)?;
        self.outbox = outbox;
        self.add(events);
        write_events(&self.mirror_path, &self.events)
    }

    /// Drop acknowledged events from the outbox.
    pub fn acknowledge(&mut self, ids: &BTreeSet<EventId>) -> Result<(), StoreError> {
        let before = self.outbox.len();
        self.outbox.retain(|e| !ids.contains(&e.id));
        if self.outbox.len() != before {
            write_events(&self.outbox_path, &self.outbox)?;
        }
        Ok(())
    }
}
