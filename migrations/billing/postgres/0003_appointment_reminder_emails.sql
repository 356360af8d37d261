-- Appointment reminders by email (DESIGN.md §13), where [reminders.email] is configured: each
-- (appointment, time, offset) is emailed once, apart from its NIP-17 message, so that either
-- channel failing leaves the other alone. A send is claimed ('sending') before it is attempted,
-- so two runs or bots never both send it; then 'sent', or 'failed' to be tried again by the
-- next run until attempts reach delivery.max_attempts. A 'sending' claim older than ten minutes
-- (a crash mid-send) may be taken over. No address and no text here: the address is in the
-- record sealed to the bot, read again each run.
CREATE TABLE appointment_reminder_emails (
    appointment TEXT NOT NULL,
    start_at BIGINT NOT NULL,
    before_seconds BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
    attempts BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (appointment, start_at, before_seconds)
);
CREATE INDEX appointment_reminder_emails_start ON appointment_reminder_emails (start_at);
