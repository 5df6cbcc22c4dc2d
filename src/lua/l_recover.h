/*
 * Private to the recovery bindings (l_recover.c) and the writers of target
 * handles (l_heartbeat.c): what one needs of the other around a failover
 * and at the end of a run.
 */
#ifndef LIFEBOAT_L_RECOVER_H
#define LIFEBOAT_L_RECOVER_H

#include <lua.h>

/* After routes were re-pointed: every heartbeat and write load whose
 * handle's name now resolves to another target is handed that target
 * (l_heartbeat.c). */
void l_writers_follow_routes(lua_State *L);

/* End of the run: tear down every scratch restore still standing (stop its
 * server, remove its directory or drop its database) and forget its
 * environment entry (l_recover.c). Called from l_heartbeat_close_all, which
 * the runner calls through lb_script_close_handles once the rollbacks ran. */
void l_recover_close_all(lua_State *L);

#endif
