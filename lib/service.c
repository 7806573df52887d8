/* service.c - see service.h. The only place that calls sd_notify. */
#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

static int notify(const char *state)
{
    const char *sock = getenv("NOTIFY_SOCKET");
    if (!sock || !*sock)
        return 0;
    return sd_notify(0, state) < 0 ? -1 : 0;
}

int bm_service_ready(const char *status)
{
    char state[512];
    snprintf(state, sizeof state, "READY=1\nSTATUS=%s", status ? status : "ready");
    return notify(state);
}

int bm_service_stopping(void)
{
    return notify("STOPPING=1\nSTATUS=stopping: finishing the pass in progress");
}
