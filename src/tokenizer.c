/* tokenizer: tokenizer.json's vocabulary, decoded (see tokenizer.h).
 *
 * A small JSON scanner: finds the "vocab" object inside the top-level
 * "model" object and reads its "piece": id pairs, and the "added_tokens"
 * list's "id"/"content" pairs; everything else in the file is skipped. */
#define _POSIX_C_SOURCE 200809L
#include "tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ds_tokenizer {
    int n;          /* ids 0..n-1 */
    char **piece;   /* decoded bytes, or NULL */
    int *len;
};

typedef struct {
    const char *p, *end;
    int bad;
} scan;

static void ws(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\t' || *s->p == '\r')) s->p++;
}

static void put_utf8(char *o, int *k, uint32_t c) {
    if (c < 0x80) o[(*k)++] = (char)c;
    else if (c < 0x800) o[(*k)++] = (char)(0xC0 | c >> 6), o[(*k)++] = (char)(0x80 | (c & 63));
    else if (c < 0x10000)
        o[(*k)++] = (char)(0xE0 | c >> 12), o[(*k)++] = (char)(0x80 | ((c >> 6) & 63)),
        o[(*k)++] = (char)(0x80 | (c & 63));
    else
        o[(*k)++] = (char)(0xF0 | c >> 18), o[(*k)++] = (char)(0x80 | ((c >> 12) & 63)),
        o[(*k)++] = (char)(0x80 | ((c >> 6) & 63)), o[(*k)++] = (char)(0x80 | (c & 63));
}

/* A JSON string at s->p into a new UTF-8 buffer (*len bytes); NULL on error. */
static char *str(scan *s, int *len) {
    ws(s);
    if (s->p >= s->end || *s->p != '"') return s->bad = 1, NULL;
    s->p++;
    const char *q = s->p;
    while (q < s->end && *q != '"') q += *q == '\\' ? 2 : 1;
    if (q >= s->end) return s->bad = 1, NULL;
    char *o = DS_MALLOC((size_t)(q - s->p) * 2 + 8);
    int k = 0;
    while (s->p < q) {
        char ch = *s->p++;
        if (ch != '\\') { o[k++] = ch; continue; }
        char e = *s->p++;
        switch (e) {
        case 'n': o[k++] = '\n'; break;
        case 't': o[k++] = '\t'; break;
        case 'r': o[k++] = '\r'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'u': {
            uint32_t c = 0;
            for (int i = 0; i < 4 && s->p < q; i++, s->p++) {
                char h = *s->p;
                c = c * 16 + (uint32_t)(h >= 'a' ? h - 'a' + 10 : h >= 'A' ? h - 'A' + 10 : h - '0');
            }
            if (c >= 0xD800 && c < 0xDC00 && s->p + 6 <= q && s->p[0] == '\\' && s->p[1] == 'u') {
                uint32_t lo = 0;
                for (int i = 2; i < 6; i++) {
                    char h = s->p[i];
                    lo = lo * 16 + (uint32_t)(h >= 'a' ? h - 'a' + 10 : h >= 'A' ? h - 'A' + 10 : h - '0');
                }
                s->p += 6;
                c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(o, &k, c);
            break;
        }
        default: o[k++] = e;
        }
    }
    s->p = q + 1;
    o[k] = 0;
    *len = k;
    return o;
}

/* Skips one JSON value. */
static void skip(scan *s) {
    ws(s);
    if (s->p >= s->end) { s->bad = 1; return; }
    if (*s->p == '"') {
        int n;
        free(str(s, &n));
        return;
    }
    if (*s->p == '{' || *s->p == '[') {
        int depth = 0;
        while (s->p < s->end) {
            char c = *s->p;
            if (c == '"') {
                int n;
                free(str(s, &n));
                if (s->bad) return;
                continue;
            }
            s->p++;
            if (c == '{' || c == '[') depth++;
            else if ((c == '}' || c == ']') && --depth == 0) return;
        }
        s->bad = 1;
        return;
    }
    while (s->p < s->end && *s->p != ',' && *s->p != '}' && *s->p != ']') s->p++;
}

/* GPT-2's bytes_to_unicode, inverted: the byte a code point stands for, or -1. */
static int byte_of(uint32_t c) {
    if ((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255)) return (int)c;
    int n = 0;
    for (int b = 0; b < 256; b++) {
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) continue;
        if (c == 256u + (uint32_t)n) return b;
        n++;
    }
    return -1;
}

