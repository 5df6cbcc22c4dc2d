/*
 * The safety guard. Every factor is checked on what the server and libpq
 * report after connecting, never on the conninfo text, and every doubt
 * refuses: a drill that cannot prove where it is does not run.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "lifeboat/engine.h"
#include "lifeboat/pg.h"

static int refuse(struct lb_err *err, const struct lb_env_target *t,
                  const char *why)
{
    return lb_err_set(err, LB_ESAFETY, "target '%s': %s", t->name, why);
}

/* Compare without an early exit, so the time taken says nothing of the token. */
static int token_equal(const char *a, const char *b)
{
    size_t n = strlen(a);
    unsigned char diff = 0;
    if (n != strlen(b))
        return 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static void copy_field(char *dst, size_t dstsz, const char *src)
{
    if (!src)
        src = "";
    size_t n = strlen(src);
    if (n >= dstsz)
        n = dstsz - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Does protected host name `host` resolve to `addr` (numeric text)? */
static int host_resolves_to(const char *host, const char *addr)
{
    struct addrinfo hints, *res = NULL;
    int hit = 0;

    if (!addr || !*addr)
        return 0;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0)
        return 0;
    for (struct addrinfo *ai = res; ai && !hit; ai = ai->ai_next) {
        char buf[NI_MAXHOST];
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, sizeof(buf), NULL, 0,
                        NI_NUMERICHOST) == 0 && strcmp(buf, addr) == 0)
            hit = 1;
    }
    freeaddrinfo(res);
    return hit;
}

static int host_protected(const struct lb_env *env, const char *pqhost,
                          const char *server_addr, const char **which)
{
    for (size_t i = 0; i < env->nprotected_hosts; i++) {
        const char *p = env->protected_hosts[i];
        if ((pqhost && strcasecmp(p, pqhost) == 0) ||
            (server_addr && strcmp(p, server_addr) == 0) ||
            host_resolves_to(p, server_addr)) {
            *which = p;
            return 1;
        }
    }
    return 0;
}

static int sysid_protected(const struct lb_env *env, const char *sysid)
{
    for (size_t i = 0; i < env->nprotected_sysids; i++)
        if (strcmp(env->protected_sysids[i], sysid) == 0)
            return 1;
    return 0;
}

/* A query error while proving identity is a refusal, unless it is the
 * deadline or an interrupt, which keep their own meaning. */
static int identity_error(struct lb_err *err, const struct lb_env_target *t,
                          const char *what)
{
    if (err->code == LB_ETIMEOUT || err->code == LB_EINTR)
        return err->code;
    char why[1200];
    snprintf(why, sizeof(why), "cannot read %s: %s", what, err->msg);
    return refuse(err, t, why);
}

static const char IDENTITY_SQL[] =
    "SELECT (SELECT system_identifier::text FROM pg_control_system()),"
    " current_setting('cluster_name'),"
    " coalesce(host(inet_server_addr()), ''),"
    " coalesce(inet_server_port()::text, ''),"
    " pg_is_in_recovery(),"
    " current_setting('server_version_num'),"
    " to_regclass('public.lifeboat_guard') IS NOT NULL";

int lb_guard_check(struct lb_pg *c, const struct lb_env *env,
                   const struct lb_env_target *t, int64_t deadline_ms,
                   struct lb_guard_seen *seen, struct lb_err *err)
{
    struct lb_pg_result r = {0}, g = {0};
    struct lb_guard_seen local;
    const char *which = NULL;
    char why[512];
    int rc;

    if (!seen)
        seen = &local;
    memset(seen, 0, sizeof(*seen));
    if (!env || !t)
        return lb_err_set(err, LB_ESAFETY, "no environment target to check");
    if (!t->role || strcmp(t->role, "staging") != 0) {
        snprintf(why, sizeof(why), "role is '%s', lifeboat only acts on 'staging'",
                 t->role ? t->role : "(none)");
        return refuse(err, t, why);
    }
    if (!t->system_identifier || !*t->system_identifier)
        return refuse(err, t, "no pinned system_identifier in the environment");
    if (!t->guard_token || !*t->guard_token)
        return refuse(err, t, "no guard_token in the environment");
    if (!lb_pg_ok(c))
        return refuse(err, t, "not connected");

    rc = lb_pg_query(c, IDENTITY_SQL, 0, NULL, deadline_ms, &r, err);
    if (rc < 0) {
        rc = identity_error(err, t, "the server identity");
        goto out;
    }
    if (r.nrows != 1 || r.ncols != 7 || !lb_pg_value(&r, 0, 0)) {
        rc = refuse(err, t, "cannot read the server identity");
        goto out;
    }
    copy_field(seen->system_identifier, sizeof(seen->system_identifier),
               lb_pg_value(&r, 0, 0));
    copy_field(seen->cluster_name, sizeof(seen->cluster_name), lb_pg_value(&r, 0, 1));
    copy_field(seen->server_addr, sizeof(seen->server_addr), lb_pg_value(&r, 0, 2));
    copy_field(seen->port, sizeof(seen->port), lb_pg_value(&r, 0, 3));
    seen->in_recovery = lb_pg_value(&r, 0, 4) && lb_pg_value(&r, 0, 4)[0] == 't';
    {
        int64_t v = 0;
        if (lb_pg_value(&r, 0, 5) && lb_parse_int64(lb_pg_value(&r, 0, 5), &v) == 0)
            seen->server_version = (int)v;
    }
    copy_field(seen->host, sizeof(seen->host), lb_pg_host(c));

