-- Capstone fintech module (issue 5): the schemas, their enums and domains.
-- Re-runnable: every later 4xxx file creates objects inside these schemas, so
-- dropping the schemas (reverse order of creation) drops all of it.

drop schema if exists hr cascade;
drop schema if exists support_private cascade;
drop schema if exists support cascade;
drop schema if exists sales_private cascade;
drop schema if exists sales cascade;
drop schema if exists finance_private cascade;
drop schema if exists finance cascade;

create schema finance;
comment on schema finance is
  'Core financial engine: customers, accounts, monthly-partitioned transactions, the ledger, closures. Sensitive: finance staff and each account''s owner only.';
grant usage on schema finance to gw_user;

create schema finance_private;
comment on schema finance_private is
  'Transaction partitions, trigger functions and helpers of finance; never exposed.';
revoke all on schema finance_private from public;

create schema sales;
comment on schema sales is 'Products, sales reps, orders and their items, sold to finance customers.';
grant usage on schema sales to gw_user;

create schema sales_private;
comment on schema sales_private is 'Trigger functions of sales; never exposed.';
revoke all on schema sales_private from public;

create schema support;
comment on schema support is 'Support agents, tickets of finance customers and their messages.';
grant usage on schema support to gw_user;

create schema support_private;
comment on schema support_private is 'Trigger functions of support; never exposed.';
revoke all on schema support_private from public;

create schema hr;
comment on schema hr is 'Employees and payroll. Sensitive: HR staff alone.';
grant usage on schema hr to role_hr;

--------------------------------------------------------------------------------
-- One enum per schema (hr keeps the blueprint's free-text department).

create type sales.order_status as enum ('draft', 'placed', 'shipped', 'cancelled');
comment on type sales.order_status is 'Life of an order: draft, placed (counted as revenue), shipped, cancelled.';

create type finance.account_type as enum ('checking', 'savings', 'credit');
comment on type finance.account_type is 'checking and savings may not go below zero; credit may (a drawn credit line).';

create type finance.tx_type as enum ('debit', 'credit', 'adjustment');
comment on type finance.tx_type is 'debit takes money out of the account, credit puts money in, adjustment is a correction that puts money in (a correction against the customer is a debit).';

create type support.ticket_status as enum ('open', 'pending', 'closed');
comment on type support.ticket_status is 'open (waiting for support), pending (waiting for the customer), closed.';

create type support.sender_type as enum ('customer', 'agent');
comment on type support.sender_type is 'Who wrote a ticket message: the ticket''s customer or a support agent.';

-- Domains: e-mail is the core's auth.email; amounts get their own domain
-- because the core's auth.money_positive has no scale and money here is
-- numeric(18,4).
create domain finance.money_positive as numeric(18, 4)
  constraint money_positive_check check (value > 0);
comment on domain finance.money_positive is 'A strictly positive amount of money, numeric(18,4).';
grant usage on domain finance.money_positive to gw_user;
