-- aludel downgrade --sql head:base, for mysql

START TRANSACTION;

-- Running downgrade 0ff100000003 -> 0ff100000002, revision 0ff100000003

DROP INDEX items_name ON items;

UPDATE `aludel_version` SET version_num = '0ff100000002' WHERE version_num = '0ff100000003';

COMMIT;

START TRANSACTION;

-- Running downgrade 0ff100000002 -> 0ff100000001, revision 0ff100000002

DROP TABLE seeded;

UPDATE `aludel_version` SET version_num = '0ff100000001' WHERE version_num = '0ff100000002';

COMMIT;

START TRANSACTION;

-- Running downgrade 0ff100000001 -> <base>, revision 0ff100000001

DROP TABLE items;

DELETE FROM `aludel_version` WHERE version_num = '0ff100000001';

COMMIT;

