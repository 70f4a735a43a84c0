-- Tamper-evident audit log. Tracked tables write one row per changed record
-- into audit.change_log (append-only). A worker job seals committed rows in
-- order into a SHA-256 hash chain, so writers never queue on a shared lock;
-- audit.verify_chain() recomputes the chain and names the first broken row.

drop schema if exists audit_private cascade;
drop schema if exists audit cascade;

create schema audit;
comment on schema audit is
  'Change log of tracked tables (hash-chained, append-only) and user-facing activity history.';
grant usage on schema audit to gw_user;

create schema audit_private;
comment on schema audit_private is 'Trigger functions and the sealing machinery of the audit log; never exposed.';
revoke all on schema audit_private from public;

--------------------------------------------------------------------------------
-- audit.change_log

create table audit.change_log (
  audit_id bigint generated always as identity primary key,
  schema_name text not null,
  table_name text not null,
  record_id text not null,
  action text not null
    constraint change_log_action_check check (action in ('insert', 'update', 'delete')),
  changed_by text not null,
  changed_at timestamptz not null default clock_timestamp(),
  payload jsonb not null,
  -- bigint rather than xid8, which GraphQL has no type for; 64-bit, never wraps.
  txid bigint not null default (pg_current_xact_id()::text::bigint),
  owner_id uuid,
  -- Written once by the sealer: position in the chain, previous hash, own hash.
  chain_seq bigint
    constraint change_log_chain_seq_key unique,
  prev_hash bytea,
  hash bytea,
  sealed_at timestamptz,
  -- The payload matches the action: inserts have only new, deletes only old.
  constraint change_log_payload_check check (
    case action
      when 'insert' then payload ? 'new' and not payload ? 'old'
      when 'update' then payload ? 'new' and payload ? 'old'
      else payload ? 'old' and not payload ? 'new'
    end
  ),
  constraint change_log_seal_check check (
    (chain_seq is null and hash is null and sealed_at is null)
    or (chain_seq is not null and hash is not null and sealed_at is not null
        and (prev_hash is not null or chain_seq = 1))
  )
);
alter table audit.change_log enable row level security;

create index change_log_changed_at_brin on audit.change_log using brin (changed_at);
create index change_log_record_idx on audit.change_log (schema_name, table_name, record_id);
create index change_log_owner_id_idx on audit.change_log (owner_id) where owner_id is not null;
-- The sealer's work list: small, because sealed rows leave it.
create index change_log_unsealed_idx on audit.change_log (audit_id) where chain_seq is null;

create policy "operators read the whole change log"
  on audit.change_log for select to gw_admin
  using ((select auth.has_role('gw_admin')));
create policy "users read the changes of records they own"
  on audit.change_log for select to gw_user
  using (owner_id = (select auth.uid()));

grant select on audit.change_log to gw_user;
-- Nobody but the tracking trigger (security definer, as the owner) inserts;
-- nobody at all updates content, deletes or truncates.
revoke insert, update, delete, truncate on audit.change_log from public, gw_user, gw_admin;

comment on table audit.change_log is
  E'@behavior -insert -update -delete\nEvery insert, update and delete on a tracked table, append-only and sealed into a SHA-256 hash chain by the worker within about a minute. Operators read it all; a user reads the changes of records they own (their user row, memberships, sessions).';
