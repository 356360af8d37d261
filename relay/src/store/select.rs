//! The SQL of a NIP-01 filter and of a [`ReadScope`], shared by both backends. Statements use
//! `?` placeholders; PostgreSQL gets them numbered by [`ehr_service::database::numbered`].

use std::fmt::Write as _;

use nostr::prelude::{Filter, Timestamp};

use crate::access::{GIFT_WRAP, ReadScope};

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    /// Ids and keys.
    Blob(Vec<u8>),
    /// Times and kinds.
    Int(i64),
    /// Tag names and values.
    Text(String),
}

/// A statement and its values.
#[derive(Debug, Clone)]
pub struct Select {
    /// SQL with `?` placeholders.
    pub sql: String,
    /// Values, in placeholder order.
    pub binds: Vec<Bind>,
}

impl Select {
    /// `created_at, id, kind, raw` of the newest matching events, newest first, then the lower
    /// id (NIP-01), for PostgreSQL, which streams them. The inner query picks and orders row
    /// numbers only; the wide rows are joined after, in that order.
    pub fn events(filter: &Filter, scope: &ReadScope, limit: usize, now: Timestamp) -> Self {
        let mut s = Self::newest(
            "SELECT e.seq AS s, e.created_at AS c, e.id AS i FROM events e",
            filter,
            scope,
            limit,
            now,
        );
        s.sql = format!(
            "SELECT x.created_at, x.id, x.kind, x.raw FROM ({}) AS q JOIN events x ON x.seq = q.s ORDER BY q.c DESC, q.i ASC",
            s.sql
        );
        s
    }

    /// For SQLite, whose driver costs more per row than the query itself: the index of a REQ
    /// answer packed into one text value, records `seq US created_at US hex(id) US size` joined
    /// by RS, in no particular order (the caller sorts). `octet_length` reads the size from the
    /// record header, not the event. JSON never holds a raw control character, so the
    /// separators are safe.
    pub fn events_index_packed(
        filter: &Filter,
        scope: &ReadScope,
        limit: usize,
        now: Timestamp,
    ) -> Self {
        let mut s = Self::newest(
            "SELECT e.seq AS s, e.created_at AS c, e.id AS i, octet_length(e.raw) AS b FROM events e",
            filter,
            scope,
            limit,
            now,
        );
        s.sql = format!(
            "SELECT group_concat(q.s || char(31) || q.c || char(31) || hex(q.i) || char(31) || q.b, char(30)) FROM ({}) AS q",
            s.sql
        );
        s
    }

    /// For SQLite: `seq US kind US raw` of the events whose `seq` is in the JSON array `seqs`,
    /// packed like [`Select::events_index_packed`].
    pub fn events_by_seq_packed(seqs: String) -> Self {
        Self {
            sql: "SELECT group_concat(x.seq || char(31) || x.kind || char(31) || x.raw, char(30)) FROM events x WHERE x.seq IN (SELECT value FROM json_each(?))".into(),
            binds: vec![Bind::Text(seqs)],
        }
    }

