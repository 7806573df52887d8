/* event.c - see event.h. */
#include "event.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *wk_event_new(const char *name)
{
    cJSON *ev = cJSON_CreateObject();
    if (ev && !cJSON_AddStringToObject(ev, "event", name)) {
        cJSON_Delete(ev);
        return NULL;
    }
    return ev;
}

cJSON *wk_event_from(const char *name, const cJSON *body)
{
    cJSON *ev = wk_event_new(name);
    if (!ev || !body)
        return ev;
    for (const cJSON *f = body->child; f; f = f->next) {
        if (!f->string || strcmp(f->string, "event") == 0)
            continue;
        cJSON *copy = cJSON_Duplicate(f, true);
        if (!copy) {
            cJSON_Delete(ev);
            return NULL;
        }
        cJSON_AddItemToObject(ev, f->string, copy);
    }
    return ev;
}

cJSON *wk_event_error(const char *cmd, int64_t ticket, const bm_error_t *err)
{
    cJSON *ev = wk_event_new(WK_EV_ERROR);
    if (!ev)
        return NULL;
    if (cmd)
        cJSON_AddStringToObject(ev, "cmd", cmd);
    if (ticket > 0)
        cJSON_AddNumberToObject(ev, "ticket", (double)ticket);
    cJSON_AddStringToObject(ev, "code", err->code ? err->code : "error");
    cJSON_AddStringToObject(ev, "message", err->message);
    if (err->field[0])
        cJSON_AddStringToObject(ev, "field", err->field);
    return ev;
}

void wk_event_set_id(cJSON *ev, const char *bridge_id)
{
    if (ev && bridge_id)
        cJSON_AddStringToObject(ev, "id", bridge_id);
}

/* ---- text for people ---------------------------------------------------- */

static const char *str(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static long long num(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(item) ? (long long)item->valuedouble : 0;
}

static bool flag(const cJSON *obj, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

/* Writes s, replacing control characters (C0, DEL, C1) by spaces so that
 * text from the network cannot drive the terminal. */
static void put(FILE *f, const char *s)
{
    if (!s)
        return;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            fputc(' ', f);
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            fputc(' ', f);
            p++;
        } else {
            fputc(*p, f);
        }
    }
}

/* "[管道疏通 pipe]" */
static void put_category(FILE *f, const cJSON *job)
{
    const char *label = str(job, "category_label");
    const char *cat = str(job, "category");
    fputc('[', f);
    if (label) {
        put(f, label);
        if (cat)
            fputc(' ', f);
    }
    put(f, cat ? cat : "?");
    fputc(']', f);
}

/* "市政小区 3栋 2-301" */
static void put_place(FILE *f, const cJSON *job)
{
    put(f, str(job, "building"));
    const char *unit = str(job, "unit");
    if (unit && *unit) {
        fputc(' ', f);
        put(f, unit);
    }
}

static void put_urgent(FILE *f, const cJSON *job)
{
    if (flag(job, "urgent"))
        fputs("【急 URGENT】 ", f);
}

/* prefix and the local time of the ISO time ev[key], if there is one. */
static void put_time(FILE *f, const cJSON *ev, const char *key, const char *prefix)
{
    const char *iso = str(ev, key);
    int64_t ms;
    if (iso && bm_time_parse_iso(iso, &ms) == 0) {
        char local[32];
        fprintf(f, "%s%s", prefix, bm_time_local(ms, local, sizeof local));
    }
}

/* One line per job: "#42 [管道疏通 pipe] 市政小区 3栋 2-301 — 罗女士 138… — 厨房下水道堵了" */
static void put_job_line(FILE *f, const cJSON *job)
{
    fprintf(f, "  #%lld ", num(job, "ticket"));
    put_urgent(f, job);
    put_category(f, job);
    fputc(' ', f);
    put_place(f, job);
    if (str(job, "contact")) {
        fputs(" — 联系 ", f);
        put(f, str(job, "contact"));
    }
    if (str(job, "text")) {
        fputs(" — ", f);
        put(f, str(job, "text"));
    }
    put_time(f, job, "lease_until", " — 保留至 held until ");
}

static void put_list(FILE *f, const cJSON *list, bool offers)
{
    for (const cJSON *j = cJSON_IsArray(list) ? list->child : NULL; j; j = j->next) {
        fputc('\n', f);
        put_job_line(f, j);
        if (offers)
            fprintf(f, " — claim %lld", num(j, "ticket"));
    }
}

static void text_offer(FILE *f, const cJSON *ev)
{
    long long t = num(ev, "ticket");
    fprintf(f, "新订单 New job #%lld ", t);
    put_urgent(f, ev);
    put_category(f, ev);
    fputc(' ', f);
    put_place(f, ev);
    fputs(": ", f);
    put(f, str(ev, "text"));
    fprintf(f, " — type: claim %lld", t);
}

