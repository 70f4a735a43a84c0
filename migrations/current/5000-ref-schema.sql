-- ref: the Liventix seed's reference data (countries, currencies, industries,
-- time zones, event categories). Global and read-only for everyone, anonymous
-- callers included; written by operators (gw_admin) only. Data: 5010, 5020.
-- Dropping the schema drops the foreign keys other modules hold on it; their
-- files (5100, 5200) run after this one and make them again.

drop schema if exists ref_private cascade;
drop schema if exists ref cascade;

create schema ref;
comment on schema ref is
  'Reference data of the events platform: countries, currencies, industries, time zones, event categories. Readable by everyone, anonymous included; written by operators.';
grant usage on schema ref to gw_anonymous, gw_user;

create schema ref_private;
comment on schema ref_private is 'Triggers and maintenance of the reference data; never exposed.';
revoke all on schema ref_private from public;

--------------------------------------------------------------------------------
-- ref.countries (ISO 3166-1)

create table ref.countries (
  code text primary key
    constraint countries_code_check check (code ~ '^[A-Z]{2}$'),
  alpha3 text not null
    constraint countries_alpha3_key unique
    constraint countries_alpha3_check check (alpha3 ~ '^[A-Z]{3}$'),
  numeric_code text not null
    constraint countries_numeric_code_key unique
    constraint countries_numeric_code_check check (numeric_code ~ '^[0-9]{3}$'),
  name text not null
    constraint countries_name_check check (char_length(name) between 1 and 100),
  official_name text
    constraint countries_official_name_check check (char_length(official_name) between 1 and 200),
  common_name text
    constraint countries_common_name_check check (char_length(common_name) between 1 and 100),
  display_name text generated always as (coalesce(common_name, name)) stored
);
alter table ref.countries enable row level security;

create policy "everyone reads countries" on ref.countries for select to gw_anonymous, gw_user using (true);
create policy "operators add countries" on ref.countries for insert to gw_admin
  with check ((select auth.has_role('gw_admin')));
create policy "operators rename countries" on ref.countries for update to gw_admin
  using ((select auth.has_role('gw_admin'))) with check ((select auth.has_role('gw_admin')));
create policy "operators delete unused countries" on ref.countries for delete to gw_admin
  using ((select auth.has_role('gw_admin')));

grant select on ref.countries to gw_anonymous, gw_user;
grant insert (code, alpha3, numeric_code, name, official_name, common_name),
      update (name, official_name, common_name), delete on ref.countries to gw_admin;

comment on table ref.countries is
  'Countries and territories of ISO 3166-1 (all 249 officially assigned codes). Events and profiles refer to them by code. Operators maintain the list; a country in use cannot be deleted (23503).';
comment on column ref.countries.code is 'ISO 3166-1 alpha-2 code, e.g. NG.';
comment on column ref.countries.alpha3 is 'ISO 3166-1 alpha-3 code, e.g. NGA.';
comment on column ref.countries.numeric_code is 'ISO 3166-1 numeric code (three digits), e.g. 566.';
comment on column ref.countries.name is 'The ISO short name in English, e.g. Korea, Republic of.';
comment on column ref.countries.official_name is 'The official name, where ISO gives one.';
comment on column ref.countries.common_name is 'The usual name where it differs from the ISO short name, e.g. South Korea.';
comment on column ref.countries.display_name is 'The name to show: the common name, else the ISO short name.';

--------------------------------------------------------------------------------
-- ref.currencies: a view of ledger.currencies, the one list (see 3700).

create view ref.currencies with (security_invoker = true) as
  select c.code, c.numeric_code, c.exponent as minor_units, c.name
    from ledger.currencies c;
comment on view ref.currencies is
  E'@behavior -*\nThe seed''s ref.currencies: ledger.currencies (ISO 4217 and private units) under the names the events platform uses, for SQL. Not in GraphQL, which has ledgerCurrencies.';