    /// `head` with the filter and scope, newest first, at most `limit`.
    fn newest(
        head: &str,
        filter: &Filter,
        scope: &ReadScope,
        limit: usize,
        now: Timestamp,
    ) -> Self {
        let mut s = Self::from_where(head, filter, scope, now);
        s.sql
            .push_str(" ORDER BY e.created_at DESC, e.id ASC LIMIT ?");
        s.binds
            .push(Bind::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
        s
    }

    /// `COUNT(*)` of matching events.
    pub fn count(filter: &Filter, scope: &ReadScope, now: Timestamp) -> Self {
        Self::from_where("SELECT COUNT(*) FROM events e", filter, scope, now)
    }

    /// `created_at, id` of matching events, at most `cap`.
    pub fn fingerprints(filter: &Filter, scope: &ReadScope, cap: usize, now: Timestamp) -> Self {
        Self::newest(
            "SELECT e.created_at, e.id FROM events e",
            filter,
            scope,
            cap,
            now,
        )
    }

    fn from_where(head: &str, filter: &Filter, scope: &ReadScope, now: Timestamp) -> Self {
        let mut s = Self {
            sql: format!("{head} WHERE (e.expires_at IS NULL OR e.expires_at > ?)"),
            binds: vec![Bind::Int(secs(now))],
        };
        s.filter(filter);
        s.scope(scope);
        s
    }

    fn push_in(&mut self, column: &str, values: Vec<Bind>) {
        // NIP-01: an empty list matches nothing.
        if values.is_empty() {
            self.sql.push_str(" AND 1 = 0");
            return;
        }
        let marks = vec!["?"; values.len()].join(",");
        let _ = write!(self.sql, " AND {column} IN ({marks})");
        self.binds.extend(values);
    }

    fn filter(&mut self, filter: &Filter) {
        if let Some(ids) = &filter.ids {
            self.push_in(
                "e.id",
                ids.iter()
                    .map(|id| Bind::Blob(id.to_bytes().to_vec()))
                    .collect(),
            );
        }
        if let Some(authors) = &filter.authors {
            self.push_in(
                "e.pubkey",
                authors
                    .iter()
                    .map(|pk| Bind::Blob(pk.to_bytes().to_vec()))
                    .collect(),
            );
        }
        if let Some(kinds) = &filter.kinds {
            self.push_in(
                "e.kind",
                kinds
                    .iter()
                    .map(|k| Bind::Int(i64::from(k.as_u16())))
                    .collect(),
            );
        }
        if let Some(since) = filter.since {
            self.sql.push_str(" AND e.created_at >= ?");
            self.binds.push(Bind::Int(secs(since)));
        }
        if let Some(until) = filter.until {
            self.sql.push_str(" AND e.created_at <= ?");
            self.binds.push(Bind::Int(secs(until)));
        }
        for (letter, values) in &filter.generic_tags {
            if values.is_empty() {
                self.sql.push_str(" AND 1 = 0");
                continue;
            }
            let marks = vec!["?"; values.len()].join(",");
            let _ = write!(
                self.sql,
                " AND e.seq IN (SELECT t.event_seq FROM tags t WHERE t.name = ? AND t.value IN ({marks}))"
            );
            self.binds.push(Bind::Text(letter.to_string()));
            self.binds.extend(values.iter().cloned().map(Bind::Text));
        }
    }

    /// The read rule of [`ReadScope::allows`], in SQL.
    fn scope(&mut self, scope: &ReadScope) {
        let reader = scope.reader.to_hex();
        // Gift wraps go to their recipient only, whoever else may read everything.
        self.sql.push_str(
            " AND (e.kind <> ? OR e.seq IN (SELECT t.event_seq FROM tags t WHERE t.name = 'p' AND t.value = ?))",
        );
        self.binds.push(Bind::Int(i64::from(GIFT_WRAP)));
        self.binds.push(Bind::Text(reader.clone()));
        if scope.everything {
            return;
        }
        self.sql.push_str(" AND (e.pubkey = ?");
        self.binds
            .push(Bind::Blob(scope.reader.to_bytes().to_vec()));
        if !scope.kinds.is_empty() {
            let marks = vec!["?"; scope.kinds.len()].join(",");
            let _ = write!(self.sql, " OR e.kind IN ({marks})");
            self.binds
                .extend(scope.kinds.iter().map(|k| Bind::Int(i64::from(*k))));
        }
        let marks = vec!["?"; scope.tagged.len()].join(",");
        let _ = write!(
            self.sql,
            " OR e.seq IN (SELECT t.event_seq FROM tags t WHERE t.name = 'p' AND t.value IN ({marks}))"
        );
        self.binds
            .extend(scope.tagged.iter().map(|p| Bind::Text(p.clone())));
        if let Some(practice) = scope.practice_profile {
            self.sql.push_str(" OR (e.kind = 0 AND e.pubkey = ?)");
            self.binds.push(Bind::Blob(practice.to_bytes().to_vec()));
        }
        self.sql.push(')');
    }
}

/// Seconds as SQL integers.
pub fn secs(t: Timestamp) -> i64 {
    i64::try_from(t.as_secs()).unwrap_or(i64::MAX)
}
