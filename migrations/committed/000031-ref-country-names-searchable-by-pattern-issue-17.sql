--! Previous: sha1:2f08842da0fd220de2aa0bb78f9c8d79d1d6c067
--! Hash: sha1:f90f0b1915a9085651b91a17506cd740aedd8265
--! Message: ref: country names searchable by pattern (issue 17)

--! split: 5025-ref-country-search.sql
-- ref: the one column that opts in to text search (issue 17). 249 rows: a
-- scan costs nothing, so the name may be searched without a trigram index
-- (@isIndexed tells PostGraphile so) and takes StringPatternFilter.

comment on column ref.countries.name is
  E'@isIndexed\n@behavior +attribute:filterBy:pattern\nThe ISO short name in English, e.g. Korea, Republic of.';
