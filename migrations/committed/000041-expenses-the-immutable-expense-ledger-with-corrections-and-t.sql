--! Previous: sha1:ad3ee27d34b4addf3213e81466d69e6df3a8b4d2
--! Hash: sha1:76c274c8f4bf244fb7473620c0bb5c00c546583b
--! Message: expenses: the immutable expense ledger with corrections and tamper evidence (issue 20)

--! split: 6100-expenses-ledger.sql
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

--! split: 6110-expenses-functions.sql
-- expenses: recording, correcting and verifying. Writes go through these
-- functions only (the table has no write grant for API roles).

create function expenses_private.assert_input(amount_cents bigint, spent_on date, note text, currency text, spread_months integer)
  returns void
  language plpgsql
  stable
  set search_path = ''
as $$
begin
  if amount_cents is null or amount_cents not between 1 and 1000000000000 then
    raise exception 'An amount is whole cents from 1 to 10^12 (got %).', amount_cents using errcode = 'EXAMT';
  end if;
  if spent_on is null or spent_on not between date '2000-01-01' and date '2099-12-31' then
    raise exception 'An expense is dated between 2000-01-01 and 2099-12-31 (got %).', spent_on using errcode = 'EXDAT';
  end if;
  if char_length(note) > 1000 then
    raise exception 'A note has at most 1,000 characters.' using errcode = 'BADIN';
  end if;
  if currency is null or not exists (select 1 from ledger.currencies c where c.code = assert_input.currency) then
    raise exception 'Unknown currency %.', coalesce(pg_catalog.left(currency, 10), 'null') using errcode = 'EXCUR';
  end if;
  if spread_months is null or spread_months not between 1 and 120 then
    raise exception 'An expense is spread over 1 to 120 months (got %).', spread_months using errcode = 'EXSPR';
  end if;
  if spread_months > amount_cents then
    raise exception 'An amount of % cents cannot be spread over % months.', amount_cents, spread_months using errcode = 'EXSPR';
  end if;
end;
$$;
comment on function expenses_private.assert_input(bigint, date, text, text, integer) is
  'Coded errors for bad input before the constraints: EXAMT, EXDAT, BADIN, EXCUR, EXSPR.';

create function expenses_private.assert_tag(user_id uuid, tag_id uuid) returns void
  language plpgsql
  stable
  set search_path = ''
as $$
begin
  if tag_id is null or not exists (
    select 1 from budget.tags t where t.tag_id = assert_tag.tag_id and t.user_id = assert_tag.user_id and t.deleted_at is null
  ) then
    raise exception 'No such tag of yours.' using errcode = 'EXTAG';
  end if;
end;
$$;
comment on function expenses_private.assert_tag(uuid, uuid) is 'EXTAG unless the tag is the user''s and not deleted.';

-- Inserts one entry and does what its month needs: the period exists, and a
-- spread expense gets its installments.
create function expenses_private.record(user_id uuid, amount_cents bigint, tag_id uuid, spent_on date, note text, currency text,
  spread_months integer, corrects_id uuid) returns expenses.entries
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_entry expenses.entries;
  v_group uuid := case when spread_months > 1 then gen_random_uuid() end;
begin
  insert into expenses.entries (user_id, amount_cents, currency, spent_on, tag_id, note, corrects_id, pro_rata_group, pro_rata_months)
  values (record.user_id, record.amount_cents, record.currency, record.spent_on, record.tag_id, nullif(record.note, ''),
          record.corrects_id, v_group, case when spread_months > 1 then spread_months end)
  returning * into v_entry;
  perform budget.ensure_period(record.user_id, record.spent_on);
  if v_group is not null then
    perform budget.schedule_pro_rata(record.user_id, v_entry.expense_id, v_group, record.amount_cents, spread_months,
                                     record.spent_on, record.tag_id);
  end if;
  return v_entry;
end;
$$;
comment on function expenses_private.record(uuid, bigint, uuid, date, text, text, integer, uuid) is
  'Inserts an entry, opens its month''s period, and schedules the installments of a spread expense.';

