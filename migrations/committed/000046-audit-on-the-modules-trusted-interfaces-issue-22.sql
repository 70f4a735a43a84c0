--! Previous: sha1:42cf01b6fc3154d9fed8160ef2321fd9e87333fb
--! Hash: sha1:939cfa305b4a3c4bf09e9e6071eda797bcd465f1
--! Message: audit: on the modules' trusted interfaces (issue 22)

--! split: 2150-audit-on-module-interfaces.sql
--! split: 2150-audit-on-module-interfaces.sql
-- audit.verify_chain on auth's trusted interface (auth.assert_operator, 1910)
-- instead of auth_private (CONVENTIONS: a module never reads another module's
-- *_private schema). Only the one call changes.

-- audit.verify_chain: as in 000002, on the interfaces
create or replace function audit.verify_chain(from_seq bigint default 1, to_seq bigint default null)
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
  perform auth.assert_operator();
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
