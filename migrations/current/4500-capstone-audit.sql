-- The core audit (audit.change_log) on every table of finance, sales, support
-- and hr. Re-runnable: enable_tracking replaces the trigger.
-- finance.transactions is partitioned: its trigger is cloned onto every
-- partition, so change-log rows name the partition (finance_private.transactions_yYYYYmMM).

select audit.enable_tracking('finance.customers', 'user_id');
select audit.enable_tracking('finance.accounts');
select audit.enable_tracking('finance.transactions');
select audit.enable_tracking('finance.ledger');
select audit.enable_tracking('finance.closed_periods');
select audit.enable_tracking('finance.monthly_closures');
select audit.enable_tracking('sales.products');
select audit.enable_tracking('sales.sales_reps');
select audit.enable_tracking('sales.orders');
select audit.enable_tracking('sales.order_items');
select audit.enable_tracking('support.support_agents');
select audit.enable_tracking('support.tickets');
select audit.enable_tracking('support.ticket_messages');
select audit.enable_tracking('hr.employees');
select audit.enable_tracking('hr.payroll');