create function expenses.create_expense(amount_cents bigint, tag_id uuid, spent_on date, note text default null,
  currency text default null, spread_months integer default 1) returns expenses.entries
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_currency text;
begin
  if v_user is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  v_currency := coalesce(currency, (select s.currency from budget.default_settings s where s.user_id = v_user),
                         (select u.currency::text from auth.users u where u.user_id = v_user));
  perform expenses_private.assert_input(amount_cents, spent_on, note, v_currency, coalesce(spread_months, 1));
  perform expenses_private.assert_tag(v_user, tag_id);
  return expenses_private.record(v_user, amount_cents, tag_id, spent_on, note, v_currency, coalesce(spread_months, 1), null);
end;
$$;
comment on function expenses.create_expense(bigint, uuid, date, text, text, integer) is
  'Records an expense: cents, tag (yours), date, note, currency (default: your budget''s). spreadMonths > 1 spreads it over that many months from its own (pro-rata installments summing exactly to the amount). Opens the month''s period. EXAMT, EXDAT, EXTAG, EXCUR, EXSPR, BADIN for bad input. Security definer because the ledger has no insert grant.';
revoke execute on function expenses.create_expense(bigint, uuid, date, text, text, integer) from public;
grant execute on function expenses.create_expense(bigint, uuid, date, text, text, integer) to gw_user;

create function expenses.correct_expense(expense_id uuid, amount_cents bigint, tag_id uuid, spent_on date, note text default null,
  currency text default null, spread_months integer default 1) returns expenses.entries
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_old expenses.entries;
begin
  if v_user is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  -- The row lock queues concurrent corrections of the same entry: the second
  -- sees the first's correction once it commits and is refused below.
  select * into v_old from expenses.entries e where e.expense_id = correct_expense.expense_id and e.user_id = v_user for update;
  if not found then
    raise exception 'No such expense of yours.' using errcode = 'NTFND';
  end if;
  if exists (select 1 from expenses.entries c where c.corrects_id = v_old.expense_id) then
    raise exception 'Expense % was already corrected: correct the active entry of its chain.', v_old.expense_id
      using errcode = 'EXCOR', detail = 'expense ' || v_old.expense_id::text;
  end if;
  perform expenses_private.assert_input(amount_cents, spent_on, note, coalesce(currency, v_old.currency), coalesce(spread_months, 1));
  perform expenses_private.assert_tag(v_user, tag_id);
  if v_old.pro_rata_group is not null then
    perform budget.cancel_pro_rata_group(v_user, v_old.pro_rata_group);
  end if;
  return expenses_private.record(v_user, amount_cents, tag_id, spent_on, note, coalesce(currency, v_old.currency),
                                 coalesce(spread_months, 1), v_old.expense_id);
exception when unique_violation then
  -- The backstop: entries_corrects_id_key, whatever the path.
  raise exception 'Expense % was already corrected: correct the active entry of its chain.', correct_expense.expense_id
    using errcode = 'EXCOR', detail = 'expense ' || correct_expense.expense_id::text;
end;
$$;
comment on function expenses.correct_expense(uuid, bigint, uuid, date, text, text, integer) is
  'Corrects an active expense: records a new entry with the given values whose correctsId is it; it becomes corrected and the new one active. Pending installments of a spread expense are cancelled. EXCOR if it was already corrected (also when two corrections race: one wins), NTFND if it is not yours. Security definer because the ledger has no insert grant.';
revoke execute on function expenses.correct_expense(uuid, bigint, uuid, date, text, text, integer) from public;
grant execute on function expenses.correct_expense(uuid, bigint, uuid, date, text, text, integer) to gw_user;

create function expenses.chain(expense_id uuid) returns setof expenses.entries
  language sql
  stable
  set search_path = ''
as $$
  with recursive back as (
    select e.expense_id, e.corrects_id, 0 as depth from expenses.entries e where e.expense_id = chain.expense_id
    union all
    select p.expense_id, p.corrects_id, b.depth - 1 from expenses.entries p join back b on p.expense_id = b.corrects_id
  ), forward as (
    select e.expense_id, 0 as depth from expenses.entries e where e.expense_id = chain.expense_id
    union all
    select c.expense_id, f.depth + 1 from expenses.entries c join forward f on c.corrects_id = f.expense_id
  ), links as (
    select expense_id, depth from back union select expense_id, depth from forward
  )
  select e.* from links l join expenses.entries e on e.expense_id = l.expense_id order by l.depth
