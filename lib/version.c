/* version.c - see version.h. */
#include "version.h"
#include "bm_version.h"

#include <string.h>

const char *bm_version(void)
{
    return BM_VERSION;
}

int bm_schema_version(void)
{
    return BM_SCHEMA_VERSION;
}

bool bm_version_asked(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "--version") == 0)
            return true;
    }
    return false;
}

void bm_version_print(FILE *out, const char *prog)
{
    fprintf(out, "%s %s (数据库结构版本 schema %d)\n", prog, BM_VERSION, BM_SCHEMA_VERSION);
}
