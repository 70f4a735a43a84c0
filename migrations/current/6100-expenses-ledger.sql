-- expenses: the immutable expense ledger (the seed's immudb `expenses`). Entries
-- are inserted by functions only and never updated or deleted by anyone; a
-- correction is a new entry whose corrects_id names the one it supersedes, and
-- a unique index lets each entry be superseded once, so every chain is a line
-- with exactly one head: the active entry. Status is derived from that, never
-- written. Reads default to the active view expenses.expenses. The audit
-- module logs and seals every entry into its SHA-256 chain (tamper evidence).

drop schema if exists expenses_private cascade;
drop schema if exists expenses cascade;

create schema expenses;
comment on schema expenses is
  'The immutable expense ledger: entries are never changed; corrections are new entries. Each user sees only their own.';
grant usage on schema expenses to gw_user;

create schema expenses_private;
comment on schema expenses_private is 'Guard triggers of the expense ledger; never exposed.';
revoke all on schema expenses_private from public;

create table expenses.entries (
  expense_id uuid primary key default gen_random_uuid(),
  user_id uuid not null
    constraint entries_user_id_fkey references auth.users (user_id) on delete cascade,
  amount_cents bigint not null
    constraint entries_amount_cents_check check (amount_cents between 1 and 1000000000000),
  currency text not null
    constraint entries_currency_fkey references ledger.currencies (code) on delete restrict,
  spent_on date not null
    constraint entries_spent_on_check check (spent_on between date '2000-01-01' and date '2099-12-31'),
  tag_id uuid not null,
  note text
    constraint entries_note_check check (char_length(note) <= 1000),
  corrects_id uuid,
  pro_rata_group uuid,
  pro_rata_months smallint
    constraint entries_pro_rata_months_check check (pro_rata_months between 2 and 120),
  created_at timestamptz not null default now(),
  constraint entries_user_expense_key unique (user_id, expense_id),
  constraint entries_pro_rata_check check ((pro_rata_group is null) = (pro_rata_months is null)),
  constraint entries_corrects_self_check check (corrects_id <> expense_id),
  -- The tag must be the same user's.
  constraint entries_tag_fkey foreign key (user_id, tag_id) references budget.tags (user_id, tag_id) on delete no action,
  -- A correction supersedes an entry of the same user.
  constraint entries_corrects_fkey foreign key (user_id, corrects_id) references expenses.entries (user_id, expense_id) on delete cascade
);
alter table expenses.entries enable row level security;

-- Each entry is superseded at most once (corrects_id is unique: (corrects_id,
-- user_id) is, and the foreign key pins user_id to the corrected entry's), so a
-- chain never forks and exactly one entry of it, its head, is active. Two
-- concurrent corrections of one entry: the second waits here, then fails.
create unique index entries_corrects_id_key on expenses.entries (corrects_id, user_id);
create index entries_user_tag_idx on expenses.entries (user_id, tag_id);
create index entries_user_spent_on_idx on expenses.entries (user_id, spent_on) include (amount_cents, tag_id, currency, pro_rata_group);
create index entries_currency_idx on expenses.entries (currency);

create policy "users see their own expense entries"
  on expenses.entries for select to gw_user
  using (user_id = (select auth.uid()));
grant select on expenses.entries to gw_user;

comment on table expenses.entries is
  E'@behavior -insert -update -delete\nEvery expense ledger entry, corrected ones included: never changed or deleted (EXIMM), for everyone. Create with expensesCreateExpense, correct with expensesCorrectExpense (a new entry whose correctsId names the superseded one). expensesExpenses lists only the active entries.';
comment on column expenses.entries.expense_id is 'The entry''s id.';
comment on column expenses.entries.user_id is 'Whose expense.';
comment on column expenses.entries.amount_cents is 'The amount in minor units (cents), 1 to 10^12.';
comment on column expenses.entries.currency is 'Its currency (ISO 4217), per expense.';
comment on column expenses.entries.spent_on is 'The day it was spent (2000-01-01 to 2099-12-31).';
comment on column expenses.entries.tag_id is 'Its tag, by id: renaming the tag never changes history.';
comment on column expenses.entries.note is 'A note, at most 1,000 characters.';
comment on column expenses.entries.corrects_id is 'The entry this one supersedes (a correction); null for an original.';
comment on column expenses.entries.pro_rata_group is 'For an expense spread over months: its installments'' group (budget.pro_rata_schedules).';
comment on column expenses.entries.pro_rata_months is 'Over how many months it is spread (2 to 120); null when it counts in its own month.';
comment on column expenses.entries.created_at is 'When it was recorded.';
comment on constraint entries_user_id_fkey on expenses.entries is E'@behavior -*\nNo relation field: users read themselves through currentUser.';
comment on constraint entries_currency_fkey on expenses.entries is E'@behavior -*\nNo relation field: the code is all a client needs.';
comment on constraint entries_tag_fkey on expenses.entries is
  E'@fieldName tag\n@foreignFieldName expenseEntries\nOn delete no action: checked at the end of the statement, so deleting a user (which cascades to tags and entries) passes, while removing a tag entries use fails; budgetDeleteTag archives tags instead.';
comment on constraint entries_corrects_fkey on expenses.entries is E'@fieldName corrects\n@foreignFieldName correctedBy';

-- Guards: never updated, never deleted, never truncated, whoever writes. The one
-- exception is the cascade of deleting the user (the right to erasure): it runs
-- inside the foreign key's trigger, at depth 2.
create function expenses_private.tg_entries__immutable() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if tg_op = 'DELETE' and pg_catalog.pg_trigger_depth() > 1
     and not exists (select 1 from auth.users u where u.user_id = old.user_id) then
    return old;
  end if;
  raise exception 'Expense entries are never changed or deleted: record a correction instead.' using errcode = 'EXIMM';
end;
$$;
comment on function expenses_private.tg_entries__immutable() is
  'EXIMM for every update, delete and truncate of an entry, the owner''s included; only the cascade of deleting the user passes.';
create trigger _010_immutable before update or delete on expenses.entries
  for each row execute function expenses_private.tg_entries__immutable();
create trigger _011_no_truncate before truncate on expenses.entries
  for each statement execute function expenses_private.tg_entries__immutable();

-- The audit module logs each insert (payload.new is the row) and seals it into its hash chain.
select audit.enable_tracking('expenses.entries', 'user_id');

-- Installments name the entry they spread (budget 6000 creates the column; the table it points at is this one).
alter table budget.pro_rata_schedules
  add constraint pro_rata_schedules_expense_id_fkey foreign key (expense_id) references expenses.entries (expense_id) on delete cascade;
comment on constraint pro_rata_schedules_expense_id_fkey on budget.pro_rata_schedules is E'@fieldName expense\n@foreignFieldName installments';

--------------------------------------------------------------------------------
-- Status, derived: an entry is active until a correction supersedes it.

create function expenses.entries_status(entry expenses.entries) returns text
  language sql
  stable
  set search_path = ''
as $$
  select case when exists (select 1 from expenses.entries c where c.corrects_id = entry.expense_id) then 'corrected' else 'active' end
$$;
comment on function expenses.entries_status(expenses.entries) is
  'active (the head of its chain: the current truth) or corrected (superseded by a correction).';
revoke execute on function expenses.entries_status(expenses.entries) from public;
grant execute on function expenses.entries_status(expenses.entries) to gw_user;

create view expenses.expenses with (security_invoker = true) as
  select e.expense_id, e.user_id, e.amount_cents, e.currency, e.spent_on, e.tag_id, e.note, e.corrects_id,
         e.pro_rata_group, e.pro_rata_months, e.created_at
    from expenses.entries e
   where not exists (select 1 from expenses.entries c where c.corrects_id = e.expense_id);
grant select on expenses.expenses to gw_user;
comment on view expenses.expenses is
  E'@primaryKey expense_id\n@foreignKey (tag_id) references budget.tags (tag_id)|@fieldName tag|@foreignFieldName activeExpenses\nThe current truth: the active entry of every chain (an original never corrected, or the latest correction). Reads default to this; expensesEntries has the history.';
comment on column expenses.expenses.expense_id is 'The entry''s id.';
comment on column expenses.expenses.user_id is 'Whose expense.';
comment on column expenses.expenses.amount_cents is 'The amount in minor units.';
comment on column expenses.expenses.currency is 'Its currency.';
comment on column expenses.expenses.spent_on is 'The day it was spent.';
comment on column expenses.expenses.tag_id is 'Its tag, by id.';
comment on column expenses.expenses.note is 'Its note.';
comment on column expenses.expenses.corrects_id is 'The entry it superseded, if it is a correction.';
comment on column expenses.expenses.pro_rata_group is 'Its installments'' group when spread over months.';
comment on column expenses.expenses.pro_rata_months is 'Over how many months it is spread.';
comment on column expenses.expenses.created_at is 'When it was recorded.';
