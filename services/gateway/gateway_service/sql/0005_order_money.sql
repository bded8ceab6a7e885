-- The money of each order as the OMS asked the payment side for it: captures per shipment and refunds (amounts
-- and reasons only), for the desk.
CREATE TABLE order_money (
    message_id   text PRIMARY KEY,
    order_id     text          NOT NULL,
    kind         text          NOT NULL,
    amount       numeric(16,4) NOT NULL,
    currency     text          NOT NULL,
    reason       text,
    shipment_id  text,
    asked_at     timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX order_money_order ON order_money (order_id);