comment on column audit.change_log.audit_id is 'Order of writing.';
comment on column audit.change_log.schema_name is 'Schema of the changed table.';
comment on column audit.change_log.table_name is 'Name of the changed table.';
comment on column audit.change_log.record_id is 'The changed row''s primary key: the value, or a JSON array of values for a composite key.';
comment on column audit.change_log.action is 'insert, update or delete.';
comment on column audit.change_log.changed_by is 'The signed-in user (auth.uid()) who made the change, or the database role for system work.';
comment on column audit.change_log.changed_at is 'When the row was changed (clock time of the statement).';
comment on column audit.change_log.payload is 'The row before (old) and after (new) the change; secret columns are left out.';
comment on column audit.change_log.txid is 'The writing transaction''s id; rows of one transaction share it.';
comment on column audit.change_log.owner_id is 'The user the changed record belongs to, if the table names one; that user may read this entry.';
comment on column audit.change_log.chain_seq is 'Position in the hash chain (null until sealed). Chain order is sealing order: rows of a long transaction can come after later audit ids.';
comment on column audit.change_log.prev_hash is 'Hash of the row before this one in the chain.';
comment on column audit.change_log.hash is 'sha256(prev_hash || canonical text of this row); see audit.verify_chain.';
comment on column audit.change_log.sealed_at is 'When the row was sealed into the chain.';

-- Content is immutable; the seal columns are written exactly once, by the sealer.
create function audit_private.tg_change_log__append_only() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if tg_op = 'UPDATE'
     and old.chain_seq is null
     and new.chain_seq is not null
     and pg_catalog.current_setting('audit.sealing', true) = 'on'
     and (old.audit_id, old.schema_name, old.table_name, old.record_id, old.action, old.changed_by,
          old.changed_at, old.payload, old.txid, old.owner_id)
         is not distinct from
         (new.audit_id, new.schema_name, new.table_name, new.record_id, new.action, new.changed_by,
          new.changed_at, new.payload, new.txid, new.owner_id)
  then
    return new;
  end if;
  raise exception 'audit.change_log is append-only: % is not allowed.', pg_catalog.lower(tg_op)
    using errcode = 'AUDRO';
end;
$$;
comment on function audit_private.tg_change_log__append_only() is
  'Refuses UPDATE, DELETE and TRUNCATE of the change log, except the one-time seal written by audit_private.seal().';

create trigger _010_append_only
  before update or delete on audit.change_log
  for each row execute function audit_private.tg_change_log__append_only();
create trigger _011_no_truncate
  before truncate on audit.change_log
  for each statement execute function audit_private.tg_change_log__append_only();

--------------------------------------------------------------------------------
-- Hashing and sealing

create function audit_private.row_hash(prev_hash bytea, entry audit.change_log) returns bytea
  language sql
  immutable
  parallel safe
  set search_path = ''
as $$
  select pg_catalog.sha256(
    coalesce(prev_hash, ''::bytea)
    || pg_catalog.convert_to(
      pg_catalog.concat_ws(e'\x1f',
        entry.audit_id::text, entry.chain_seq::text, entry.schema_name, entry.table_name, entry.record_id,
        entry.action, entry.changed_by,
        -- Independent of the session's TimeZone and DateStyle.
        pg_catalog.to_char(entry.changed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        entry.payload::text, entry.txid::text, coalesce(entry.owner_id::text, '')),
      'UTF8')
  )
$$;
comment on function audit_private.row_hash(bytea, audit.change_log) is
  'The chain hash of one entry: sha256 of the previous hash followed by the entry''s fields, unit-separated, timestamps in UTC. jsonb text is canonical, so the same row always hashes the same.';

-- Seals, in audit_id order, every row whose transaction finished before the
-- oldest transaction still running. Rows of a transaction still in flight wait
-- for a later run; nothing a writer does waits for the sealer.
create function audit_private.seal(max_rows integer default 10000) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_horizon bigint := pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())::text::bigint;
  v_last audit.change_log;
  v_seq bigint;
  v_prev bytea;
  v_row audit.change_log;
  v_count integer := 0;