/* Rewrites a byte-level piece in place to the bytes it stands for (pieces
 * with a code point outside the map, such as added tokens, are kept). */
static void unbyte(char *p, int *len) {
    char out[1024];
    int k = 0;
    const unsigned char *u = (const unsigned char *)p, *e = u + *len;
    while (u < e && k < (int)sizeof out) {
        uint32_t c;
        int w = *u < 0x80 ? 1 : *u < 0xE0 ? 2 : *u < 0xF0 ? 3 : 4;
        if (u + w > e) return;
        c = w == 1 ? *u : w == 2 ? (uint32_t)(*u & 31) : w == 3 ? (uint32_t)(*u & 15) : (uint32_t)(*u & 7);
        for (int i = 1; i < w; i++) c = c << 6 | (uint32_t)(u[i] & 63);
        int b = byte_of(c);
        if (b < 0) return; /* not byte-level text: leave as it is */
        out[k++] = (char)b;
        u += w;
    }
    if (u < e) return;
    memcpy(p, out, (size_t)k);
    *len = k;
}

static void set_piece(ds_tokenizer *t, long id, char *p, int len) {
    if (id < 0 || id > (1 << 26)) { free(p); return; }
    if (id >= t->n) {
        int n = (int)id + 1024;
        t->piece = DS_REALLOC(t->piece, sizeof *t->piece * (size_t)n);
        t->len = DS_REALLOC(t->len, sizeof *t->len * (size_t)n);
        for (int i = t->n; i < n; i++) t->piece[i] = NULL, t->len[i] = 0;
        t->n = n;
    }
    free(t->piece[id]);
    t->piece[id] = p;
    t->len[id] = len;
}

/* The value of key in the object at s->p (positions s->p at it); 0 if found. */
static int find_key(scan *s, const char *key) {
    ws(s);
    if (s->p >= s->end || *s->p != '{') return s->bad = 1, -1;
    s->p++;
    for (;;) {
        ws(s);
        if (s->p < s->end && *s->p == '}') return -1;
        int n;
        char *k = str(s, &n);
        if (!k) return -1;
        ws(s);
        if (s->p < s->end && *s->p == ':') s->p++;
        int hit = !strcmp(k, key);
        free(k);
        if (hit) return 0;
        skip(s);
        ws(s);
        if (s->p < s->end && *s->p == ',') s->p++;
        if (s->bad) return -1;
    }
}

