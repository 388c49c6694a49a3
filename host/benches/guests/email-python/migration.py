"""users.email_norm = lower(trim(email)), users.email_hash = its hex SHA-256."""
import hashlib

from aludel import db


def upgrade(ctx):
    p = db.dialect().placeholder
    update = f"UPDATE users SET email_norm = {p(1)}, email_hash = {p(2)} WHERE id = {p(3)}"
    cursor = db.cursor("SELECT id, email FROM users ORDER BY id")
    for rows in cursor.batches(10_000):
        batch = []
        for row in rows:
            norm = row["email"].strip().lower()
            batch.append((norm, hashlib.sha256(norm.encode()).hexdigest(), row["id"]))
        db.execute_many(update, batch)


def downgrade(ctx):
    db.execute("UPDATE users SET email_norm = NULL, email_hash = NULL")
