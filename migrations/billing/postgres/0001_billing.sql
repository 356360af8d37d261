-- The billing bot's data (DESIGN.md §7). Money is integer minor units of the practice's currency;
-- dates are 'YYYY-MM-DD', periods 'YYYY-MM', times Unix seconds. No names, no clinical data:
-- members are public keys.

-- Membership plans: a monthly fee, a fee per visit, or a family fee (plus one per dependant).
CREATE TABLE plans (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('monthly', 'per-visit', 'family')),
    amount_minor BIGINT NOT NULL CHECK (amount_minor >= 0),
    per_dependant_minor BIGINT NOT NULL DEFAULT 0 CHECK (per_dependant_minor >= 0),
    created_at BIGINT NOT NULL
);

-- A household groups a payer (a patient, or a guardian) and the dependants it pays for.
CREATE TABLE households (
    id BIGSERIAL PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE members (
    id BIGSERIAL PRIMARY KEY,
    pubkey TEXT NOT NULL UNIQUE,
    household_id BIGINT NOT NULL REFERENCES households (id),
    role TEXT NOT NULL CHECK (role IN ('payer', 'dependant')),
    plan_id BIGINT REFERENCES plans (id),
    joined_on TEXT NOT NULL,
    left_on TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX members_household ON members (household_id);
-- One payer per household.
CREATE UNIQUE INDEX members_one_payer ON members (household_id) WHERE role = 'payer';

CREATE TABLE invoices (
    id BIGSERIAL PRIMARY KEY,
    member_id BIGINT NOT NULL REFERENCES members (id),
    period TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    amount_sat BIGINT NOT NULL CHECK (amount_sat > 0),
    address TEXT NOT NULL UNIQUE,
    address_index BIGINT NOT NULL,
    pay_link TEXT,
    status TEXT NOT NULL CHECK (status IN ('open', 'paid')),
    issued_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    reminders_sent BIGINT NOT NULL DEFAULT 0,
    paid_at BIGINT,
    UNIQUE (member_id, period)
);
CREATE INDEX invoices_open ON invoices (status, due_at);

CREATE TABLE invoice_lines (
    id BIGSERIAL PRIMARY KEY,
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    description TEXT NOT NULL,
    amount_minor BIGINT NOT NULL
);
CREATE INDEX invoice_lines_invoice ON invoice_lines (invoice_id);

-- Visits of per-visit members, billed on the payer's next invoice.
CREATE TABLE visits (
    id BIGSERIAL PRIMARY KEY,
    member_id BIGINT NOT NULL REFERENCES members (id),
    visit_on TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    invoice_id BIGINT REFERENCES invoices (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX visits_unbilled ON visits (member_id) WHERE invoice_id IS NULL;

-- Payments: on-chain (txid), webhook (the provider's payment id) or recorded by staff.
CREATE TABLE payments (
    id BIGSERIAL PRIMARY KEY,
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    method TEXT NOT NULL,
    reference TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    recorded_by TEXT NOT NULL,
    UNIQUE (method, reference)
);
CREATE INDEX payments_invoice ON payments (invoice_id);
CREATE INDEX payments_time ON payments (received_at);

-- Webhook deliveries already processed (replay guard).
CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL
);

-- NIP-17 messages to send: the gift wrap, signed once, so every retry sends the same event.
CREATE TABLE deliveries (
    id BIGSERIAL PRIMARY KEY,
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('invoice', 'reminder', 'receipt')),
    recipient TEXT NOT NULL,
    copy BIGINT NOT NULL,
    rumor_id TEXT NOT NULL,
    wrap TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'rejected', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_invoice ON deliveries (invoice_id);

CREATE TABLE delivery_attempts (
    id BIGSERIAL PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES deliveries (id),
    relay TEXT NOT NULL,
    at BIGINT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'rejected', 'error')),
    message TEXT NOT NULL
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id);

-- The next BIP84 receive index: advanced in the invoice's transaction, so no index is skipped.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

-- NIP-98 auth events already used on the admin API.
CREATE TABLE nip98_seen (
    id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
