-- Who links a customer record to the user who signs in as it (issue 15).
-- finance.customers.user_id makes that user the customer: they read its
-- accounts, postings, orders and support tickets. Finance staff could set it
-- to any user, their own included, and then read the customer's tickets as a
-- plain user. Finance keeps the name and e-mail columns; the link is made by
-- an operator through finance.link_customer_user.

revoke insert (full_name, primary_email, user_id), update (full_name, primary_email, user_id) on finance.customers from role_finance;
grant insert (full_name, primary_email), update (full_name, primary_email) on finance.customers to role_finance;

comment on column finance.customers.user_id is
  'The user who signs in as this customer (the account owner), if any; unique. Set only by an operator (financeLinkCustomerUser), never by finance staff.';

create or replace function finance.link_customer_user(customer_id uuid, user_id uuid) returns finance.customers
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_customer finance.customers;
begin
  perform auth_private.assert_operator();
  if link_customer_user.user_id is not null
     and not exists (select 1 from auth.users u where u.user_id = link_customer_user.user_id) then
    raise exception 'No user %.', link_customer_user.user_id using errcode = 'NTFND';
  end if;
  update finance.customers c
     set user_id = link_customer_user.user_id
   where c.customer_id = link_customer_user.customer_id
  returning * into v_customer;
  if not found then
    raise exception 'No customer %.', link_customer_user.customer_id using errcode = 'NTFND';
  end if;
  return v_customer;
end;
$$;
comment on function finance.link_customer_user(uuid, uuid) is
  E'@resultFieldName customer\nMakes a user the customer (null: unlinks): they then read the customer''s accounts, postings, orders and tickets. Operators only (gw_admin; DNIED for a withdrawn grant); NTFND for an unknown customer or user, 23505 when the user is already another customer. Security definer because finance.customers.user_id has no grant for any request role: finance staff must not choose who becomes a customer.';
revoke all on function finance.link_customer_user(uuid, uuid) from public;
grant execute on function finance.link_customer_user(uuid, uuid) to gw_admin;
