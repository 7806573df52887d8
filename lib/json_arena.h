/* json_arena.h - a bump allocator for the JSON bodies the broker parses.
 *
 * Parsing a request body with cJSON costs one malloc per value and per
 * string, and deleting it as many frees: about as much as the parse itself.
 * A thread that opens an arena gets the nodes of every body it parses
 * (bm_json_arena_parse) from one block instead: an allocation moves a
 * pointer, a free only counts down, and the block is used again from its
 * start when everything taken from it has been freed. Memory is thus reused
 * only when nothing allocated from it is alive, as with malloc: a body may be
 * kept, detached from or added to like any other cJSON tree, and is freed
 * with cJSON_Delete as before. Whatever does not fit in the block, and every
 * allocation outside bm_json_arena_parse or on a thread without an arena,
 * goes to malloc/free.
 *
 * Rules: a body parsed by a thread with an arena is freed by that thread, and
 * nothing frees cJSON's memory with free() instead of cJSON_Delete/cJSON_free.
 * Under AddressSanitizer the block's unused and freed parts are poisoned, so
 * a use after the last free is caught. */
#ifndef BM_JSON_ARENA_H
#define BM_JSON_ARENA_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Bytes of a thread's arena: a 64 KiB request body parses into far less;
 * a body that needs more gets the rest from malloc. */
#define BM_DEFAULT_JSON_ARENA_BYTES (256 * 1024)

/* Gives the calling thread an arena of size bytes (0: the default), and
 * installs the arena-aware allocator into cJSON for the process (once; it
 * behaves as malloc/free for everything else). Returns 0, or -1 if out of
 * memory (the thread then parses with malloc, as without an arena). */
int bm_json_arena_open(size_t size);
/* Ends the calling thread's arena; its block is released now, or at the
 * last free of what still lives in it. No-op without an arena. */
void bm_json_arena_close(void);
/* cJSON_ParseWithLengthOpts(s, n, end, false) with the nodes taken from the
 * calling thread's arena if it has one. The caller owns the result
 * (cJSON_Delete). */
cJSON *bm_json_arena_parse(const char *s, size_t n, const char **end);
/* Bytes of the calling thread's arena handed out since it was last empty
 * (0 without an arena): for tests and statistics. */
size_t bm_json_arena_used(void);

#endif
