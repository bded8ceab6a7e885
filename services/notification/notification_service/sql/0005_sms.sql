-- Text messages (v1.2): a customer's consent beside their phone, and one notification per order, kind, shipment and
-- medium (an e-mail and a text message of the same notice are two).
ALTER TABLE contacts ADD COLUMN sms_consent boolean NOT NULL DEFAULT false;
ALTER TABLE notifications DROP CONSTRAINT notifications_order_id_kind_shipment_id_key;
ALTER TABLE notifications ADD CONSTRAINT notifications_once_per_medium UNIQUE (order_id, kind, shipment_id, medium);
