--! Previous: sha1:edae8b09bd70fda0696ab8a14133f7c47bcd0192
--! Hash: sha1:ad3ee27d34b4addf3213e81466d69e6df3a8b4d2
--! Message: budget: settings, periods, tags, pro-rata, onboarding, summary (issue 20)

--! split: 6000-budget-tables.sql
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

--! split: 6010-budget-functions.sql
-- budget: the functions. Settings and onboarding (kept in step with the display
-- currency in auth.users), periods created lazily and by the monthly job
-- (applying that month's pending installments in the same transaction), tags,
-- pro-rata scheduling with exact rounding, the period summary. Functions that
-- read the expense ledger are plpgsql: the expenses module (6100) comes after
-- this one and references budget.tags, so budget reads it at run time.

--------------------------------------------------------------------------------
-- Checks with coded errors (the constraints stay as the backstop).

create function budget_private.assert_split(essentials_pct integer, discretionary_pct integer, savings_pct integer) returns void
  language plpgsql
  immutable
  set search_path = ''
as $$
begin
  if essentials_pct is null or discretionary_pct is null or savings_pct is null
     or essentials_pct not between 0 and 100 or discretionary_pct not between 0 and 100 or savings_pct not between 0 and 100
     or essentials_pct + discretionary_pct + savings_pct <> 100 then
    raise exception 'The E/D/S split is three whole percentages from 0 to 100 that sum to 100 (got %, %, %).',
      essentials_pct, discretionary_pct, savings_pct using errcode = 'BGSPL';
  end if;
end;
$$;
comment on function budget_private.assert_split(integer, integer, integer) is 'BGSPL unless the three percentages are 0..100 and sum to 100.';

create function budget_private.assert_amount(amount bigint) returns void
  language plpgsql
  immutable
  set search_path = ''
as $$
begin
  if amount is null or amount not between 0 and 100000000000000 then
    raise exception 'A budget amount is whole minor units from 0 to 100,000,000,000,000 (got %).', amount using errcode = 'BGAMT';
  end if;
end;
$$;
comment on function budget_private.assert_amount(bigint) is 'BGAMT unless the amount is 0..10^14 minor units.';

create function budget_private.assert_currency(currency text) returns void
  language plpgsql
  stable
  set search_path = ''
as $$
begin
  if currency is null or not exists (select 1 from ledger.currencies c where c.code = assert_currency.currency) then
    raise exception 'Unknown currency %.', coalesce(pg_catalog.left(currency, 10), 'null') using errcode = 'BGCUR';
  end if;
end;
$$;
comment on function budget_private.assert_currency(text) is 'BGCUR unless the code is in ledger.currencies (the platform''s one list).';

create function budget_private.month_of(day date) returns date
  language plpgsql
  immutable
  set search_path = ''
as $$
begin
  if day is null or day not between date '2000-01-01' and date '2099-12-31' then
    raise exception 'A month lies between 2000-01 and 2099-12 (got %).', day using errcode = 'BGMON';
  end if;
  return pg_catalog.date_trunc('month', day)::date;
end;
$$;
comment on function budget_private.month_of(date) is 'The first day of the day''s month; BGMON outside 2000-01..2099-12.';

create function budget_private.caller() returns uuid
  language plpgsql
  stable
  set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
begin
  if v_user is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  return v_user;
end;
$$;
comment on function budget_private.caller() is 'The signed-in user, or LOGIN.';

--------------------------------------------------------------------------------
-- Periods

create function budget.ensure_period(user_id uuid, month date) returns budget.budget_periods
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_month date := budget_private.month_of(month);
  v_period budget.budget_periods;
begin
  select * into v_period from budget.budget_periods p where p.user_id = ensure_period.user_id and p.month = v_month;
  if found then
    return v_period;
  end if;
  -- A concurrent creator of the same month makes this insert wait and then do
  -- nothing: one row, and only its creator applies the installments.
  insert into budget.budget_periods (user_id, month, amount, essentials_pct, discretionary_pct, savings_pct, currency)
  select u.user_id, v_month, coalesce(s.budget_amount, 0), coalesce(s.essentials_pct, 50), coalesce(s.discretionary_pct, 30),
         coalesce(s.savings_pct, 20),
         coalesce(s.currency, (select c.code from ledger.currencies c where c.code = u.currency::text), 'USD')
    from auth.users u
    left join budget.default_settings s on s.user_id = u.user_id
   where u.user_id = ensure_period.user_id
  on conflict on constraint budget_periods_user_month_key do nothing
  returning * into v_period;
  if v_period.period_id is not null then
    update budget.pro_rata_schedules r set status = 'applied', applied_at = pg_catalog.now()
     where r.user_id = ensure_period.user_id and r.target_month = v_month and r.status = 'pending';
    return v_period;
  end if;
  select * into v_period from budget.budget_periods p where p.user_id = ensure_period.user_id and p.month = v_month;
  return v_period;
end;
$$;
comment on function budget.ensure_period(uuid, date) is
  E'@behavior -queryField -mutationField\nThe user''s period of the month, created from their default settings if it does not exist yet, applying that month''s pending installments in the same transaction. For the module''s functions, the expenses module and the monthly job (trusted code); not granted to API roles.';
revoke execute on function budget.ensure_period(uuid, date) from public;

create function budget.open_period(month date default null) returns budget.budget_periods
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  return budget.ensure_period(budget_private.caller(), coalesce(month, current_date));
end;
$$;
comment on function budget.open_period(date) is
  'The signed-in user''s period of a month (default: the current one), created from the default settings when the month is first used; that month''s pending installments are applied in the same transaction. Security definer because periods have no insert grant.';
revoke execute on function budget.open_period(date) from public;
grant execute on function budget.open_period(date) to gw_user;

create function budget.set_period(month date, amount bigint, essentials_pct integer, discretionary_pct integer, savings_pct integer)
  returns budget.budget_periods
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user uuid := budget_private.caller();
  v_period budget.budget_periods;
begin
  perform budget_private.assert_amount(amount);
  perform budget_private.assert_split(essentials_pct, discretionary_pct, savings_pct);
  v_period := budget.ensure_period(v_user, month);
  update budget.budget_periods p
     set amount = set_period.amount, essentials_pct = set_period.essentials_pct, discretionary_pct = set_period.discretionary_pct,
         savings_pct = set_period.savings_pct, updated_at = pg_catalog.now()
   where p.period_id = v_period.period_id
  returning * into v_period;
  return v_period;
end;
$$;
comment on function budget.set_period(date, bigint, integer, integer, integer) is
  'Sets one month''s budget and E/D/S split (creating the period if needed); other months and the defaults stay. BGAMT, BGSPL, BGMON for bad input. Security definer because periods have no update grant.';
revoke execute on function budget.set_period(date, bigint, integer, integer, integer) from public;
grant execute on function budget.set_period(date, bigint, integer, integer, integer) to gw_user;

-- The monthly job: every user who completed onboarding gets the month's period.
create function budget_private.open_periods(month date) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_month date := budget_private.month_of(month);
  v_user uuid;
  v_created integer := 0;
begin
  for v_user in
    select u.user_id from auth.users u
     where u.has_completed_onboarding
       and not exists (select 1 from budget.budget_periods p where p.user_id = u.user_id and p.month = v_month)
  loop
    perform budget.ensure_period(v_user, v_month);
    v_created := v_created + 1;
  end loop;
  return v_created;
end;
$$;
comment on function budget_private.open_periods(date) is
  'Creates the month''s period for every user who completed onboarding and has none (worker task budget_open_periods); returns how many it created.';

--------------------------------------------------------------------------------
-- Settings and onboarding

create function budget_private.write_settings(user_id uuid, budget_amount bigint, essentials_pct integer, discretionary_pct integer,
  savings_pct integer, currency text) returns budget.default_settings
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_settings budget.default_settings;
begin
  perform budget_private.assert_amount(budget_amount);
  perform budget_private.assert_split(essentials_pct, discretionary_pct, savings_pct);
  perform budget_private.assert_currency(currency);
  insert into budget.default_settings as s (user_id, budget_amount, essentials_pct, discretionary_pct, savings_pct, currency)
  values (write_settings.user_id, write_settings.budget_amount, write_settings.essentials_pct, write_settings.discretionary_pct,
          write_settings.savings_pct, write_settings.currency)
  on conflict on constraint default_settings_pkey do update
    set budget_amount = excluded.budget_amount, essentials_pct = excluded.essentials_pct,
        discretionary_pct = excluded.discretionary_pct, savings_pct = excluded.savings_pct,
        currency = excluded.currency, updated_at = pg_catalog.now()
  returning * into v_settings;
  -- The budget is the source of truth; the display currency follows it.
  update auth.users u set currency = write_settings.currency where u.user_id = write_settings.user_id and u.currency is distinct from write_settings.currency;
  return v_settings;
end;
$$;
comment on function budget_private.write_settings(uuid, bigint, integer, integer, integer, text) is
  'Validates and upserts the default settings and copies the currency to auth.users.currency (the display currency).';

create function budget.complete_onboarding(budget_amount bigint, essentials_pct integer, discretionary_pct integer, savings_pct integer,
  currency text, month date default null) returns budget.default_settings
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user uuid := budget_private.caller();
  v_settings budget.default_settings;
  v_period budget.budget_periods;
begin
  v_settings := budget_private.write_settings(v_user, budget_amount, essentials_pct, discretionary_pct, savings_pct, currency);
  insert into budget.tags (user_id, name, bucket, is_default)
  select v_user, d.name, d.bucket, true
    from (values ('Housing', 'E'), ('Groceries', 'E'), ('Utilities', 'E'), ('Transport', 'E'), ('Health', 'E'),
                 ('Dining out', 'D'), ('Entertainment', 'D'), ('Shopping', 'D'),
                 ('Savings', 'S'), ('Investments', 'S')) as d(name, bucket)
  on conflict (user_id, lower(name)) where deleted_at is null do nothing;
  v_period := budget.ensure_period(v_user, coalesce(month, current_date));
  -- A period opened before onboarding (with the fallback defaults) takes the chosen ones.
  update budget.budget_periods p
     set amount = v_settings.budget_amount, essentials_pct = v_settings.essentials_pct, discretionary_pct = v_settings.discretionary_pct,
         savings_pct = v_settings.savings_pct, currency = v_settings.currency, updated_at = pg_catalog.now()
   where p.period_id = v_period.period_id;
  update auth.users u set has_completed_onboarding = true where u.user_id = v_user and not u.has_completed_onboarding;
  return v_settings;
end;
$$;
comment on function budget.complete_onboarding(bigint, integer, integer, integer, text, date) is
  'Onboarding in one step: sets the default budget (0 = skipped), E/D/S split and currency, creates the default tags, opens the current month''s period with them, copies the currency to the display currency and sets hasCompletedOnboarding. Running it again updates the settings and keeps existing tags. Security definer because settings, tags, periods and auth.users have no such write grants.';
revoke execute on function budget.complete_onboarding(bigint, integer, integer, integer, text, date) from public;
grant execute on function budget.complete_onboarding(bigint, integer, integer, integer, text, date) to gw_user;

create function budget.update_settings(budget_amount bigint, essentials_pct integer, discretionary_pct integer, savings_pct integer,
  currency text) returns budget.default_settings
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  return budget_private.write_settings(budget_private.caller(), budget_amount, essentials_pct, discretionary_pct, savings_pct, currency);
end;
$$;
comment on function budget.update_settings(bigint, integer, integer, integer, text) is
  'Changes the default budget, split and currency for months not opened yet, and copies the currency to the display currency. Security definer because settings and auth.users.currency have no such write grants.';
revoke execute on function budget.update_settings(bigint, integer, integer, integer, text) from public;
grant execute on function budget.update_settings(bigint, integer, integer, integer, text) to gw_user;

--------------------------------------------------------------------------------
-- Tags

create function budget_private.assert_tag_input(name text, bucket text) returns void
  language plpgsql
  immutable
  set search_path = ''
as $$
begin
  if name is null or name <> pg_catalog.btrim(name) or char_length(name) not between 1 and 50 then
    raise exception 'A tag name has 1 to 50 characters and no surrounding spaces.' using errcode = 'BADIN';
  end if;
  if bucket is null or bucket not in ('E', 'D', 'S') then
    raise exception 'A tag''s bucket is E, D or S (got %).', coalesce(pg_catalog.left(bucket, 10), 'null') using errcode = 'BGBKT';
  end if;
end;
$$;
comment on function budget_private.assert_tag_input(text, text) is 'BADIN for a bad name, BGBKT for a bucket other than E, D, S.';

create function budget.create_tag(name text, bucket text) returns budget.tags
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user uuid := budget_private.caller();
  v_tag budget.tags;
begin
  perform budget_private.assert_tag_input(name, bucket);
  insert into budget.tags (user_id, name, bucket) values (v_user, create_tag.name, create_tag.bucket) returning * into v_tag;
  return v_tag;
exception when unique_violation then
  raise exception 'You already have a tag named %.', create_tag.name using errcode = 'BGTNT';
end;
$$;
comment on function budget.create_tag(text, text) is
  'Creates an expense category in bucket E, D or S. BGTNT if you have a tag of that name (case-insensitively). Security definer because tags have no insert grant.';
revoke execute on function budget.create_tag(text, text) from public;
grant execute on function budget.create_tag(text, text) to gw_user;

create function budget.update_tag(tag_id uuid, name text default null, bucket text default null) returns budget.tags
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user uuid := budget_private.caller();
  v_tag budget.tags;
begin
  select * into v_tag from budget.tags t where t.tag_id = update_tag.tag_id and t.user_id = v_user and t.deleted_at is null for update;
  if not found then
    raise exception 'No such tag of yours.' using errcode = 'NTFND';
  end if;
  perform budget_private.assert_tag_input(coalesce(name, v_tag.name), coalesce(bucket, v_tag.bucket));
  update budget.tags t set name = coalesce(update_tag.name, t.name), bucket = coalesce(update_tag.bucket, t.bucket), updated_at = pg_catalog.now()
   where t.tag_id = v_tag.tag_id
  returning * into v_tag;
  return v_tag;
exception when unique_violation then
  raise exception 'You already have a tag named %.', update_tag.name using errcode = 'BGTNT';
end;
$$;
comment on function budget.update_tag(uuid, text, text) is
  'Renames a tag or moves it to another bucket (default tags too). Expenses refer to the tag by id, so history follows. Security definer because tags have no update grant.';
revoke execute on function budget.update_tag(uuid, text, text) from public;
grant execute on function budget.update_tag(uuid, text, text) to gw_user;

create function budget.delete_tag(tag_id uuid) returns budget.tags
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user uuid := budget_private.caller();
  v_tag budget.tags;
begin
  -- The row lock makes a concurrent expense with this tag wait (its foreign key check takes key share).
  select * into v_tag from budget.tags t where t.tag_id = delete_tag.tag_id and t.user_id = v_user and t.deleted_at is null for update;
  if not found then
    raise exception 'No such tag of yours.' using errcode = 'NTFND';
  end if;
  if v_tag.is_default then
    raise exception 'Default tags can be renamed but not deleted.' using errcode = 'BGTDF';
  end if;
  if exists (select 1 from expenses.expenses e where e.user_id = v_user and e.tag_id = v_tag.tag_id) then
    raise exception 'The tag is used by active expenses.' using errcode = 'BGTIU', detail = 'tag ' || v_tag.tag_id::text;
  end if;
  if exists (select 1 from budget.pro_rata_schedules r where r.user_id = v_user and r.tag_id = v_tag.tag_id and r.status = 'pending') then
    raise exception 'The tag is used by pending pro-rata installments.' using errcode = 'BGTIU', detail = 'tag ' || v_tag.tag_id::text;
  end if;
  update budget.tags t set deleted_at = pg_catalog.now(), updated_at = pg_catalog.now() where t.tag_id = v_tag.tag_id returning * into v_tag;
  return v_tag;
end;
$$;
comment on function budget.delete_tag(uuid) is
  'Deletes a tag: it is archived (deletedAt set), so history keeps its name, and can no longer be used. BGTDF for a default tag, BGTIU while an active expense or a pending installment uses it. Security definer because tags have no update grant and the check reads the expense ledger.';
revoke execute on function budget.delete_tag(uuid) from public;
grant execute on function budget.delete_tag(uuid) to gw_user;

--------------------------------------------------------------------------------
-- Pro-rata

create function budget.schedule_pro_rata(user_id uuid, expense_id uuid, pro_rata_group uuid, total bigint, months integer,
  start_month date, tag_id uuid) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_start date := budget_private.month_of(start_month);
begin
  if months is null or months not between 1 and 120 then
    raise exception 'An expense is spread over 1 to 120 months (got %).', months using errcode = 'BGPRA';
  end if;
  if total is null or total < months then
    raise exception 'An expense of % minor units cannot be spread over % months (each installment is at least 1).', total, months
      using errcode = 'BGPRA';
  end if;
  perform budget_private.month_of((v_start + pg_catalog.make_interval(months => months - 1))::date);
  -- total = q * months + r: every installment gets q, the first r get one more,
  -- so the installments sum to the total exactly and differ by at most one.
  insert into budget.pro_rata_schedules (user_id, pro_rata_group, installment, installments, target_month, amount, tag_id, expense_id)
  select schedule_pro_rata.user_id, schedule_pro_rata.pro_rata_group, i, months,
         (v_start + pg_catalog.make_interval(months => i - 1))::date,
         total / months + case when i <= total % months then 1 else 0 end,
         schedule_pro_rata.tag_id, schedule_pro_rata.expense_id
    from pg_catalog.generate_series(1, months) as i;
  -- Months whose period already exists count their installment at once.
  update budget.pro_rata_schedules r set status = 'applied', applied_at = pg_catalog.now()
   where r.pro_rata_group = schedule_pro_rata.pro_rata_group and r.status = 'pending'
     and exists (select 1 from budget.budget_periods p where p.user_id = r.user_id and p.month = r.target_month);
end;
$$;
comment on function budget.schedule_pro_rata(uuid, uuid, uuid, bigint, integer, date, uuid) is
  E'@behavior -queryField -mutationField\nSplits an expense into monthly installments from start_month (the remainder cents go one each to the first installments), applying those whose month already has a period. For the expenses module (trusted code); not granted to API roles. BGPRA for bad months or a total below one unit per month.';
revoke execute on function budget.schedule_pro_rata(uuid, uuid, uuid, bigint, integer, date, uuid) from public;

create function budget.cancel_pro_rata_group(user_id uuid, pro_rata_group uuid) returns integer
  language sql
  volatile
  set search_path = ''
as $$
  with cancelled as (
    update budget.pro_rata_schedules r set status = 'cancelled'
     where r.user_id = cancel_pro_rata_group.user_id and r.pro_rata_group = cancel_pro_rata_group.pro_rata_group and r.status = 'pending'
    returning 1
  )
  select count(*)::integer from cancelled
$$;
comment on function budget.cancel_pro_rata_group(uuid, uuid) is
  E'@behavior -queryField -mutationField\nCancels the pending installments of a group; returns how many. For budgetCancelProRata and the expenses module (a corrected expense); not granted to API roles.';
revoke execute on function budget.cancel_pro_rata_group(uuid, uuid) from public;

create function budget.cancel_pro_rata(pro_rata_group uuid) returns setof budget.pro_rata_schedules
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user uuid := budget_private.caller();
begin
  if not exists (select 1 from budget.pro_rata_schedules r where r.user_id = v_user and r.pro_rata_group = cancel_pro_rata.pro_rata_group) then
    raise exception 'No such pro-rata group of yours.' using errcode = 'NTFND';
  end if;
  perform budget.cancel_pro_rata_group(v_user, pro_rata_group);
  return query select * from budget.pro_rata_schedules r
                where r.user_id = v_user and r.pro_rata_group = cancel_pro_rata.pro_rata_group order by r.installment;
end;
$$;
comment on function budget.cancel_pro_rata(uuid) is
  'Cancels the pending installments of one of your pro-rata groups (applied ones stay counted in their months); returns the group''s installments. Security definer because installments have no update grant.';
revoke execute on function budget.cancel_pro_rata(uuid) from public;
grant execute on function budget.cancel_pro_rata(uuid) to gw_user;

--------------------------------------------------------------------------------
-- The period summary

create type budget.period_summary as (
  month date,
  period_id uuid,
  currency text,
  amount bigint,
  essentials_budget bigint,
  discretionary_budget bigint,
  savings_budget bigint,
  essentials_spent bigint,
  discretionary_spent bigint,
  savings_spent bigint,
  total_spent bigint,
  essentials_remaining bigint,
  discretionary_remaining bigint,
  savings_remaining bigint,
  total_remaining bigint,
  top_tags jsonb
);
comment on type budget.period_summary is
  'A month at a glance: budget per E/D/S bucket (E and D rounded down, S takes the remainder, so the three sum to the amount), spent per bucket (active expenses dated in the month that are not spread, plus the month''s installments of active spread expenses, in the period''s currency), what remains, and the five tags spent most.';
comment on column budget.period_summary.period_id is 'The period''s id; null when the month has no period yet (the figures then come from the default settings).';
comment on column budget.period_summary.top_tags is 'Up to five tags by amount spent, largest first: [{tagId, name, bucket, spent}] (spent as a string of minor units).';

create function budget.period_summary(month date default null) returns budget.period_summary
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
declare
  v_user uuid := budget_private.caller();
  v_month date := budget_private.month_of(coalesce(month, current_date));
  v_result budget.period_summary;
begin
  -- Every table is filtered by v_user (tags and corrections through the
  -- same-user foreign keys), so the rows are the caller's without RLS.
  with period as (
    select p.period_id, p.amount, p.essentials_pct, p.discretionary_pct, p.currency
      from budget.budget_periods p where p.user_id = v_user and p.month = v_month
    union all
    select null, coalesce(s.budget_amount, 0), coalesce(s.essentials_pct, 50), coalesce(s.discretionary_pct, 30),
           coalesce(s.currency, u.currency::text)
      from auth.users u left join budget.default_settings s on s.user_id = u.user_id
     where u.user_id = v_user
       and not exists (select 1 from budget.budget_periods p where p.user_id = v_user and p.month = v_month)
  ), spending as (
    select e.tag_id, e.amount_cents as amount
      from expenses.entries e, period
     where e.user_id = v_user and e.spent_on >= v_month and e.spent_on < (v_month + interval '1 month')::date
       and e.pro_rata_group is null and e.currency = period.currency
       and not exists (select 1 from expenses.entries c where c.corrects_id = e.expense_id)
    union all
    select r.tag_id, r.amount
      from budget.pro_rata_schedules r
      join expenses.entries e on e.expense_id = r.expense_id, period
     where r.user_id = v_user and r.target_month = v_month and r.status <> 'cancelled' and e.currency = period.currency
       and not exists (select 1 from expenses.entries c where c.corrects_id = r.expense_id)
  ), by_tag as (
    select s.tag_id, t.name, t.bucket, sum(s.amount)::bigint as spent
      from spending s join budget.tags t on t.tag_id = s.tag_id
     group by s.tag_id, t.name, t.bucket
  ), buckets as (
    select coalesce(sum(spent) filter (where bucket = 'E'), 0)::bigint as e,
           coalesce(sum(spent) filter (where bucket = 'D'), 0)::bigint as d,
           coalesce(sum(spent) filter (where bucket = 'S'), 0)::bigint as s,
           coalesce((select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('tagId', x.tag_id, 'name', x.name, 'bucket', x.bucket, 'spent', x.spent::text)
                                          order by x.spent desc, x.name)
                       from (select * from by_tag order by spent desc, name limit 5) x), '[]'::jsonb) as top
      from by_tag
  ), budgets as (
    select p.period_id, p.currency, p.amount,
           p.amount * p.essentials_pct / 100 as e,
           p.amount * p.discretionary_pct / 100 as d
      from period p
  )
  select v_month, b.period_id, b.currency, b.amount,
         b.e, b.d, b.amount - b.e - b.d,
         k.e, k.d, k.s, k.e + k.d + k.s,
         b.e - k.e, b.d - k.d, (b.amount - b.e - b.d) - k.s, b.amount - (k.e + k.d + k.s),
         k.top
    into v_result
    from budgets b, buckets k;
  return v_result;
end;
$$;
comment on function budget.period_summary(date) is
  'The signed-in user''s month (default: the current one): budget, spent and remaining per E/D/S bucket and in total, and the top five tags, in one statement. Does not create the period: a month without one shows the default settings. Security definer so that one statement reads the caller''s rows without a policy check per table reference (it filters every table by the caller itself): the p99 target is 10 ms.';
revoke execute on function budget.period_summary(date) from public;
grant execute on function budget.period_summary(date) to gw_user;
