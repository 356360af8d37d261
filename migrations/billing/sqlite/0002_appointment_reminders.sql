-- Appointment reminders (DESIGN.md §7): the bot reads the kind 2126 records sealed to it and
-- sends each reminder once. A row is written in the transaction that queues the message, so a
-- reminder is queued exactly once, across restarts and crashes. The appointment id is opaque;
-- the time is part of the key, so a moved appointment is reminded of its new time. No patient
-- key and no text here: those are in the queued gift wrap only.
CREATE TABLE appointment_reminders (
    appointment TEXT NOT NULL,
    start_at INTEGER NOT NULL,
    before_seconds INTEGER NOT NULL,
    enqueued_at INTEGER NOT NULL,
    PRIMARY KEY (appointment, start_at, before_seconds)
);
CREATE INDEX appointment_reminders_start ON appointment_reminders (start_at);

-- Messages about an appointment belong to no invoice: deliveries.invoice_id becomes optional
-- and 'appointment' a purpose. SQLite changes a column's constraints only by rebuilding the
-- table; delivery_attempts, which refers to it, is rebuilt with it, so that no foreign key is
-- ever left pointing at a dropped table (foreign keys stay on throughout).
CREATE TABLE deliveries_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id INTEGER REFERENCES invoices (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('invoice', 'reminder', 'receipt', 'appointment')),
    recipient TEXT NOT NULL,
    copy INTEGER NOT NULL,
    rumor_id TEXT NOT NULL,
    wrap TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'rejected', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    CHECK ((invoice_id IS NULL) = (purpose = 'appointment'))
);
INSERT INTO deliveries_new (id, invoice_id, purpose, recipient, copy, rumor_id, wrap, status, attempts, next_attempt_at, created_at, sent_at)
    SELECT id, invoice_id, purpose, recipient, copy, rumor_id, wrap, status, attempts, next_attempt_at, created_at, sent_at
    FROM deliveries;

CREATE TABLE delivery_attempts_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES deliveries_new (id),
    relay TEXT NOT NULL,
    at INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'rejected', 'error')),
    message TEXT NOT NULL
);
INSERT INTO delivery_attempts_new (id, delivery_id, relay, at, outcome, message)
    SELECT id, delivery_id, relay, at, outcome, message FROM delivery_attempts;

DROP TABLE delivery_attempts;
DROP TABLE deliveries;
-- Renaming also renames the reference in delivery_attempts_new.
ALTER TABLE deliveries_new RENAME TO deliveries;
ALTER TABLE delivery_attempts_new RENAME TO delivery_attempts;
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_invoice ON deliveries (invoice_id);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id);
