--! Previous: sha1:2b8eaf33ddf06d44b997e5ea5a7357b87dd6ff2b
--! Hash: sha1:2c79f66101afa8cde047ac6d1824facdd8305fdd
--! Message: ref: countries, currencies view, industries, time zones, event categories (issue 18)

--! split: 5000-ref-schema.sql
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

--! split: 5010-ref-countries.sql
-- ISO 3166-1: the 249 officially assigned country codes, with the English
-- short name, official name and common name as Debian's iso-codes 4.15
-- (iso_3166-1.json) gives them. Re-runnable: rows are upserted.

insert into ref.countries (code, alpha3, numeric_code, name, official_name, common_name) values
  ('AD', 'AND', '020', 'Andorra', 'Principality of Andorra', null),
  ('AE', 'ARE', '784', 'United Arab Emirates', null, null),
  ('AF', 'AFG', '004', 'Afghanistan', 'Islamic Republic of Afghanistan', null),
  ('AG', 'ATG', '028', 'Antigua and Barbuda', null, null),
  ('AI', 'AIA', '660', 'Anguilla', null, null),
  ('AL', 'ALB', '008', 'Albania', 'Republic of Albania', null),
  ('AM', 'ARM', '051', 'Armenia', 'Republic of Armenia', null),
  ('AO', 'AGO', '024', 'Angola', 'Republic of Angola', null),
  ('AQ', 'ATA', '010', 'Antarctica', null, null),
  ('AR', 'ARG', '032', 'Argentina', 'Argentine Republic', null),
  ('AS', 'ASM', '016', 'American Samoa', null, null),
  ('AT', 'AUT', '040', 'Austria', 'Republic of Austria', null),
  ('AU', 'AUS', '036', 'Australia', null, null),
  ('AW', 'ABW', '533', 'Aruba', null, null),
  ('AX', 'ALA', '248', 'Åland Islands', null, null),
  ('AZ', 'AZE', '031', 'Azerbaijan', 'Republic of Azerbaijan', null),
  ('BA', 'BIH', '070', 'Bosnia and Herzegovina', 'Republic of Bosnia and Herzegovina', null),
  ('BB', 'BRB', '052', 'Barbados', null, null),
  ('BD', 'BGD', '050', 'Bangladesh', 'People''s Republic of Bangladesh', null),
  ('BE', 'BEL', '056', 'Belgium', 'Kingdom of Belgium', null),
  ('BF', 'BFA', '854', 'Burkina Faso', null, null),
  ('BG', 'BGR', '100', 'Bulgaria', 'Republic of Bulgaria', null),
  ('BH', 'BHR', '048', 'Bahrain', 'Kingdom of Bahrain', null),
  ('BI', 'BDI', '108', 'Burundi', 'Republic of Burundi', null),
  ('BJ', 'BEN', '204', 'Benin', 'Republic of Benin', null),
  ('BL', 'BLM', '652', 'Saint Barthélemy', null, null),
  ('BM', 'BMU', '060', 'Bermuda', null, null),
  ('BN', 'BRN', '096', 'Brunei Darussalam', null, null),
  ('BO', 'BOL', '068', 'Bolivia, Plurinational State of', 'Plurinational State of Bolivia', 'Bolivia'),
  ('BQ', 'BES', '535', 'Bonaire, Sint Eustatius and Saba', 'Bonaire, Sint Eustatius and Saba', null),
  ('BR', 'BRA', '076', 'Brazil', 'Federative Republic of Brazil', null),
  ('BS', 'BHS', '044', 'Bahamas', 'Commonwealth of the Bahamas', null),
  ('BT', 'BTN', '064', 'Bhutan', 'Kingdom of Bhutan', null),
  ('BV', 'BVT', '074', 'Bouvet Island', null, null),
  ('BW', 'BWA', '072', 'Botswana', 'Republic of Botswana', null),
  ('BY', 'BLR', '112', 'Belarus', 'Republic of Belarus', null),
  ('BZ', 'BLZ', '084', 'Belize', null, null),
  ('CA', 'CAN', '124', 'Canada', null, null),
  ('CC', 'CCK', '166', 'Cocos (Keeling) Islands', null, null),
  ('CD', 'COD', '180', 'Congo, The Democratic Republic of the', null, null),
  ('CF', 'CAF', '140', 'Central African Republic', null, null),
  ('CG', 'COG', '178', 'Congo', 'Republic of the Congo', null),
  ('CH', 'CHE', '756', 'Switzerland', 'Swiss Confederation', null),
  ('CI', 'CIV', '384', 'Côte d''Ivoire', 'Republic of Côte d''Ivoire', null),
  ('CK', 'COK', '184', 'Cook Islands', null, null),
  ('CL', 'CHL', '152', 'Chile', 'Republic of Chile', null),
  ('CM', 'CMR', '120', 'Cameroon', 'Republic of Cameroon', null),
  ('CN', 'CHN', '156', 'China', 'People''s Republic of China', null),
  ('CO', 'COL', '170', 'Colombia', 'Republic of Colombia', null),
  ('CR', 'CRI', '188', 'Costa Rica', 'Republic of Costa Rica', null),
  ('CU', 'CUB', '192', 'Cuba', 'Republic of Cuba', null),
  ('CV', 'CPV', '132', 'Cabo Verde', 'Republic of Cabo Verde', null),
  ('CW', 'CUW', '531', 'Curaçao', 'Curaçao', null),
  ('CX', 'CXR', '162', 'Christmas Island', null, null),
  ('CY', 'CYP', '196', 'Cyprus', 'Republic of Cyprus', null),
  ('CZ', 'CZE', '203', 'Czechia', 'Czech Republic', null),
  ('DE', 'DEU', '276', 'Germany', 'Federal Republic of Germany', null),
  ('DJ', 'DJI', '262', 'Djibouti', 'Republic of Djibouti', null),
  ('DK', 'DNK', '208', 'Denmark', 'Kingdom of Denmark', null),
  ('DM', 'DMA', '212', 'Dominica', 'Commonwealth of Dominica', null),
  ('DO', 'DOM', '214', 'Dominican Republic', null, null),
  ('DZ', 'DZA', '012', 'Algeria', 'People''s Democratic Republic of Algeria', null),
  ('EC', 'ECU', '218', 'Ecuador', 'Republic of Ecuador', null),
  ('EE', 'EST', '233', 'Estonia', 'Republic of Estonia', null),
  ('EG', 'EGY', '818', 'Egypt', 'Arab Republic of Egypt', null),
  ('EH', 'ESH', '732', 'Western Sahara', null, null),
  ('ER', 'ERI', '232', 'Eritrea', 'the State of Eritrea', null),
  ('ES', 'ESP', '724', 'Spain', 'Kingdom of Spain', null),
  ('ET', 'ETH', '231', 'Ethiopia', 'Federal Democratic Republic of Ethiopia', null),
  ('FI', 'FIN', '246', 'Finland', 'Republic of Finland', null),
  ('FJ', 'FJI', '242', 'Fiji', 'Republic of Fiji', null),
  ('FK', 'FLK', '238', 'Falkland Islands (Malvinas)', null, null),
  ('FM', 'FSM', '583', 'Micronesia, Federated States of', 'Federated States of Micronesia', null),
  ('FO', 'FRO', '234', 'Faroe Islands', null, null),
  ('FR', 'FRA', '250', 'France', 'French Republic', null),
  ('GA', 'GAB', '266', 'Gabon', 'Gabonese Republic', null),
  ('GB', 'GBR', '826', 'United Kingdom', 'United Kingdom of Great Britain and Northern Ireland', null),
  ('GD', 'GRD', '308', 'Grenada', null, null),
  ('GE', 'GEO', '268', 'Georgia', null, null),
  ('GF', 'GUF', '254', 'French Guiana', null, null),
  ('GG', 'GGY', '831', 'Guernsey', null, null),
  ('GH', 'GHA', '288', 'Ghana', 'Republic of Ghana', null),
  ('GI', 'GIB', '292', 'Gibraltar', null, null),
  ('GL', 'GRL', '304', 'Greenland', null, null),
  ('GM', 'GMB', '270', 'Gambia', 'Republic of the Gambia', null),
  ('GN', 'GIN', '324', 'Guinea', 'Republic of Guinea', null),
  ('GP', 'GLP', '312', 'Guadeloupe', null, null),
  ('GQ', 'GNQ', '226', 'Equatorial Guinea', 'Republic of Equatorial Guinea', null),
  ('GR', 'GRC', '300', 'Greece', 'Hellenic Republic', null),
  ('GS', 'SGS', '239', 'South Georgia and the South Sandwich Islands', null, null),
  ('GT', 'GTM', '320', 'Guatemala', 'Republic of Guatemala', null),
  ('GU', 'GUM', '316', 'Guam', null, null),
  ('GW', 'GNB', '624', 'Guinea-Bissau', 'Republic of Guinea-Bissau', null),
  ('GY', 'GUY', '328', 'Guyana', 'Republic of Guyana', null),
  ('HK', 'HKG', '344', 'Hong Kong', 'Hong Kong Special Administrative Region of China', null),
  ('HM', 'HMD', '334', 'Heard Island and McDonald Islands', null, null),
  ('HN', 'HND', '340', 'Honduras', 'Republic of Honduras', null),
  ('HR', 'HRV', '191', 'Croatia', 'Republic of Croatia', null),
  ('HT', 'HTI', '332', 'Haiti', 'Republic of Haiti', null),
  ('HU', 'HUN', '348', 'Hungary', 'Hungary', null),
  ('ID', 'IDN', '360', 'Indonesia', 'Republic of Indonesia', null),
  ('IE', 'IRL', '372', 'Ireland', null, null),
  ('IL', 'ISR', '376', 'Israel', 'State of Israel', null),
  ('IM', 'IMN', '833', 'Isle of Man', null, null),
  ('IN', 'IND', '356', 'India', 'Republic of India', null),
  ('IO', 'IOT', '086', 'British Indian Ocean Territory', null, null),
  ('IQ', 'IRQ', '368', 'Iraq', 'Republic of Iraq', null),
  ('IR', 'IRN', '364', 'Iran, Islamic Republic of', 'Islamic Republic of Iran', 'Iran'),
  ('IS', 'ISL', '352', 'Iceland', 'Republic of Iceland', null),
  ('IT', 'ITA', '380', 'Italy', 'Italian Republic', null),
  ('JE', 'JEY', '832', 'Jersey', null, null),
  ('JM', 'JAM', '388', 'Jamaica', null, null),
  ('JO', 'JOR', '400', 'Jordan', 'Hashemite Kingdom of Jordan', null),
  ('JP', 'JPN', '392', 'Japan', null, null),
  ('KE', 'KEN', '404', 'Kenya', 'Republic of Kenya', null),
  ('KG', 'KGZ', '417', 'Kyrgyzstan', 'Kyrgyz Republic', null),
  ('KH', 'KHM', '116', 'Cambodia', 'Kingdom of Cambodia', null),
  ('KI', 'KIR', '296', 'Kiribati', 'Republic of Kiribati', null),
  ('KM', 'COM', '174', 'Comoros', 'Union of the Comoros', null),
  ('KN', 'KNA', '659', 'Saint Kitts and Nevis', null, null),
  ('KP', 'PRK', '408', 'Korea, Democratic People''s Republic of', 'Democratic People''s Republic of Korea', 'North Korea'),
  ('KR', 'KOR', '410', 'Korea, Republic of', null, 'South Korea'),
  ('KW', 'KWT', '414', 'Kuwait', 'State of Kuwait', null),
  ('KY', 'CYM', '136', 'Cayman Islands', null, null),
  ('KZ', 'KAZ', '398', 'Kazakhstan', 'Republic of Kazakhstan', null),
  ('LA', 'LAO', '418', 'Lao People''s Democratic Republic', null, 'Laos'),
  ('LB', 'LBN', '422', 'Lebanon', 'Lebanese Republic', null),
  ('LC', 'LCA', '662', 'Saint Lucia', null, null),
  ('LI', 'LIE', '438', 'Liechtenstein', 'Principality of Liechtenstein', null),
  ('LK', 'LKA', '144', 'Sri Lanka', 'Democratic Socialist Republic of Sri Lanka', null),
  ('LR', 'LBR', '430', 'Liberia', 'Republic of Liberia', null),
  ('LS', 'LSO', '426', 'Lesotho', 'Kingdom of Lesotho', null),
  ('LT', 'LTU', '440', 'Lithuania', 'Republic of Lithuania', null),
  ('LU', 'LUX', '442', 'Luxembourg', 'Grand Duchy of Luxembourg', null),
  ('LV', 'LVA', '428', 'Latvia', 'Republic of Latvia', null),
  ('LY', 'LBY', '434', 'Libya', 'Libya', null),
  ('MA', 'MAR', '504', 'Morocco', 'Kingdom of Morocco', null),
  ('MC', 'MCO', '492', 'Monaco', 'Principality of Monaco', null),
  ('MD', 'MDA', '498', 'Moldova, Republic of', 'Republic of Moldova', 'Moldova'),
  ('ME', 'MNE', '499', 'Montenegro', 'Montenegro', null),
  ('MF', 'MAF', '663', 'Saint Martin (French part)', null, null),
  ('MG', 'MDG', '450', 'Madagascar', 'Republic of Madagascar', null),
  ('MH', 'MHL', '584', 'Marshall Islands', 'Republic of the Marshall Islands', null),
  ('MK', 'MKD', '807', 'North Macedonia', 'Republic of North Macedonia', null),
  ('ML', 'MLI', '466', 'Mali', 'Republic of Mali', null),
  ('MM', 'MMR', '104', 'Myanmar', 'Republic of Myanmar', null),
  ('MN', 'MNG', '496', 'Mongolia', null, null),
  ('MO', 'MAC', '446', 'Macao', 'Macao Special Administrative Region of China', null),
  ('MP', 'MNP', '580', 'Northern Mariana Islands', 'Commonwealth of the Northern Mariana Islands', null),
  ('MQ', 'MTQ', '474', 'Martinique', null, null),
  ('MR', 'MRT', '478', 'Mauritania', 'Islamic Republic of Mauritania', null),
  ('MS', 'MSR', '500', 'Montserrat', null, null),
  ('MT', 'MLT', '470', 'Malta', 'Republic of Malta', null),
  ('MU', 'MUS', '480', 'Mauritius', 'Republic of Mauritius', null),
  ('MV', 'MDV', '462', 'Maldives', 'Republic of Maldives', null),
  ('MW', 'MWI', '454', 'Malawi', 'Republic of Malawi', null),
  ('MX', 'MEX', '484', 'Mexico', 'United Mexican States', null),
  ('MY', 'MYS', '458', 'Malaysia', null, null),
  ('MZ', 'MOZ', '508', 'Mozambique', 'Republic of Mozambique', null),
  ('NA', 'NAM', '516', 'Namibia', 'Republic of Namibia', null),
  ('NC', 'NCL', '540', 'New Caledonia', null, null),
  ('NE', 'NER', '562', 'Niger', 'Republic of the Niger', null),
  ('NF', 'NFK', '574', 'Norfolk Island', null, null),
  ('NG', 'NGA', '566', 'Nigeria', 'Federal Republic of Nigeria', null),
  ('NI', 'NIC', '558', 'Nicaragua', 'Republic of Nicaragua', null),
  ('NL', 'NLD', '528', 'Netherlands', 'Kingdom of the Netherlands', null),
  ('NO', 'NOR', '578', 'Norway', 'Kingdom of Norway', null),
  ('NP', 'NPL', '524', 'Nepal', 'Federal Democratic Republic of Nepal', null),
  ('NR', 'NRU', '520', 'Nauru', 'Republic of Nauru', null),
  ('NU', 'NIU', '570', 'Niue', 'Niue', null),
  ('NZ', 'NZL', '554', 'New Zealand', null, null),
  ('OM', 'OMN', '512', 'Oman', 'Sultanate of Oman', null),
  ('PA', 'PAN', '591', 'Panama', 'Republic of Panama', null),
  ('PE', 'PER', '604', 'Peru', 'Republic of Peru', null),
  ('PF', 'PYF', '258', 'French Polynesia', null, null),
  ('PG', 'PNG', '598', 'Papua New Guinea', 'Independent State of Papua New Guinea', null),
  ('PH', 'PHL', '608', 'Philippines', 'Republic of the Philippines', null),
  ('PK', 'PAK', '586', 'Pakistan', 'Islamic Republic of Pakistan', null),
  ('PL', 'POL', '616', 'Poland', 'Republic of Poland', null),
  ('PM', 'SPM', '666', 'Saint Pierre and Miquelon', null, null),
  ('PN', 'PCN', '612', 'Pitcairn', null, null),
  ('PR', 'PRI', '630', 'Puerto Rico', null, null),
  ('PS', 'PSE', '275', 'Palestine, State of', 'the State of Palestine', null),
  ('PT', 'PRT', '620', 'Portugal', 'Portuguese Republic', null),
  ('PW', 'PLW', '585', 'Palau', 'Republic of Palau', null),
  ('PY', 'PRY', '600', 'Paraguay', 'Republic of Paraguay', null),
  ('QA', 'QAT', '634', 'Qatar', 'State of Qatar', null),
  ('RE', 'REU', '638', 'Réunion', null, null),
  ('RO', 'ROU', '642', 'Romania', null, null),
  ('RS', 'SRB', '688', 'Serbia', 'Republic of Serbia', null),
  ('RU', 'RUS', '643', 'Russian Federation', null, null),
  ('RW', 'RWA', '646', 'Rwanda', 'Rwandese Republic', null),
  ('SA', 'SAU', '682', 'Saudi Arabia', 'Kingdom of Saudi Arabia', null),
  ('SB', 'SLB', '090', 'Solomon Islands', null, null),
  ('SC', 'SYC', '690', 'Seychelles', 'Republic of Seychelles', null),
  ('SD', 'SDN', '729', 'Sudan', 'Republic of the Sudan', null),
  ('SE', 'SWE', '752', 'Sweden', 'Kingdom of Sweden', null),
  ('SG', 'SGP', '702', 'Singapore', 'Republic of Singapore', null),
  ('SH', 'SHN', '654', 'Saint Helena, Ascension and Tristan da Cunha', null, null),
  ('SI', 'SVN', '705', 'Slovenia', 'Republic of Slovenia', null),
  ('SJ', 'SJM', '744', 'Svalbard and Jan Mayen', null, null),
  ('SK', 'SVK', '703', 'Slovakia', 'Slovak Republic', null),
  ('SL', 'SLE', '694', 'Sierra Leone', 'Republic of Sierra Leone', null),
  ('SM', 'SMR', '674', 'San Marino', 'Republic of San Marino', null),
  ('SN', 'SEN', '686', 'Senegal', 'Republic of Senegal', null),
  ('SO', 'SOM', '706', 'Somalia', 'Federal Republic of Somalia', null),
  ('SR', 'SUR', '740', 'Suriname', 'Republic of Suriname', null),
  ('SS', 'SSD', '728', 'South Sudan', 'Republic of South Sudan', null),
  ('ST', 'STP', '678', 'Sao Tome and Principe', 'Democratic Republic of Sao Tome and Principe', null),
  ('SV', 'SLV', '222', 'El Salvador', 'Republic of El Salvador', null),
  ('SX', 'SXM', '534', 'Sint Maarten (Dutch part)', 'Sint Maarten (Dutch part)', null),
  ('SY', 'SYR', '760', 'Syrian Arab Republic', null, 'Syria'),
  ('SZ', 'SWZ', '748', 'Eswatini', 'Kingdom of Eswatini', null),
  ('TC', 'TCA', '796', 'Turks and Caicos Islands', null, null),
  ('TD', 'TCD', '148', 'Chad', 'Republic of Chad', null),
  ('TF', 'ATF', '260', 'French Southern Territories', null, null),
  ('TG', 'TGO', '768', 'Togo', 'Togolese Republic', null),
  ('TH', 'THA', '764', 'Thailand', 'Kingdom of Thailand', null),
  ('TJ', 'TJK', '762', 'Tajikistan', 'Republic of Tajikistan', null),
  ('TK', 'TKL', '772', 'Tokelau', null, null),
  ('TL', 'TLS', '626', 'Timor-Leste', 'Democratic Republic of Timor-Leste', null),
  ('TM', 'TKM', '795', 'Turkmenistan', null, null),
  ('TN', 'TUN', '788', 'Tunisia', 'Republic of Tunisia', null),
  ('TO', 'TON', '776', 'Tonga', 'Kingdom of Tonga', null),
  ('TR', 'TUR', '792', 'Türkiye', 'Republic of Türkiye', null),
  ('TT', 'TTO', '780', 'Trinidad and Tobago', 'Republic of Trinidad and Tobago', null),
  ('TV', 'TUV', '798', 'Tuvalu', null, null),
  ('TW', 'TWN', '158', 'Taiwan, Province of China', 'Taiwan, Province of China', 'Taiwan'),
  ('TZ', 'TZA', '834', 'Tanzania, United Republic of', 'United Republic of Tanzania', 'Tanzania'),
  ('UA', 'UKR', '804', 'Ukraine', null, null),
  ('UG', 'UGA', '800', 'Uganda', 'Republic of Uganda', null),
  ('UM', 'UMI', '581', 'United States Minor Outlying Islands', null, null),
  ('US', 'USA', '840', 'United States', 'United States of America', null),
  ('UY', 'URY', '858', 'Uruguay', 'Eastern Republic of Uruguay', null),
  ('UZ', 'UZB', '860', 'Uzbekistan', 'Republic of Uzbekistan', null),
  ('VA', 'VAT', '336', 'Holy See (Vatican City State)', null, null),
  ('VC', 'VCT', '670', 'Saint Vincent and the Grenadines', null, null),
  ('VE', 'VEN', '862', 'Venezuela, Bolivarian Republic of', 'Bolivarian Republic of Venezuela', 'Venezuela'),
  ('VG', 'VGB', '092', 'Virgin Islands, British', 'British Virgin Islands', null),
  ('VI', 'VIR', '850', 'Virgin Islands, U.S.', 'Virgin Islands of the United States', null),
  ('VN', 'VNM', '704', 'Viet Nam', 'Socialist Republic of Viet Nam', 'Vietnam'),
  ('VU', 'VUT', '548', 'Vanuatu', 'Republic of Vanuatu', null),
  ('WF', 'WLF', '876', 'Wallis and Futuna', null, null),
  ('WS', 'WSM', '882', 'Samoa', 'Independent State of Samoa', null),
  ('YE', 'YEM', '887', 'Yemen', 'Republic of Yemen', null),
  ('YT', 'MYT', '175', 'Mayotte', null, null),
  ('ZA', 'ZAF', '710', 'South Africa', 'Republic of South Africa', null),
  ('ZM', 'ZMB', '894', 'Zambia', 'Republic of Zambia', null),
  ('ZW', 'ZWE', '716', 'Zimbabwe', 'Republic of Zimbabwe', null)
