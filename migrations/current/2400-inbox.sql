-- Idempotent inbox for inbound webhooks. POST /webhooks/:source hands the raw
-- body and signature to inbox.receive(), which checks the HMAC with the
-- source's secret (the secret never leaves the database), stores the message
-- once per (source, external_id) and enqueues a job to process it. A
-- redelivery is acknowledged and ignored, so effects happen once.

drop schema if exists inbox_private cascade;
drop schema if exists inbox cascade;

create schema inbox;
comment on schema inbox is 'Inbound webhook sources and the messages received from them.';
grant usage on schema inbox to gw_anonymous, gw_user;

create schema inbox_private;
comment on schema inbox_private is 'Processing bookkeeping for the inbox; never exposed.';
revoke all on schema inbox_private from public;

--------------------------------------------------------------------------------
-- inbox.sources

create table inbox.sources (
  source text primary key
    constraint sources_source_check check (source ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  secret text not null default encode(public.gen_random_bytes(32), 'hex')
    constraint sources_secret_check check (char_length(secret) between 16 and 200),
  handler text
    constraint sources_handler_check check (handler ~ '^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$'),
  is_active boolean not null default true,
  description text
    constraint sources_description_check check (char_length(description) <= 500),
  created_at timestamptz not null default now()
);
alter table inbox.sources enable row level security;

create policy "operators see inbound sources"
  on inbox.sources for select to gw_admin
  using ((select auth.has_role('gw_admin')));
create policy "operators add inbound sources"
  on inbox.sources for insert to gw_admin
  with check ((select auth.has_role('gw_admin')));
create policy "operators change inbound sources"
  on inbox.sources for update to gw_admin
  using ((select auth.has_role('gw_admin'))) with check ((select auth.has_role('gw_admin')));
create policy "operators delete inbound sources"
  on inbox.sources for delete to gw_admin
  using ((select auth.has_role('gw_admin')));

grant select, delete on inbox.sources to gw_admin;
grant insert (source, secret, handler, is_active, description) on inbox.sources to gw_admin;
grant update (secret, handler, is_active, description) on inbox.sources to gw_admin;

comment on table inbox.sources is
  'A sender of inbound webhooks (POST /webhooks/<source>): its HMAC secret and the SQL function that processes its messages. Operators only.';
comment on column inbox.sources.source is 'The name in the URL: lowercase letters, digits, _ and -.';
comment on column inbox.sources.secret is 'HMAC-SHA256 key the sender signs X-Groundwork-Signature with (generated unless given).';
comment on column inbox.sources.handler is 'schema.function taking an inbox.messages row; called once per message by the worker. Null: messages are stored and marked ignored.';
comment on column inbox.sources.is_active is 'Inactive sources are answered 404 and store nothing.';
comment on column inbox.sources.description is 'Who sends it and why.';
comment on column inbox.sources.created_at is 'When the source was added.';

create function inbox_private.tg_sources__validate() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  if new.handler is not null and pg_catalog.to_regprocedure(new.handler || '(inbox.messages)') is null then
    raise exception 'No function %(inbox.messages).', new.handler using errcode = 'BADIN';
  end if;
  return new;
end;
$$;
comment on function inbox_private.tg_sources__validate() is 'Refuses a handler that is not a function of one inbox.messages argument. Security definer: handlers may live in private schemas the operator cannot see.';

create trigger _100_validate
  before insert or update on inbox.sources
  for each row execute function inbox_private.tg_sources__validate();

--------------------------------------------------------------------------------
-- inbox.messages
--   received → processed | ignored | dead;  dead → received (replay)

create table inbox.messages (
  message_id bigint generated always as identity primary key,
  source text not null references inbox.sources (source) on delete cascade,
  external_id text not null
    constraint messages_external_id_check check (char_length(external_id) between 1 and 200),
  topic text
    constraint messages_topic_check check (char_length(topic) <= 200),
  payload jsonb not null,
  status text not null default 'received'
    constraint messages_status_check check (status in ('received', 'processed', 'ignored', 'dead')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_error text,
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  dead_at timestamptz,
  constraint messages_source_external_id_key unique (source, external_id)
);
alter table inbox.messages enable row level security;

create index messages_received_idx on inbox.messages (received_at) where status = 'received';
create index messages_dead_idx on inbox.messages (dead_at) where status = 'dead';

create policy "operators see inbound messages"
  on inbox.messages for select to gw_admin
  using ((select auth.has_role('gw_admin')));

grant select on inbox.messages to gw_admin;

comment on table inbox.messages is
  E'@behavior -insert -update -delete\nAn inbound webhook, stored once per (source, externalId) and processed by the worker: received, then processed (handler succeeded), ignored (no handler) or dead (every attempt failed; replay with inboxReplayMessages).';
comment on column inbox.messages.message_id is 'The message''s id.';
comment on column inbox.messages.source is 'Who sent it.';
comment on column inbox.messages.external_id is 'The sender''s id for it (X-Groundwork-Event-Id / Idempotency-Key header, or the body''s id): a redelivery with the same id is ignored.';
comment on column inbox.messages.topic is 'The sender''s event type (X-Groundwork-Topic header or the body''s type), if any.';
comment on column inbox.messages.payload is 'The JSON body as received.';
comment on column inbox.messages.status is E'@behavior +attribute:filterBy\nreceived, processed, ignored or dead. Filter on it to list dead messages (partial indexes serve received and dead).';
comment on column inbox.messages.attempts is 'Processing attempts since received or last replayed.';
comment on column inbox.messages.next_attempt_at is 'Earliest time of the next attempt after a failure.';
comment on column inbox.messages.last_error is 'Why the last attempt failed.';
comment on column inbox.messages.received_at is 'When it arrived.';
comment on column inbox.messages.processed_at is 'When it was processed or ignored.';
comment on column inbox.messages.dead_at is 'When the last attempt failed.';

create function inbox_private.enqueue(message_id bigint, run_at timestamptz default null) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  -- max_attempts only covers crashes: inbox_process keeps its own retry schedule.
  perform graphile_worker.add_job('inbox_process', pg_catalog.json_build_object('id', message_id),
    run_at := run_at, max_attempts := 25, job_key := 'inbox:' || message_id::text);
end;
$$;
comment on function inbox_private.enqueue(bigint, timestamptz) is 'Schedules processing of a message (run_at default now).';

create function inbox_private.tg_messages__enqueue() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  perform inbox_private.enqueue(new.message_id);
  return null;
end;
$$;
comment on function inbox_private.tg_messages__enqueue() is 'Queues processing of every stored message, in the storing transaction.';

create trigger _500_enqueue
  after insert on inbox.messages
  for each row execute function inbox_private.tg_messages__enqueue();

--------------------------------------------------------------------------------
-- Receiving (the HTTP route, as gw_anonymous)

create function inbox.receive(
  source text,
  signature text,
  body text,
  external_id text default null,
  topic text default null
) returns text
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_source inbox.sources;
  v_timestamp bigint;
  v_given text;
  v_expected text;
  v_payload jsonb;
  v_external_id text := receive.external_id;
  v_message_id bigint;
begin
  select * into v_source from inbox.sources s where s.source = receive.source and s.is_active;
  if not found then
    return 'unknown_source';
  end if;
  -- t=<unix seconds>,v1=<hex hmac_sha256(secret, t || '.' || body)>
  v_timestamp := (pg_catalog.regexp_match(signature, '(?:^|,)\s*t=([0-9]{1,12})\s*(?:,|$)'))[1]::bigint;
  v_given := pg_catalog.lower((pg_catalog.regexp_match(signature, '(?:^|,)\s*v1=([0-9a-fA-F]{64})\s*(?:,|$)'))[1]);
  if v_timestamp is null or v_given is null then
    return 'bad_signature';
  end if;
  v_expected := pg_catalog.encode(
    public.hmac(pg_catalog.convert_to(v_timestamp::text || '.' || body, 'UTF8'),
                pg_catalog.convert_to(v_source.secret, 'UTF8'), 'sha256'), 'hex');
  -- Compare digests of both, so the comparison's timing tells nothing about the expected value.
  if pg_catalog.sha256(pg_catalog.convert_to(v_given, 'UTF8')) <> pg_catalog.sha256(pg_catalog.convert_to(v_expected, 'UTF8')) then
    return 'bad_signature';
  end if;
  if abs(extract(epoch from pg_catalog.now())::bigint - v_timestamp) > 300 then
    return 'stale_timestamp';
  end if;
  begin
    v_payload := body::jsonb;
  exception when invalid_text_representation then
    return 'bad_body';
  end;
  v_external_id := coalesce(nullif(v_external_id, ''), v_payload ->> 'id');
  if v_external_id is null or char_length(v_external_id) > 200 then
    return 'missing_id';
  end if;
  insert into inbox.messages (source, external_id, topic, payload)
  values (v_source.source, v_external_id,
          pg_catalog.left(coalesce(nullif(receive.topic, ''), v_payload ->> 'type'), 200), v_payload)
  on conflict on constraint messages_source_external_id_key do nothing
  returning message_id into v_message_id;
  return case when v_message_id is null then 'duplicate' else 'accepted' end;
end;
$$;
comment on function inbox.receive(text, text, text, text, text) is
  E'@behavior -queryField -mutationField\nVerifies an inbound webhook''s signature and stores it once. Returns accepted, duplicate, unknown_source, bad_signature, stale_timestamp (more than 5 minutes off), bad_body (not JSON) or missing_id. Called by POST /webhooks/:source; security definer because only it may read source secrets and write messages.';
grant execute on function inbox.receive(text, text, text, text, text) to gw_anonymous;

--------------------------------------------------------------------------------
-- Processing (the worker, as gw_owner)

create function inbox_private.process(message_id bigint) returns text
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_message inbox.messages;
  v_handler text;
begin
  select * into v_message from inbox.messages m where m.message_id = process.message_id for update;
  if not found then
    return 'missing';
  end if;
  if v_message.status <> 'received' then
    return v_message.status; -- processed already (a duplicate job) or dead
  end if;
  if v_message.next_attempt_at > pg_catalog.now() then
    return 'not_due';
  end if;
  select s.handler into v_handler from inbox.sources s where s.source = v_message.source;
  if v_handler is null then
    update inbox.messages m set status = 'ignored', processed_at = pg_catalog.now(), attempts = m.attempts + 1
     where m.message_id = v_message.message_id;
    return 'ignored';
  end if;
  execute pg_catalog.format('select %s($1)', pg_catalog.to_regprocedure(v_handler || '(inbox.messages)')::regproc)
    using v_message;
  update inbox.messages m set status = 'processed', processed_at = pg_catalog.now(), attempts = m.attempts + 1,
                              last_error = null
   where m.message_id = v_message.message_id;
  return 'processed';
end;
$$;
comment on function inbox_private.process(bigint) is
  'Runs the source''s handler on a received message, in one transaction with marking it processed; a handler error rolls both back.';

create function inbox_private.record_failure(
  message_id bigint,
  error text,
  max_attempts integer,
  retry_delay interval
) returns text
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_message inbox.messages;
begin
  update inbox.messages m
     set attempts = m.attempts + 1, last_error = pg_catalog.left(record_failure.error, 2000)
   where m.message_id = record_failure.message_id and m.status = 'received'
  returning * into v_message;
  if not found then
    return null;
  end if;
  if v_message.attempts >= max_attempts then
    update inbox.messages m set status = 'dead', dead_at = pg_catalog.now() where m.message_id = v_message.message_id;
    return 'dead';
  end if;
  update inbox.messages m set next_attempt_at = pg_catalog.now() + retry_delay where m.message_id = v_message.message_id;
  perform inbox_private.enqueue(v_message.message_id, pg_catalog.now() + retry_delay);
  return 'received';
end;
$$;
comment on function inbox_private.record_failure(bigint, text, integer, interval) is
  'Counts a failed attempt: schedules the next one after retry_delay, or dead-letters the message after the last.';

create function inbox.replay_messages(message_ids bigint[] default null) returns integer
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_ids bigint[];
  v_id bigint;
begin
  perform auth_private.assert_operator();
  if message_ids is not null then
    if exists (select 1 from pg_catalog.unnest(message_ids) i(id)
                where not exists (select 1 from inbox.messages m where m.message_id = i.id)) then
      raise exception 'No inbox message among %.', message_ids using errcode = 'NTFND';
    end if;
    if exists (select 1 from inbox.messages m where m.message_id = any (message_ids) and m.status <> 'dead') then
      raise exception 'Only dead messages can be replayed.' using errcode = 'BADST';
    end if;
  end if;
  with replayed as (
    update inbox.messages m
       set status = 'received', attempts = 0, next_attempt_at = pg_catalog.now(), dead_at = null, last_error = null
     where m.status = 'dead' and (message_ids is null or m.message_id = any (message_ids))
    returning m.message_id
  )
  select coalesce(pg_catalog.array_agg(r.message_id), '{}') into v_ids from replayed r;
  foreach v_id in array v_ids loop
    perform inbox_private.enqueue(v_id);
  end loop;
  return cardinality(v_ids);
end;
$$;
comment on function inbox.replay_messages(bigint[]) is
  E'@resultFieldName replayedCount\nProcesses dead inbox messages again: the given ones (NTFND if unknown, BADST if not dead) or every dead one when messageIds is null. Returns how many. Operators (gw_admin) only (DNIED when the grant was withdrawn).';
grant execute on function inbox.replay_messages(bigint[]) to gw_admin;