begin
  -- One sealer at a time; a second one simply finds nothing to do later.
  if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('audit_private.seal')) then
    return 0;
  end if;
  perform pg_catalog.set_config('audit.sealing', 'on', true);

  select * into v_last from audit.change_log c where c.chain_seq is not null order by c.chain_seq desc limit 1;
  v_seq := coalesce(v_last.chain_seq, 0);
  v_prev := v_last.hash;

  for v_row in
    select * from audit.change_log c
     where c.chain_seq is null and c.txid < v_horizon
     order by c.audit_id
     limit max_rows
  loop
    v_seq := v_seq + 1;
    v_row.chain_seq := v_seq;
    v_row.prev_hash := v_prev;
    v_prev := audit_private.row_hash(v_prev, v_row);
    update audit.change_log c
       set chain_seq = v_seq, prev_hash = v_row.prev_hash, hash = v_prev, sealed_at = pg_catalog.now()
     where c.audit_id = v_row.audit_id;
    v_count := v_count + 1;
  end loop;

  perform pg_catalog.set_config('audit.sealing', 'off', true);
  return v_count;
end;
$$;
comment on function audit_private.seal(integer) is
  'Appends committed, unsealed change-log rows to the hash chain (worker job audit_seal). Returns how many it sealed.';

create type audit.chain_break as (
  audit_id bigint,
  chain_seq bigint,
  problem text
);
comment on type audit.chain_break is 'Where the hash chain first breaks, and how.';
comment on column audit.chain_break.audit_id is 'The first entry that does not verify.';
comment on column audit.chain_break.chain_seq is 'Its position in the chain.';
comment on column audit.chain_break.problem is 'hash mismatch (content changed), prev_hash mismatch (chain relinked) or missing entry (a row was removed).';

create function audit.verify_chain(from_seq bigint default 1, to_seq bigint default null)
  returns setof audit.chain_break
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
declare
  v_row audit.change_log;
  v_prev bytea;
  v_expected_seq bigint := greatest(coalesce(from_seq, 1), 1);
begin
  perform auth_private.assert_operator();
  if v_expected_seq > 1 then
    select c.hash into v_prev from audit.change_log c where c.chain_seq = v_expected_seq - 1;
    if not found then
      return query select null::bigint, v_expected_seq - 1, 'missing entry'::text;
      return;
    end if;
  end if;
  for v_row in
    select * from audit.change_log c
     where c.chain_seq >= v_expected_seq and (to_seq is null or c.chain_seq <= to_seq)
     order by c.chain_seq
  loop
    if v_row.chain_seq <> v_expected_seq then
      return query select v_row.audit_id, v_expected_seq, 'missing entry'::text;
      return;
    end if;
    if v_row.prev_hash is distinct from v_prev then
      return query select v_row.audit_id, v_row.chain_seq, 'prev_hash mismatch'::text;
      return;
    end if;
    if v_row.hash is distinct from audit_private.row_hash(v_prev, v_row) then
      return query select v_row.audit_id, v_row.chain_seq, 'hash mismatch'::text;
      return;
    end if;
    v_prev := v_row.hash;
    v_expected_seq := v_expected_seq + 1;
  end loop;
end;
$$;
comment on function audit.verify_chain(bigint, bigint) is
  E'Recomputes the hash chain from position fromSeq (default 1) to toSeq (default: the end) and returns the first entry that does not verify, or nothing when the chain is intact. Operators only. Security definer so it reads every entry, not only the rows RLS shows the caller.';
grant execute on function audit.verify_chain(bigint, bigint) to gw_admin;

--------------------------------------------------------------------------------
-- Tracking

-- Generic row trigger. Arguments: primary key columns (a text array literal),
-- the owner column ('' for none), columns to leave out of the payload.
create function audit_private.tg__track_changes() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_pk text[] := tg_argv[0]::text[];
  v_owner_column text := nullif(tg_argv[1], '');
  v_excluded text[] := tg_argv[2]::text[];
  v_old jsonb;
  v_new jsonb;
  v_row jsonb;
  v_record_id text;
  v_owner text;
  v_payload jsonb;
  v_role text := nullif(pg_catalog.current_setting('role', true), 'none');