on conflict (code) do update
  set alpha3 = excluded.alpha3, numeric_code = excluded.numeric_code, name = excluded.name,
      official_name = excluded.official_name, common_name = excluded.common_name;

--! split: 5020-ref-data.sql
-- Reference data besides countries (5010) and currencies (the ledger's, 3700).
-- Re-runnable: rows are upserted.

-- NAICS 2022: the 20 sectors (two-digit codes; three are ranges).
insert into ref.industries (code, name, sort_order) values
  ('11', 'Agriculture, Forestry, Fishing and Hunting', 10),
  ('21', 'Mining, Quarrying, and Oil and Gas Extraction', 20),
  ('22', 'Utilities', 30),
  ('23', 'Construction', 40),
  ('31-33', 'Manufacturing', 50),
  ('42', 'Wholesale Trade', 60),
  ('44-45', 'Retail Trade', 70),
  ('48-49', 'Transportation and Warehousing', 80),
  ('51', 'Information', 90),
  ('52', 'Finance and Insurance', 100),
  ('53', 'Real Estate and Rental and Leasing', 110),
  ('54', 'Professional, Scientific, and Technical Services', 120),
  ('55', 'Management of Companies and Enterprises', 130),
  ('56', 'Administrative and Support and Waste Management and Remediation Services', 140),
  ('61', 'Educational Services', 150),
  ('62', 'Health Care and Social Assistance', 160),
  ('71', 'Arts, Entertainment, and Recreation', 170),
  ('72', 'Accommodation and Food Services', 180),
  ('81', 'Other Services (except Public Administration)', 190),
  ('92', 'Public Administration', 200)
on conflict (code) do update set name = excluded.name, sort_order = excluded.sort_order;

-- Event categories: top-level first (the tree trigger checks parents exist and are top-level).
insert into ref.event_categories (code, parent_code, name, description, sort_order) values
  ('music', null, 'Music', 'Concerts, festivals, club nights and recitals.', 10),
  ('performing-arts', null, 'Performing arts', 'Theatre, dance, comedy and opera on stage.', 20),
  ('visual-arts', null, 'Visual arts', 'Exhibitions, art fairs and gallery openings.', 30),
  ('film', null, 'Film and media', 'Screenings, premieres and film festivals.', 40),
  ('food-drink', null, 'Food and drink', 'Tastings, food festivals and dinners.', 50),
  ('business', null, 'Business and professional', 'Conferences, trade shows and networking.', 60),
  ('education', null, 'Education', 'Workshops, talks and classes.', 70),
  ('technology', null, 'Science and technology', 'Meetups, hackathons and demo days.', 80),
  ('sports', null, 'Sports and fitness', 'Races, matches and fitness classes.', 90),
  ('community', null, 'Community and culture', 'Cultural festivals, heritage, faith and charity.', 100),
  ('family', null, 'Family and kids', 'Events for children and families.', 110),
  ('travel', null, 'Travel and outdoors', 'Tours, hikes and trips.', 120)
on conflict (code) do update
  set parent_code = excluded.parent_code, name = excluded.name, description = excluded.description, sort_order = excluded.sort_order;

insert into ref.event_categories (code, parent_code, name, sort_order) values
  ('music.concerts', 'music', 'Concerts', 10),
  ('music.festivals', 'music', 'Music festivals', 20),
  ('music.club-nights', 'music', 'Club nights', 30),
  ('music.jazz', 'music', 'Jazz and blues', 40),
  ('music.classical', 'music', 'Classical and opera', 50),
  ('music.afrobeats', 'music', 'Afrobeats and highlife', 60),
  ('performing-arts.theatre', 'performing-arts', 'Theatre', 10),
  ('performing-arts.dance', 'performing-arts', 'Dance', 20),
  ('performing-arts.comedy', 'performing-arts', 'Comedy', 30),
  ('visual-arts.exhibitions', 'visual-arts', 'Exhibitions', 10),
  ('visual-arts.art-fairs', 'visual-arts', 'Art fairs', 20),
  ('visual-arts.photography', 'visual-arts', 'Photography', 30),
  ('film.screenings', 'film', 'Screenings', 10),
  ('film.festivals', 'film', 'Film festivals', 20),
  ('food-drink.tastings', 'food-drink', 'Tastings', 10),
  ('food-drink.festivals', 'food-drink', 'Food festivals', 20),
  ('food-drink.dinners', 'food-drink', 'Dinners and supper clubs', 30),
  ('business.conferences', 'business', 'Conferences', 10),
  ('business.trade-shows', 'business', 'Trade shows', 20),
  ('business.networking', 'business', 'Networking', 30),
  ('education.workshops', 'education', 'Workshops', 10),
  ('education.talks', 'education', 'Talks and lectures', 20),
  ('education.classes', 'education', 'Classes and courses', 30),
  ('technology.meetups', 'technology', 'Meetups', 10),
  ('technology.hackathons', 'technology', 'Hackathons', 20),
  ('sports.running', 'sports', 'Running', 10),
  ('sports.football', 'sports', 'Football', 20),
  ('sports.fitness', 'sports', 'Fitness classes', 30),
  ('community.cultural-festivals', 'community', 'Cultural festivals', 10),
  ('community.heritage', 'community', 'Heritage and history', 20),
  ('community.faith', 'community', 'Faith and spirituality', 30),
  ('community.charity', 'community', 'Charity and causes', 40),
  ('family.kids', 'family', 'Kids', 10),
  ('family.family-days', 'family', 'Family days', 20),
  ('travel.tours', 'travel', 'Tours', 10),
  ('travel.hiking', 'travel', 'Hiking and outdoors', 20)
on conflict (code) do update set parent_code = excluded.parent_code, name = excluded.name, sort_order = excluded.sort_order;

-- Time zones: the server's own list at migration time (it differs between
-- builds, e.g. PostgreSQL 15 with Debian's tzdata and 17 with its own).
insert into ref.timezones (name)
select n from ref_private.server_timezone_names() n
on conflict (name) do nothing;
