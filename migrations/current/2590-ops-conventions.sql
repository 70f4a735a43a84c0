-- Conventions (tests/project/conventions.test.ts, docs/conventions.md): every
-- security definer function says in its comment why it is one. Comments only:
-- re-runnable, no change of behaviour.

comment on function ops.outbox_health() is
  'Outbox lag (age of the oldest undelivered dispatch), dead letters, delivery success rate over the last hour, and inbox backlog. Operators only. Security definer so that it counts whole tables (dispatches, deliveries, inbox messages) without evaluating their row policies: the operator check is the permission.';

-- The queue functions below are being rewritten in 2500-ops-worker-interface.sql,
-- so this does not restate their comments: it appends the reason to whatever
-- comment they have (smart tags included), only while they are security
-- definers whose comment lacks one, and skips a signature that no longer exists.
do $$
declare
  v_fn record;
begin
  for v_fn in
    select p.oid::regprocedure as fn, coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') as comment
      from pg_catalog.pg_proc p
     where p.oid = any (array(
             select pg_catalog.to_regprocedure(s)::oid
               from pg_catalog.unnest(array['ops.jobs(text,text)', 'ops.queue_depth()', 'ops.retry_jobs(bigint[])',
                                            'ops.cancel_jobs(bigint[])', 'ops.unlock_workers(text[])']) s))
       and p.prosecdef
       and coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') !~* 'security definer(:|\s+(because|so|for)\M)'
  loop
    execute pg_catalog.format('comment on function %s is %L', v_fn.fn,
      pg_catalog.btrim(v_fn.comment || ' Security definer because graphile-worker''s tables and functions are not granted to API roles: the operator check is the permission.'));
  end loop;
end
$$;
