-- Appointment reminders (DESIGN.md §7): the bot reads the kind 2126 records sealed to it and
-- sends each reminder once. A row is written in the transaction that queues the message, so a
-- reminder is queued exactly once, across restarts and crashes. The appointment id is opaque;
-- the time is part of the key, so a moved appointment is reminded of its new time. No patient
-- key and no text here: those are in the queued gift wrap only.
CREATE TABLE appointment_reminders (
    appointment TEXT NOT NULL,
    start_at BIGINT NOT NULL,
    before_seconds BIGINT NOT NULL,
    enqueued_at BIGINT NOT NULL,
    PRIMARY KEY (appointment, start_at, before_seconds)
);
CREATE INDEX appointment_reminders_start ON appointment_reminders (start_at);

-- Messages about an appointment belong to no invoice: deliveries.invoice_id becomes optional
-- and 'appointment' a purpose.
ALTER TABLE deliveries ALTER COLUMN invoice_id DROP NOT NULL;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_purpose_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_purpose_check
    CHECK (purpose IN ('invoice', 'reminder', 'receipt', 'appointment'));
ALTER TABLE deliveries ADD CONSTRAINT deliveries_invoice_or_appointment
    CHECK ((invoice_id IS NULL) = (purpose = 'appointment'));