begin
  if tg_op <> 'INSERT' then v_old := pg_catalog.to_jsonb(old) - v_excluded; end if;
  if tg_op <> 'DELETE' then v_new := pg_catalog.to_jsonb(new) - v_excluded; end if;
  if tg_op = 'UPDATE' and v_old = v_new then
    return null; -- nothing visible changed (only left-out columns did)
  end if;
  v_row := coalesce(v_new, v_old);
  if pg_catalog.array_length(v_pk, 1) = 1 then
    v_record_id := v_row ->> v_pk[1];
  else
    select pg_catalog.jsonb_agg(v_row -> k order by o)::text into v_record_id
      from pg_catalog.unnest(v_pk) with ordinality as u(k, o);
  end if;
  if v_owner_column is not null then
    v_owner := coalesce(v_new ->> v_owner_column, v_old ->> v_owner_column);
  end if;
  v_payload := case tg_op
    when 'INSERT' then pg_catalog.jsonb_build_object('new', v_new)
    when 'DELETE' then pg_catalog.jsonb_build_object('old', v_old)
    else pg_catalog.jsonb_build_object('old', v_old, 'new', v_new)
  end;
  insert into audit.change_log (schema_name, table_name, record_id, action, changed_by, payload, owner_id)
  values (tg_table_schema, tg_table_name, v_record_id, pg_catalog.lower(tg_op),
          -- The token's sub when uid() is already null because this very change revoked the session (logout).
          coalesce(auth.uid()::text, auth.jwt() ->> 'sub', v_role, session_user::text), v_payload, v_owner::uuid);
  return null;
end;
$$;
comment on function audit_private.tg__track_changes() is
  'Writes one change-log row per changed record. Security definer: writers need no privilege on the log.';

create function audit.enable_tracking(
  table_name regclass,
  owner_column text default null,
  excluded_columns text[] default '{}'
) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_pk text[];
begin
  select pg_catalog.array_agg(a.attname::text order by k.ordinality) into v_pk
    from pg_catalog.pg_constraint c
    cross join lateral pg_catalog.unnest(c.conkey) with ordinality as k(attnum, ordinality)
    join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
   where c.conrelid = enable_tracking.table_name and c.contype = 'p';
  if v_pk is null then
    raise exception 'Table % has no primary key: audit entries could not name the record.', enable_tracking.table_name
      using errcode = 'NOPKY';
  end if;
  if owner_column is not null and not exists (
    select 1 from pg_catalog.pg_attribute a
     where a.attrelid = enable_tracking.table_name and a.attname = owner_column and not a.attisdropped
  ) then
    raise exception 'Table % has no column %.', enable_tracking.table_name, owner_column using errcode = 'BADIN';
  end if;
  execute pg_catalog.format('drop trigger if exists _900_audit on %s', enable_tracking.table_name);
  execute pg_catalog.format(
    'create trigger _900_audit after insert or update or delete on %s for each row execute function audit_private.tg__track_changes(%L, %L, %L)',
    enable_tracking.table_name, v_pk::text, coalesce(owner_column, ''), coalesce(excluded_columns, '{}')::text);
end;
$$;
comment on function audit.enable_tracking(regclass, text, text[]) is
  E'@behavior -mutationField\nStarts writing every insert, update and delete of the table to audit.change_log. ownerColumn names the user a record belongs to (who may then read its entries); excludedColumns never reach the log (secrets). Idempotent (re-running applies new options); refuses a table without a primary key (NOPKY). For migrations.';

create function audit.disable_tracking(table_name regclass) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  execute pg_catalog.format('drop trigger if exists _900_audit on %s', disable_tracking.table_name);
end;
$$;
comment on function audit.disable_tracking(regclass) is
  E'@behavior -mutationField\nStops tracking the table; its past entries stay. Idempotent. For migrations.';

create function audit.is_tracked(table_name regclass) returns boolean
  language sql
  stable
  set search_path = ''
as $$
  select exists (
    select 1 from pg_catalog.pg_trigger t
     where t.tgrelid = is_tracked.table_name and t.tgname = '_900_audit' and not t.tgisinternal
  )
