/* lifecycle.c - see lifecycle.h. */
#include "lifecycle.h"

#include <stddef.h>
#include <string.h>

static const struct {
    bm_action_t act;
    const char *from, *to;
} transitions[] = {
    {BM_ACT_CLAIM, "open", "claimed"},
    {BM_ACT_PROGRESS, "claimed", "claimed"},
    {BM_ACT_DONE, "claimed", "done"},
    {BM_ACT_CANTFIX, "claimed", "open"},
    {BM_ACT_LEASE_EXPIRE, "claimed", "open"},
    {BM_ACT_ESCALATE, "open", "escalated"},
    {BM_ACT_ESCALATE, "claimed", "escalated"},
    {BM_ACT_RESOLVE, "escalated", "resolved"},
    {BM_ACT_CANCEL, "open", "cancelled"},
    {BM_ACT_CANCEL, "claimed", "cancelled"},
    {BM_ACT_REOPEN, "done", "open"},
};

static const struct {
    const char *name, *event, *notice;
} actions[BM_ACT_COUNT] = {
    [BM_ACT_CLAIM] = {"claim", "claimed", "request.claimed"},
    [BM_ACT_PROGRESS] = {"progress", "progress", "request.progress"},
    [BM_ACT_DONE] = {"done", "completed", "request.completed"},
    [BM_ACT_CANTFIX] = {"cantfix", "failed", "request.failed"},
    [BM_ACT_LEASE_EXPIRE] = {"lease_expire", "lease_expired", NULL},
    [BM_ACT_ESCALATE] = {"escalate", "escalated", "request.escalated"},
    [BM_ACT_RESOLVE] = {"resolve", "resolved", "request.resolved"},
    [BM_ACT_CANCEL] = {"cancel", "cancelled", "request.cancelled"},
    [BM_ACT_REOPEN] = {"reopen", "reopened", "request.reopened"},
};

const char *bm_lifecycle_next(const char *from, bm_action_t act)
{
    if (!from || (int)act < 0 || act >= BM_ACT_COUNT)
        return NULL;
    for (size_t i = 0; i < sizeof transitions / sizeof transitions[0]; i++) {
        if (transitions[i].act == act && strcmp(transitions[i].from, from) == 0)
            return transitions[i].to;
    }
    return NULL;
}

const char *bm_action_name(bm_action_t act)
{
    return (int)act >= 0 && act < BM_ACT_COUNT ? actions[act].name : "?";
}

const char *bm_action_event(bm_action_t act)
{
    return (int)act >= 0 && act < BM_ACT_COUNT ? actions[act].event : "?";
}

const char *bm_action_notice(bm_action_t act)
{
    return (int)act >= 0 && act < BM_ACT_COUNT ? actions[act].notice : NULL;
}

bool bm_status_final(const char *status)
{
    return strcmp(status, "resolved") == 0 || strcmp(status, "cancelled") == 0;
}
