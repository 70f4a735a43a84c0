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