static void text_claimed(FILE *f, const cJSON *ev)
{
    long long t = num(ev, "ticket");
    fprintf(f, "接单成功 Claimed #%lld ", t);
    put_urgent(f, ev);
    put_category(f, ev);
    fputs("\n  地址 Address: ", f);
    put_place(f, ev);
    fputs("\n  联系 Call:    ", f);
    put(f, str(ev, "contact") ? str(ev, "contact") : "-");
    fputs("\n  需求 Need:    ", f);
    put(f, str(ev, "text"));
    put_time(f, ev, "deadline_at", "\n  服务时限 Service deadline: ");
    put_time(f, ev, "lease_until", "\n  接单保留至 Claim held until: ");
    fputs(" (进展 progress 可续期 renews it)", f);
    fprintf(f, "\n  完成后输入 When finished type: done %lld [note 备注] [@photo 照片]", t);
    fprintf(f, "\n  还在修 Still on it: progress %lld [note]   修不了 Can't fix: cantfix %lld reason",
            t, t);
}


static void put_photos(FILE *f, const cJSON *ev)
{
    long long n = num(ev, "photos");
    if (n > 0)
        fprintf(f, " — %lld 张照片已存档 photo(s) archived", n);
}

/* Why a job was taken back, in words, and the office's own words if given. */
static void put_revoke_reason(FILE *f, const cJSON *ev)
{
    const char *reason = str(ev, "reason");
    if (!reason)
        fputs("原因不明 no reason given", f);
    else if (strcmp(reason, "lease_expired") == 0)
        fputs("接单保留已到期 your claim's hold ran out (no progress in time)", f);
    else if (strcmp(reason, "cancelled") == 0)
        fputs("办公室已取消 cancelled by the office", f);
    else if (strcmp(reason, "escalated") == 0)
        fputs("办公室已上报 escalated by the office", f);
    else
        put(f, reason);
    if (str(ev, "note")) {
        fputs(" — 原因 reason: ", f);
        put(f, str(ev, "note"));
    }
}

static void text_error(FILE *f, const cJSON *ev)
{
    const char *code = str(ev, "code");
    const char *cmd = str(ev, "cmd");
    long long t = num(ev, "ticket");
    if (code && strcmp(code, "taken") == 0 && t > 0) {
        fprintf(f, "#%lld 已被他人接单 taken by someone else", t);
        return;
    }
    if (code && strcmp(code, "bad_input") == 0) {
        fputs("看不懂 Not understood: ", f);
        put(f, str(ev, "message"));
        return;
    }
    fputs("出错 Error", f);
    if (cmd) {
        fputs(" (", f);
        put(f, cmd);
        if (t > 0)
            fprintf(f, " #%lld", t);
        fputc(')', f);
    }
    fputs(": ", f);
    put(f, str(ev, "message"));
    if (code) {
        fputs(" [", f);
        put(f, code);
        fputc(']', f);
    }
}

/* One command a block, narrow enough for a phone:
 *   claim N  (c, 接单)
 *       接单 take job N ...
 *       例 e.g. 接单 42 */
static void text_help(FILE *f, const cJSON *ev)
{
    fputs("命令 Commands:", f);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(ev, "commands");
    for (const cJSON *c = cJSON_IsArray(list) ? list->child : NULL; c; c = c->next) {
        fputs("\n  ", f);
        put(f, str(c, "usage"));
        const cJSON *aliases = cJSON_GetObjectItemCaseSensitive(c, "aliases");
        const cJSON *a = cJSON_IsArray(aliases) ? aliases->child : NULL;
        for (bool first = true; a; a = a->next, first = false) {
            fputs(first ? "  (" : ", ", f);
            put(f, cJSON_IsString(a) ? a->valuestring : "");
            if (!a->next)
                fputc(')', f);
        }
        fputs("\n      ", f);
        put(f, str(c, "help"));
        if (str(c, "example")) {
            fputs("\n      例 e.g. ", f);
            put(f, str(c, "example"));
        }
    }
    const cJSON *notes = cJSON_GetObjectItemCaseSensitive(ev, "notes");
    for (const cJSON *n = cJSON_IsArray(notes) ? notes->child : NULL; n; n = n->next) {
        fputc('\n', f);
        put(f, cJSON_IsString(n) ? n->valuestring : "");
    }
}

