--! Previous: sha1:b195f6f90752fd50b1823d8712df8df312427a32
--! Hash: sha1:dd8c74a836c664493d647cb2a99dd002519b6551
--! Message: auth: the display currency follows the budget's settings (issue 20)

--! split: 1640-auth-display-currency.sql
-- The display currency follows the budget (issue 20): the budget app's seed makes
-- the budget module the source of truth for a user's currency, and its settings
-- functions (budget.onboard, budget.update_settings) copy it here in the same
-- transaction. A direct update by the user would let the two disagree, so the
-- column is no longer the user's to write; the trigger's check (BADIN) still
-- guards the definer functions that do.
revoke update (currency) on auth.users from gw_user;
