/* messages: the scheduler's MPI messages (docs/design.md §7), one codec per
 * message, encoder and decoder side by side, so that the bytes rank 0 and a
 * worker exchange are written and read in one place.
 *
 * Every message is sent and received as MPI_BYTE on the communicator of
 * ds_sched_opts, under its tag below, and starts with a two-byte header:
 *   uint8 version (DS_MSG_VERSION) | uint8 kind (the message's tag, 101..108)
 * The version byte lets a job whose ranks run different builds fail with a
 * message that says so instead of misreading bytes; the kind byte catches a
 * payload sent under the wrong tag. After the header, fields follow in the
 * order listed, packed (no padding), in the machine's native byte order
 * (little-endian on every platform distsweep runs on; all ranks of a job
 * share it, as for the RESULT payload of src/schema.h):
 *
 *   tag       direction      payload after the header
 *   REQUEST   worker -> 0    none: wants work (also marks the end of its previous pack)
 *   ASSIGN    0 -> worker    int32 scale, R, pack_id | int64 seeds[R]
 *   GASSIGN   0 -> members   int32 scale, R, pack_id, k | int32 ranks[k] | int64 seeds[R]:
 *                            the pack is trained by a data-parallel group of the k
 *                            ranks, ascending, ranks[0] leads (§8)
 *   PROGRESS  worker -> 0    int64 step | float32 mean loss  (at most every 2 s)
 *   RESULT    worker -> 0    one run: the record payload of src/schema.h (ds_record_encode),
 *                            the bytes the journal stores
 *   FAILED    worker -> 0    int32 kind (DS_MSG_FAIL_*) | uint32 len | char text[len]
 *                            (no NUL; len < DS_MSG_TEXT_MAX)
 *   STOP      0 -> worker    none: no more work, or stop now (checkpoint and leave)
 *   STATS     worker -> 0    float64 busy_s, idle_s  (at the end; benchmarks)
 *
 * Encoders never fail on a well-formed struct (DS_ASSERT on what the
 * scheduler guarantees). Decoders refuse, with DS_EXIT_ERROR, a message that
 * is truncated or too long, of another version or kind, or whose counts are
 * out of range or disagree with its length; err->msg is then a noun phrase
 * naming the message ("an ASSIGN of message version 2; ..."), for the
 * receiver to prefix with the sender ("rank 3 sent " ...). A decoder that
 * fails leaves nothing to free.
 */
#ifndef DS_MESSAGES_H
#define DS_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "schema.h"

/* The message format this build speaks; change it with any layout above. */
#define DS_MSG_VERSION 1
#define DS_MSG_HEADER 2 /* bytes: version, kind */

/* MPI tags; each is also its message's kind byte. */
enum {
    DS_MSG_REQUEST = 101,
    DS_MSG_ASSIGN,
    DS_MSG_PROGRESS,
    DS_MSG_RESULT,
    DS_MSG_FAILED,
    DS_MSG_STOP,
    DS_MSG_STATS,
    DS_MSG_GASSIGN,
};

/* Bounds a decoder checks: R and k are at most what a sweep file allows
 * (run.pack, --pack and ranks_per_job: src/sweep.c, src/cmd_run.c). */
#define DS_MSG_MAX_R (1 << 20)
#define DS_MSG_MAX_K (1 << 20)
#define DS_MSG_TEXT_MAX 1024 /* FAILED text, with its NUL in the struct */

/* FAILED kinds: a job error counts against the runs' max_attempts; a stop
 * signal and a storage failure (a checkpoint that cannot be written) do not;
 * an out-of-memory failure (the pack's memory could not be allocated:
 * ds_error.nomem, docs/engine.md "Out of memory") splits a pack of several
 * seeds in halves without charging them, and counts as an error for one seed. */
enum { DS_MSG_FAIL_ERROR = 0, DS_MSG_FAIL_INTERRUPTED = 1, DS_MSG_FAIL_STORAGE = 2,
       DS_MSG_FAIL_NOMEM = 3, DS_MSG_N_FAIL };

/* The name of message kind `kind` ("ASSIGN"), or "unknown" for another value. */
const char *ds_msg_name(int kind);

/* ---- REQUEST and STOP: the header alone ----------------------------------- */

/* Each encoder writes its message into buf when cap is large enough and
 * returns its size in bytes either way (as snprintf does: call it with cap 0
 * to size a buffer). */
size_t ds_msg_request_encode(unsigned char *buf, size_t cap);
/* Each decoder checks n bytes b as its message: returns 0 or DS_EXIT_ERROR
 * with err set (see the top). */
