-- People with their whole name in one column and emails as they were
-- typed in. The next revision, in C, splits the names and lower-cases the
-- emails.
CREATE TABLE people (
    id        INTEGER PRIMARY KEY,
    full_name TEXT,
    email     TEXT
);

INSERT INTO people (id, full_name, email) VALUES
    (1, 'Ada Lovelace',         'ADA@Example.org'),
    (2, 'Alan Mathison Turing', 'alan.turing@example.ORG'),
    (3, 'Grace Hopper',         'Grace.Hopper@Navy.MIL'),
    (4, 'Hypatia',              'hypatia@alexandria.example'),
    (5, NULL,                   'Anonymous@Example.org'),
    (6, 'Edsger W. Dijkstra',   'EWD@example.NL'),
    (7, 'Barbara Liskov',       NULL);
