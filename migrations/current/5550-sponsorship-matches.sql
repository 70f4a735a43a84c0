-- Matches: suggested sponsors for upcoming published public events, recomputed
-- by the sponsorship_compute_matches job (hourly). The score adds up what the
-- sponsor said it wants: the event's category (0.6; its parent category 0.4),
-- the event's country (0.3), and an earlier sponsorship of the same organizer
-- (0.1); pairs scoring 0 are not suggested. One statement replaces the set.

create function sponsorship_private.compute_matches(at timestamptz default now()) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_count integer;
begin
  delete from sponsorship.matches m
   where not exists (select 1 from events.events e
                      where e.event_id = m.event_id and e.status = 'published' and e.visibility = 'public'
                        and e.starts_at > compute_matches.at);
  with scored as (
    select e.event_id, s.sponsor_id, e.owner_context_id, s.organization_id,
           (case when e.category_code = any (s.interests) then 0.6
                 when c.parent_code = any (s.interests) then 0.4 else 0 end)
           + (case when s.country_code is not null and s.country_code = e.country_code then 0.3 else 0 end)
           + (case when exists (select 1 from sponsorship.orders o
                                 where o.sponsor_id = s.sponsor_id and o.organizer_organization_id = e.owner_context_id
                                   and o.status = 'released') then 0.1 else 0 end) as score,
           pg_catalog.concat_ws('; ',
             case when e.category_code = any (s.interests) then 'sponsors ' || e.category_code
                  when c.parent_code = any (s.interests) then 'sponsors ' || c.parent_code end,
             case when s.country_code is not null and s.country_code = e.country_code then 'active in ' || e.country_code end,
             case when exists (select 1 from sponsorship.orders o
                                where o.sponsor_id = s.sponsor_id and o.organizer_organization_id = e.owner_context_id
                                  and o.status = 'released') then 'sponsored this organizer before' end) as reason
      from events.events e
      left join ref.event_categories c on c.code = e.category_code
      cross join sponsorship.sponsors s
     where e.status = 'published' and e.visibility = 'public' and e.starts_at > compute_matches.at
       and s.organization_id <> e.owner_context_id
  ), gone as (
    delete from sponsorship.matches m
     using scored x
     where m.event_id = x.event_id and m.sponsor_id = x.sponsor_id and x.score = 0
  )
  insert into sponsorship.matches (event_id, sponsor_id, organizer_organization_id, sponsor_organization_id, score, reason, computed_at)
  select x.event_id, x.sponsor_id, x.owner_context_id, x.organization_id, x.score, x.reason, compute_matches.at
    from scored x
   where x.score > 0
  on conflict on constraint matches_pkey do update
    set score = excluded.score, reason = excluded.reason, computed_at = excluded.computed_at;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
comment on function sponsorship_private.compute_matches(timestamptz) is
  'Recomputes sponsorship.matches for published public events starting after at: category (0.6, parent 0.4), country (0.3), an earlier released sponsorship of the organizer (0.1); returns how many matches it wrote. Run hourly by sponsorship_compute_matches.';
revoke execute on function sponsorship_private.compute_matches(timestamptz) from public;
