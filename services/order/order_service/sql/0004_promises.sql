-- When an order's next promise falls due (a shipment's ship-by or deliver-by time), for the promise watcher.
ALTER TABLE orders ADD COLUMN promise_at timestamptz;
CREATE INDEX orders_promise ON orders (promise_at) WHERE promise_at IS NOT NULL;
