/* json_arena.c - see json_arena.h. */
#include "json_arena.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* Each chunk starts with a poisoned header holding its size, which is also
 * the red zone after the chunk before it. */
#define ARENA_ASAN 1
#define HEADER 16
#else
#define ARENA_ASAN 0
#define HEADER 0
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

#define ALIGN 16 /* malloc's alignment on x86-64 and arm64 */

typedef struct {
    unsigned char *base; /* NULL: this thread has no arena */
    size_t cap;
    size_t used;  /* bytes handed out since the block was last empty */
    size_t live;  /* allocations not yet freed */
    bool parsing; /* inside bm_json_arena_parse: allocations come from here */
    bool closing; /* closed with allocations alive: release at the last free */
} arena_t;

static _Thread_local arena_t arena;
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static bool in_arena(const arena_t *a, const void *p)
{
    uintptr_t u = (uintptr_t)p, b = (uintptr_t)a->base;
    return a->base && u >= b && u < b + a->cap;
}

static void *arena_malloc(size_t n)
{
    arena_t *a = &arena;
    if (a->parsing && n <= a->cap) {
        size_t need = (HEADER + n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
        if (need <= a->cap - a->used) {
            unsigned char *p = a->base + a->used + HEADER;
            a->used += need;
            a->live++;
#if ARENA_ASAN
            ASAN_UNPOISON_MEMORY_REGION(p - HEADER, sizeof(size_t));
            *(size_t *)(void *)(p - HEADER) = n;
            ASAN_POISON_MEMORY_REGION(p - HEADER, sizeof(size_t));
#endif
            ASAN_UNPOISON_MEMORY_REGION(p, n);
            return p;
        }
    }
    return malloc(n);
}

static void arena_free(void *p)
{
    arena_t *a = &arena;
    if (!in_arena(a, p)) {
        free(p);
        return;
    }
#if ARENA_ASAN
    if (__asan_address_is_poisoned(p)) {
        fprintf(stderr, "json_arena: double free of %p\n", p);
        abort();
    }
    unsigned char *h = (unsigned char *)p - HEADER;
    ASAN_UNPOISON_MEMORY_REGION(h, sizeof(size_t));
    size_t n = *(size_t *)(void *)h;
    ASAN_POISON_MEMORY_REGION(h, sizeof(size_t));
    ASAN_POISON_MEMORY_REGION(p, n);
#endif
    if (--a->live > 0)
        return;
    /* Nothing taken from the block is alive: use it again from its start. */
    a->used = 0;
    ASAN_POISON_MEMORY_REGION(a->base, a->cap);
    if (a->closing) {
        ASAN_UNPOISON_MEMORY_REGION(a->base, a->cap);
        free(a->base);
        *a = (arena_t){0};
    }
}

static void install_hooks(void)
{
    cJSON_Hooks hooks = {.malloc_fn = arena_malloc, .free_fn = arena_free};
    cJSON_InitHooks(&hooks);
}

int bm_json_arena_open(size_t size)
{
    arena_t *a = &arena;
    if (a->base)
        return 0; /* open already, or closed and still in use (then malloc until released) */
    pthread_once(&hooks_once, install_hooks);
    if (size == 0)
        size = BM_DEFAULT_JSON_ARENA_BYTES;
    size = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    unsigned char *base = aligned_alloc(ALIGN, size);
    if (!base)
        return -1;
    ASAN_POISON_MEMORY_REGION(base, size);
    *a = (arena_t){.base = base, .cap = size};
    return 0;
}

void bm_json_arena_close(void)
{
    arena_t *a = &arena;
    if (!a->base || a->closing)
        return;
    if (a->live > 0) {
        a->closing = true;
        return;
    }
    ASAN_UNPOISON_MEMORY_REGION(a->base, a->cap);
    free(a->base);
    *a = (arena_t){0};
}

cJSON *bm_json_arena_parse(const char *s, size_t n, const char **end)
{
    arena_t *a = &arena;
    a->parsing = a->base && !a->closing;
    cJSON *body = cJSON_ParseWithLengthOpts(s, n, end, false);
    a->parsing = false;
    return body;
}

size_t bm_json_arena_used(void)
{
    return arena.used;
}
