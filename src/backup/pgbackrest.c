/*
 * pgbackrest: the pgBackRest layer through its own command line (backup,
 * info --output=json, restore), run as the servers' OS user, with a
 * provenance file per repository so that an audit can prove what the
 * newest backup of each repository holds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lifeboat/cluster.h"
#include "lifeboat/engine.h"
#include "lifeboat/pg.h"
#include "backup_int.h"

#define DEFAULT_CONFIG_DIR "/etc/pgbackrest"

/* ---- info ----------------------------------------------------------------- */

void lb_pgbackrest_info_free(struct lb_pgbackrest_info *i)
{
    size_t k;

    if (i == NULL)
        return;
    free(i->stanza);
    free(i->status_message);
    free(i->system_identifier);
    free(i->pg_version);
    for (k = 0; k < i->nbackups; k++) {
        struct lb_pgbackrest_backup *b = &i->backups[k];
        free(b->label);
        free(b->type);
        free(b->lsn_start);
        free(b->lsn_stop);
        free(b->wal_start);
        free(b->wal_stop);
    }
    free(i->backups);
    for (k = 0; k < i->narchives; k++) {
        free(i->archives[k].min);
        free(i->archives[k].max);
    }
    free(i->archives);
    free(i);
}

/* pgBackRest prints system-id as a bare 64-bit number, which a double
 * cannot hold exactly: quote those numbers before parsing. */
static char *quote_system_ids(const char *json)
{
    static const char key[] = "\"system-id\"";
    struct lb_buf b = {0};
    const char *p = json;
    const char *hit;

    while ((hit = strstr(p, key)) != NULL) {
        const char *q = hit + strlen(key);
        size_t digits;

        while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
            q++;
        if (*q != ':') {
            lb_buf_add(&b, p, (size_t)(q - p));
            p = q;
            continue;
        }
        q++;
        while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
            q++;
        lb_buf_add(&b, p, (size_t)(q - p));
        digits = strspn(q, "0123456789");
        if (digits > 0) {
            lb_buf_addc(&b, '"');
            lb_buf_add(&b, q, digits);
            lb_buf_addc(&b, '"');
        }
        p = q + digits;
    }
    lb_buf_adds(&b, p);
    return lb_buf_steal(&b);
}

