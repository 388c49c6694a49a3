/*
 * Splits people.full_name into first_name and last_name, and lower-cases
 * people.email, keeping each email as it was in email_original so that the
 * downgrade puts every row back exactly.
 *
 * The names are split as the Rust, Python and JavaScript `transform`
 * fixtures do (tests/fixtures): at the first space after trimming, the rest
 * trimmed again; a name without a space becomes first_name alone. Rows stream
 * through a cursor and each batch is written with one execute-many while the
 * cursor is open. Emails are lower-cased in ASCII (other UTF-8 bytes are
 * kept); one without an '@' fails the revision, naming the row, and aludel
 * rolls the whole revision back.
 *
 * Memory: what the host hands over (ctx, rows, errors) is ours and is freed
 * with the generated *_free helpers; what we pass to an import stays ours;
 * the error string we return is freed by the bindings once the host has
 * read it. Built by ../../build.sh.
 */
#define _GNU_SOURCE /* vasprintf */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migration.h"

typedef migration_string_t string_t;
typedef aludel_migration_database_value_t value_t;
typedef aludel_migration_database_list_value_t row_t;
typedef aludel_migration_database_list_list_value_t rows_t;
typedef aludel_migration_database_db_error_t db_error_t;
typedef exports_aludel_migration_revision_context_t context_t;

enum { BATCH = 500 }; /* rows read and written per round trip */

/* Sets *err to a printf-formatted message and returns false. */
static bool fail(string_t *err, const char *fmt, ...) {
  char *msg;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&msg, fmt, ap);
  va_end(ap);
  if (n < 0) abort();
  *err = (string_t){(uint8_t *)msg, (size_t)n};
  return false;
}

/* Sets *err to what the database said about `doing`, frees e, returns false. */
static bool db_fail(string_t *err, db_error_t *e, const char *doing) {
  fail(err, "%s: %.*s", doing, (int)e->message.len, (char *)e->message.ptr);
  aludel_migration_database_db_error_free(e);
  return false;
}

static void info(const char *fmt, ...) {
  char *msg;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&msg, fmt, ap);
  va_end(ap);
  if (n < 0) abort();
  string_t s = {(uint8_t *)msg, (size_t)n};
  aludel_migration_log_log(ALUDEL_MIGRATION_LOG_LEVEL_INFO, &s);
  free(msg);
}

/* `sql` with each `?` made the dialect's placeholder: $1, $2, ... on
 * PostgreSQL, `?` elsewhere (the host never rewrites SQL). Free the result. */
static char *placeholders(const char *sql) {
  bool numbered = aludel_migration_database_get_dialect() ==
                  ALUDEL_MIGRATION_TYPES_DIALECT_POSTGRESQL;
  char *out = malloc(strlen(sql) * 4 + 1), *o = out;
  if (!out) abort();
  for (int n = 1; *sql; sql++) {
    if (*sql == '?' && numbered) o += sprintf(o, "$%d", n++);
    else *o++ = *sql;
  }
  *o = '\0';
  return out;
}

static bool execute_script(const char *sql, string_t *err) {
  string_t s;
  migration_string_set(&s, sql);
  db_error_t e;
  if (!aludel_migration_database_execute_script(&s, &e)) return db_fail(err, &e, sql);
  return true;
}

/* Moves *from into *to, leaving a null behind: no copy, one owner. */
static void take(value_t *to, value_t *from) {
  *to = *from;
  from->tag = ALUDEL_MIGRATION_TYPES_VALUE_NULL;
}

static void set_text(value_t *v, const char *s, size_t len) {
  v->tag = ALUDEL_MIGRATION_TYPES_VALUE_TEXT;
  migration_string_dup_n(&v->val.text, s, len);
}

/* The text of v, or NULL for a SQL null; false for any other type. */
static bool text_of(const value_t *v, const string_t **text) {
  *text = v->tag == ALUDEL_MIGRATION_TYPES_VALUE_TEXT ? &v->val.text : NULL;
  return *text || v->tag == ALUDEL_MIGRATION_TYPES_VALUE_NULL;
}

static int64_t id_of(const row_t *row) {
  return row->ptr[0].tag == ALUDEL_MIGRATION_TYPES_VALUE_INTEGER ? row->ptr[0].val.integer : -1;
}

/* Builds the update's parameters for one selected row, taking values out
 * of `row` or allocating new ones. */
typedef bool params_fn(row_t *row, value_t *params, string_t *err);

/* Streams `select` and runs `update` once per row with the `nparams`
 * parameters `params_for` computes, one execute-many per batch. */