comment on column ref.currencies.code is 'ISO 4217 code, or an X-prefixed private unit.';
comment on column ref.currencies.numeric_code is 'ISO 4217 numeric code; null for private units.';
comment on column ref.currencies.minor_units is 'ISO 4217 minor unit (digits after the decimal point); null where ISO defines none.';
comment on column ref.currencies.name is 'The currency''s name.';
grant select on ref.currencies to gw_anonymous, gw_user;

--------------------------------------------------------------------------------
-- ref.industries (NAICS 2022 sectors)

create table ref.industries (
  code text primary key
    constraint industries_code_check check (code ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
  name text not null
    constraint industries_name_check check (char_length(name) between 1 and 200),
  sort_order integer not null default 0
);
alter table ref.industries enable row level security;

create policy "everyone reads industries" on ref.industries for select to gw_anonymous, gw_user using (true);
create policy "operators add industries" on ref.industries for insert to gw_admin
  with check ((select auth.has_role('gw_admin')));
create policy "operators change industries" on ref.industries for update to gw_admin
  using ((select auth.has_role('gw_admin'))) with check ((select auth.has_role('gw_admin')));
create policy "operators delete unused industries" on ref.industries for delete to gw_admin
  using ((select auth.has_role('gw_admin')));

grant select on ref.industries to gw_anonymous, gw_user;
grant insert (code, name, sort_order), update (name, sort_order), delete on ref.industries to gw_admin;

comment on table ref.industries is
  'Industries, seeded with the 20 sectors of NAICS 2022 (code 11 to 92; 31-33, 44-45 and 48-49 are ranges). For sponsors and organizations. Operators maintain the list.';
comment on column ref.industries.code is 'The industry code: a NAICS sector, or one an operator added.';
comment on column ref.industries.name is 'The industry''s name.';
comment on column ref.industries.sort_order is 'Display order (ascending).';

--------------------------------------------------------------------------------
-- ref.timezones (IANA names, from the server's own time zone database)

create table ref.timezones (
  name text primary key
    constraint timezones_name_check check (char_length(name) between 1 and 100)
);
alter table ref.timezones enable row level security;

create policy "everyone reads time zones" on ref.timezones for select to gw_anonymous, gw_user using (true);
grant select on ref.timezones to gw_anonymous, gw_user;

comment on table ref.timezones is
  E'@behavior -insert -update -delete\nIANA time zone names this server knows (pg_timezone_names, less the posix/ and right/ copies and the posixrules and localtime files). Filled when migrating; refSyncTimezones adds names a newer server brings. Events and profiles refer to them.';
comment on column ref.timezones.name is 'The IANA name, e.g. Africa/Lagos.';

create function ref.timezones_utc_offset(timezone ref.timezones) returns interval
  language sql
  stable
as $$
  select (pg_catalog.now() at time zone timezone.name) - (pg_catalog.now() at time zone 'UTC')
$$;
comment on function ref.timezones_utc_offset(timezone ref.timezones) is
  'The zone''s offset from UTC now (daylight saving time included), e.g. 01:00:00.';
grant execute on function ref.timezones_utc_offset(ref.timezones) to gw_anonymous, gw_user;

-- The server's list, as ref.timezones holds it. Names are only added: one in use
-- by an event stays even if a later server drops it (IANA keeps old names as links).
create function ref_private.server_timezone_names() returns setof text
  language sql
  stable
  set search_path = ''
as $$
  select z.name
    from pg_catalog.pg_timezone_names z
   where z.name !~ '^(posix|right)/'
     and z.name not in ('posixrules', 'localtime')
$$;
comment on function ref_private.server_timezone_names() is
  'The IANA names of pg_timezone_names, without the posix/ and right/ copies of the same zones and the posixrules and localtime files some builds list.';

create function ref.sync_timezones() returns integer
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_added integer;
begin
  perform auth_private.assert_operator();
  insert into ref.timezones (name)
  select n from ref_private.server_timezone_names() n
  on conflict (name) do nothing;
  get diagnostics v_added = row_count;
  return v_added;
end;
$$;
comment on function ref.sync_timezones() is
  E'@resultFieldName addedCount\nAdds the time zone names the server knows and ref.timezones lacks (after a PostgreSQL or tzdata upgrade); returns how many. Operators (gw_admin) only (DNIED when the grant was withdrawn). Security definer because ref.timezones has no insert grant: the server''s list is the only source.';
revoke execute on function ref.sync_timezones() from public;
grant execute on function ref.sync_timezones() to gw_admin;

--------------------------------------------------------------------------------
-- ref.event_categories: a two-level tree (top-level categories and their children)

create table ref.event_categories (
  code text primary key
    constraint event_categories_code_check check (code ~ '^[a-z][a-z0-9_.-]{0,62}$'),
  parent_code text
    constraint event_categories_parent_code_fkey references ref.event_categories (code) on delete restrict,
  name text not null
    constraint event_categories_name_check check (char_length(name) between 1 and 100),
  description text
    constraint event_categories_description_check check (char_length(description) <= 1000),
  sort_order integer not null default 0,
  constraint event_categories_parent_check check (parent_code <> code)
);
alter table ref.event_categories enable row level security;

create index event_categories_parent_code_idx on ref.event_categories (parent_code, sort_order);

create policy "everyone reads event categories" on ref.event_categories for select to gw_anonymous, gw_user using (true);
create policy "operators add event categories" on ref.event_categories for insert to gw_admin
  with check ((select auth.has_role('gw_admin')));
create policy "operators change event categories" on ref.event_categories for update to gw_admin
  using ((select auth.has_role('gw_admin'))) with check ((select auth.has_role('gw_admin')));
create policy "operators delete unused event categories" on ref.event_categories for delete to gw_admin
  using ((select auth.has_role('gw_admin')));

grant select on ref.event_categories to gw_anonymous, gw_user;
grant insert (code, parent_code, name, description, sort_order),
      update (parent_code, name, description, sort_order), delete on ref.event_categories to gw_admin;

comment on table ref.event_categories is
  'Event categories: top-level ones (music, sports...) and their children (music.jazz). Two levels: a parent is always top-level. Searching a top-level category finds its children''s events too. Operators maintain the tree; a category in use cannot be deleted (23503).';
comment on column ref.event_categories.code is 'The category''s code; a child''s starts with its parent''s and a dot, e.g. music.jazz.';
comment on column ref.event_categories.parent_code is 'The top-level category this one belongs to, or null for a top-level category.';
comment on column ref.event_categories.name is 'The category''s name.';
comment on column ref.event_categories.description is 'What belongs in it.';
comment on column ref.event_categories.sort_order is 'Display order among its siblings (ascending).';
comment on constraint event_categories_parent_code_fkey on ref.event_categories is
  E'@fieldName parent\n@foreignFieldName children';

create function ref_private.tg_event_categories__validate() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if new.parent_code is not null and exists (
    select 1 from ref.event_categories p where p.code = new.parent_code and p.parent_code is not null
  ) then
    raise exception 'Category % cannot go under %, which is not a top-level category.', new.code, new.parent_code
      using errcode = 'RFDEP';
  end if;
  if new.parent_code is not null and tg_op = 'UPDATE' and exists (
    select 1 from ref.event_categories c where c.parent_code = new.code
  ) then
    raise exception 'Category % has children, so it stays top-level.', new.code using errcode = 'RFDEP';
  end if;
  return new;
end;
$$;
comment on function ref_private.tg_event_categories__validate() is
  'Keeps the category tree two levels deep (RFDEP): a parent is top-level, and a category with children has no parent.';

create trigger _100_validate
  before insert or update of parent_code on ref.event_categories
  for each row execute function ref_private.tg_event_categories__validate();
