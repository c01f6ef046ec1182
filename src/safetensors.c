/* safetensors: the byte format of safetensors files (see safetensors.h). */
#define _POSIX_C_SOURCE 200809L
#include "safetensors.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

/* ---- writing ----------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_put(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        DS_ASSERT(k >= 0);
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        b->cap = 2 * (b->cap + (size_t)k) + 256;
        b->p = DS_REALLOC(b->p, b->cap);
    }
}

/* A JSON string literal of s (quotes, backslashes and control bytes escaped). */
static void sb_json_str(sbuf *b, const char *s) {
    sb_put(b, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') sb_put(b, "\\%c", ch);
        else if (ch == '\n') sb_put(b, "\\n");
        else if (ch < 0x20) sb_put(b, "\\u%04x", ch);
        else sb_put(b, "%c", ch);
    }
    sb_put(b, "\"");
}

static int write_error(ds_error *err, const char *path, const char *what, int err_no) {
    char cause[256];
    ds_strerror_lc(err_no ? err_no : EIO, cause, sizeof cause);
    return ds_error_set(err, DS_EXIT_STORAGE, "%s: %s: %s", path, what, cause);
}

static size_t tensor_elems(const ds_st_tensor *t) {
    size_t e = 1;
    for (int d = 0; d < t->ndim; d++) e *= (size_t)t->shape[d];
    return e;
}

int ds_st_write(const char *path, const ds_st_tensor *t, int n, const char *const *meta,
                int n_meta, ds_error *err) {
    int rc = DS_EXIT_STORAGE;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    sbuf h = {0};
    FILE *f = NULL;
    int bad = 0, err_no = 0;
    sb_put(&h, "{");
    if (n_meta > 0) {
        sb_put(&h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) sb_put(&h, ",");
            sb_json_str(&h, meta[2 * i]);
            sb_put(&h, ":");
            sb_json_str(&h, meta[2 * i + 1]);
        }
        sb_put(&h, "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        DS_ASSERT(t[i].ndim >= 0 && t[i].ndim <= DS_ST_MAX_DIMS);
        sb_put(&h, "%s", (n_meta > 0 || i) ? "," : "");
        sb_json_str(&h, t[i].name);
        sb_put(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) sb_put(&h, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        uint64_t bytes = 4 * (uint64_t)tensor_elems(&t[i]);
        sb_put(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
               (unsigned long long)(off + bytes));
        off += bytes;
    }
    sb_put(&h, "}");
    while (h.n % 8) sb_put(&h, " ");
    uint64_t hlen = h.n;
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(hlen >> (8 * i));

    f = fopen(tmp, "wb");
    if (!f) {
        rc = write_error(err, tmp, "cannot create", errno);
        goto done;
    }
    /* the format is little-endian; so are the floats of every machine distsweep builds for */
    if (fwrite(le, 1, 8, f) != 8 || fwrite(h.p, 1, h.n, f) != h.n) bad = 1, err_no = errno;
    for (int i = 0; i < n && !bad; i++) {
        size_t e = tensor_elems(&t[i]);
        if (e && fwrite(t[i].data, sizeof(float), e, f) != e) bad = 1, err_no = errno;
    }
    const char *what;
    FILE *written = f;
    f = NULL; /* ds_file_replace closes it */
    if (ds_file_replace(written, tmp, path, bad ? (err_no ? err_no : EIO) : 0, &what, &err_no) != 0) {
        rc = write_error(err, strcmp(what, "cannot write") ? path : tmp, what, err_no);
        goto done;
    }
    rc = 0;
done:
    if (f) {
        fclose(f);
        remove(tmp);
    }
    free(h.p);
    return rc;
}

/* ---- reading: the JSON subset of a safetensors header ---------------------------
 * Objects, arrays, strings (escapes \" \\ \/ \n \t \uXXXX below 0x80), non-negative
 * integers. That is all a header holds; anything else is refused. */

typedef struct {
    const char *p, *end;
    int bad;
} jp;

static void ws(jp *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r')) j->p++;
}

static int lit(jp *j, char ch) {
    ws(j);
    if (j->p < j->end && *j->p == ch) {
        j->p++;
        return 1;
    }
    return 0;
}

static void expect(jp *j, char ch) {
    if (!lit(j, ch)) j->bad = 1;
}

/* Parses a string into out (cap bytes, truncated but NUL-terminated); out may be NULL. */
static void jstr(jp *j, char *out, size_t cap) {
    size_t k = 0;
    /* out is "" even when no string is there: ds_st_read compares a field
     * name with strcmp before it checks j->bad (a header with `{"w":{7:...`
     * read field[] uninitialised; found by valgrind) */
    if (out && cap) out[0] = 0;
    if (!lit(j, '"')) {
        j->bad = 1;
        return;
    }
    while (j->p < j->end && *j->p != '"') {
        char ch = *j->p++;
        if (ch == '\\') {
            if (j->p >= j->end) break;
            char e = *j->p++;
            if (e == 'n') ch = '\n';
            else if (e == 't') ch = '\t';
            else if (e == '"' || e == '\\' || e == '/') ch = e;
            else if (e == 'u' && j->end - j->p >= 4) {
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    char x = *j->p++;
                    v = v * 16 + (unsigned)(x >= 'a' ? x - 'a' + 10 : x >= 'A' ? x - 'A' + 10 : x - '0');
                }
                ch = v < 0x80 ? (char)v : '?';
            } else {
                j->bad = 1;
                return;
            }
        }
        if (out && k + 1 < cap) out[k++] = ch;
    }
    if (!lit(j, '"')) j->bad = 1;
    if (out && cap) out[k] = 0;
}