static bool rewrite(const char *select, const char *update_sql, size_t nparams,
                    params_fn *params_for, string_t *err) {
  string_t sql;
  row_t none = {NULL, 0};
  db_error_t e;

  aludel_migration_database_row_set_t count;
  migration_string_set(&sql, "SELECT COUNT(*) FROM people");
  if (!aludel_migration_database_query(&sql, &none, &count, &e)) return db_fail(err, &e, "counting people");
  uint64_t total = count.rows.len ? (uint64_t)count.rows.ptr[0].ptr[0].val.integer : 0;
  aludel_migration_database_row_set_free(&count);

  aludel_migration_database_own_cursor_t cursor;
  migration_string_set(&sql, select);
  if (!aludel_migration_database_open_cursor(&sql, &none, &cursor, &e)) return db_fail(err, &e, select);
  aludel_migration_database_borrow_cursor_t borrowed = aludel_migration_database_borrow_cursor(cursor);

  char *update = placeholders(update_sql);
  migration_string_set(&sql, update);
  uint64_t done = 0;
  bool ok = true;
  while (ok) {
    rows_t rows;
    if (!aludel_migration_database_method_cursor_next(borrowed, BATCH, &rows, &e)) {
      ok = db_fail(err, &e, select);
      break;
    }
    if (rows.len == 0) break; /* exhausted; an empty list owns nothing */

    rows_t params = {calloc(rows.len, sizeof(row_t)), rows.len};
    if (!params.ptr) abort();
    for (size_t i = 0; ok && i < rows.len; i++) {
      /* calloc: every value starts as a null */
      params.ptr[i] = (row_t){calloc(nparams, sizeof(value_t)), nparams};
      if (!params.ptr[i].ptr) abort();
      ok = params_for(&rows.ptr[i], params.ptr[i].ptr, err);
    }
    uint64_t changed;
    if (ok && !aludel_migration_database_execute_many(&sql, &params, &changed, &e)) {
      ok = db_fail(err, &e, update);
    }
    done += rows.len;
    aludel_migration_database_list_list_value_free(&params);
    aludel_migration_database_list_list_value_free(&rows);
    if (ok) aludel_migration_progress_report(done, &total);
  }
  free(update);
  aludel_migration_database_cursor_drop_own(cursor);
  if (ok) info("transform: rewrote %" PRIu64 " rows", done);
  return ok;
}

/* (id, full_name, email) -> (first_name, last_name, email, id) */
static bool split_and_lower(row_t *row, value_t *params, string_t *err) {
  const string_t *full, *email;
  if (!text_of(&row->ptr[1], &full) || !text_of(&row->ptr[2], &email)) {
    return fail(err, "people row %" PRId64 ": full_name and email must be text or null", id_of(row));
  }
  if (full) {
    const char *s = (const char *)full->ptr, *end = s + full->len;
    while (s < end && isspace((unsigned char)*s)) s++;
    while (end > s && isspace((unsigned char)end[-1])) end--;
    const char *space = memchr(s, ' ', (size_t)(end - s));
    if (!space) {
      if (s < end) set_text(&params[0], s, (size_t)(end - s));
    } else {
      const char *last = space + 1;
      while (isspace((unsigned char)*last)) last++; /* stops before `end`, which is not a space */
      set_text(&params[0], s, (size_t)(space - s));
      set_text(&params[1], last, (size_t)(end - last));
    }
  }
  if (email) {
    if (!memchr(email->ptr, '@', email->len)) {
      return fail(err, "people row %" PRId64 ": email \"%.*s\" has no '@'", id_of(row),
                  (int)email->len, (char *)email->ptr);
    }
    for (size_t i = 0; i < email->len; i++) email->ptr[i] = (uint8_t)tolower(email->ptr[i]);
  }
  take(&params[2], &row->ptr[2]); /* lower-cased in place */
  take(&params[3], &row->ptr[0]);
  return true;
}

/* (id, first_name, last_name, email_original) -> (full_name, email, id) */
static bool join(row_t *row, value_t *params, string_t *err) {
  const string_t *first, *last, *email;
  if (!text_of(&row->ptr[1], &first) || !text_of(&row->ptr[2], &last) ||
      !text_of(&row->ptr[3], &email)) {
    return fail(err, "people row %" PRId64 ": names and email must be text or null", id_of(row));
  }
  if (first && last) {
    char *full;
    int n = asprintf(&full, "%.*s %.*s", (int)first->len, (char *)first->ptr, (int)last->len,
                     (char *)last->ptr);
    if (n < 0) abort();
    params[0].tag = ALUDEL_MIGRATION_TYPES_VALUE_TEXT;
    params[0].val.text = (string_t){(uint8_t *)full, (size_t)n};
  } else {
    take(&params[0], first ? &row->ptr[1] : &row->ptr[2]);
  }
  take(&params[1], &row->ptr[3]);
  take(&params[2], &row->ptr[0]);
  return true;
}

bool exports_aludel_migration_revision_upgrade(context_t *ctx, string_t *err) {
  exports_aludel_migration_revision_context_free(ctx);
  return execute_script("ALTER TABLE people ADD COLUMN first_name TEXT;"
                        "ALTER TABLE people ADD COLUMN last_name TEXT;"
                        "ALTER TABLE people ADD COLUMN email_original TEXT;",
                        err) &&
         /* email_original first: MySQL assigns left to right */
         rewrite("SELECT id, full_name, email FROM people ORDER BY id",
                 "UPDATE people SET email_original = email, first_name = ?, last_name = ?, "
                 "email = ? WHERE id = ?",
                 4, split_and_lower, err);
}

bool exports_aludel_migration_revision_downgrade(context_t *ctx, string_t *err) {
  exports_aludel_migration_revision_context_free(ctx);
  /* A row inserted after the upgrade has no email_original: keep its email. */
  return rewrite("SELECT id, first_name, last_name, COALESCE(email_original, email) "
                 "FROM people ORDER BY id",
                 "UPDATE people SET full_name = ?, email = ? WHERE id = ?", 3, join, err) &&
         execute_script("ALTER TABLE people DROP COLUMN email_original;"
                        "ALTER TABLE people DROP COLUMN last_name;"
                        "ALTER TABLE people DROP COLUMN first_name;",
                        err);
}
