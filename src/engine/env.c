/* The environment: targets, backups, routes, protected systems. */
#include <stdlib.h>
#include <string.h>

#include "lifeboat/engine.h"
#include "lifeboat/notify.h"

static void free_argv(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char **dup_argv(char *const *argv)
{
    size_t n = 0;
    char **out;

    if (!argv)
        return NULL;
    while (argv[n])
        n++;
    out = lb_xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = lb_xstrdup(argv[i]);
    return out;
}

void lb_env_target_clear(struct lb_env_target *t)
{
    free(t->name);
    free(t->conninfo);
    free(t->role);
    free(t->region);
    free(t->system_identifier);
    free(t->cluster_name);
    free(t->guard_token);
    free(t->replica_of);
    free(t->data_dir);
    free_argv(t->stop_argv);
    free_argv(t->start_argv);
    free_argv(t->fence_argv);
    free_argv(t->unfence_argv);
    memset(t, 0, sizeof(*t));
}

struct lb_env_target *lb_env_target_dup(const struct lb_env_target *src)
{
    struct lb_env_target *t = lb_xcalloc(1, sizeof(*t));

    *t = *src;
    t->name = lb_xstrdup(src->name);
    t->conninfo = lb_xstrdup(src->conninfo);
    t->role = lb_xstrdup(src->role);
    t->region = lb_xstrdup(src->region);
    t->system_identifier = lb_xstrdup(src->system_identifier);
    t->cluster_name = lb_xstrdup(src->cluster_name);
    t->guard_token = lb_xstrdup(src->guard_token);
    t->replica_of = lb_xstrdup(src->replica_of);
    t->data_dir = lb_xstrdup(src->data_dir);
    t->stop_argv = dup_argv(src->stop_argv);
    t->start_argv = dup_argv(src->start_argv);
    t->fence_argv = dup_argv(src->fence_argv);
    t->unfence_argv = dup_argv(src->unfence_argv);
    return t;
}

void lb_env_free(struct lb_env *env)
{
    if (!env)
        return;
    for (size_t i = 0; i < env->ntargets; i++)
        lb_env_target_clear(&env->targets[i]);
    free(env->targets);
    lb_notify_config_free(env->notify);
    for (size_t i = 0; i < env->nbackups; i++) {
        struct lb_env_backup *b = &env->backups[i];
        free(b->name);
        free(b->kind);
        free(b->path);
        free(b->wal_archive);
        free(b->source);
        free(b->stanza);
        free_argv(b->argv);
    }
    free(env->backups);
    for (size_t i = 0; i < env->nroutes; i++) {
        free(env->routes[i].name);
        free(env->routes[i].target);
    }
    free(env->routes);
    free_strv(env->protected_sysids, env->nprotected_sysids);
    free_strv(env->protected_hosts, env->nprotected_hosts);
    free(env->name);
    free(env->path);
    free(env->scratch);
    lb_secrets_free(env->secrets);
    free(env);
}

static const struct lb_env_target *target_by_name(const struct lb_env *env,
                                                  const char *name)
{
    for (size_t i = 0; i < env->ntargets; i++)
        if (strcmp(env->targets[i].name, name) == 0)
            return &env->targets[i];
    return NULL;
}

const struct lb_env_target *lb_env_target(const struct lb_env *env, const char *name)
{
    if (!env || !name)
        return NULL;
    const struct lb_env_target *t = target_by_name(env, name);
    if (t)
        return t;
    for (size_t i = 0; i < env->nroutes; i++)
        if (strcmp(env->routes[i].name, name) == 0)
            return target_by_name(env, env->routes[i].target);
    return NULL;
}

const struct lb_env_backup *lb_env_backup(const struct lb_env *env, const char *name)
{
    if (!env || !name)
        return NULL;
    for (size_t i = 0; i < env->nbackups; i++)
        if (strcmp(env->backups[i].name, name) == 0)
            return &env->backups[i];
    return NULL;
}

void lb_env_set_route(struct lb_env *env, const char *route, const char *target)
{
    for (size_t i = 0; i < env->nroutes; i++) {
        if (strcmp(env->routes[i].name, route) == 0) {
            free(env->routes[i].target);
            env->routes[i].target = lb_xstrdup(target);
            return;
        }
    }
    env->routes = lb_xrealloc(env->routes, (env->nroutes + 1) * sizeof(*env->routes));
    env->routes[env->nroutes].name = lb_xstrdup(route);
    env->routes[env->nroutes].target = lb_xstrdup(target);
    env->nroutes++;
}

void lb_env_add_target(struct lb_env *env, const struct lb_env_target *like, const char *name,
                       const char *conninfo, const char *cluster_name, const char *data_dir)
{
    struct lb_env_target copy = *like;   /* `like` may live in the array we grow */
    struct lb_env_target *t;

    env->targets = lb_xrealloc(env->targets, (env->ntargets + 1) * sizeof(*env->targets));
    t = &env->targets[env->ntargets++];
    memset(t, 0, sizeof(*t));
    t->name = lb_xstrdup(name);
    t->conninfo = lb_xstrdup(conninfo);
    t->role = lb_xstrdup("staging");
    t->region = lb_xstrdup(copy.region);
    t->system_identifier = lb_xstrdup(copy.system_identifier);
    t->cluster_name = lb_xstrdup(cluster_name);
    t->guard_token = lb_xstrdup(copy.guard_token);
    t->data_dir = lb_xstrdup(data_dir);
    t->line = copy.line;
}

void lb_env_remove_target(struct lb_env *env, const char *name)
{
    for (size_t i = 0; i < env->ntargets; i++) {
        struct lb_env_target *t = &env->targets[i];
        if (strcmp(t->name, name) != 0)
            continue;
        lb_env_target_clear(t);
        memmove(t, t + 1, (env->ntargets - i - 1) * sizeof(*t));
        env->ntargets--;
        return;
    }
}
