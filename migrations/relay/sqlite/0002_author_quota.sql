-- The per-author storage quota (DESIGN.md §5) sums the sizes of an author's events outside the
-- practice's own kinds (2100-2199); this index holds only those rows, so the sum stays cheap for
-- authors with long clinical histories. The predicate is spelled as the quota query spells it.
CREATE INDEX events_quota_by_author ON events (pubkey) WHERE kind NOT BETWEEN 2100 AND 2199;
