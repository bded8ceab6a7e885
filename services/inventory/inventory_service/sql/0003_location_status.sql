-- Locations that asked for no new work (location.paused) until they resume; allocation skips them.
CREATE TABLE location_status (
    location_id text PRIMARY KEY,
    paused      boolean NOT NULL,
    reason      text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
