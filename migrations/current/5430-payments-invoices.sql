-- payments.invoices: per organization (the seller), to a user or to nobody in
-- particular; lines and totals; status draft -> issued -> paid / void as a
-- registry state machine. Numbers are assigned when an invoice is issued,
-- from a per-organization counter row updated in the same transaction: a
-- concurrent issuer waits on the row, an aborted issue gives its number back,
-- so the numbers of an organization have no gaps. A refund issues a credit
-- note (kind credit_note), numbered in the same series.

drop function if exists payments.issue_credit_note(uuid, uuid, text, bigint, text, jsonb) cascade;
drop function if exists payments.move_invoice(uuid, text) cascade;
drop function if exists payments.issue_invoice(uuid) cascade;
drop function if exists payments.create_invoice(text, jsonb, uuid) cascade;
drop table if exists payments_private.invoice_counters cascade;
drop table if exists payments.invoice_lines cascade;
drop table if exists payments.invoices cascade;

insert into registry.types (namespace, code, label, description, sort_order) values
  ('invoice_status', 'draft', 'Draft', 'Being prepared; no number yet.', 10),
  ('invoice_status', 'issued', 'Issued', 'Numbered and sent.', 20),
  ('invoice_status', 'paid', 'Paid', 'Settled.', 30),
  ('invoice_status', 'void', 'Void', 'Cancelled after issue; its number stays used.', 40)
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description, sort_order = excluded.sort_order;
insert into registry.transitions (namespace, from_code, to_code, label) values
  ('invoice_status', null, 'draft', 'Create'),
  ('invoice_status', 'draft', 'issued', 'Issue'),
  ('invoice_status', 'issued', 'paid', 'Mark paid'),
  ('invoice_status', 'issued', 'void', 'Void')
on conflict on constraint transitions_move_key do nothing;
insert into registry.types (namespace, code, label, description) values
  ('outbox_topic', 'invoice.issued', 'Invoice issued', 'Payload: invoiceId, organizationId, userId, kind, number, total, currency.')
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description;

create table payments.invoices (
  invoice_id uuid primary key default gen_random_uuid(),
  organization_id uuid not null
    constraint invoices_organization_id_fkey references auth.organizations (organization_id) on delete restrict,
  user_id uuid
    constraint invoices_user_id_fkey references auth.users (user_id) on delete restrict,
  kind text not null default 'invoice'
    constraint invoices_kind_check check (kind in ('invoice', 'credit_note')),
  number integer,
  currency text not null
    constraint invoices_currency_fkey references ledger.currencies (code) on delete restrict,
  total bigint not null default 0
    constraint invoices_total_check check (total >= 0),
  metadata jsonb not null default '{}'::jsonb
    constraint invoices_metadata_check check (jsonb_typeof(metadata) = 'object' and pg_column_size(metadata) <= 16384),
  created_at timestamptz not null default now(),
  issued_at timestamptz,
  closed_at timestamptz,
  constraint invoices_number_key unique (organization_id, number),
  constraint invoices_number_check check ((number is null) = (issued_at is null))
);
alter table payments.invoices enable row level security;
select registry.add_type_column('payments.invoices', 'status', 'invoice_status', true, 'draft');
select registry.add_state_machine('payments.invoices', 'status', 'invoice_status');
create index invoices_user_id_idx on payments.invoices (user_id);
create index invoices_currency_idx on payments.invoices (currency);

create policy "members acting in an organization see its invoices; users see theirs"
  on payments.invoices for select to gw_user
  using (organization_id = (select auth.current_org_id()) or user_id = (select auth.uid()));
grant select on payments.invoices to gw_user;

comment on table payments.invoices is
  E'@behavior -insert -update -delete\nAn invoice (or a credit note, kind credit_note, issued by a refund) of an organization, to a user or to nobody in particular: lines, total, status draft -> issued -> paid or void (registry namespace invoice_status). Numbered 1, 2, 3… per organization without gaps when issued. Members acting in the organization see its invoices; users see those addressed to them.';
comment on column payments.invoices.invoice_id is 'The invoice''s id.';
comment on column payments.invoices.organization_id is 'The issuing organization.';
comment on column payments.invoices.user_id is 'The user it is addressed to, if any.';
comment on column payments.invoices.kind is 'invoice, or credit_note (what a refund issues).';
comment on column payments.invoices.number is 'Its number in the organization''s series, from 1 without gaps; null while a draft.';
comment on column payments.invoices.currency is 'The currency.';
comment on column payments.invoices.total is 'The sum of its lines, in minor units.';
comment on column payments.invoices.metadata is 'References (the order, the ledger transaction), a JSON object.';
comment on column payments.invoices.created_at is 'When it was created.';
comment on column payments.invoices.issued_at is 'When it was issued (numbered).';
comment on column payments.invoices.closed_at is 'When it was paid or voided.';
comment on column payments.invoices.status is 'draft, issued, paid or void (registry namespace invoice_status).';
comment on constraint invoices_organization_id_fkey on payments.invoices is E'@behavior -*\nNo relation field.';
comment on constraint invoices_user_id_fkey on payments.invoices is E'@behavior -*\nNo relation field.';
comment on constraint invoices_currency_fkey on payments.invoices is E'@behavior -*\nNo relation field.';
comment on constraint invoices_status_type_fkey on payments.invoices is E'@behavior -*\nNo relation field.';
comment on constraint invoices_number_key on payments.invoices is E'@behavior -single -update -delete\nOne invoice per number and organization.';

