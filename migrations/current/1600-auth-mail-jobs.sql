-- Mail the auth module sends (issue 15): sign-up confirmations, notices of a
-- sign-up with an address that already has an account, password resets. A
-- function adds an auth_send_mail job in its own transaction (never a mail in
-- the request); the worker task reads what to send through
-- auth_private.mail_for, which makes the link's token then: the token exists
-- only in the mail, the database keeps its sha256 (auth_private.link_tokens,
-- created in 1620-auth-password-reset.sql).
-- Re-runnable: create or replace throughout.

create or replace function auth_private.enqueue_mail(kind text, id uuid) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  -- One pending job per mail: a burst of the same request while it waits sends one mail.
  perform graphile_worker.add_job('auth_send_mail', pg_catalog.json_build_object('kind', enqueue_mail.kind, 'id', enqueue_mail.id),
    max_attempts := 10, job_key := 'auth_send_mail:' || enqueue_mail.kind || ':' || enqueue_mail.id::text);
end;
$$;
comment on function auth_private.enqueue_mail(text, uuid) is
  'Queues an auth_send_mail job (kind verify_email: a signup id; password_reset: a reset id; signup_attempt: a user id) in the caller''s transaction.';
revoke all on function auth_private.enqueue_mail(text, uuid) from public;

create or replace function auth_private.mail_for(kind text, id uuid)
  returns table (to_address text, username text, token text, expires_at timestamptz)
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  -- 32 random bytes, base64url: the same shape as a refresh token.
  v_token text := auth_private.new_refresh_token();
begin
  if mail_for.kind = 'verify_email' then
    return query
      with pending as (
        select s.signup_id, s.email::text as email, s.username, s.expires_at
          from auth_private.signups s
         where s.signup_id = mail_for.id and s.expires_at > pg_catalog.now()
      ), issued as (
        insert into auth_private.link_tokens (token_hash, signup_id)
        select public.digest(v_token, 'sha256'), p.signup_id from pending p
        returning signup_id
      )
      select p.email, p.username, v_token, p.expires_at from pending p join issued i using (signup_id);
  elsif mail_for.kind = 'password_reset' then
    return query
      with pending as (
        select r.reset_id, u.email::text as email, u.username, r.expires_at
          from auth_private.password_resets r
          join auth.users u on u.user_id = r.user_id
         where r.reset_id = mail_for.id and r.used_at is null and r.expires_at > pg_catalog.now()
      ), issued as (
        insert into auth_private.link_tokens (token_hash, reset_id)
        select public.digest(v_token, 'sha256'), p.reset_id from pending p
        returning reset_id
      )
      select p.email, p.username, v_token, p.expires_at from pending p join issued i using (reset_id);
  elsif mail_for.kind = 'signup_attempt' then
    return query select u.email::text, u.username, null::text, null::timestamptz from auth.users u where u.user_id = mail_for.id;
  else
    raise exception 'No mail of kind %.', mail_for.kind using errcode = 'BADIN';
  end if;
end;
$$;
comment on function auth_private.mail_for(text, uuid) is
  'What the auth_send_mail task sends: the address, the username and, for verify_email and password_reset, a new link token (its sha256 goes into auth_private.link_tokens; earlier mails'' links keep working until the sign-up or reset is spent). No row when the mail no longer applies (verified, used, expired, gone). Owner only (the worker).';
revoke all on function auth_private.mail_for(text, uuid) from public;

create or replace function auth_private.cleanup_links() returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_signups integer;
  v_resets integer;
begin
  delete from auth_private.signups s where s.expires_at < pg_catalog.now();
  get diagnostics v_signups = row_count;
  -- Used or expired resets stay a day, for whoever looks into an account's history.
  delete from auth_private.password_resets r where r.expires_at < pg_catalog.now() - interval '1 day';
  get diagnostics v_resets = row_count;
  return v_signups + v_resets;
end;
$$;
comment on function auth_private.cleanup_links() is
  'Deletes expired sign-ups and password resets expired for a day; returns how many (the auth_cleanup_links task, every 15 minutes).';
revoke all on function auth_private.cleanup_links() from public;