$$;
comment on function expenses.chain(uuid) is
  'The whole correction chain an entry belongs to, oldest first (the last is the active one). Under your own RLS.';
revoke execute on function expenses.chain(uuid) from public;
grant execute on function expenses.chain(uuid) to gw_user;

--------------------------------------------------------------------------------
-- Verification against the audit module's sealed log.

create type expenses.ledger_break as (
  expense_id uuid,
  audit_id bigint,
  problem text
);
comment on type expenses.ledger_break is
  'The first entry that does not verify and why: altered (the row differs from what was logged and sealed), deleted (logged and sealed, but gone), unlogged (a row with no log entry), or a problem of the audit chain itself (hash mismatch, prev_hash mismatch, missing entry).';

create function expenses.verify_ledger(user_id uuid default null) returns setof expenses.ledger_break
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
declare
  v_user uuid := coalesce(verify_ledger.user_id, auth.uid());
  v_break expenses.ledger_break;
  v_from bigint;
  v_to bigint;
begin
  if v_user is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  if v_user is distinct from auth.uid() then
    perform auth_private.assert_operator();
  end if;
  -- Each entry against its logged insert, in the order they were recorded.
  select x.expense_id, x.audit_id, x.problem into v_break
    from (
      select coalesce(e.expense_id, l.record_id::uuid) as expense_id, l.audit_id,
             case when l.audit_id is null then 'unlogged'
                  when e.expense_id is null then 'deleted'
                  else 'altered' end as problem,
             coalesce(l.chain_seq, 0) as seq, coalesce(e.created_at, l.changed_at) as at
        from (select * from expenses.entries e where e.user_id = v_user) e
        full join (select c.* from audit.change_log c
                    where c.schema_name = 'expenses' and c.table_name = 'entries' and c.action = 'insert'
                      and c.owner_id = v_user and c.chain_seq is not null
                      and not exists (select 1 from audit.change_log d
                                       where d.schema_name = 'expenses' and d.table_name = 'entries' and d.action = 'delete'
                                         and d.record_id = c.record_id)) l
          on l.record_id = e.expense_id::text
       where l.audit_id is null
          or e.expense_id is null
          or pg_catalog.to_jsonb(e) is distinct from l.payload -> 'new'
    ) x
    -- Unsealed log entries are not examined (the audit module seals within about a minute).
   where not (x.problem = 'unlogged' and exists (select 1 from audit.change_log u
                                                 where u.schema_name = 'expenses' and u.table_name = 'entries'
                                                   and u.record_id = x.expense_id::text and u.chain_seq is null))
   order by x.at, x.seq
   limit 1;
  if found then
    return next v_break;
    return;
  end if;
  -- The log entries themselves: the audit chain over the span of this user's
  -- entries (operators and trusted code; the audit module's own verification).
  if pg_catalog.current_setting('role', true) is not distinct from 'none' or auth.has_role('gw_admin') then
    select min(c.chain_seq), max(c.chain_seq) into v_from, v_to
      from audit.change_log c
     where c.schema_name = 'expenses' and c.table_name = 'entries' and c.owner_id = v_user and c.chain_seq is not null;
    if v_from is not null then
      return query select null::uuid, b.audit_id, b.problem from audit.verify_chain(v_from, v_to) b;
    end if;
  end if;
end;
$$;
comment on function expenses.verify_ledger(uuid) is
  'Checks a user''s expense ledger (default: yours; another user''s for operators only) against the audit module''s sealed SHA-256 chain: returns the first entry that was altered, deleted or never logged, and, for operators, the first break of the chain itself over the span of the user''s entries; nothing when intact. Entries sealed in the last minute or so are not yet covered. Security definer because it reads the audit log, which shows users only some of its rows.';
revoke execute on function expenses.verify_ledger(uuid) from public;
grant execute on function expenses.verify_ledger(uuid) to gw_user;
