--! Previous: sha1:d2bcbabae1c8b97abc363b9daca2c372fe7bcd1d
--! Hash: sha1:2f08842da0fd220de2aa0bb78f9c8d79d1d6c067
--! Message: fintech: aggregates on transactions and orders (issue 17)

--! split: 4150-fintech-aggregates.sql
-- fintech: totals people ask for (issue 17): a customer's orders by status and
-- amount, an account's postings over a period. Aggregates run under the same
-- RLS as the rows, so a customer sums only their own.

drop index if exists sales.orders_customer_id_status_idx;
create index orders_customer_id_status_idx on sales.orders (customer_id, status);

comment on table sales.orders is
  E'@behavior -insert -delete +aggregates\nAn order of a finance customer, created by sales.create_order. Customers see their own; sales staff see all and move them along (status, rep); readonly staff read them.';

comment on table finance.transactions is
  E'@behavior -insert -update -delete +aggregates\nA posting on an account, written only by finance.post_transaction and never changed. Partitioned by month of posted_at (UTC). Only the account''s owner and finance staff see it.';
