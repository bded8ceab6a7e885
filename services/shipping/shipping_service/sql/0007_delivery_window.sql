-- A delivery slot the customer chose: the window's start (its end is `deliver_by`), told to the carrier at booking.
ALTER TABLE shipments ADD COLUMN window_from timestamptz;
