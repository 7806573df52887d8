/* exitcodes.h - the exit codes of every bianmin program, one table
 * (documented in docs/cli.md). Scripts and service managers read these;
 * a number never changes meaning. */
#ifndef BM_EXITCODES_H
#define BM_EXITCODES_H

#define BM_EXIT_OK          0 /* success */
#define BM_EXIT_USAGE       1 /* bad command line: unknown option, bad or missing value */
#define BM_EXIT_REFUSED     2 /* the broker (or the data) refused: an error reply with a code */
#define BM_EXIT_UNREACHABLE 3 /* the broker is unreachable or did not answer in time */
#define BM_EXIT_CONFIG      4 /* the config file is missing, unreadable or invalid */
#define BM_EXIT_IO          5 /* a local file or the database could not be read or written */
#define BM_EXIT_INTERNAL    6 /* out of memory or another fault of the program itself */

#endif
