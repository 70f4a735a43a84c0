-- Message templates: per organization, placeholders {{ name }} only. Checked
-- when saved: a malformed placeholder or any other {{ … }} / {% … %} syntax is
-- refused (MSTPL), a placeholder that is neither built in nor declared in
-- variables is refused (MSVAR). Rendering (messaging_private.render) is one
-- pass of plain substitution: a value is inserted as text and never read
-- again, so a value holding {{ … }}, markup or SQL stays inert text.

create table messaging.message_templates (
  template_id uuid primary key default gen_random_uuid(),
  organization_id uuid not null default auth.current_org_id()
    constraint message_templates_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  name text not null
    constraint message_templates_name_check check (char_length(name) between 1 and 100),
  subject text not null
    constraint message_templates_subject_check check (char_length(subject) between 1 and 200),
  body text not null
    constraint message_templates_body_check check (char_length(body) between 1 and 20000),
  variables text[] not null default '{}',
  created_by uuid default auth.uid()
    constraint message_templates_created_by_fkey references users.profiles (user_id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint message_templates_organization_id_name_key unique (organization_id, name)
);
alter table messaging.message_templates enable row level security;
create index message_templates_created_by_idx on messaging.message_templates (created_by);

create policy "members acting in an organization see its templates" on messaging.message_templates for select to gw_user
  using (organization_id = (select auth.current_org_id()));
create policy "owners and admins acting in an organization create its templates" on messaging.message_templates for insert to gw_user
  with check (organization_id = (select messaging.managed_organization_id()));
create policy "owners and admins acting in an organization edit its templates" on messaging.message_templates for update to gw_user
  using (organization_id = (select messaging.managed_organization_id()))
  with check (organization_id = (select messaging.managed_organization_id()));
create policy "owners and admins acting in an organization delete its templates" on messaging.message_templates for delete to gw_user
  using (organization_id = (select messaging.managed_organization_id()));
grant select, delete on messaging.message_templates to gw_user;
grant insert (organization_id, name, subject, body, variables), update (name, subject, body, variables) on messaging.message_templates to gw_user;

comment on table messaging.message_templates is
  E'A message an organization sends (subject and body, plain text) with placeholders {{ name }}. Built-in names: recipient_name, organization_name, event_title, event_starts_at; any other must be declared in variables and given a value by each message job. Checked when saved: MSTPL for malformed placeholder syntax, MSVAR for an undeclared name. Values are inserted as plain text, never interpreted. Members acting in the organization read them; owners and admins write them.';
comment on column messaging.message_templates.template_id is 'The template''s id.';
comment on column messaging.message_templates.organization_id is 'Whose template; defaults to the organization the request acts in.';
comment on column messaging.message_templates.name is 'Its name, unique in the organization (1-100 characters).';
comment on column messaging.message_templates.subject is 'The subject (1-200 characters), with placeholders.';
comment on column messaging.message_templates.body is 'The body (plain text, 1-20,000 characters), with placeholders.';
comment on column messaging.message_templates.variables is 'The names of its own placeholders (lowercase, at most 20), whose values each message job supplies.';
comment on column messaging.message_templates.created_by is 'Who wrote it.';
comment on column messaging.message_templates.created_at is 'When it was written.';
comment on column messaging.message_templates.updated_at is 'When it last changed.';
comment on constraint message_templates_organization_id_fkey on messaging.message_templates is E'@behavior -*';
comment on constraint message_templates_created_by_fkey on messaging.message_templates is E'@behavior -*';

create function messaging_private.builtin_variables() returns text[]
  language sql
  immutable
  set search_path = ''
as $$ select array['recipient_name', 'organization_name', 'event_title', 'event_starts_at'] $$;
comment on function messaging_private.builtin_variables() is 'Placeholders every template may use: filled from the recipient, the organization and the job''s event.';

-- The first problem of a template's text, or null: malformed syntax (MSTPL) or an unknown name (MSVAR).
create function messaging_private.template_problem(text text, variables text[]) returns table (code text, problem text)
  language plpgsql
  immutable
  set search_path = ''
as $$
declare
  v_name text;
  v_rest text;
begin
  v_rest := pg_catalog.regexp_replace(template_problem.text, '\{\{\s*[a-z][a-z0-9_]{0,39}\s*\}\}', '', 'g');
  if v_rest ~ '\{\{|\}\}|\{%|%\}' or template_problem.text ~ '\{\{\{|\}\}\}' then
    return query select 'MSTPL', 'a placeholder is written {{ name }} with a lowercase name (letters, digits, _); nothing else between {{ and }}';
    return;
  end if;
  for v_name in
    select m[1] from pg_catalog.regexp_matches(template_problem.text, '\{\{\s*([a-z][a-z0-9_]{0,39})\s*\}\}', 'g') m
  loop
    if not (v_name = any (messaging_private.builtin_variables()) or v_name = any (coalesce(template_problem.variables, '{}'))) then
      return query select 'MSVAR', pg_catalog.format('{{ %s }} is neither built in (%s) nor declared in variables', v_name,
                                                     pg_catalog.array_to_string(messaging_private.builtin_variables(), ', '));
      return;
    end if;
  end loop;
end;
$$;
comment on function messaging_private.template_problem(text, text[]) is 'The first problem of a template text with its code (MSTPL syntax, MSVAR unknown name), or no row.';

create function messaging_private.tg_message_templates__validate() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_problem record;
begin
  if new.name is null or pg_catalog.btrim(new.name) = '' or char_length(new.name) > 100
     or new.subject is null or char_length(new.subject) not between 1 and 200
     or new.body is null or char_length(new.body) not between 1 and 20000 then
    raise exception 'A template has a name (1-100 characters), a subject (1-200) and a body (1-20,000).' using errcode = 'BADIN';
  end if;
  new.variables := coalesce(new.variables, '{}');
  if pg_catalog.cardinality(new.variables) > 20
     or exists (select 1 from pg_catalog.unnest(new.variables) v where v is null or v !~ '^[a-z][a-z0-9_]{0,39}$')
     or (select pg_catalog.count(distinct v) from pg_catalog.unnest(new.variables) v) <> pg_catalog.cardinality(new.variables)
     or new.variables && messaging_private.builtin_variables() then
    raise exception 'variables are at most 20 distinct lowercase names (letters, digits, _), none of them built in.' using errcode = 'MSTPL';
  end if;
  select * into v_problem from messaging_private.template_problem(new.subject || ' ' || new.body, new.variables);
  if found then
    raise exception 'Template: %.', v_problem.problem using errcode = v_problem.code;
  end if;
  new.updated_at := pg_catalog.now();
  return new;
end;
$$;
comment on function messaging_private.tg_message_templates__validate() is 'Checks a template when saved (BADIN, MSTPL, MSVAR) and touches updated_at. Security definer because the checks live in messaging_private, which API roles may not use.';
create trigger _100_validate before insert or update on messaging.message_templates
  for each row execute function messaging_private.tg_message_templates__validate();

-- One pass of substitution: the text between placeholders is kept, each placeholder replaced by its value as text.
create function messaging_private.render(template text, vars jsonb) returns text
  language plpgsql
  immutable
  set search_path = ''
as $$
declare
  v_parts text[] := pg_catalog.regexp_split_to_array(render.template, '\{\{\s*[a-z][a-z0-9_]{0,39}\s*\}\}');
  v_names text[] := array(select m[1] from pg_catalog.regexp_matches(render.template, '\{\{\s*([a-z][a-z0-9_]{0,39})\s*\}\}', 'g') m);
  v_out text := v_parts[1];
begin
  for i in 1 .. coalesce(pg_catalog.cardinality(v_names), 0) loop
    if not (render.vars ? v_names[i]) then
      raise exception 'No value for {{ % }}.', v_names[i] using errcode = 'MSVAR';
    end if;
    v_out := v_out || coalesce(render.vars ->> v_names[i], '') || v_parts[i + 1];
  end loop;
  return v_out;
end;
$$;
comment on function messaging_private.render(text, jsonb) is
  'Renders a template text with values (a JSON object): one pass, values inserted as plain text and never scanned again (a value containing {{ x }} stays literally so). MSVAR when a placeholder has no value.';
