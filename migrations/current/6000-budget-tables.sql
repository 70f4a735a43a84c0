-- budget: the budgeting app's finance schema (the seed's `finance`, which the
-- capstone module owns here). This file: default settings, monthly periods,
-- tags, pro-rata installments. Every table is read by its owner under RLS and
-- written only through the functions of 6010 (no write grants for API roles).
-- Buckets: E (essentials), D (discretionary), S (savings).

drop schema if exists budget_private cascade;
drop schema if exists budget cascade;

create schema budget;
comment on schema budget is
  'The budgeting app: default settings, one budget period per user and month with its E/D/S split, tags (expense categories), pro-rata installments. Each user sees only their own rows.';
grant usage on schema budget to gw_user;

create schema budget_private;
comment on schema budget_private is 'Period creation, installment application and the triggers of the budget module; never exposed.';
revoke all on schema budget_private from public;

insert into registry.types (namespace, code, label, description, sort_order) values
  ('pro_rata_status', 'pending', 'Pending', 'Not yet counted: its month has no period yet.', 10),
  ('pro_rata_status', 'applied', 'Applied', 'Counted in its month''s period (applied when the period was created).', 20),
  ('pro_rata_status', 'cancelled', 'Cancelled', 'Its group was cancelled (or its expense corrected) before it applied.', 30)
on conflict (namespace, code) do update
  set label = excluded.label, description = excluded.description, sort_order = excluded.sort_order;
insert into registry.transitions (namespace, from_code, to_code, label) values
  ('pro_rata_status', null, 'pending', 'Schedule'),
  ('pro_rata_status', 'pending', 'applied', 'Apply'),
  ('pro_rata_status', 'pending', 'cancelled', 'Cancel')
on conflict on constraint transitions_move_key do nothing;

--------------------------------------------------------------------------------
-- budget.default_settings

create table budget.default_settings (
  user_id uuid primary key
    constraint default_settings_user_id_fkey references auth.users (user_id) on delete cascade,
  budget_amount bigint not null default 0
    constraint default_settings_budget_amount_check check (budget_amount between 0 and 100000000000000),
  essentials_pct smallint not null default 50
    constraint default_settings_essentials_pct_check check (essentials_pct between 0 and 100),
  discretionary_pct smallint not null default 30
    constraint default_settings_discretionary_pct_check check (discretionary_pct between 0 and 100),
  savings_pct smallint not null default 20
    constraint default_settings_savings_pct_check check (savings_pct between 0 and 100),
  currency text not null default 'USD'
    constraint default_settings_currency_fkey references ledger.currencies (code) on delete restrict,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint default_settings_split_check check (essentials_pct + discretionary_pct + savings_pct = 100)
);
alter table budget.default_settings enable row level security;
create index default_settings_currency_idx on budget.default_settings (currency);

create policy "users see their own default settings"
  on budget.default_settings for select to gw_user
  using (user_id = (select auth.uid()));
grant select on budget.default_settings to gw_user;

comment on table budget.default_settings is
  E'@behavior -insert -update -delete\nOne row per user: what a new month''s period starts from. Written by budgetCompleteOnboarding and budgetUpdateSettings.';
comment on column budget.default_settings.user_id is 'Whose settings.';
comment on column budget.default_settings.budget_amount is 'Default monthly budget in minor units; 0 means not configured yet (onboarding skipped).';
comment on column budget.default_settings.essentials_pct is 'Share of the budget for essentials (E), in percent.';
comment on column budget.default_settings.discretionary_pct is 'Share for discretionary spending (D), in percent.';
comment on column budget.default_settings.savings_pct is 'Share for savings (S), in percent; the three always sum to 100.';
comment on column budget.default_settings.currency is 'Default currency of new expenses; the source of truth that auth.users.currency (display) follows.';
comment on column budget.default_settings.created_at is 'When the settings were first written.';
comment on column budget.default_settings.updated_at is 'When they last changed.';
comment on constraint default_settings_user_id_fkey on budget.default_settings is E'@behavior -*\nNo relation field: users read themselves through currentUser.';
comment on constraint default_settings_currency_fkey on budget.default_settings is E'@behavior -*\nNo relation field: the code is all a client needs.';

--------------------------------------------------------------------------------
-- budget.budget_periods

