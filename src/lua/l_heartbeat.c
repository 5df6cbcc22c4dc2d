/*
 * Heartbeat methods of target handles: heartbeat_start, heartbeat_stop,
 * heartbeat_rpo (measured RPO). Registered into the target metatable by
 * l_target.c through l_target_heartbeat_methods.
 */
#include <lauxlib.h>

#include "l_internal.h"

const luaL_Reg l_target_heartbeat_methods[] = {
    {NULL, NULL},
};
