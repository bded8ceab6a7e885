-- How many orders each location with a daily capacity was given on its current day (its own time zone).
ALTER TABLE location_status ALTER COLUMN paused SET DEFAULT false;
ALTER TABLE location_status ADD COLUMN day date;
ALTER TABLE location_status ADD COLUMN allocated integer NOT NULL DEFAULT 0;