create table budget.budget_periods (
  period_id uuid primary key default gen_random_uuid(),
  user_id uuid not null
    constraint budget_periods_user_id_fkey references auth.users (user_id) on delete cascade,
  month date not null
    constraint budget_periods_month_check check (month = date_trunc('month', month)::date and month between date '2000-01-01' and date '2099-12-01'),
  amount bigint not null
    constraint budget_periods_amount_check check (amount between 0 and 100000000000000),
  essentials_pct smallint not null
    constraint budget_periods_essentials_pct_check check (essentials_pct between 0 and 100),
  discretionary_pct smallint not null
    constraint budget_periods_discretionary_pct_check check (discretionary_pct between 0 and 100),
  savings_pct smallint not null
    constraint budget_periods_savings_pct_check check (savings_pct between 0 and 100),
  currency text not null
    constraint budget_periods_currency_fkey references ledger.currencies (code) on delete restrict,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint budget_periods_split_check check (essentials_pct + discretionary_pct + savings_pct = 100),
  -- At most one period per user and month, whoever writes and however concurrently.
  constraint budget_periods_user_month_key unique (user_id, month)
);
alter table budget.budget_periods enable row level security;
create index budget_periods_currency_idx on budget.budget_periods (currency);

create policy "users see their own budget periods"
  on budget.budget_periods for select to gw_user
  using (user_id = (select auth.uid()));
grant select on budget.budget_periods to gw_user;

comment on table budget.budget_periods is
  E'@behavior -insert -update -delete\nOne budget per user and calendar month, with its E/D/S split (summing to 100). Created from the default settings when the month is first used (budgetOpenPeriod, an expense dated in it, or the monthly job); budgetSetPeriod changes one month.';
comment on column budget.budget_periods.period_id is 'The period''s id.';
comment on column budget.budget_periods.user_id is 'Whose budget.';
comment on column budget.budget_periods.month is 'The first day of the month.';
comment on column budget.budget_periods.amount is 'The month''s budget in minor units.';
comment on column budget.budget_periods.essentials_pct is 'Essentials (E) share, percent.';
comment on column budget.budget_periods.discretionary_pct is 'Discretionary (D) share, percent.';
comment on column budget.budget_periods.savings_pct is 'Savings (S) share, percent.';
comment on column budget.budget_periods.currency is 'The currency of the amount.';
comment on column budget.budget_periods.created_at is 'When the period was created.';
comment on column budget.budget_periods.updated_at is 'When it last changed.';
comment on constraint budget_periods_user_id_fkey on budget.budget_periods is E'@behavior -*\nNo relation field: users read themselves through currentUser.';
comment on constraint budget_periods_currency_fkey on budget.budget_periods is E'@behavior -*\nNo relation field: the code is all a client needs.';

--------------------------------------------------------------------------------
-- budget.tags

create table budget.tags (
  tag_id uuid primary key default gen_random_uuid(),
  user_id uuid not null
    constraint tags_user_id_fkey references auth.users (user_id) on delete cascade,
  name text not null
    constraint tags_name_check check (char_length(name) between 1 and 50 and name = btrim(name)),
  bucket text not null
    constraint tags_bucket_check check (bucket in ('E', 'D', 'S')),
  is_default boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Archived (the user deleted it) but kept: history names it by id.
  deleted_at timestamptz,
  constraint tags_default_kept_check check (not (is_default and deleted_at is not null)),
  -- Expenses and installments reference (user_id, tag_id): a tag of another user cannot be used.
  constraint tags_user_tag_key unique (user_id, tag_id)
);
alter table budget.tags enable row level security;
-- Unique per user, case-insensitively, among the tags in use.
create unique index tags_user_name_key on budget.tags (user_id, lower(name)) where deleted_at is null;

create policy "users see their own tags"
  on budget.tags for select to gw_user
  using (user_id = (select auth.uid()));
grant select on budget.tags to gw_user;

comment on table budget.tags is
  E'@behavior -insert -update -delete\nA user''s expense categories, each in one bucket (E, D or S). Names are unique per user case-insensitively. The default set is created at onboarding (is_default: renamable, never deletable). Deleting a tag archives it (deleted_at) so history keeps its name; it is refused while an active expense or a pending installment uses it.';
comment on column budget.tags.tag_id is 'The tag''s id: expenses refer to it, so a rename never changes history.';
comment on column budget.tags.user_id is 'Whose tag.';
comment on column budget.tags.name is 'The name, 1 to 50 characters, no surrounding spaces.';
comment on column budget.tags.bucket is 'E (essentials), D (discretionary) or S (savings): which share of the budget it spends.';
comment on column budget.tags.is_default is 'Created at onboarding: can be renamed, never deleted.';
comment on column budget.tags.created_at is 'When it was created.';
comment on column budget.tags.updated_at is 'When it last changed.';
comment on column budget.tags.deleted_at is 'When the user deleted it; null while in use. Deleted tags stay for history and cannot be used for new expenses.';
comment on constraint tags_user_id_fkey on budget.tags is E'@behavior -*\nNo relation field: users read themselves through currentUser.';

