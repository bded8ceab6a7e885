-- When a contact was learnt: personal data is masked a retention period after it (shared/personal_data.py).
ALTER TABLE contacts ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();
