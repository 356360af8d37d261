-- The billing bot's data (DESIGN.md §7). Money is integer minor units of the practice's currency;
-- dates are 'YYYY-MM-DD', periods 'YYYY-MM', times Unix seconds. No names, no clinical data:
-- members are public keys.

-- Membership plans: a monthly fee, a fee per visit, or a family fee (plus one per dependant).
CREATE TABLE plans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('monthly', 'per-visit', 'family')),
    amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
    per_dependant_minor INTEGER NOT NULL DEFAULT 0 CHECK (per_dependant_minor >= 0),
    created_at INTEGER NOT NULL
);

-- A household groups a payer (a patient, or a guardian) and the dependants it pays for.
CREATE TABLE households (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at INTEGER NOT NULL
);

CREATE TABLE members (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pubkey TEXT NOT NULL UNIQUE,
    household_id INTEGER NOT NULL REFERENCES households (id),
    role TEXT NOT NULL CHECK (role IN ('payer', 'dependant')),
    plan_id INTEGER REFERENCES plans (id),
    joined_on TEXT NOT NULL,
    left_on TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX members_household ON members (household_id);
-- One payer per household.
CREATE UNIQUE INDEX members_one_payer ON members (household_id) WHERE role = 'payer';

CREATE TABLE invoices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id INTEGER NOT NULL REFERENCES members (id),
    period TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    amount_sat INTEGER NOT NULL CHECK (amount_sat > 0),
    address TEXT NOT NULL UNIQUE,
    address_index INTEGER NOT NULL,
    pay_link TEXT,
    status TEXT NOT NULL CHECK (status IN ('open', 'paid')),
    issued_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    reminders_sent INTEGER NOT NULL DEFAULT 0,
    paid_at INTEGER,
    UNIQUE (member_id, period)
);
CREATE INDEX invoices_open ON invoices (status, due_at);

CREATE TABLE invoice_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id INTEGER NOT NULL REFERENCES invoices (id),
    description TEXT NOT NULL,
    amount_minor INTEGER NOT NULL
);
CREATE INDEX invoice_lines_invoice ON invoice_lines (invoice_id);

-- Visits of per-visit members, billed on the payer's next invoice.
CREATE TABLE visits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id INTEGER NOT NULL REFERENCES members (id),
    visit_on TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    invoice_id INTEGER REFERENCES invoices (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX visits_unbilled ON visits (member_id) WHERE invoice_id IS NULL;

-- Payments: on-chain (txid), webhook (the provider's payment id) or recorded by staff.
CREATE TABLE payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id INTEGER NOT NULL REFERENCES invoices (id),
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    method TEXT NOT NULL,
    reference TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    recorded_by TEXT NOT NULL,
    UNIQUE (method, reference)
);
CREATE INDEX payments_invoice ON payments (invoice_id);
CREATE INDEX payments_time ON payments (received_at);

-- Webhook deliveries already processed (replay guard).
CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL
);

-- NIP-17 messages to send: the gift wrap, signed once, so every retry sends the same event.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id INTEGER NOT NULL REFERENCES invoices (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('invoice', 'reminder', 'receipt')),
    recipient TEXT NOT NULL,
    copy INTEGER NOT NULL,
    rumor_id TEXT NOT NULL,
    wrap TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'rejected', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    sent_at INTEGER
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_invoice ON deliveries (invoice_id);

CREATE TABLE delivery_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
    relay TEXT NOT NULL,
    at INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'rejected', 'error')),
    message TEXT NOT NULL
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id);

-- The next BIP84 receive index: advanced in the invoice's transaction, so no index is skipped.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

-- NIP-98 auth events already used on the admin API.
CREATE TABLE nip98_seen (
    id TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