static void text_event(FILE *f, const cJSON *ev)
{
    const char *name = str(ev, "event");
    long long t = num(ev, "ticket");
    if (!name)
        name = "?";
    if (strcmp(name, WK_EV_OFFER) == 0) {
        text_offer(f, ev);
    } else if (strcmp(name, WK_EV_TAKEN) == 0) {
        fprintf(f, "#%lld 已被他人接单 taken by someone else", t);
    } else if (strcmp(name, WK_EV_CLAIMED) == 0) {
        text_claimed(f, ev);
    } else if (strcmp(name, WK_EV_DONE) == 0) {
        fprintf(f, "已完成 Done #%lld — 谢谢 thank you!", t);
        put_photos(f, ev);
    } else if (strcmp(name, WK_EV_PROGRESS) == 0) {
        fprintf(f, "已记录进展 Progress noted #%lld", t);
        put_time(f, ev, "lease_until", " — 接单保留延至 claim held until ");
        put_photos(f, ev);
    } else if (strcmp(name, WK_EV_DECLINED) == 0) {
        fprintf(f, "已放弃 Declined #%lld — 不会再推送给你 it won't be offered to you again", t);
    } else if (strcmp(name, WK_EV_CANTFIX) == 0) {
        fprintf(f, "已退回 Handed back #%lld — 订单重新开放给其他志愿者 open again for others "
                   "(attempts %lld)",
                t, num(ev, "attempts"));
    } else if (strcmp(name, WK_EV_ESCALATED) == 0) {
        fprintf(f, "已上报 Escalated #%lld", t);
        if (str(ev, "department")) {
            fputs(" to ", f);
            put(f, str(ev, "department"));
        }
        fputs(" — 办公室会跟进 the office takes it from here", f);
    } else if (strcmp(name, WK_EV_REVOKED) == 0) {
        fprintf(f, "任务已收回 Job #%lld taken back: ", t);
        put_revoke_reason(f, ev);
    } else if (strcmp(name, WK_EV_LEASE_REMINDER) == 0) {
        long long left = num(ev, "seconds_left");
        fprintf(f, "提醒 Reminder #%lld: 接单保留还剩 %lld 分钟 your claim is held for %lld more "
                   "min",
                t, (left + 59) / 60, (left + 59) / 60);
        put_time(f, ev, "lease_until", " (至 until ");
        fprintf(f, ") — 还在修请输入 still on it? type: progress %lld", t);
    } else if (strcmp(name, WK_EV_JOBS) == 0) {
        const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(ev, "jobs");
        int n = cJSON_GetArraySize(jobs);
        if (n == 0) {
            fputs("我的订单 My jobs: 无 none", f);
        } else {
            fprintf(f, "我的订单 My jobs (%d):", n);
            put_list(f, jobs, false);
        }
    } else if (strcmp(name, WK_EV_OFFERS) == 0) {
        const cJSON *offers = cJSON_GetObjectItemCaseSensitive(ev, "offers");
        int n = cJSON_GetArraySize(offers);
        if (n == 0) {
            fputs("暂无新订单 No open offers right now", f);
        } else {
            fprintf(f, "新订单 Open offers (%d):", n);
            put_list(f, offers, true);
        }
    } else if (strcmp(name, WK_EV_CONNECTED) == 0) {
        const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(ev, "jobs");
        int n = cJSON_GetArraySize(jobs);
        fputs("已连接服务站 Connected as ", f);
        put(f, str(ev, "volunteer"));
        if (n == 0) {
            fputs(" — 等待新订单 waiting for jobs (type help 帮助)", f);
        } else {
            fprintf(f, " — 你手上有 %d 个订单 you hold %d job(s):", n, n);
            put_list(f, jobs, false);
        }
    } else if (strcmp(name, WK_EV_DISCONNECTED) == 0) {
        const char *ep = str(ev, "endpoint");
        if (flag(ev, "connected_before")) {
            fputs("与服务站的连接断开，正在重连 lost the station, reconnecting", f);
        } else if (flag(ev, "reached")) {
            fputs("服务站没有应答 the station at ", f);
            put(f, ep ? ep : "?");
            fputs(" does not answer; 正在重试 retrying", f);
        } else {
            fputs("无法连接服务站 ", f);
            put(f, ep ? ep : "");
            fputs(" / cannot reach the station at ", f);
            put(f, ep ? ep : "?");
            fputs("; 正在重试 retrying", f);
        }
    } else if (strcmp(name, WK_EV_ERROR) == 0) {
        text_error(f, ev);
    } else if (strcmp(name, WK_EV_HELP) == 0) {
        text_help(f, ev);
    } else if (t > 0) {
        /* A command added to the table without its own text yet. */
        put(f, name);
        fprintf(f, " #%lld OK", t);
    } else {
        put(f, name);
    }
}

char *wk_event_format(const cJSON *ev, bool json)
{
    if (json)
        return cJSON_PrintUnformatted(ev);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    text_event(f, ev);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
