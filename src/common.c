/* common: see common.h. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int ds_error_set(ds_error *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
        err->nomem = 0;
    }
    return code;
}

int ds_error_nomem(ds_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = DS_EXIT_ERROR;
        err->nomem = 1;
    }
    return DS_EXIT_ERROR;
}

const char *ds_fmt_fixed(char *buf, size_t n, double v, int prec) {
    if (isnan(v)) snprintf(buf, n, "nan");
    else if (isinf(v)) snprintf(buf, n, v > 0 ? "inf" : "-inf");
    else snprintf(buf, n, "%.*f", prec, v);
    return buf;
}

void ds_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

void ds_fmt_bytes(double b, char *buf, size_t n) {
    if (b < 1024) snprintf(buf, n, "%.0f bytes", b);
    else if (b < 1024.0 * 1024) snprintf(buf, n, "%.1f KiB", b / 1024);
    else if (b < 1024.0 * 1024 * 1024) snprintf(buf, n, "%.1f MiB", b / (1024.0 * 1024));
    else snprintf(buf, n, "%.2f GiB", b / (1024.0 * 1024 * 1024));
}

void *ds_try_malloc(size_t n) { return malloc(n ? n : 1); }

void ds_strerror_lc(int errnum, char *buf, size_t n) {
    if (n == 0) return;
    snprintf(buf, n, "%s", strerror(errnum));
    /* "No space left on device" -> "no space left on device"; keeps "I/O" */
    if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z') && buf[1] != '/')
        buf[0] = (char)(buf[0] - 'A' + 'a');
}

void ds_die(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("distsweep: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

void *ds_malloc(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) ds_die(DS_EXIT_ERROR, "%s:%d: out of memory allocating %zu bytes", file, line, n);
    return p;
}

void *ds_calloc(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) ds_die(DS_EXIT_ERROR, "%s:%d: out of memory allocating %zu x %zu bytes", file, line, n, size);
    return p;
}

void *ds_realloc(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) ds_die(DS_EXIT_ERROR, "%s:%d: out of memory reallocating %zu bytes", file, line, n);
    return q;
}

uint64_t ds_fnv1a64(const void *data, size_t n, uint64_t h) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

double ds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *ds_env(const char *name, const char *old_name) {
    const char *v = getenv(name);
    if (v || !old_name || !(v = getenv(old_name))) return v;
    fprintf(stderr, "distsweep: note: %s is deprecated, set %s instead\n", old_name, name);
    return v;
}

int ds_file_replace(FILE *f, const char *tmp, const char *path, int write_errno,
                    const char **what, int *err_no) {
    int e = write_errno;
    *what = "cannot write";
    if (!e && (fflush(f) != 0 || fsync(fileno(f)) != 0)) e = errno ? errno : EIO;
    if (fclose(f) != 0 && !e) e = errno ? errno : EIO;
    if (!e && rename(tmp, path) != 0) {
        e = errno ? errno : EIO;
        *what = "cannot rename the new file over it";
    }
    if (e) {
        remove(tmp);
        *err_no = e;
        return -1;
    }
    /* the rename itself durable: fsync the directory that holds path */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
    else strcpy(dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        *err_no = errno ? errno : EIO;
        *what = "cannot fsync the directory";
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return 0;
}
