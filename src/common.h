/* common: error reporting, exit codes and checked-call macros shared by every module.
 *
 * Errors travel as a ds_error filled by the function that failed and returned
 * to the caller, which decides how to report it; the commands (src/cmd_*.c)
 * print it and exit with its code (docs/design.md §0 "Errors"). Calls that
 * cannot fail in a correct program (MPI, small fixed allocations) go through
 * the CHECK macros and ds_die, which report file and line; a pack's memory
 * is checked and its failure returned (ds_error_nomem). */
#ifndef DS_COMMON_H
#define DS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The binary formats (checkpoints, the journal, the MPI messages,
 * safetensors) are written in the machine's byte order and defined as
 * little-endian (docs/engine.md "aarch64"): x86-64 and aarch64 Linux are
 * both. A big-endian build would write files no other machine reads right,
 * so it is refused here rather than discovered in a file. */
#ifdef __cplusplus
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "distsweep's file formats are little-endian: build on a little-endian CPU");
#else
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "distsweep's file formats are little-endian: build on a little-endian CPU");
#endif

#ifdef __cplusplus
extern "C" { /* kernels/ are compiled as CUDA C++ */
#endif

/* Process exit codes (docs/design.md §4). */
enum {
    DS_EXIT_OK = 0,          /* sweep complete / command succeeded */
    DS_EXIT_ERROR = 1,       /* any other error */
    DS_EXIT_USAGE = 2,       /* usage or sweep-file error; nothing written */
    DS_EXIT_INTERRUPTED = 3, /* interrupted, resumable */
    DS_EXIT_STORAGE = 4,     /* a write of the results failed (disk full, read-only, I/O
                                error); stopped with nothing finished lost: fix the storage
                                and run the same command again. Not a requeue: retrying on
                                a full disk helps nobody (slurm/sweep.sh) */
};

/* An error: an exit code class and a complete human-readable message.
 * code 0 means "no error".
 *
 * nomem: 1 when the error is a pack's memory that could not be allocated
 * (backend buffers of parameters, optimizer state, activations, gradients;
 * host buffers sized by the pack), set by ds_error_nomem only; code is then
 * DS_EXIT_ERROR. It is the one way to tell an out-of-memory pack failure
 * from any other failure (docs/engine.md "Out of memory"): a smaller pack
 * may fit, so the scheduler need not charge the runs an attempt. Not an exit
 * code of its own: a command that stops on it exits 1. */
typedef struct {
    int code;
    int nomem;
    char msg[2048];
} ds_error;

/* Sets err (if not NULL) to code and a printf-formatted message, nomem 0;
 * returns code so that callers can write `return ds_error_set(err,
 * DS_EXIT_USAGE, ...)`. */
int ds_error_set(ds_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same for a pack's allocation that failed: code DS_EXIT_ERROR, nomem 1.
 * The message names what could not be allocated and its size ("pack of 64
 * replicas: cannot allocate 3.20 GiB of activations (qkv) on the cpu
 * backend"). Returns DS_EXIT_ERROR. */
int ds_error_nomem(ds_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* bytes as messages say a size: "512 bytes", "3.0 KiB", "12.4 MiB", "3.20 GiB". */
void ds_fmt_bytes(double bytes, char *buf, size_t n);

/* A number for a table or CSV into buf (n bytes): prec fixed decimals, or
 * "nan", "inf", "-inf". Returns buf. */
const char *ds_fmt_fixed(char *buf, size_t n, double v, int prec);

/* Writes s as a JSON string literal to f (NULL as ""): '"' and '\\' escaped,
 * control characters as \u00XX. */
void ds_json_str(FILE *f, const char *s);

/* malloc, or NULL when n bytes cannot be allocated (n = 0: a valid pointer):
 * for a pack's host buffers, whose failure is reported (ds_error_nomem), not
 * fatal. Small fixed allocations use DS_MALLOC. */
void *ds_try_malloc(size_t n);

/* The system error errnum in lower case words ("no space left on device"),
 * as messages quote it mid-sentence. */
void ds_strerror_lc(int errnum, char *buf, size_t n);

/* Prints "distsweep: <msg>" to stderr and exits with code. */
void ds_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* Allocation that never returns NULL: out of host memory is fatal. */
void *ds_malloc(size_t n, const char *file, int line);
void *ds_calloc(size_t n, size_t size, const char *file, int line);
void *ds_realloc(void *p, size_t n, const char *file, int line);
#define DS_MALLOC(n) ds_malloc((n), __FILE__, __LINE__)
#define DS_CALLOC(n, s) ds_calloc((n), (s), __FILE__, __LINE__)
#define DS_REALLOC(p, n) ds_realloc((p), (n), __FILE__, __LINE__)

/* Invariant check that stays on in release builds. */
#define DS_ASSERT(cond)                                                                  \
    do {                                                                                 \
        if (!(cond)) ds_die(DS_EXIT_ERROR, "%s:%d: assertion failed: %s", __FILE__,      \
                            __LINE__, #cond);                                            \
    } while (0)

/* MPI calls: every error is reported with file and line. Communicators use
 * MPI_ERRORS_RETURN so that this macro, not MPI, decides what is fatal. */
#define DS_MPI_CHECK(call)                                                               \
    do {                                                                                 \
        int ds_mpi_rc_ = (call);                                                         \
        if (ds_mpi_rc_ != 0) ds_die(DS_EXIT_ERROR, "%s:%d: MPI error %d in %s", __FILE__,\
                                    __LINE__, ds_mpi_rc_, #call);                        \
    } while (0)

/* 64-bit FNV-1a, for provenance hashes and checksums of small records. */
uint64_t ds_fnv1a64(const void *data, size_t n, uint64_t h);
#define DS_FNV1A64_INIT 0xcbf29ce484222325ULL

/* Monotonic wall clock in seconds. */
double ds_now(void);

/* The one way distsweep replaces a file durably (checkpoints, models, packs):
 * the new content was written through f to tmp; this flushes and fsyncs f,
 * closes it, renames tmp over path and fsyncs path's directory, so that after
 * a crash path holds its old content or all of the new, never a part.
 * write_errno: nonzero when an earlier write to f already failed with it;
 * then f is only closed. f is closed whatever happens, and on failure tmp is
 * removed, *what names the step that failed ("cannot write", "cannot rename
 * the new file over it", "cannot fsync the directory") and *err_no holds its
 * errno (never 0). Returns 0 or -1. */
int ds_file_replace(FILE *f, const char *tmp, const char *path, int write_errno,
                    const char **what, int *err_no);

/* Environment variables are all named DISTSWEEP_*. Returns the value of
 * name, else that of old_name (its former DS_* name, kept for users' scripts;
 * NULL: none) with a one-line deprecation note on stderr, else NULL. */
const char *ds_env(const char *name, const char *old_name);

#ifdef __cplusplus
}
#endif
#endif