create table payments.invoice_lines (
  invoice_line_id uuid primary key default gen_random_uuid(),
  invoice_id uuid not null
    constraint invoice_lines_invoice_id_fkey references payments.invoices (invoice_id) on delete cascade,
  line integer not null,
  description text not null
    constraint invoice_lines_description_check check (char_length(description) between 1 and 500),
  quantity integer not null
    constraint invoice_lines_quantity_check check (quantity between 1 and 1000000),
  unit_amount bigint not null
    constraint invoice_lines_unit_amount_check check (unit_amount >= 0),
  amount bigint generated always as (quantity * unit_amount) stored,
  constraint invoice_lines_line_key unique (invoice_id, line)
);
alter table payments.invoice_lines enable row level security;
create policy "whoever sees an invoice sees its lines"
  on payments.invoice_lines for select to gw_user
  using (exists (select 1 from payments.invoices i where i.invoice_id = invoice_lines.invoice_id));
grant select on payments.invoice_lines to gw_user;
comment on table payments.invoice_lines is E'@behavior -insert -update -delete\nA line of an invoice: quantity x unit amount. Visible with its invoice.';
comment on column payments.invoice_lines.invoice_line_id is 'The line''s id.';
comment on column payments.invoice_lines.invoice_id is 'The invoice.';
comment on column payments.invoice_lines.line is 'Its position, from 1.';
comment on column payments.invoice_lines.description is 'What it is for, 1 to 500 characters.';
comment on column payments.invoice_lines.quantity is 'How many.';
comment on column payments.invoice_lines.unit_amount is 'The amount of one, in minor units.';
comment on column payments.invoice_lines.amount is 'quantity x unit amount.';
comment on constraint invoice_lines_invoice_id_fkey on payments.invoice_lines is E'@fieldName invoice\n@foreignFieldName lines';
comment on constraint invoice_lines_line_key on payments.invoice_lines is E'@behavior -single -update -delete\nOne row per position.';

create table payments_private.invoice_counters (
  organization_id uuid primary key
    constraint invoice_counters_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  last_number integer not null
);
alter table payments_private.invoice_counters enable row level security;
comment on table payments_private.invoice_counters is
  'The last invoice number of each organization: updated in the transaction that issues, so numbers are gapless (a rollback gives the number back) and concurrent issuers queue on the row.';

create function payments_private.issue(invoice_id uuid) returns payments.invoices
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_invoice payments.invoices;
  v_number integer;
begin
  select i.* into v_invoice from payments.invoices i where i.invoice_id = issue.invoice_id for update;
  if v_invoice.status <> 'draft' then
    raise exception 'Invoice % is %: only a draft is issued.', v_invoice.invoice_id, v_invoice.status using errcode = 'PYINV';
  end if;
  insert into payments_private.invoice_counters as c (organization_id, last_number)
  values (v_invoice.organization_id, 1)
  on conflict (organization_id) do update set last_number = c.last_number + 1
  returning c.last_number into v_number;
  update payments.invoices i
     set status = 'issued', number = v_number, issued_at = pg_catalog.now(),
         total = (select coalesce(pg_catalog.sum(l.amount), 0) from payments.invoice_lines l where l.invoice_id = i.invoice_id)
   where i.invoice_id = v_invoice.invoice_id
  returning * into v_invoice;
  perform outbox.publish('invoice.issued',
    pg_catalog.jsonb_build_object('invoiceId', v_invoice.invoice_id, 'organizationId', v_invoice.organization_id,
      'userId', v_invoice.user_id, 'kind', v_invoice.kind, 'number', v_invoice.number, 'total', v_invoice.total,
      'currency', v_invoice.currency),
    'invoice', v_invoice.invoice_id::text, v_invoice.organization_id);
  return v_invoice;
end;
$$;
comment on function payments_private.issue(uuid) is
  'Issues a draft: the next number of its organization''s counter row (insert or update in this transaction: gapless), the total from its lines, invoice.issued published. PYINV when not a draft.';

