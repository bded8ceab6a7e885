-- How often a warehouse's quality control failed a fulfillment: once means repack, twice means go elsewhere.
ALTER TABLE fulfillments ADD COLUMN qc_failures integer NOT NULL DEFAULT 0;
