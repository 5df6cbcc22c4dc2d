/*
 * provenance: the JSON file next to every backup artifact that says where
 * it came from, when its snapshot was taken and how many rows each table
 * held. It is what lets an audit catch a backup of the wrong (or an empty)
 * system, the failure at the heart of the incident.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lifeboat/backup.h"
#include "lifeboat/pg.h"

#define PROVENANCE_FORMAT 1

char *lb_provenance_path(const char *artifact)
{
    return lb_xasprintf("%s.provenance.json", artifact);
}

void lb_provenance_free(struct lb_provenance *p)
{
    size_t i;

    if (p == NULL)
        return;
    free(p->kind);
    free(p->source_system_identifier);
    free(p->source_cluster_name);
    free(p->database);
    free(p->server_version);
    free(p->tool);
    free(p->backup_label);
    free(p->start_lsn);
    free(p->stop_lsn);
    free(p->start_wal);
    free(p->stop_wal);
    for (i = 0; i < p->ntables; i++)
        free(p->tables[i].name);
    free(p->tables);
    free(p);
}

/* Add a string member, or JSON null for NULL. */
static void add_str(cJSON *o, const char *key, const char *v)
{
    if (v != NULL)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

/* An integer member written exactly (cJSON prints doubles with 15
 * significant digits). */
static void add_int(cJSON *o, const char *key, int64_t v)
{
    char num[32];

    snprintf(num, sizeof(num), "%" PRId64, v);
    cJSON_AddRawToObject(o, key, num);
}

/* "<key>" as ISO text and "<key>_ms" as a number; null when unknown. */
static void add_time(cJSON *o, const char *key, int64_t ms)
{
    char iso[64];
    char mskey[64];

    snprintf(mskey, sizeof(mskey), "%s_ms", key);
    if (ms <= 0) {
        cJSON_AddNullToObject(o, key);
        cJSON_AddNullToObject(o, mskey);
        return;
    }
    lb_wall_format(ms, iso, sizeof(iso));
    cJSON_AddStringToObject(o, key, iso);
    add_int(o, mskey, ms);
}

int lb_provenance_write(const char *artifact, const struct lb_provenance *p,
                        struct lb_err *err)
{
    cJSON *root = NULL;
    cJSON *tables;
    char *text = NULL;
    char *path = NULL;
    size_t i;
    int rc = 0;

    root = cJSON_CreateObject();
    if (root == NULL) {
        rc = lb_err_set(err, LB_ENOMEM, "provenance: out of memory");
        goto out;
    }
    cJSON_AddNumberToObject(root, "format", PROVENANCE_FORMAT);
    add_str(root, "kind", p->kind);
    add_str(root, "source_system_identifier", p->source_system_identifier);
    add_str(root, "source_cluster_name", p->source_cluster_name);
    add_str(root, "database", p->database);
    add_str(root, "server_version", p->server_version);
    add_time(root, "taken_at", p->taken_at);
    add_time(root, "finished_at", p->finished_at);
    add_str(root, "tool", p->tool);
    /* Physical backups only: a pg_dump's file stays as it was. */
    if (p->backup_label != NULL)
        add_str(root, "backup_label", p->backup_label);
    if (p->start_lsn != NULL)
        add_str(root, "start_lsn", p->start_lsn);
    if (p->stop_lsn != NULL)
        add_str(root, "stop_lsn", p->stop_lsn);
    if (p->start_wal != NULL)
        add_str(root, "start_wal", p->start_wal);
    if (p->stop_wal != NULL)
        add_str(root, "stop_wal", p->stop_wal);
    if (p->timeline > 0)
        add_int(root, "timeline", p->timeline);
    if (p->repo > 0)
        add_int(root, "repo", p->repo);
    tables = cJSON_AddObjectToObject(root, "tables");
    for (i = 0; tables != NULL && i < p->ntables; i++)
        add_int(tables, p->tables[i].name, p->tables[i].rows);
    text = cJSON_Print(root);
    if (text == NULL || tables == NULL) {
        rc = lb_err_set(err, LB_ENOMEM, "provenance: out of memory");
        goto out;
    }
    path = lb_provenance_path(artifact);
    rc = lb_file_write(path, text, strlen(text), err);
out:
    cJSON_free(text);
    cJSON_Delete(root);
    free(path);
    return rc;
}

static char *get_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? lb_xstrdup(v->valuestring) : NULL;
}

/* The "<key>_ms" number, else the ISO text, else 0. */
static int64_t get_time(const cJSON *o, const char *key)
{
    char mskey[64];
    const cJSON *v;
    int64_t ms = 0;

    snprintf(mskey, sizeof(mskey), "%s_ms", key);
    v = cJSON_GetObjectItemCaseSensitive(o, mskey);
    if (cJSON_IsNumber(v))
        return (int64_t)v->valuedouble;
    v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v) && lb_wall_parse(v->valuestring, &ms) == 0)
        return ms;
    return 0;
}

/* A small non-negative integer member, else 0. */
static int64_t get_small_int(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 2147483647.0)
        return 0;
    return (int64_t)v->valuedouble;
}

int lb_provenance_read(const char *artifact, struct lb_provenance **out,
                       struct lb_err *err)
{
    struct lb_provenance *p = NULL;
    cJSON *root = NULL;
    const cJSON *tables, *t;
    char *path = NULL;
    char *text = NULL;
    size_t n = 0;
    int rc;

