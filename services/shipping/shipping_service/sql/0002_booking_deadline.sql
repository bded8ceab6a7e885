-- The deadline poller reads bookings waiting for a carrier's answer every second: without this index it read the
-- whole shipments table each time.
CREATE INDEX shipments_booking_deadline ON shipments (deadline_at) WHERE status = 'booking';
