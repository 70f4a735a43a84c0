--! Previous: sha1:10eb66d82431bb4feb11e5e457dfbdf683d0d4fd
--! Hash: sha1:7d56de5c631509e0aea9dbc45a24b93858709a16
--! Message: expenses: on the modules' trusted interfaces (issue 22)

--! split: 6120-expenses-on-module-interfaces.sql
--! split: 6120-expenses-on-module-interfaces.sql
-- expenses.verify_ledger on auth's trusted interface (auth.assert_operator,
-- 1910) instead of auth_private (CONVENTIONS: a module never reads another
-- module's *_private schema). Only the operator check changes.

-- expenses.verify_ledger: as in 000041, on the interfaces
create or replace function expenses.verify_ledger(user_id uuid default null) returns setof expenses.ledger_break
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
    perform auth.assert_operator();
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