create function payments.create_invoice(currency text, lines jsonb, user_id uuid default null) returns payments.invoices
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_org uuid := events.managed_organization_id();
  v_invoice payments.invoices;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  if v_org is null then
    raise exception 'Owners and admins acting in an organization write its invoices.' using errcode = 'DNIED';
  end if;
  if not exists (select 1 from ledger.currencies c where c.code = create_invoice.currency) then
    raise exception 'Unknown currency %.', pg_catalog.left(create_invoice.currency, 10) using errcode = 'PYCUR';
  end if;
  if pg_catalog.jsonb_typeof(create_invoice.lines) is distinct from 'array'
     or pg_catalog.jsonb_array_length(create_invoice.lines) not between 1 and 500
     or exists (select 1 from pg_catalog.jsonb_array_elements(create_invoice.lines) l (v)
                 where pg_catalog.jsonb_typeof(l.v) <> 'object'
                    or char_length(coalesce(l.v ->> 'description', '')) not between 1 and 500
                    or coalesce(l.v ->> 'quantity', '') !~ '^[0-9]{1,7}$' or (l.v ->> 'quantity')::integer not between 1 and 1000000
                    or coalesce(l.v ->> 'unitAmount', '') !~ '^[0-9]{1,12}$') then
    raise exception 'Lines are 1 to 500 objects {description (1-500 characters), quantity (1-1,000,000), unitAmount (whole minor units, 0 or more)}.'
      using errcode = 'PYLIN';
  end if;
  if create_invoice.user_id is not null and not exists (select 1 from auth.users u where u.user_id = create_invoice.user_id) then
    raise exception 'No user %.', create_invoice.user_id using errcode = 'NTFND';
  end if;
  insert into payments.invoices (organization_id, user_id, currency)
  values (v_org, create_invoice.user_id, create_invoice.currency)
  returning * into v_invoice;
  insert into payments.invoice_lines (invoice_id, line, description, quantity, unit_amount)
  select v_invoice.invoice_id, l.n, l.v ->> 'description', (l.v ->> 'quantity')::integer, (l.v ->> 'unitAmount')::bigint
    from pg_catalog.jsonb_array_elements(create_invoice.lines) with ordinality as l (v, n);
  update payments.invoices i
     set total = (select pg_catalog.sum(l.amount) from payments.invoice_lines l where l.invoice_id = i.invoice_id)
   where i.invoice_id = v_invoice.invoice_id
  returning * into v_invoice;
  return v_invoice;
end;
$$;
comment on function payments.create_invoice(currency text, lines jsonb, user_id uuid) is
  E'@resultFieldName invoice\nA draft invoice of the organization you act in, to userId if given: lines is a JSON array of {description, quantity, unitAmount}. Owners and admins acting in the organization. Errors: LOGIN, DNIED, PYCUR, PYLIN (bad lines), NTFND (no such user). Security definer because invoices have no insert grant.';
revoke execute on function payments.create_invoice(text, jsonb, uuid) from public;
grant execute on function payments.create_invoice(text, jsonb, uuid) to gw_user;

create function payments.move_invoice(invoice_id uuid, status text) returns payments.invoices
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_invoice payments.invoices;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  select i.* into v_invoice from payments.invoices i where i.invoice_id = move_invoice.invoice_id;
  if not found or v_invoice.organization_id is distinct from auth.current_org_id() then
    raise exception 'No invoice % of the organization you act in.', move_invoice.invoice_id using errcode = 'NTFND';
  end if;
  if v_invoice.organization_id is distinct from events.managed_organization_id() then
    raise exception 'Only owners and admins acting in the organization change its invoices.' using errcode = 'DNIED';
  end if;
  if move_invoice.status = 'issued' then
    return payments_private.issue(v_invoice.invoice_id);
  end if;
  update payments.invoices i set status = move_invoice.status, closed_at = pg_catalog.now()
   where i.invoice_id = v_invoice.invoice_id
  returning * into v_invoice;
  return v_invoice;
end;
$$;
comment on function payments.move_invoice(invoice_id uuid, status text) is
  E'@resultFieldName invoice\nMoves an invoice of the organization you act in: issued (numbered), paid or void; the state machine refuses other moves (RGTRN). Owners and admins acting in the organization. Errors: LOGIN, NTFND, DNIED, PYINV (issuing what is not a draft), RTYPE, RGTRN. Security definer because invoices have no update grant.';
revoke execute on function payments.move_invoice(uuid, text) from public;
grant execute on function payments.move_invoice(uuid, text) to gw_user;

create function payments.issue_credit_note(
  organization_id uuid, user_id uuid, currency text, amount bigint, description text, metadata jsonb
) returns uuid
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_id uuid;
begin
  insert into payments.invoices (organization_id, user_id, kind, currency, metadata)
  values (issue_credit_note.organization_id, issue_credit_note.user_id, 'credit_note', issue_credit_note.currency,
          coalesce(issue_credit_note.metadata, '{}'::jsonb))
  returning invoice_id into v_id;
  insert into payments.invoice_lines (invoice_id, line, description, quantity, unit_amount)
  values (v_id, 1, pg_catalog.left(issue_credit_note.description, 500), 1, issue_credit_note.amount);
  perform payments_private.issue(v_id);
  return v_id;
end;
$$;
comment on function payments.issue_credit_note(uuid, uuid, text, bigint, text, jsonb) is
  E'@behavior -queryField -mutationField -typeField\nIssues a credit note (one line of amount) of the organization to the user, numbered in the organization''s series; returns its id. For other modules'' security-definer functions (ticketing refunds); not granted to API roles.';
revoke execute on function payments.issue_credit_note(uuid, uuid, text, bigint, text, jsonb) from public;
