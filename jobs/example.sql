-- rtdw example: 200 000 generated orders, counted and summed per customer.
-- The GROUP BY runs after a hash exchange on customer_id, so with two task
-- managers its rows cross between them over Arrow Flight. The sink writes the
-- aggregate's changelog as Debezium JSON; folding it gives the final table.
-- Checkpoints every second make the sink exactly once: its files become
-- visible when the checkpoint (or, at the end, the final one) completes.
SET 'parallelism.default' = '2';
SET 'execution.checkpointing.interval' = '1 s';
SET 'pipeline.name' = 'example-customer-totals';

CREATE TABLE orders (
  order_id BIGINT,
  amount   INT
) WITH (
  'connector' = 'datagen',
  'rows-per-second' = '200000',
  'fields.order_id.kind' = 'sequence',
  'fields.order_id.start' = '1',
  'fields.order_id.end' = '200000',
  'fields.amount.kind' = 'sequence',
  'fields.amount.start' = '1',
  'fields.amount.end' = '200000'
);

CREATE TABLE customer_totals (
  customer_id BIGINT,
  order_count BIGINT,
  revenue     BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = '/tmp/rtdw-example/customer_totals',
  'format' = 'debezium-json'
);

INSERT INTO customer_totals
SELECT order_id % 10 AS customer_id, COUNT(*) AS order_count, SUM(amount) AS revenue
FROM orders
WHERE amount > 0
GROUP BY order_id % 10;