static uint64_t jint(jp *j) {
    ws(j);
    uint64_t v = 0;
    int any = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') v = v * 10 + (uint64_t)(*j->p++ - '0'), any = 1;
    if (!any) j->bad = 1;
    return v;
}

/* A string value's length (to size the copy), without consuming it. */
static size_t jstr_len(const jp *j) {
    jp k = *j;
    ws(&k);
    const char *start = k.p;
    jstr(&k, NULL, 0);
    return (size_t)(k.p - start) + 1;
}

void ds_st_free(ds_st_file *f) {
    for (int i = 0; i < f->n_meta; i++) free(f->meta_val[i]);
    free(f->meta_val);
    free(f->meta_key);
    free(f->t);
    free(f->data);
    memset(f, 0, sizeof *f);
}

int ds_st_read(const char *path, int header_only, ds_st_file *f, ds_error *err) {
    memset(f, 0, sizeof *f);
    int rc = DS_EXIT_ERROR;
    char *hdr = NULL;
    FILE *fp = fopen(path, "rb");
    struct stat sb;
    if (!fp || fstat(fileno(fp), &sb) != 0) {
        ds_error_set(err, DS_EXIT_ERROR, "%s: cannot open: %s", path, strerror(errno));
        goto done;
    }
    uint8_t le[8];
    uint64_t hlen = 0;
    if (fread(le, 1, 8, fp) != 8) {
        ds_error_set(err, DS_EXIT_ERROR, "%s: not a safetensors file (shorter than 8 bytes)", path);
        goto done;
    }
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)le[i] << (8 * i);
    if (hlen < 2 || hlen > 100000000 || 8 + hlen > (uint64_t)sb.st_size) {
        ds_error_set(err, DS_EXIT_ERROR, "%s: not a safetensors file (header length %llu, file "
                     "%lld bytes)", path, (unsigned long long)hlen, (long long)sb.st_size);
        goto done;
    }
    hdr = DS_MALLOC(hlen);
    if (fread(hdr, 1, hlen, fp) != hlen) {
        ds_error_set(err, DS_EXIT_ERROR, "%s: truncated header", path);
        goto done;
    }
    jp j = {hdr, hdr + hlen, 0};
    int cap_t = 0, cap_m = 0;
    uint64_t data_end = 0;
    expect(&j, '{');
    if (!lit(&j, '}')) {
        do {
            char key[DS_ST_NAME_MAX];
            jstr(&j, key, sizeof key);
            expect(&j, ':');
            expect(&j, '{');
            if (j.bad) break;
            if (!strcmp(key, "__metadata__")) {
                if (!lit(&j, '}')) {
                    do {
                        if (f->n_meta == cap_m) {
                            cap_m = cap_m ? 2 * cap_m : 16;
                            f->meta_key = DS_REALLOC(f->meta_key, sizeof *f->meta_key * (size_t)cap_m);
                            f->meta_val = DS_REALLOC(f->meta_val, sizeof *f->meta_val * (size_t)cap_m);
                        }
                        jstr(&j, f->meta_key[f->n_meta], sizeof f->meta_key[0]);
                        expect(&j, ':');
                        size_t L = jstr_len(&j);
                        f->meta_val[f->n_meta] = DS_MALLOC(L);
                        jstr(&j, f->meta_val[f->n_meta], L);
                        f->n_meta++;
                    } while (!j.bad && lit(&j, ','));
                    expect(&j, '}');
                }
                continue;
            }
            if (f->n == cap_t) {
                cap_t = cap_t ? 2 * cap_t : 64;
                f->t = DS_REALLOC(f->t, sizeof *f->t * (size_t)cap_t);
            }
            memset(&f->t[f->n], 0, sizeof f->t[0]);
            snprintf(f->t[f->n].name, sizeof f->t[0].name, "%s", key);
            int seen = 0;
            do {
                char field[32];
                jstr(&j, field, sizeof field);
                expect(&j, ':');
                if (!strcmp(field, "dtype")) {
                    jstr(&j, f->t[f->n].dtype, sizeof f->t[0].dtype);
                    seen |= 1;
                } else if (!strcmp(field, "shape")) {
                    expect(&j, '[');
                    if (!lit(&j, ']')) {
                        do {
                            uint64_t v = jint(&j);
                            if (f->t[f->n].ndim == DS_ST_MAX_DIMS) j.bad = 1;
                            else f->t[f->n].shape[f->t[f->n].ndim++] = (int64_t)v;
                        } while (!j.bad && lit(&j, ','));
                        expect(&j, ']');
                    }
                    seen |= 2;
                } else if (!strcmp(field, "data_offsets")) {
                    expect(&j, '[');
                    f->t[f->n].begin = jint(&j);
                    expect(&j, ',');
                    f->t[f->n].end = jint(&j);
                    expect(&j, ']');
                    seen |= 4;
                } else {
                    j.bad = 1;
                }
            } while (!j.bad && lit(&j, ','));
            expect(&j, '}');
            if (seen != 7) j.bad = 1;
            if (!j.bad) {
                uint64_t e = 1;
                for (int d = 0; d < f->t[f->n].ndim; d++) e *= (uint64_t)f->t[f->n].shape[d];
                int esz = ds_st_dtype_size(f->t[f->n].dtype);
                if (!esz) {
                    ds_error_set(err, DS_EXIT_ERROR, "%s: tensor %s: unknown dtype '%s'", path, key,
                                 f->t[f->n].dtype);
                    goto done;
                }
                if (f->t[f->n].end < f->t[f->n].begin ||
                    f->t[f->n].end - f->t[f->n].begin != e * (uint64_t)esz) {
                    ds_error_set(err, DS_EXIT_ERROR, "%s: tensor %s: dtype %s, shape and offsets "
                                 "disagree", path, key, f->t[f->n].dtype);
                    goto done;
                }
                if (f->t[f->n].end > data_end) data_end = f->t[f->n].end;
                f->n++;
            }
        } while (!j.bad && lit(&j, ','));
        expect(&j, '}');
    }
    ws(&j);
    if (j.bad || j.p != j.end) {
        ds_error_set(err, DS_EXIT_ERROR, "%s: the safetensors header is not valid JSON of the "
                     "format (near byte %ld)", path, (long)(8 + (j.p - hdr)));
        goto done;
    }
    f->data_bytes = (uint64_t)sb.st_size - 8 - hlen;
    if (f->data_bytes != data_end) {
        ds_error_set(err, DS_EXIT_ERROR, "%s: %llu data bytes, the header describes %llu "
                     "(truncated or corrupt)", path, (unsigned long long)f->data_bytes,
                     (unsigned long long)data_end);
        goto done;
    }
    if (!header_only) {
        f->data = DS_MALLOC(f->data_bytes ? f->data_bytes : 1);
        if (fread(f->data, 1, f->data_bytes, fp) != f->data_bytes) {
            ds_error_set(err, DS_EXIT_ERROR, "%s: cannot read the tensor data: %s", path,
                         ferror(fp) ? strerror(errno) : "truncated");
            goto done;
        }
    }
    rc = 0;