int ds_msg_request_decode(const unsigned char *b, size_t n, ds_error *err);

size_t ds_msg_stop_encode(unsigned char *buf, size_t cap);
int ds_msg_stop_decode(const unsigned char *b, size_t n, ds_error *err);

/* ---- ASSIGN and GASSIGN: a pack to train ---------------------------------- */

/* One struct for both: ASSIGN is GASSIGN without the group (k = 1, ranks
 * NULL). A decoded message owns its arrays: free them with ds_msg_assign_free. */
typedef struct {
    int32_t scale;   /* row of the sweep's scales, >= 0 */
    int32_t R;       /* seeds, 1..DS_MSG_MAX_R */
    int32_t pack_id; /* rank 0's pack index, >= 0 (a group's communicator tag) */
    int32_t k;       /* group size: 1 for ASSIGN, 2..DS_MSG_MAX_K for GASSIGN */
    int32_t *ranks;  /* [k] ascending, each >= 1 (never rank 0); NULL for ASSIGN */
    int64_t *seeds;  /* [R] */
} ds_msg_assign;

/* ASSIGN: a->k must be 1. Returns the size (see REQUEST). */
size_t ds_msg_assign_encode(const ds_msg_assign *a, unsigned char *buf, size_t cap);
/* Decodes an ASSIGN into *a (k = 1, ranks NULL, seeds allocated). Returns 0
 * or DS_EXIT_ERROR: truncated or too long, another version or kind, R
 * outside 1..DS_MSG_MAX_R, scale or pack_id negative. */
int ds_msg_assign_decode(const unsigned char *b, size_t n, ds_msg_assign *a, ds_error *err);

/* GASSIGN: a->k must be 2..DS_MSG_MAX_K with a->ranks as stated. */
size_t ds_msg_gassign_encode(const ds_msg_assign *a, unsigned char *buf, size_t cap);
/* Decodes a GASSIGN into *a (ranks and seeds allocated). Refuses what the
 * ASSIGN decoder refuses, and k outside 2..DS_MSG_MAX_K, ranks below 1 or
 * not ascending. */
int ds_msg_gassign_decode(const unsigned char *b, size_t n, ds_msg_assign *a, ds_error *err);

/* Frees a decoded message's arrays (safe on a zeroed struct). */
void ds_msg_assign_free(ds_msg_assign *a);

/* ---- PROGRESS ---------------------------------------------------------------- */

typedef struct {
    int64_t step;   /* the training step a worker's pack reached */
    float loss;     /* the mean training loss of its replicas (NaN: none) */
} ds_msg_progress;

size_t ds_msg_progress_encode(const ds_msg_progress *m, unsigned char *buf, size_t cap);
int ds_msg_progress_decode(const unsigned char *b, size_t n, ds_msg_progress *m, ds_error *err);

/* ---- RESULT: one run, as src/schema.h encodes it ------------------------- */

/* Encodes rec after the header (ds_record_encode). Returns the size. */
size_t ds_msg_result_encode(const ds_record *rec, unsigned char *buf, size_t cap);
/* Decodes a RESULT into *rec (rec->r.curve allocated: ds_record_free).
 * Refuses a bad header and a payload ds_record_decode refuses. */
int ds_msg_result_decode(const unsigned char *b, size_t n, ds_record *rec, ds_error *err);

/* ---- FAILED ----------------------------------------------------------------- */

typedef struct {
    int32_t kind;                /* DS_MSG_FAIL_* */
    char text[DS_MSG_TEXT_MAX];  /* NUL-terminated: the error, or why it stopped */
} ds_msg_failed;

/* Sets m to kind and text (truncated to DS_MSG_TEXT_MAX - 1 bytes). */
void ds_msg_failed_set(ds_msg_failed *m, int kind, const char *text);
size_t ds_msg_failed_encode(const ds_msg_failed *m, unsigned char *buf, size_t cap);
/* Refuses a kind outside DS_MSG_FAIL_*, len >= DS_MSG_TEXT_MAX, and a len
 * that disagrees with n. */
int ds_msg_failed_decode(const unsigned char *b, size_t n, ds_msg_failed *m, ds_error *err);

/* ---- STATS ------------------------------------------------------------------- */

typedef struct {
    double busy_s; /* a worker's time training */
    double idle_s; /* its time waiting for work while work remained */
} ds_msg_stats;

size_t ds_msg_stats_encode(const ds_msg_stats *m, unsigned char *buf, size_t cap);
int ds_msg_stats_decode(const unsigned char *b, size_t n, ds_msg_stats *m, ds_error *err);

#endif
