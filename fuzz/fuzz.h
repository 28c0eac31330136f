/*
 * Shared pieces of the libFuzzer targets: checks that abort (or, when the
 * targets are compiled into t/c/test_fuzz_regress.c with FUZZ_REGRESS,
 * jump back to the test), a reader of the fuzz bytes, an arena for the
 * models, and an independent UTF-8 validator and U+FFFD repairer that the
 * targets compare the core's results with.  Nothing here calls the core.
 */
#ifndef OTEL_FUZZ_H
#define OTEL_FUZZ_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Helpers a target may leave unused. */
#define FZ_FN static __attribute__((unused))

/* ---- checks ---------------------------------------------------------------*/

#ifdef FUZZ_REGRESS
static jmp_buf fz_jmp;
#endif

FZ_FN __attribute__((noreturn, format(printf, 4, 5)))
void fz_fail(const char *file, int line, const char *cond, const char *fmt,
             ...)
{
    va_list ap;

    fprintf(stderr, "fuzz check failed at %s:%d: %s: ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
#ifdef FUZZ_REGRESS
    longjmp(fz_jmp, 1);
#else
    abort();
#endif
}

#define FZ_CHECK(cond, ...)                                                 \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                \
        }                                                                   \
    } while (0)

/* Scrubs the OTEL_* environment once, so that only what a target sets
 * reaches otel_config_new(). */
extern char **environ;

FZ_FN void fz_clear_env(void)
{
    char name[256];
    size_t i, n;
    bool again = true;

    while (again) {
        again = false;
        for (i = 0; environ[i]; i++) {
            if (strncmp(environ[i], "OTEL_", 5) != 0) {
                continue;
            }
            n = strcspn(environ[i], "=");
            if (n >= sizeof(name)) {
                continue;
            }
            memcpy(name, environ[i], n);
            name[n] = '\0';
            unsetenv(name);
            again = true;
            break;
        }
    }
}

/* ---- reading the fuzz bytes -----------------------------------------------
 * Past the end every read gives zeros, so any input decodes to something.
 */
typedef struct {
    const uint8_t *p;
    size_t         n;
} fz_in;

FZ_FN uint8_t fz_u8(fz_in *in)
{
    if (!in->n) {
        return 0;
    }
    in->n--;
    return *in->p++;
}

FZ_FN uint16_t fz_u16(fz_in *in)
{
    uint16_t v = fz_u8(in);

    return (uint16_t)(v << 8 | fz_u8(in));
}

FZ_FN uint64_t fz_u64(fz_in *in)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++) {
        v = v << 8 | fz_u8(in);
    }
    return v;
}

FZ_FN void fz_fill(fz_in *in, uint8_t *out, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        out[i] = fz_u8(in);
    }
}

/* Strings worth combining: keys that collide, and the UTF-8 cases (valid
 * multi-byte, truncated, overlong, surrogate, past U+10FFFF, U+FFFD
 * itself, which a repaired string and a valid one can both hold). */
typedef struct {
    const char *s;
    size_t      n;
} fz_str;

#define FZ_S(lit) { lit, sizeof(lit) - 1 }

static char fz_long_a[300], fz_long_u[600], fz_long_bad[200];

static const fz_str fz_dict_fixed[] = {
    FZ_S(""), FZ_S("a"), FZ_S("b"), FZ_S("key"), FZ_S("http.method"),
    FZ_S("service.name"), FZ_S("\xff"), FZ_S("\xef\xbf\xbd"),
    FZ_S("\xc3\xa9"), FZ_S("\xc3"), FZ_S("\xe2\x82\xac"), FZ_S("\xe2\x82"),
    FZ_S("\xf0\x9f\x98\x80"), FZ_S("\xf0\x9f\x98"), FZ_S("\xed\xa0\x80"),
    FZ_S("\xc0\xaf"), FZ_S("\xf4\x90\x80\x80"), FZ_S("a\0b"), FZ_S("\x80"),
    FZ_S("\xe0\x80\x80"), FZ_S("k\xff"), FZ_S("k\xef\xbf\xbd"),
    FZ_S("\xf8\x88\x80\x80\x80"), FZ_S("abc\xe2\x82\xac\xe2"), FZ_S(" "),
    FZ_S("a=b"), FZ_S("%41"), FZ_S("\xc3\xa9t\xc3\xa9"),
    FZ_S("\xf4\x8f\xbf\xbf"),
    FZ_S("\xee\x80\x80"), FZ_S("\x7f"), FZ_S("\xc2\x80"),
};