$$;
comment on function audit.is_tracked(regclass) is
  E'@behavior -queryField\nWhether the table writes to the change log.';

revoke execute on function audit.enable_tracking(regclass, text, text[]) from public;
revoke execute on function audit.disable_tracking(regclass) from public;
revoke execute on function audit.is_tracked(regclass) from public;

--------------------------------------------------------------------------------
-- Activity: user-facing history, written by domain functions.

create table audit.activity (
  activity_id bigint generated always as identity primary key,
  actor_id uuid references auth.users (user_id) on delete set null,
  verb text not null
    constraint activity_verb_check check (verb ~ '^[a-z][a-z0-9_.]{0,62}$'),
  object_type text not null
    constraint activity_object_type_check check (char_length(object_type) between 1 and 63),
  object_id text,
  subject_id uuid references auth.users (user_id) on delete set null,
  organization_id uuid references auth.organizations (organization_id) on delete cascade,
  summary text not null
    constraint activity_summary_check check (char_length(summary) between 1 and 500),
  context jsonb not null default '{}'::jsonb
    constraint activity_context_check check (jsonb_typeof(context) = 'object' and pg_column_size(context) <= 8192),
  created_at timestamptz not null default now()
);
alter table audit.activity enable row level security;

create index activity_actor_id_idx on audit.activity (actor_id, created_at desc);
create index activity_subject_id_idx on audit.activity (subject_id, created_at desc);
create index activity_organization_id_idx on audit.activity (organization_id, created_at desc);

create policy "users read what they did, what was done to them and their organizations' history"
  on audit.activity for select to gw_user
  using (
    actor_id = (select auth.uid())
    or subject_id = (select auth.uid())
    or organization_id = any (array(select auth.current_user_organization_ids()))
  );
create policy "operators read all activity"
  on audit.activity for select to gw_admin
  using ((select auth.has_role('gw_admin')));

grant select on audit.activity to gw_user;

comment on table audit.activity is
  E'@behavior -insert -update -delete\nWho did what to which object, in which organization, when ("Alice added Bob to Acme"). You read what you did, what was done to you, and the history of your organizations.';
comment on column audit.activity.activity_id is 'Order of recording.';
comment on column audit.activity.actor_id is 'Who did it (null for the system).';
comment on column audit.activity.verb is 'What happened, e.g. member.added.';
comment on column audit.activity.object_type is 'The kind of object acted on, e.g. membership.';
comment on column audit.activity.object_id is 'The object''s id.';
comment on column audit.activity.subject_id is 'The user it was done to, if any (they may read it too).';
comment on column audit.activity.organization_id is 'The organization it happened in, if any.';
comment on column audit.activity.summary is 'One readable sentence.';
comment on column audit.activity.context is 'A small JSON object of details (at most 8 kB).';
comment on column audit.activity.created_at is 'When it happened.';

create function audit.record_activity(
  verb text,
  object_type text,
  object_id text,
  summary text,
  organization_id uuid default null,
  subject_id uuid default null,
  context jsonb default '{}'::jsonb
) returns bigint
  language sql
  volatile
  security definer
  set search_path = ''
as $$
  insert into audit.activity (actor_id, verb, object_type, object_id, subject_id, organization_id, summary, context)
  values (auth.uid(), record_activity.verb, record_activity.object_type, record_activity.object_id,
          record_activity.subject_id, record_activity.organization_id, record_activity.summary,
          coalesce(record_activity.context, '{}'::jsonb))
  returning activity_id
$$;
comment on function audit.record_activity(text, text, text, text, uuid, uuid, jsonb) is
  E'@behavior -mutationField\nRecords an activity entry with the caller as actor. For domain functions (not granted to API roles): security definer because activity has no insert grant.';
revoke execute on function audit.record_activity(text, text, text, text, uuid, uuid, jsonb) from public;