    *out = NULL;
    path = lb_provenance_path(artifact);
    rc = lb_file_read(path, &text, NULL, err);
    if (rc == LB_ENOTFOUND) {
        rc = lb_err_set(err, LB_ENOTFOUND, "%s: no provenance file", artifact);
        goto out;
    }
    if (rc != 0)
        goto out;
    root = cJSON_Parse(text);
    if (!cJSON_IsObject(root)) {
        rc = lb_err_set(err, LB_EINVAL, "%s: not a provenance file (bad JSON)", path);
        goto out;
    }
    p = lb_xcalloc(1, sizeof(*p));
    p->kind = get_str(root, "kind");
    p->source_system_identifier = get_str(root, "source_system_identifier");
    p->source_cluster_name = get_str(root, "source_cluster_name");
    p->database = get_str(root, "database");
    p->server_version = get_str(root, "server_version");
    p->tool = get_str(root, "tool");
    p->taken_at = get_time(root, "taken_at");
    p->finished_at = get_time(root, "finished_at");
    p->backup_label = get_str(root, "backup_label");
    p->start_lsn = get_str(root, "start_lsn");
    p->stop_lsn = get_str(root, "stop_lsn");
    p->start_wal = get_str(root, "start_wal");
    p->stop_wal = get_str(root, "stop_wal");
    p->timeline = (int)get_small_int(root, "timeline");
    p->repo = (int)get_small_int(root, "repo");
    tables = cJSON_GetObjectItemCaseSensitive(root, "tables");
    if (cJSON_IsObject(tables)) {
        p->ntables = (size_t)cJSON_GetArraySize(tables);
        p->tables = lb_xcalloc(p->ntables ? p->ntables : 1, sizeof(*p->tables));
        cJSON_ArrayForEach(t, tables) {
            if (!cJSON_IsNumber(t) || t->string == NULL)
                continue;
            p->tables[n].name = lb_xstrdup(t->string);
            p->tables[n].rows = (int64_t)t->valuedouble;
            n++;
        }
        p->ntables = n;
    }
    *out = p;
    p = NULL;
out:
    lb_provenance_free(p);
    cJSON_Delete(root);
    free(text);
    free(path);
    return rc;
}

/* Append one table to p->tables. */
static void add_table(struct lb_provenance *p, const char *schema, const char *name,
                      int64_t rows)
{
    p->tables = lb_xrealloc(p->tables, (p->ntables + 1) * sizeof(*p->tables));
    p->tables[p->ntables].name = lb_xasprintf("%s.%s", schema, name);
    p->tables[p->ntables].rows = rows;
    p->ntables++;
}

int lb_provenance_from_conn(struct lb_pg *c, int64_t deadline_ms,
                            struct lb_provenance *p, struct lb_err *err)
{
    static const char *const tables_sql =
        "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'r'"
        " AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
        " AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'"
        " AND c.relname NOT LIKE 'lifeboat\\_%'"
        " ORDER BY 1, 2";
    struct lb_pg_result ident = {0};
    struct lb_pg_result rels = {0};
    char *sql = NULL;
    char *qs = NULL, *qn = NULL, *count = NULL;
    int i, rc;

    rc = lb_pg_scalar(c, "SELECT system_identifier::text FROM pg_catalog.pg_control_system()",
                      0, NULL, deadline_ms, &p->source_system_identifier, err);
    if (rc != 0)
        goto out;
    rc = lb_pg_query(c,
                     "SELECT current_setting('cluster_name'), current_database(),"
                     " current_setting('server_version')",
                     0, NULL, deadline_ms, &ident, err);
    if (rc != 0)
        goto out;
    if (ident.nrows == 1 && ident.ncols == 3) {
        const char *cn = lb_pg_value(&ident, 0, 0);
        const char *v = lb_pg_value(&ident, 0, 2);

        p->source_cluster_name = (cn != NULL && cn[0] != '\0') ? lb_xstrdup(cn) : NULL;
        p->database = lb_xstrdup(lb_pg_value(&ident, 0, 1));
        /* "15.18 (Debian 15.18-0+deb12u1)" → "15.18" */
        p->server_version = v != NULL ? lb_xstrndup(v, strcspn(v, " ")) : NULL;
    }
    rc = lb_pg_query(c, tables_sql, 0, NULL, deadline_ms, &rels, err);
    if (rc != 0)
        goto out;
    for (i = 0; i < rels.nrows; i++) {
        const char *schema = lb_pg_value(&rels, i, 0);
        const char *name = lb_pg_value(&rels, i, 1);
        int64_t rows = 0;

        qs = lb_pg_quote_ident(c, schema, 0);
        qn = lb_pg_quote_ident(c, name, 0);
        if (qs == NULL || qn == NULL) {
            rc = lb_err_set(err, LB_EDB, "cannot quote the name of table %s.%s", schema, name);
            goto out;
        }
        sql = lb_xasprintf("SELECT count(*) FROM %s.%s", qs, qn);
        rc = lb_pg_scalar(c, sql, 0, NULL, deadline_ms, &count, err);
        if (rc != 0) {
            lb_err_prefix(err, "counting rows of %s.%s", schema, name);
            goto out;
        }
        if (count == NULL || lb_parse_int64(count, &rows) != 0) {
            rc = lb_err_set(err, LB_EDB, "counting rows of %s.%s: no number", schema, name);
            goto out;
        }
        add_table(p, schema, name, rows);
        free(sql);
        free(qs);
        free(qn);
        free(count);
        sql = qs = qn = count = NULL;
    }
out:
    free(sql);
    free(qs);
    free(qn);
    free(count);
    lb_pg_result_free(&ident);
    lb_pg_result_free(&rels);
    return rc;
}
