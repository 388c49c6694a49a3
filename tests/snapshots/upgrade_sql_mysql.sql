-- aludel upgrade --sql head, for mysql

CREATE TABLE IF NOT EXISTS `aludel_version` (version_num VARCHAR(32) NOT NULL, CONSTRAINT `aludel_version_pkc` PRIMARY KEY (version_num));

START TRANSACTION;

-- Running upgrade <base> -> 0ff100000001, revision 0ff100000001

CREATE TABLE items (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL);
INSERT INTO items (id, name) VALUES (1, 'first'), (2, 'it''s second');

INSERT INTO `aludel_version` (version_num) VALUES ('0ff100000001');

COMMIT;

START TRANSACTION;

-- Running upgrade 0ff100000001 -> 0ff100000002, revision 0ff100000002

CREATE TABLE seeded (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(60), score DOUBLE PRECISION, active BOOLEAN, payload BLOB);

INSERT INTO seeded (id, name, score, active, payload) VALUES (1, 'O''Brien \\ quoted', 2.5, TRUE, X'0001feff');

INSERT INTO seeded (id, name, score, active, payload) VALUES (2, 'plain', -0.125, FALSE, NULL);

INSERT INTO seeded (id, name, score, active, payload) VALUES (3, NULL, 10000000000.0, TRUE, X'6279746573');

UPDATE `aludel_version` SET version_num = '0ff100000002' WHERE version_num = '0ff100000001';

COMMIT;

START TRANSACTION;

-- Running upgrade 0ff100000002 -> 0ff100000003, revision 0ff100000003

CREATE INDEX items_name ON items (name);

UPDATE `aludel_version` SET version_num = '0ff100000003' WHERE version_num = '0ff100000002';

COMMIT;