--------------------------------------------------------------------------------
-- budget.pro_rata_schedules

create table budget.pro_rata_schedules (
  schedule_id uuid primary key default gen_random_uuid(),
  user_id uuid not null
    constraint pro_rata_schedules_user_id_fkey references auth.users (user_id) on delete cascade,
  pro_rata_group uuid not null,
  installment smallint not null,
  installments smallint not null
    constraint pro_rata_schedules_installments_check check (installments between 1 and 120),
  target_month date not null
    constraint pro_rata_schedules_target_month_check check (target_month = date_trunc('month', target_month)::date and target_month between date '2000-01-01' and date '2099-12-01'),
  amount bigint not null
    constraint pro_rata_schedules_amount_check check (amount > 0),
  tag_id uuid not null,
  -- The ledger entry it spreads (foreign key added by the expenses module, 6100).
  expense_id uuid not null,
  applied_at timestamptz,
  created_at timestamptz not null default now(),
  constraint pro_rata_schedules_installment_check check (installment between 1 and installments),
  constraint pro_rata_schedules_group_installment_key unique (pro_rata_group, installment),
  constraint pro_rata_schedules_tag_fkey foreign key (user_id, tag_id) references budget.tags (user_id, tag_id) on delete no action
);
alter table budget.pro_rata_schedules enable row level security;
select registry.add_type_column('budget.pro_rata_schedules', 'status', 'pro_rata_status', true, 'pending');
select registry.add_state_machine('budget.pro_rata_schedules', 'status', 'pro_rata_status');

create index pro_rata_schedules_user_tag_idx on budget.pro_rata_schedules (user_id, tag_id);
-- What a new period applies, and what the summary counts.
create index pro_rata_schedules_user_month_idx on budget.pro_rata_schedules (user_id, target_month) include (amount, tag_id, expense_id, status);
create index pro_rata_schedules_expense_id_idx on budget.pro_rata_schedules (expense_id);
create index pro_rata_schedules_status_idx on budget.pro_rata_schedules (status);

create policy "users see their own installments"
  on budget.pro_rata_schedules for select to gw_user
  using (user_id = (select auth.uid()));
grant select on budget.pro_rata_schedules to gw_user;

comment on table budget.pro_rata_schedules is
  E'@behavior -insert -update -delete\nOne installment of an expense spread over several months (expensesCreateExpense with spreadMonths): the installments of a group sum exactly to the expense. pending until its month''s period is created, then applied; cancelled with its group (budgetCancelProRata) or when its expense is corrected.';
comment on column budget.pro_rata_schedules.schedule_id is 'The installment''s id.';
comment on column budget.pro_rata_schedules.user_id is 'Whose installment.';
comment on column budget.pro_rata_schedules.pro_rata_group is 'Shared by all installments of one spread expense.';
comment on column budget.pro_rata_schedules.installment is 'Its position, 1 to installments.';
comment on column budget.pro_rata_schedules.installments is 'How many installments the group has.';
comment on column budget.pro_rata_schedules.target_month is 'The month (first day) whose budget it counts in.';
comment on column budget.pro_rata_schedules.amount is 'Its amount in minor units: the total divided by the number of months, the remainder cents one each on the first installments.';
comment on column budget.pro_rata_schedules.tag_id is 'The tag (and so the bucket) it spends.';
comment on column budget.pro_rata_schedules.expense_id is 'The expense ledger entry it spreads.';
comment on column budget.pro_rata_schedules.applied_at is 'When it was applied to its month''s period.';
comment on column budget.pro_rata_schedules.created_at is 'When it was scheduled.';
comment on column budget.pro_rata_schedules.status is 'pending, applied or cancelled (registry namespace pro_rata_status; moves in registry.transitions).';
comment on constraint pro_rata_schedules_user_id_fkey on budget.pro_rata_schedules is E'@behavior -*\nNo relation field: users read themselves through currentUser.';
comment on constraint pro_rata_schedules_tag_fkey on budget.pro_rata_schedules is
  E'@behavior -*\nOn delete no action: checked at the end of the statement, so deleting a user (which cascades to both) passes while removing a tag in use fails; tags are archived, not deleted, by budgetDeleteTag.';
comment on constraint pro_rata_schedules_status_type_fkey on budget.pro_rata_schedules is E'@behavior -*\nNo relation field: status is the code.';