done:
    if (fp) fclose(fp);
    free(hdr);
    if (rc) ds_st_free(f);
    return rc;
}

int ds_st_dtype_size(const char *dtype) {
    static const struct {
        const char *name;
        int size;
    } known[] = {{"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
                 {"I16", 2}, {"U16", 2}, {"F16", 2}, {"BF16", 2}, {"I32", 4}, {"U32", 4},
                 {"F32", 4}, {"I64", 8}, {"U64", 8}, {"F64", 8}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(known[i].name, dtype)) return known[i].size;
    return 0;
}

float ds_st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* Inf, NaN (payload kept) */
    } else if (exp) {
        bits = sign | ((exp + 112) << 23) | (man << 13); /* normal: rebias 15 -> 127 */
    } else if (!man) {
        bits = sign; /* +-0 */
    } else {
        /* subnormal man * 2^-24: normalise the mantissa */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float ds_st_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int ds_st_to_f32(const ds_st_file *f, int i, float *out) {
    DS_ASSERT(f->data && i >= 0 && i < f->n);
    const char *dt = f->t[i].dtype;
    const uint8_t *p = f->data + f->t[i].begin;
    uint64_t bytes = f->t[i].end - f->t[i].begin;
    if (!strcmp(dt, "F32")) {
        memcpy(out, p, bytes); /* little-endian, as every machine distsweep builds for */
        return 0;
    }
    int bf = !strcmp(dt, "BF16");
    if (!bf && strcmp(dt, "F16")) return -1;
    for (uint64_t k = 0; k < bytes / 2; k++) {
        uint16_t v = (uint16_t)(p[2 * k] | (p[2 * k + 1] << 8));
        out[k] = bf ? ds_st_bf16_to_f32(v) : ds_st_f16_to_f32(v);
    }
    return 0;
}

int ds_st_find(const ds_st_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return i;
    return -1;
}

const char *ds_st_meta(const ds_st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_key[i], key)) return f->meta_val[i];
    return NULL;
}
