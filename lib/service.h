/* service.h - telling systemd how a daemon is doing (sd_notify, from Debian's
 * libsystemd). Every call is a no-op when NOTIFY_SOCKET is unset, i.e. when
 * the program was not started by systemd with Type=notify. */
#ifndef BM_SERVICE_H
#define BM_SERVICE_H

/* Says READY=1 (call once the sockets are bound) with a status line for
 * `systemctl status`. Returns 0 (also when there is no one to tell) or -1. */
int bm_service_ready(const char *status);
/* Says STOPPING=1 (call when shutdown begins). Returns 0 or -1. */
int bm_service_stopping(void);

#endif