static const cJSON *member(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static char *str_member(const cJSON *o, const char *key)
{
    const cJSON *v = member(o, key);

    return cJSON_IsString(v) ? lb_xstrdup(v->valuestring) : NULL;
}

static int64_t num_member(const cJSON *o, const char *key, int64_t missing)
{
    const cJSON *v = member(o, key);

    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : missing;
}

static void parse_backup(const cJSON *j, struct lb_pgbackrest_backup *b)
{
    const cJSON *ts = member(j, "timestamp");
    const cJSON *lsn = member(j, "lsn");
    const cJSON *arch = member(j, "archive");
    const cJSON *info = member(j, "info");
    const cJSON *err = member(j, "error");
    int64_t start = num_member(ts, "start", -1), stop = num_member(ts, "stop", -1);

    b->label = str_member(j, "label");
    b->type = str_member(j, "type");
    b->repo = (int)num_member(member(j, "database"), "repo-key", 0);
    b->start_ms = start >= 0 ? start * 1000 : -1;
    b->stop_ms = stop >= 0 ? stop * 1000 : -1;
    b->lsn_start = str_member(lsn, "start");
    b->lsn_stop = str_member(lsn, "stop");
    b->wal_start = str_member(arch, "start");
    b->wal_stop = str_member(arch, "stop");
    b->size = num_member(info, "size", -1);
    b->repo_size = num_member(member(info, "repository"), "size", -1);
    b->error = cJSON_IsTrue(err);
}

int lb_pgbackrest_info_parse(const char *json, const char *stanza,
                             struct lb_pgbackrest_info **out, struct lb_err *err)
{
    struct lb_pgbackrest_info *i = NULL;
    char *text = NULL;
    cJSON *root = NULL;
    const cJSON *s = NULL, *it, *status, *db, *best = NULL;
    size_t n;
    int rc = 0;

    *out = NULL;
    text = quote_system_ids(json != NULL ? json : "");
    root = cJSON_Parse(text);
    if (!cJSON_IsArray(root)) {
        rc = lb_err_set(err, LB_EINVAL, "not pgBackRest info JSON (an array of stanzas)");
        goto out;
    }
    cJSON_ArrayForEach(it, root) {
        const cJSON *name = member(it, "name");

        if (cJSON_IsString(name) && (stanza == NULL || strcmp(name->valuestring, stanza) == 0)) {
            s = it;
            break;
        }
    }
    if (s == NULL) {
        rc = lb_err_set(err, LB_ENOTFOUND, "pgBackRest knows no stanza '%s'",
                        stanza != NULL ? stanza : "(any)");
        goto out;
    }
    i = lb_xcalloc(1, sizeof(*i));
    i->stanza = str_member(s, "name");
    status = member(s, "status");
    i->status_code = (int)num_member(status, "code", -1);
    i->status_message = str_member(status, "message");
    /* The current database is the one with the highest id. */
    cJSON_ArrayForEach(db, member(s, "db")) {
        if (best == NULL || num_member(db, "id", 0) >= num_member(best, "id", 0))
            best = db;
    }
    if (best != NULL) {
        i->system_identifier = str_member(best, "system-id");
        i->pg_version = str_member(best, "version");
    }
    n = (size_t)cJSON_GetArraySize(member(s, "backup"));
    i->backups = lb_xcalloc(n + 1, sizeof(*i->backups));
    cJSON_ArrayForEach(it, member(s, "backup"))
        parse_backup(it, &i->backups[i->nbackups++]);
    n = (size_t)cJSON_GetArraySize(member(s, "archive"));
    i->archives = lb_xcalloc(n + 1, sizeof(*i->archives));
    cJSON_ArrayForEach(it, member(s, "archive")) {
        struct lb_pgbackrest_archive *a = &i->archives[i->narchives++];

        a->repo = (int)num_member(member(it, "database"), "repo-key", 0);
        a->min = str_member(it, "min");
        a->max = str_member(it, "max");
    }
    *out = i;
    i = NULL;
out:
    lb_pgbackrest_info_free(i);
    cJSON_Delete(root);
    free(text);
    return rc;
}

const struct lb_pgbackrest_backup *lb_pgbackrest_latest(const struct lb_pgbackrest_info *i,
                                                        int repo)
{
    const struct lb_pgbackrest_backup *best = NULL;
    size_t k;

    for (k = 0; i != NULL && k < i->nbackups; k++) {
        const struct lb_pgbackrest_backup *b = &i->backups[k];

        if (repo > 0 && b->repo != repo)
            continue;
        if (best == NULL || b->stop_ms >= best->stop_ms)
            best = b;
    }
    return best;
}

/* The oldest backup of repo (0: any), or the one labelled `set`. */
static const struct lb_pgbackrest_backup *oldest_or_set(const struct lb_pgbackrest_info *i,
                                                        int repo, const char *set)
{
    const struct lb_pgbackrest_backup *best = NULL;
    size_t k;

    for (k = 0; k < i->nbackups; k++) {
        const struct lb_pgbackrest_backup *b = &i->backups[k];

        if (repo > 0 && b->repo != repo)
            continue;
        if (set != NULL) {
            if (b->label != NULL && strcmp(b->label, set) == 0)
                return b;
            continue;
        }
        if (best == NULL || b->start_ms < best->start_ms)
            best = b;
    }
    return best;
}

/* pgbackrest [--config=C] --stanza=S [--repo=N] on a new argv. */
static void base_argv(struct lb_bk_argv *a, const struct lb_pgbackrest_opts *o)
{
    lb_bk_argv_add(a, "pgbackrest");
    if (o->config != NULL)
        lb_bk_argv_addf(a, "--config=%s", o->config);
    lb_bk_argv_addf(a, "--stanza=%s", o->stanza);
    if (o->repo > 0)
        lb_bk_argv_addf(a, "--repo=%d", o->repo);
}

static int check_opts(const struct lb_pgbackrest_opts *o, struct lb_err *err)
{
    if (o == NULL || o->stanza == NULL || o->stanza[0] == '\0')
        return lb_err_set(err, LB_EINVAL, "pgBackRest needs a stanza");
    if (o->repo < 0 || o->repo > 256)
        return lb_err_set(err, LB_EINVAL, "pgBackRest repo %d is not 1..256", o->repo);
    return 0;
}

int lb_backup_pgbackrest_info(const struct lb_pgbackrest_opts *o,
                              struct lb_pgbackrest_info **out, struct lb_tool_run *run,
                              struct lb_err *err)
{
    struct lb_bk_argv a = {0};
    struct lb_bk_exec x = {0};
    const char *tmpbase = getenv("TMPDIR");
    char *dir = NULL, *file = NULL, *json = NULL;
    int rc;

    *out = NULL;
    rc = check_opts(o, err);
    if (rc != 0)
        return rc;
    dir = lb_xasprintf("%s/lifeboat-pgbackrest-XXXXXX",
                       tmpbase != NULL && tmpbase[0] != '\0' ? tmpbase : "/tmp");
    if (mkdtemp(dir) == NULL) {
        rc = lb_err_set(err, LB_EIO, "mkdtemp %s: %s", dir, strerror(errno));
        free(dir);
        return rc;
    }
    file = lb_path_join(dir, "info.json");
    base_argv(&a, o);
    lb_bk_argv_add(&a, "--output=json");
    lb_bk_argv_add(&a, "info");
    x.argv = (const char *const *)a.v;
    x.run_as = lb_bk_run_as(o->run_as);
    x.stdout_path = file;
    x.deadline_ms = o->deadline_ms;
    rc = lb_bk_exec(&x, run, err);
    if (rc == 0)
        rc = lb_file_read(file, &json, NULL, err);
    if (rc == 0)
        rc = lb_pgbackrest_info_parse(json, o->stanza, out, err);
    if (rc != 0)
        lb_err_prefix(err, "pgbackrest info");
    unlink(file);
    rmdir(dir);
    lb_bk_argv_free(&a);
    free(dir);
    free(file);
    free(json);
    return rc;
}

char *lb_pgbackrest_layer_config(const struct lb_env_backup *b)
{
    struct stat st;
    char *dir, *conf;

    if (b == NULL || b->path == NULL)
        return NULL;
    if (stat(b->path, &st) == 0 && S_ISREG(st.st_mode))
        return lb_xstrdup(b->path);   /* the path names the configuration itself */
    dir = lb_path_dir(b->path);
    conf = lb_path_join(dir, "pgbackrest.conf");
    free(dir);
    if (!lb_file_exists(conf)) {
        free(conf);
        return NULL;
    }
    return conf;
}

char *lb_pgbackrest_provenance_path(const char *config, int repo)
{
    char *dir = config != NULL ? lb_path_dir(config) : lb_xstrdup(DEFAULT_CONFIG_DIR);
    char *p = lb_xasprintf("%s/repo%d.provenance.json", dir, repo > 0 ? repo : 1);

    free(dir);
    return p;
}

char *lb_backup_layer_artifact(const struct lb_env_backup *b)
{
    char *conf, *dir, *artifact;

    if (b == NULL || b->path == NULL)
        return NULL;
    if (b->kind == NULL || strcmp(b->kind, "pgbackrest") != 0)
        return lb_xstrdup(b->path);
    conf = lb_pgbackrest_layer_config(b);
    dir = conf != NULL ? lb_path_dir(conf) : lb_xstrdup(DEFAULT_CONFIG_DIR);
    artifact = lb_xasprintf("%s/repo%d", dir, b->repo > 0 ? b->repo : 1);
    free(dir);
    free(conf);
    return artifact;
}

int lb_backup_pgbackrest_backup(const struct lb_pgbackrest_opts *o, const char *type,
                                const char *source_conninfo, struct lb_tool_run *run,
                                struct lb_provenance **prov_out, struct lb_err *err)
{
    struct lb_provenance *prov = NULL;
    struct lb_pgbackrest_info *info = NULL;
    const struct lb_pgbackrest_backup *b;
    struct lb_bk_argv a = {0};
    struct lb_bk_exec x = {0};
    struct lb_tool_run scratch = {0};
    struct lb_pg *c = NULL;
    char *path = NULL, *artifact = NULL, *dir = NULL;
    int rc;

    if (prov_out != NULL)
        *prov_out = NULL;
    if (run == NULL)
        run = &scratch;
    rc = check_opts(o, err);
    if (rc != 0)
        goto out;
    if (type == NULL)
        type = "full";
    if (strcmp(type, "full") != 0 && strcmp(type, "diff") != 0 && strcmp(type, "incr") != 0) {
        rc = lb_err_set(err, LB_EINVAL, "pgBackRest backup type '%s' is not full, diff or incr",
                        type);
        goto out;
    }
    prov = lb_xcalloc(1, sizeof(*prov));
    prov->kind = lb_xstrdup("pgbackrest");
    prov->repo = o->repo > 0 ? o->repo : 1;
    if (source_conninfo != NULL) {
        rc = lb_pg_connect(source_conninfo, o->deadline_ms, &c, err);
        if (rc == 0)
            rc = lb_provenance_from_conn(c, o->deadline_ms, prov, err);
        lb_pg_close(c);
        if (rc != 0) {
            lb_err_prefix(err, "pgBackRest backup source");
            goto out;
        }
    }
    base_argv(&a, o);
    lb_bk_argv_addf(&a, "--type=%s", type);
    lb_bk_argv_add(&a, "backup");
    x.argv = (const char *const *)a.v;
    x.run_as = lb_bk_run_as(o->run_as);
    x.deadline_ms = o->deadline_ms;
    rc = lb_bk_exec(&x, run, err);
    if (rc != 0) {
        lb_err_prefix(err, "pgbackrest backup");
        goto out;
    }
    {
        /* info replaces run's record: keep the backup's. */
        struct lb_tool_run info_run = {0};

        rc = lb_backup_pgbackrest_info(o, &info, &info_run, err);
        run->duration_ms += info_run.duration_ms;
        lb_tool_run_free(&info_run);
    }
    if (rc != 0)
        goto out;
    b = lb_pgbackrest_latest(info, prov->repo);
    if (b == NULL) {
        rc = lb_err_set(err, LB_EPROC, "pgbackrest info lists no backup in repo %d after the "
                                       "backup", prov->repo);
        goto out;
    }
    prov->backup_label = lb_xstrdup(b->label);
    prov->taken_at = b->start_ms > 0 ? b->start_ms : 0;
    prov->finished_at = b->stop_ms > 0 ? b->stop_ms : 0;
    prov->start_lsn = lb_xstrdup(b->lsn_start);
    prov->stop_lsn = lb_xstrdup(b->lsn_stop);
    prov->start_wal = lb_xstrdup(b->wal_start);
    prov->stop_wal = lb_xstrdup(b->wal_stop);
    if (b->wal_start != NULL && strlen(b->wal_start) >= 8) {
        /* A WAL file name starts with its timeline in 8 hex digits. */
        char head[9];

        memcpy(head, b->wal_start, 8);
        head[8] = '\0';
        prov->timeline = (int)strtol(head, NULL, 16);
    }
    if (prov->source_system_identifier == NULL && info->system_identifier != NULL)
        prov->source_system_identifier = lb_xstrdup(info->system_identifier);
    prov->tool = lb_xstrdup("pgBackRest");
    path = lb_pgbackrest_provenance_path(o->config, prov->repo);
    dir = lb_path_dir(path);
    artifact = lb_xasprintf("%s/repo%d", dir, prov->repo);
    rc = lb_provenance_write(artifact, prov, err);
out:
    if (rc == 0 && prov_out != NULL) {
        *prov_out = prov;
        prov = NULL;
    }
    lb_provenance_free(prov);
    lb_pgbackrest_info_free(info);
    lb_bk_argv_free(&a);
    lb_tool_run_free(&scratch);
    free(path);
    free(artifact);
    free(dir);
    return rc;
}

/* ---- restore ------------------------------------------------------------- */

int lb_backup_pgbackrest_restore(const struct lb_pgbackrest_restore_opts *o,
                                 struct lb_tool_run *run, struct lb_err *err)
{
    const struct lb_recovery_target *t = &o->target;
    struct lb_pgbackrest_info *info = NULL;
    struct lb_bk_argv a = {0};
    struct lb_bk_exec x = {0};
    struct lb_buf conf = {0};
    struct lb_tool_run scratch = {0};
    const char *user = lb_bk_run_as(o->base.run_as);
    char *auto_conf = NULL;
    char when[48];
    int created = 0, touched = 0;
    int rc;

    if (run == NULL)
        run = &scratch;
    rc = check_opts(&o->base, err);
    if (rc != 0)
        goto out;
    if (o->data_dir == NULL) {
        rc = lb_err_set(err, LB_EINVAL, "a pgBackRest restore needs a new data directory");
        goto out;
    }
    if (t->kind == LB_RECOVERY_LSN && (t->lsn == NULL || strchr(t->lsn, '/') == NULL)) {
        rc = lb_err_set(err, LB_EINVAL, "recovery target LSN '%s' is not X/Y",
                        t->lsn != NULL ? t->lsn : "");
        goto out;
    }
    rc = lb_bk_conf_settings(&conf, o->settings, err);
    if (rc != 0)
        goto out;
    if (t->kind == LB_RECOVERY_TIME) {
        const struct lb_pgbackrest_backup *b;
        struct lb_tool_run info_run = {0};
        char what[160];

        rc = lb_backup_pgbackrest_info(&o->base, &info, &info_run, err);
        lb_tool_run_free(&info_run);
        if (rc != 0)
            goto out;
        b = oldest_or_set(info, o->base.repo, o->set);
        if (b == NULL) {
            rc = lb_err_set(err, LB_ENOTFOUND, "pgBackRest has no backup%s%s in repo %d",
                            o->set != NULL ? " " : "", o->set != NULL ? o->set : "",
                            o->base.repo);
            goto out;
        }
        snprintf(what, sizeof(what), "pgBackRest backup %s", b->label != NULL ? b->label : "?");
        rc = lb_recovery_target_check(t, what, b->start_ms, b->stop_ms, err);
        if (rc != 0)
            goto out;
    }
    rc = lb_bk_fresh_dir(o->data_dir, user, &created, err);
    if (rc != 0)
        goto out;
    touched = 1;
    base_argv(&a, &o->base);
    lb_bk_argv_addf(&a, "--pg1-path=%s", o->data_dir);
    if (o->set != NULL)
        lb_bk_argv_addf(&a, "--set=%s", o->set);
    switch (t->kind) {
    case LB_RECOVERY_TIME:
        lb_recovery_time_format(t->time_ms, when, sizeof(when));
        lb_bk_argv_add(&a, "--type=time");
        lb_bk_argv_addf(&a, "--target=%s", when);
        break;
    case LB_RECOVERY_LSN:
        lb_bk_argv_add(&a, "--type=lsn");
        lb_bk_argv_addf(&a, "--target=%s", t->lsn);
        break;
    case LB_RECOVERY_IMMEDIATE:
        lb_bk_argv_add(&a, "--type=immediate");
        break;
    default:
        lb_bk_argv_add(&a, "--type=default");
        break;
    }
    if (t->kind != LB_RECOVERY_LATEST)
        lb_bk_argv_add(&a, "--target-action=promote");
    if ((t->kind == LB_RECOVERY_TIME || t->kind == LB_RECOVERY_LSN) && !t->inclusive)
        lb_bk_argv_add(&a, "--target-exclusive");
    if (t->timeline != NULL && t->kind != LB_RECOVERY_IMMEDIATE)
        lb_bk_argv_addf(&a, "--target-timeline=%s", t->timeline);
    lb_bk_argv_add(&a, "restore");
    x.argv = (const char *const *)a.v;
    x.run_as = user;
    x.deadline_ms = o->base.deadline_ms;
    rc = lb_bk_exec(&x, run, err);
    if (rc != 0)
        goto out;
    if (conf.len > 0) {
        auto_conf = lb_path_join(o->data_dir, "postgresql.auto.conf");
        rc = lb_bk_append(auto_conf, "\n# ---- lifeboat restore settings ----\n", user, err);
        if (rc == 0)
            rc = lb_bk_append(auto_conf, conf.data, user, err);
    }
out:
    if (rc != 0 && touched)
        lb_bk_discard(o->data_dir, created, user);
    if (rc != 0)
        lb_err_prefix(err, "pgBackRest restore");
    lb_pgbackrest_info_free(info);
    lb_bk_argv_free(&a);
    lb_buf_free(&conf);
    lb_tool_run_free(&scratch);
    free(auto_conf);
    return rc;
}
