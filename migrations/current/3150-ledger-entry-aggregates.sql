-- ledger: totals of entries per account (issue 17). Entries are filtered by
-- accountId (indexed by entries_account_version_key) and ordered by
-- accountVersion, so a statement page and its sum are index scans under RLS.

comment on table ledger.entries is
  E'@behavior -insert -update -delete +aggregates\nOne line of a transaction: a signed amount on one account (positive: money in, a debit; negative: money out, a credit), with the account''s balance and version right after it. Ordered by accountVersion, an account''s entries are its statement with a running balance; aggregates { sum { amount } } totals what a filter selects.';
