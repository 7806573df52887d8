/* server.h - starting and stopping bianmin-gateway's HTTP server (server.c). */
#ifndef BM_GW_SERVER_H
#define BM_GW_SERVER_H

#include "gw.h"

/* Opens the broker connection and starts listening (cfg is copied).
 * Returns NULL with err set. */
gw_t *gw_new(const gw_config_t *cfg, bm_error_t *err);
/* Stops the server (finishing requests in flight) and frees everything. */
void gw_destroy(gw_t **self_p);

/* Session cookies on a response (login, logout). */
void gw_set_session(gw_req_t *r, gw_resp_t *resp, const gw_session_t *s);
void gw_clear_session(gw_req_t *r, gw_resp_t *resp);

#endif