#define FZ_NFIXED (sizeof(fz_dict_fixed) / sizeof(fz_dict_fixed[0]))
#define FZ_NDICT (FZ_NFIXED + 3)

FZ_FN void fz_dict_init(void)
{
    size_t i;

    memset(fz_long_a, 'a', sizeof(fz_long_a));
    for (i = 0; i + 2 <= sizeof(fz_long_u); i += 2) {
        fz_long_u[i] = (char)0xc3;
        fz_long_u[i + 1] = (char)0xa9;
    }
    for (i = 0; i < sizeof(fz_long_bad); i++) {
        fz_long_bad[i] = (char)(i % 3 ? 0x80 + i % 64 : 0xe2);
    }
}

FZ_FN fz_str fz_dict(size_t i)
{
    fz_str s;

    i %= FZ_NDICT;
    if (i < FZ_NFIXED) {
        return fz_dict_fixed[i];
    }
    switch (i - FZ_NFIXED) {
    case 0:
        s.s = fz_long_a;
        s.n = sizeof(fz_long_a);
        break;
    case 1:
        s.s = fz_long_u;
        s.n = sizeof(fz_long_u);
        break;
    default:
        s.s = fz_long_bad;
        s.n = sizeof(fz_long_bad);
        break;
    }
    return s;
}

/* A string: one byte b, then for b < 0xc0 that many (b % 64) raw bytes
 * of the input, else dictionary entry b - 0xc0.  Raw strings point into
 * the input, which libFuzzer allocates at its exact size. */
FZ_FN fz_str fz_string(fz_in *in)
{
    uint8_t b = fz_u8(in);
    fz_str s;
    size_t n;

    if (b >= 0xc0) {
        return fz_dict(b - 0xc0u);
    }
    n = b % 64u;
    if (n > in->n) {
        n = in->n;
    }
    s.s = (const char *)in->p;
    s.n = n;
    in->p += n;
    in->n -= n;
    return s;
}

/* ---- an arena for models ----------------------------------------------- */
typedef struct fz_block {
    struct fz_block *next;
    size_t           used, size;
    max_align_t      data[];
} fz_block;

typedef struct {
    fz_block *head;
} fz_arena;