int ds_tokenizer_load(const char *path, ds_tokenizer **out, ds_error *err) {
    *out = NULL;
    int rc = DS_EXIT_USAGE;
    char *text = NULL;
    ds_tokenizer *t = DS_CALLOC(1, sizeof *t);
    FILE *f = fopen(path, "rb");
    if (!f) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: cannot open tokenizer: %s", path, strerror(errno));
        goto done;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = DS_MALLOC((size_t)size + 1);
    if (size < 0 || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        ds_error_set(err, DS_EXIT_USAGE, "%s: cannot read tokenizer", path);
        goto done;
    }
    fclose(f);
    text[size] = 0;
    int bytelevel = strstr(text, "\"ByteLevel\"") != NULL;
    scan s = {text, text + size, 0};
    if (find_key(&s, "model") || find_key(&s, "vocab")) {
        ds_error_set(err, DS_EXIT_USAGE, "%s: not a Hugging Face tokenizer.json (no model.vocab)", path);
        goto done;
    }
    ws(&s);
    if (s.p >= s.end || *s.p != '{') {
        ds_error_set(err, DS_EXIT_USAGE, "%s: model.vocab is not an object (a BPE or WordPiece "
                     "vocabulary is needed)", path);
        goto done;
    }
    s.p++;
    for (;;) {
        ws(&s);
        if (s.p < s.end && *s.p == '}') break;
        int n;
        char *k = str(&s, &n);
        ws(&s);
        if (!k || s.p >= s.end || *s.p != ':') {
            free(k);
            ds_error_set(err, DS_EXIT_USAGE, "%s: model.vocab is malformed", path);
            goto done;
        }
        s.p++;
        long id = strtol(s.p, (char **)&s.p, 10);
        if (bytelevel) unbyte(k, &n);
        else {
            /* SentencePiece's word boundary U+2581 (E2 96 81) as a space */
            for (int i = 0; i + 2 < n; i++)
                if ((unsigned char)k[i] == 0xE2 && (unsigned char)k[i + 1] == 0x96 &&
                    (unsigned char)k[i + 2] == 0x81) {
                    k[i] = ' ';
                    memmove(k + i + 1, k + i + 3, (size_t)(n - i - 3));
                    n -= 2;
                }
        }
        set_piece(t, id, k, n);
        ws(&s);
        if (s.p < s.end && *s.p == ',') s.p++;
    }
    /* added tokens: [{"id": N, "content": "...", ...}, ...] at the top level */
    scan s2 = {text, text + size, 0};
    if (!find_key(&s2, "added_tokens")) {
        ws(&s2);
        if (s2.p < s2.end && *s2.p == '[') s2.p++;
        for (;;) {
            ws(&s2);
            if (s2.bad || s2.p >= s2.end || *s2.p != '{') break;
            s2.p++;
            long id = -1;
            char *content = NULL;
            int clen = 0;
            for (;;) {
                ws(&s2);
                if (s2.bad || s2.p >= s2.end) break;
                if (*s2.p == '}') { s2.p++; break; }
                int n;
                char *k = str(&s2, &n);
                if (!k) break;
                ws(&s2);
                if (s2.p < s2.end && *s2.p == ':') s2.p++;
                ws(&s2);
                if (!strcmp(k, "id")) id = strtol(s2.p, (char **)&s2.p, 10);
                else if (!strcmp(k, "content")) free(content), content = str(&s2, &clen);
                else skip(&s2);
                free(k);
                ws(&s2);
                if (s2.p < s2.end && *s2.p == ',') s2.p++;
            }
            if (content && id >= 0) set_piece(t, id, content, clen);
            else free(content);
            ws(&s2);
            if (s2.p < s2.end && *s2.p == ',') s2.p++;
        }
    }
    rc = 0;
done:
    free(text);
    if (rc) ds_tokenizer_free(t);
    else *out = t;
    return rc;
}

void ds_tokenizer_free(ds_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n; i++) free(t->piece[i]);
    free(t->piece);
    free(t->len);
    free(t);
}

const char *ds_tokenizer_piece(const ds_tokenizer *t, int32_t id, int *n) {
    if (id < 0 || id >= t->n || !t->piece[id]) return NULL;
    *n = t->len[id];
    return t->piece[id];
}

int ds_tokenizer_decode(const ds_tokenizer *t, const int32_t *tokens, int n, char *buf, int cap) {
    DS_ASSERT(cap >= 1);
    int k = 0;
    for (int i = 0; i < n; i++) {
        int len;
        char tmp[32];
        const char *p = ds_tokenizer_piece(t, tokens[i], &len);
        if (!p) {
            len = snprintf(tmp, sizeof tmp, "<%d>", (int)tokens[i]);
            p = tmp;
        }
        if (k + len >= cap) len = cap - 1 - k;
        if (len <= 0) break;
        memcpy(buf + k, p, (size_t)len);
        k += len;
    }
    buf[k] = 0;
    return k;
}
