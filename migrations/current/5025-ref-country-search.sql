-- ref: the one column that opts in to text search (issue 17). 249 rows: a
-- scan costs nothing, so the name may be searched without a trigram index
-- (@isIndexed tells PostGraphile so) and takes StringPatternFilter.

comment on column ref.countries.name is
  E'@isIndexed\n@behavior +attribute:filterBy:pattern\nThe ISO short name in English, e.g. Korea, Republic of.';
