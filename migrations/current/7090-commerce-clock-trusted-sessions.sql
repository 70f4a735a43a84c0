-- The test clock (commerce.now) counts only in trusted sessions. A custom
-- setting can be set by any session (set_config is open to every role), so an
-- API session could otherwise move commerce's time (a promotion's window, a
-- renewal's due date) for its own transaction. Only a session that logged in
-- as the owner (gw_owner, or a member of it: the worker, migrations, tests'
-- root connection, a superuser) moves the clock; everywhere else the setting is
-- ignored and commerce runs on now(). plpgsql: called on hot paths, its plan is kept.

create or replace function commerce_private.now() returns timestamptz
  language plpgsql
  stable
  set search_path = ''
as $$
declare
  v_clock text := pg_catalog.current_setting('commerce.now', true);
begin
  if v_clock is null or v_clock = '' or not pg_catalog.pg_has_role(session_user, 'gw_owner', 'member') then
    return pg_catalog.now();
  end if;
  return v_clock::timestamptz;
end;
$$;
comment on function commerce_private.now() is
  'The time commerce reasons with: now(), or the setting commerce.now when the session logged in as the owner (gw_owner or a member of it: the worker, tests, operators; tests move the clock with set_config(''commerce.now'', …, true)). An API session (gw_authenticator) cannot move it: its setting is ignored.';
