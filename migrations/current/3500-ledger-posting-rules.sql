-- Who may write which kind of ledger transaction, when it may be effective,
-- and how much metadata it may carry (issue 15). The posting functions call
-- ledger_private.assert_posting whenever a caller gives a kind other than
-- transfer, metadata or an effective time; the table's constraints are the
-- backstop for every writer, the owner's code included.

-- Which function writes each system kind. written_by names the only function
-- that may write the kind ("ledger.reverse", "ledger.post_hold"), or "trusted"
-- for operators (a current gw_admin grant) and trusted server code. A kind
-- without written_by (transfer, or one another module registers) is open to
-- every caller; a module reserves its own kind the same way.
update registry.types t
   set metadata = t.metadata || v.metadata
  from (values
    ('reversal', '{"written_by": "ledger.reverse"}'::jsonb),
    ('hold_post', '{"written_by": "ledger.post_hold"}'::jsonb),
    ('conversion', '{"written_by": "trusted"}'::jsonb),
    ('adjustment', '{"written_by": "trusted"}'::jsonb)
  ) as v (code, metadata)
 where t.namespace = 'ledger_transaction_kind' and t.code = v.code
   and not t.metadata @> v.metadata;

-- Backstops. NOT VALID: they hold for every row written from now on, without
-- judging rows an existing installation already has (validate them by hand:
-- alter table ledger.transactions validate constraint …).
alter table ledger.transactions drop constraint if exists transactions_reversal_check;
alter table ledger.transactions drop constraint if exists transactions_hold_post_check;
alter table ledger.transactions drop constraint if exists transactions_metadata_size_check;
alter table ledger.transactions
  add constraint transactions_reversal_check check (kind <> 'reversal' or reverses_id is not null) not valid;
alter table ledger.transactions
  add constraint transactions_hold_post_check check ((kind = 'hold_post') = (hold_id is not null)) not valid;
-- The cap of outbox.notifications.payload: 16 kB.
alter table ledger.transactions
  add constraint transactions_metadata_size_check check (pg_column_size(metadata) <= 16384) not valid;

comment on column ledger.transactions.kind is
  'What kind of movement (registry namespace ledger_transaction_kind): transfer, or a registered kind. System kinds are written only by the function that means them: reversal by reverse, hold_post by postHold; conversion and adjustment by operators and trusted code (LKIND otherwise).';
comment on column ledger.transactions.metadata is
  'Free-form JSON object (order ids, provider references), at most 16 kB (LMETA).';
comment on column ledger.transactions.effective_at is
  'When the movement happened in business terms (decides its period); defaults to the posting time. At most 5 minutes ahead of the database clock; for signed-in users at most 24 hours back; operators and trusted code not before the earliest period, if any (LDATE).';

create or replace function ledger_private.assert_posting(
  kind text,
  metadata jsonb,
  effective_at timestamptz,
  trusted boolean
) returns void
  language plpgsql
  stable
  set search_path = ''
as $$
declare
  v_written_by text;
  v_earliest timestamptz;
begin
  if assert_posting.kind is not null and assert_posting.kind <> 'transfer' then
    select t.metadata ->> 'written_by' into v_written_by
      from registry.types t
     where t.namespace = 'ledger_transaction_kind' and t.code = assert_posting.kind and t.is_active;
    if not found then
      raise exception '% is not an active ledger_transaction_kind type.', assert_posting.kind using errcode = 'RTYPE';
    end if;
    if v_written_by = 'trusted' and not assert_posting.trusted then
      raise exception 'Transactions of kind % are posted by operators and trusted code only.', assert_posting.kind
        using errcode = 'LKIND';
    elsif v_written_by is not null and v_written_by <> 'trusted' then
      raise exception 'Transactions of kind % are written only by %.', assert_posting.kind, v_written_by
        using errcode = 'LKIND';
    end if;
  end if;

  if assert_posting.metadata is not null and pg_catalog.pg_column_size(assert_posting.metadata) > 16384 then
    raise exception 'Transaction metadata is at most 16 kB (16384 bytes), not %.', pg_catalog.pg_column_size(assert_posting.metadata)
      using errcode = 'LMETA';
  end if;

  if assert_posting.effective_at is not null then
    if assert_posting.effective_at > pg_catalog.now() + interval '5 minutes' then
      raise exception 'effective_at % is in the future (at most 5 minutes ahead).', assert_posting.effective_at
        using errcode = 'LDATE';
    end if;
    if not assert_posting.trusted and assert_posting.effective_at < pg_catalog.now() - interval '24 hours' then
      raise exception 'effective_at % is more than 24 hours back; only operators and trusted code back-date further.',
        assert_posting.effective_at using errcode = 'LDATE';
    end if;
    if assert_posting.trusted then
      select pg_catalog.min(p.starts_at) into v_earliest from ledger.periods p;
      if assert_posting.effective_at < v_earliest then
        raise exception 'effective_at % is before the earliest accounting period (which starts %).',
          assert_posting.effective_at, v_earliest using errcode = 'LDATE';
      end if;
    end if;
  end if;
end;
$$;
comment on function ledger_private.assert_posting(text, jsonb, timestamptz, boolean) is
  'What a caller may ask of a new transaction: an active kind (RTYPE) that the caller may write (LKIND: a kind whose registry metadata names written_by is written only by that function, or by trusted callers when it says "trusted"), metadata of at most 16 kB (LMETA), and an effective time at most 5 minutes ahead, at most 24 hours back for untrusted callers, and for trusted ones not before the earliest period (LDATE).';
revoke all on function ledger_private.assert_posting(text, jsonb, timestamptz, boolean) from public;
