-- The station (paSendRT[V2]): at most one receipt closes a payment option. Every other OK
-- receipt for the same option is stored flagged for refund, so a race between two receipts can
-- never leave two "closing" rows, whatever the isolation level.
CREATE UNIQUE INDEX receipts_one_closing ON receipts (payment_option_id)
    WHERE outcome = 'OK' AND NOT refund_required AND payment_option_id IS NOT NULL;

-- Receipts are looked up by notice number (retries, reports).
CREATE INDEX receipts_notice ON receipts (ente_id, notice_number);
