/* main.c - bianmin-worker, the volunteer's client: flags, signals, and the
 * session that does the work (session.c). */
#include "exitcodes.h"
#include "log.h"
#include "options.h"
#include "session.h"
#include "version.h"
#include "term.h"
#include "width.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: zmq_poll returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN; /* a vanished bridge shows up as a write error */
    sigaction(SIGPIPE, &sa, NULL);
}

/* Who is connecting where, wrapped to the terminal's width. */
static void banner(const wk_options_t *opts)
{
    char skills[WK_MAX_SKILLS * (WK_MAX_SKILL_LEN + 1) + 1] = "";
    for (int i = 0; i < opts->skill_count; i++) {
        size_t n = strlen(skills);
        snprintf(skills + n, sizeof skills - n, "%s%s", i ? "," : "", opts->skills[i]);
    }
    char text[2048];
    snprintf(text, sizeof text,
             "志愿者 Volunteer %s (%s), 技能 skills %s — 正在连接 connecting to %s … "
             "输入 help 查看命令 type help for commands",
             opts->name, opts->id, skills, opts->broker);
    char *wrapped = NULL;
    if (isatty(STDOUT_FILENO))
        wrapped = bm_width_wrap(text, (size_t)wk_term_width(STDOUT_FILENO), WK_TERM_INDENT);
    puts(wrapped ? wrapped : text);
    free(wrapped);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (bm_version_asked(argc, argv)) {
        bm_version_print(stdout, "bianmin-worker");
        return 0;
    }
    wk_options_t opts;
    char err[512];
    switch (wk_options_parse(argc, argv, &opts, err, sizeof err)) {
    case WK_ARGS_HELP:
        wk_usage(stdout);
        return 0;
    case WK_ARGS_ERROR:
        fprintf(stderr, "bianmin-worker: %s\n(查看选项 see the options: bianmin-worker --help)\n",
                err);
        return BM_EXIT_USAGE;
    case WK_ARGS_OK:
        break;
    }
    if (wk_options_load_key(&opts, err, sizeof err) != 0) {
        fprintf(stderr, "bianmin-worker: %s\n", err);
        return BM_EXIT_CONFIG; /* the key file: missing, unreadable or not the owner's alone */
    }
    bm_log_init("bianmin-worker", opts.log_level);
    install_signals();

    wk_session_t *session = wk_session_new(&opts, STDIN_FILENO, stdout);
    if (!session) {
        log_error("无法开始会话（内存不足或 ZeroMQ 出错） / cannot start the session (out of memory or zmq failure)");
        return BM_EXIT_INTERNAL;
    }
    if (!opts.json)
        banner(&opts);
    int rc = wk_session_run(session, &stop_requested);
    wk_session_destroy(&session);
    if (stop_requested)
        log_info("收到信号，已停止 / stopped by signal");
    /* A fatal end is the station refusing (the key, the hello). */
    return rc == 0 ? BM_EXIT_OK : BM_EXIT_REFUSED;
}