FZ_FN void *fz_alloc(fz_arena *a, size_t n)
{
    fz_block *b = a->head;
    size_t size;
    void *p;

    n = (n + 15) & ~(size_t)15;
    if (!b || b->size - b->used < n) {
        size = n > 65536 ? n : 65536;
        b = malloc(sizeof(*b) + size);
        if (!b) {
            abort();
        }
        b->next = a->head;
        b->used = 0;
        b->size = size;
        a->head = b;
    }
    p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

FZ_FN void *fz_dup(fz_arena *a, const void *p, size_t n)
{
    void *q = fz_alloc(a, n + 1);

    if (n) {
        memcpy(q, p, n);
    }
    ((char *)q)[n] = '\0';
    return q;
}

FZ_FN void fz_arena_free(fz_arena *a)
{
    fz_block *b = a->head, *next;

    while (b) {
        next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

/* ---- UTF-8, written from the definition --------------------------------
 * A code point is decoded from its lead byte's bit pattern, then rejected
 * if overlong, a surrogate or past U+10FFFF (RFC 3629).  The core works
 * from the byte ranges of Unicode's table 3-7 instead.
 */

/* Length of the well-formed sequence at s[0..n), or 0. */
FZ_FN size_t fz_utf8_seq(const unsigned char *s, size_t n)
{
    uint32_t cp, min;
    size_t len, i;

    if (n == 0) {
        return 0;
    }
    if (s[0] < 0x80) {
        return 1;
    } else if ((s[0] & 0xe0) == 0xc0) {
        len = 2, cp = s[0] & 0x1fu, min = 0x80;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3, cp = s[0] & 0x0fu, min = 0x800;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4, cp = s[0] & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

/* True when s is valid UTF-8; *cps gets its code points (may be NULL). */
FZ_FN bool fz_utf8_valid(const char *s, size_t n, size_t *cps)
{
    size_t i = 0, k, c = 0;

    while (i < n) {
        k = fz_utf8_seq((const unsigned char *)s + i, n - i);
        if (!k) {
            return false;
        }
        i += k;
        c++;
    }
    if (cps) {
        *cps = c;
    }
    return true;
}

/* Whether s[0..k) can begin a well-formed sequence: completed with
 * continuation bytes it decodes.  The constraints past the lead byte are
 * all on the second byte, so 0x80, 0x90 and 0xa0 cover them. */
FZ_FN bool fz_utf8_viable(const unsigned char *s, size_t k)
{
    static const unsigned char second[3] = { 0x80, 0x90, 0xa0 };
    unsigned char t[4];
    size_t j, need, i;

    if (k == 0 || k > 3) {
        return false;
    }
    need = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
           : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (need <= k) {
        return false;
    }
    for (j = 0; j < 3; j++) {
        memcpy(t, s, k);
        for (i = k; i < need; i++) {
            t[i] = i == 1 ? second[j] : 0x80;
        }
        if (fz_utf8_seq(t, need) == need) {
            return true;
        }
    }
    return false;
}

/* The reference repair: each maximal subpart of an ill-formed sequence
 * (the longest prefix of a well-formed sequence, at least one byte)
 * becomes one U+FFFD, and the result is cut after max_chars code points
 * (max_chars < 0: no limit).  out needs 3 * len bytes.  *flags: bit 0
 * when input was left over, bit 1 when a replacement was made. */
FZ_FN size_t fz_utf8_repair(const char *in, size_t len, int64_t max_chars,
                             char *out, int *flags)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0, k;
    int64_t chars = 0;
    int f = 0;

    while (i < len) {
        if (max_chars >= 0 && chars >= max_chars) {
            f |= 1;
            break;
        }
        k = fz_utf8_seq(s + i, len - i);
        if (k) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            k = 1;
            while (i + k < len && fz_utf8_viable(s + i, k + 1)) {
                k++;
            }
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i += k;
            f |= 2;
        }
        chars++;
    }
    if (flags) {
        *flags = f;
    }
    return o;
}

/* The repaired copy of s in the arena, cut to max_chars. */
FZ_FN fz_str fz_repaired(fz_arena *a, const char *s, size_t n,
                          int64_t max_chars)
{
    char *out = fz_alloc(a, 3 * n + 1);
    fz_str r;

    r.n = fz_utf8_repair(s, n, max_chars, out, NULL);
    out[r.n] = '\0';
    r.s = out;
    return r;
}

FZ_FN bool fz_eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* Hex dump of a short byte string for messages (static buffer). */
FZ_FN const char *fz_hex(const void *p, size_t n)
{
    static char buf[4 * 64 + 8];
    const unsigned char *s = p;
    size_t i, o = 0;

    for (i = 0; i < n && i < 64; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\') {
            buf[o++] = (char)s[i];
        } else {
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x", s[i]);
        }
    }
    if (i < n) {
        memcpy(buf + o, "...", 4);
    } else {
        buf[o] = '\0';
    }
    return buf;
}

#endif /* OTEL_FUZZ_H */
