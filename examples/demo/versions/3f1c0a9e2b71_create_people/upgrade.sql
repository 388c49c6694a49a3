-- A table of people with their whole name in one column, as many legacy
-- schemas have it. The next revision splits it.
CREATE TABLE people (
    id        INTEGER PRIMARY KEY,
    full_name TEXT NOT NULL,
    email     TEXT NOT NULL
);

INSERT INTO people (full_name, email) VALUES
    ('Ada Lovelace',          'ADA@Example.org'),
    ('Alan Mathison Turing',  'alan.turing@example.ORG'),
    ('Grace Hopper',          ' grace@example.org '),
    ('Hypatia',               'hypatia@example.org'),
    ('Edsger W. Dijkstra',    'EWD@example.nl');
