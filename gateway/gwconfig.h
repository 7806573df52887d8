/* gwconfig.h - bianmin-gateway's settings (config.c): defaults, the JSON
 * config file, and the session secret file shared by every instance. */
#ifndef BM_GW_CONFIG_H
#define BM_GW_CONFIG_H

#include "gw.h"

/* Fills c with the named defaults. */
void gw_config_defaults(gw_config_t *c);
/* Reads the JSON config file over c. Returns 0 or -1 with err set. */
int gw_config_load(gw_config_t *c, const char *path, bm_error_t *err);
/* Reads c->secret from c->secret_file (64 hex characters, mode 0600),
 * creating it (0600) with a random secret if missing and create is true.
 * Returns 0 or -1 with err set. */
int gw_secret_load(gw_config_t *c, bool create, bm_error_t *err);

#endif