    if (sysid_protected(env, seen->system_identifier)) {
        snprintf(why, sizeof(why), "system_identifier %s is on the protected list",
                 seen->system_identifier);
        rc = refuse(err, t, why);
        goto out;
    }
    if (strcmp(seen->system_identifier, t->system_identifier) != 0) {
        snprintf(why, sizeof(why),
                 "system_identifier is %s, the environment pins %s",
                 seen->system_identifier, t->system_identifier);
        rc = refuse(err, t, why);
        goto out;
    }
    if (t->cluster_name && *t->cluster_name &&
        strcmp(seen->cluster_name, t->cluster_name) != 0) {
        snprintf(why, sizeof(why), "cluster_name is '%s', the environment pins '%s'",
                 seen->cluster_name, t->cluster_name);
        rc = refuse(err, t, why);
        goto out;
    }
    if (host_protected(env, seen->host, seen->server_addr, &which)) {
        snprintf(why, sizeof(why), "host %s (%s) is on the protected list (%s)",
                 seen->host, seen->server_addr, which);
        rc = refuse(err, t, why);
        goto out;
    }
    if (strcmp(lb_pg_value(&r, 0, 6) ? lb_pg_value(&r, 0, 6) : "f", "t") != 0) {
        rc = refuse(err, t, "no lifeboat_guard marker on the server "
                            "(a DBA creates it with `lifeboat guard install`)");
        goto out;
    }
    rc = lb_pg_query(c, "SELECT environment, token FROM public.lifeboat_guard",
                     0, NULL, deadline_ms, &g, err);
    if (rc < 0) {
        rc = identity_error(err, t, "the lifeboat_guard marker");
        goto out;
    }
    if (g.nrows != 1) {
        snprintf(why, sizeof(why), "lifeboat_guard has %d rows, expected exactly 1",
                 g.nrows);
        rc = refuse(err, t, why);
        goto out;
    }
    if (!lb_pg_value(&g, 0, 0) || !env->name ||
        strcmp(lb_pg_value(&g, 0, 0), env->name) != 0) {
        snprintf(why, sizeof(why),
                 "lifeboat_guard names environment '%s', this is '%s'",
                 lb_pg_value(&g, 0, 0) ? lb_pg_value(&g, 0, 0) : "",
                 env->name ? env->name : "");
        rc = refuse(err, t, why);
        goto out;
    }
    if (!lb_pg_value(&g, 0, 1) || !token_equal(lb_pg_value(&g, 0, 1), t->guard_token)) {
        rc = refuse(err, t, "lifeboat_guard token does not match the environment's guard_token");
        goto out;
    }
    rc = 0;
out:
    lb_pg_result_free(&r);
    lb_pg_result_free(&g);
    return rc;
}

int lb_guard_install_marker(struct lb_pg *c, const char *environment,
                            const char *token, struct lb_err *err)
{
    const char *params[2] = {environment, token};
    int rc;

    rc = lb_pg_exec_script(c,
        "BEGIN;"
        "CREATE TABLE IF NOT EXISTS public.lifeboat_guard ("
        " environment text NOT NULL, token text NOT NULL,"
        " installed_at timestamptz NOT NULL DEFAULT now());"
        "COMMENT ON TABLE public.lifeboat_guard IS "
        " 'lifeboat opt-in marker: this server is a staging target drills may act on';"
        "DELETE FROM public.lifeboat_guard;",
        LB_NO_DEADLINE, err);
    if (rc < 0)
        goto fail;
    rc = lb_pg_query(c, "INSERT INTO public.lifeboat_guard (environment, token) "
                        "VALUES ($1, $2)", 2, params, LB_NO_DEADLINE, NULL, err);
    if (rc < 0)
        goto fail;
    return lb_pg_exec_script(c, "COMMIT", LB_NO_DEADLINE, err);
fail:
    {
        struct lb_err ignore = {0};
        lb_pg_exec_script(c, "ROLLBACK", LB_NO_DEADLINE, &ignore);
    }
    return lb_err_prefix(err, "installing the lifeboat_guard marker");
}

int lb_guard_install(struct lb_pg *c, const struct lb_env *env,
                     const struct lb_env_target *t, struct lb_err *err)
{
    char *sysid = NULL;
    char why[512];
    int rc;

    if (!t->role || strcmp(t->role, "staging") != 0) {
        snprintf(why, sizeof(why), "role is '%s': the marker goes on staging only",
                 t->role ? t->role : "(none)");
        return refuse(err, t, why);
    }
    if (!t->guard_token || strlen(t->guard_token) < 16)
        return refuse(err, t, "guard_token missing or shorter than 16 characters");
    rc = lb_pg_scalar(c, "SELECT system_identifier::text FROM pg_control_system()",
                      0, NULL, LB_NO_DEADLINE, &sysid, err);
    if (rc < 0)
        return identity_error(err, t, "the server identity");
    if (!sysid || sysid_protected(env, sysid)) {
        rc = refuse(err, t, "its system_identifier is on the protected list");
        goto out;
    }
    if (!t->system_identifier || strcmp(sysid, t->system_identifier) != 0) {
        snprintf(why, sizeof(why), "system_identifier is %s, the environment pins %s",
                 sysid, t->system_identifier ? t->system_identifier : "nothing");
        rc = refuse(err, t, why);
        goto out;
    }
    rc = lb_guard_install_marker(c, env->name, t->guard_token, err);
out:
    free(sysid);
    return rc;
}
