-- hr: employees and payroll. HR staff alone; nobody else has even schema usage.
-- Re-runnable: 4000-capstone-types.sql drops the hr schema first.

create table hr.employees (
  employee_id uuid primary key default gen_random_uuid(),
  full_name text not null
    constraint employees_full_name_check check (char_length(btrim(full_name)) between 1 and 200),
  department text not null
    constraint employees_department_check check (char_length(btrim(department)) between 1 and 100),
  joined_at timestamptz not null default now()
);
alter table hr.employees enable row level security;

create policy "hr staff see employees"
  on hr.employees for select to role_hr
  using ((select auth.has_role('role_hr')));
create policy "hr staff add employees"
  on hr.employees for insert to role_hr
  with check ((select auth.has_role('role_hr')));
create policy "hr staff edit employees"
  on hr.employees for update to role_hr
  using ((select auth.has_role('role_hr')))
  with check ((select auth.has_role('role_hr')));
create policy "hr staff remove employees"
  on hr.employees for delete to role_hr
  using ((select auth.has_role('role_hr')));

grant select, delete on hr.employees to role_hr;
grant insert (full_name, department, joined_at), update (full_name, department, joined_at) on hr.employees to role_hr;

comment on table hr.employees is 'An employee. HR staff only.';
comment on column hr.employees.employee_id is 'The employee''s id.';
comment on column hr.employees.full_name is 'Full name.';
comment on column hr.employees.department is 'Department name.';
comment on column hr.employees.joined_at is 'When they joined.';

create table hr.payroll (
  payroll_id uuid primary key default gen_random_uuid(),
  employee_id uuid not null references hr.employees (employee_id) on delete cascade,
  salary_amount finance.money_positive not null,
  paid_at timestamptz not null default now()
);
alter table hr.payroll enable row level security;

create index payroll_employee_id_paid_at_idx on hr.payroll (employee_id, paid_at);

create policy "hr staff see payroll"
  on hr.payroll for select to role_hr
  using ((select auth.has_role('role_hr')));
create policy "hr staff add payroll"
  on hr.payroll for insert to role_hr
  with check ((select auth.has_role('role_hr')));
create policy "hr staff edit payroll"
  on hr.payroll for update to role_hr
  using ((select auth.has_role('role_hr')))
  with check ((select auth.has_role('role_hr')));
create policy "hr staff remove payroll"
  on hr.payroll for delete to role_hr
  using ((select auth.has_role('role_hr')));

grant select, delete on hr.payroll to role_hr;
grant insert (employee_id, salary_amount, paid_at), update (salary_amount, paid_at) on hr.payroll to role_hr;

comment on table hr.payroll is 'A salary payment to an employee. HR staff only.';
comment on column hr.payroll.payroll_id is 'The payment''s id.';
comment on column hr.payroll.employee_id is 'The employee paid.';
comment on column hr.payroll.salary_amount is 'The amount paid.';
comment on column hr.payroll.paid_at is 'When it was paid.';
