/*
 * otel_baggage_next and otel_baggage_put against a reference written
 * from W3C Baggage.
 *
 * Input: a mode byte, a capacity byte, then
 *   even mode: a baggage header.  With the full buffer (capacity byte 0,
 *     OTEL_BAGGAGE_MAX_BYTES) the entries, the iterator's counts and
 *     propagation_invalid equal the reference's: members split at ',',
 *     OWS trimmed, empty ones skipped; key OWS "=" OWS value *(OWS ";"
 *     OWS property), key a token, value baggage-octets, property key
 *     [OWS "=" OWS value]; members past the 180th or past 8192 bytes
 *     (member lengths and commas) dropped; values percent-decoded, then
 *     U+FFFD for what is not UTF-8; the properties verbatim.  With a
 *     short buffer (capacity 1..255): nothing written past it, every entry
 *     well-formed, a subsequence of the full-buffer entries.  Then the
 *     entries are written with otel_baggage_put and the header read back:
 *     the same entries, those put refused (over the limits) left out.
 *     And otel_baggage_clean with room for the input (capacity byte 0) or
 *     8 * capacity: at most that and the input's length, nothing written
 *     past it, the reference's entries (all of them when there is room,
 *     else some, in order), counted drops, and it cleans to itself.
 *   odd mode: otel_baggage_put calls (key, value, properties) into a
 *     buffer of 40 * capacity bytes (0: 8192): the return codes, the
 *     bytes written, the counts and propagation_invalid equal the
 *     reference's (values percent-encoded but for RFC 3986 unreserved
 *     characters); nothing is written past the buffer; reading the
 *     header back gives the entries put, values repaired to UTF-8.
 */
#include "internal.h"
#include "fuzz.h"

#define BG_MAX_MEMBERS 180
#define BG_MAX_BYTES   8192

static uint64_t bg_invalid(void)
{
    return otel_stats_get(OTEL_STAT_PROPAGATION_INVALID);
}

static fz_arena bg_arena;

typedef struct {
    fz_str k, v, meta;
} bg_entry;

typedef struct {
    bg_entry *a;
    size_t    n;
    size_t    bytes, dropped;
} bg_list;

static void bg_push(bg_list *l, fz_str k, fz_str v, fz_str meta)
{
    bg_entry *na;

    if ((l->n & (l->n - 1)) == 0) {
        na = fz_alloc(&bg_arena, (l->n ? 2 * l->n : 1) * sizeof(*na));
        if (l->n) {
            memcpy(na, l->a, l->n * sizeof(*na));
        }
        l->a = na;
    }
    l->a[l->n].k.s = fz_dup(&bg_arena, k.s, k.n);
    l->a[l->n].k.n = k.n;
    l->a[l->n].v.s = fz_dup(&bg_arena, v.s, v.n);
    l->a[l->n].v.n = v.n;
    l->a[l->n].meta.s = fz_dup(&bg_arena, meta.s, meta.n);
    l->a[l->n].meta.n = meta.n;
    l->n++;
}

/* ---- the reference ------------------------------------------------------*/
static bool bg_ows(char c)
{
    return c == ' ' || c == '\t';
}

static fz_str bg_trim(const char *s, size_t n)
{
    fz_str r;

    while (n && bg_ows(*s)) {
        s++;
        n--;
    }
    while (n && bg_ows(s[n - 1])) {
        n--;
    }
    r.s = s;
    r.n = n;
    return r;
}

/* token = 1*tchar (RFC 7230) */
static bool bg_token(const char *s, size_t n)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    size_t i;
    char c;

    if (!n) {
        return false;
    }
    for (i = 0; i < n; i++) {
        c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || (c && strchr(extra, c)))) {
            return false;
        }
    }
    return true;
}

/* baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E */
static bool bg_octets(const char *s, size_t n)
{
    size_t i;
    unsigned char c;

    for (i = 0; i < n; i++) {
        c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';'
            || c == '\\') {
            return false;
        }
    }
    return true;
}

/* property *( OWS ";" OWS property ), already trimmed */
static bool bg_props(const char *s, size_t n)
{
    size_t start = 0, end;
    const char *eq;
    fz_str p, k, v;

    if (!n) {
        return false;
    }
    for (;;) {
        for (end = start; end < n && s[end] != ';'; end++) {
        }
        p = bg_trim(s + start, end - start);
        eq = p.n ? memchr(p.s, '=', p.n) : NULL;
        k = bg_trim(p.s, eq ? (size_t)(eq - p.s) : p.n);
        if (!bg_token(k.s, k.n)) {
            return false;
        }
        if (eq) {
            v = bg_trim(eq + 1, (size_t)(p.s + p.n - eq - 1));
            if (!bg_octets(v.s, v.n)) {
                return false;
            }
        }
        if (end >= n) {
            return true;
        }
        start = end + 1;
    }
}

static int bg_hex(char c)
{
    static const char lower[] = "0123456789abcdef";
    static const char upper[] = "0123456789ABCDEF";
    const char *p;

    if (!c) {
        return -1;
    }
    if ((p = strchr(lower, c))) {
        return (int)(p - lower);
    }
    return (p = strchr(upper, c)) ? (int)(p - upper) : -1;
}

static fz_str bg_decode(fz_str v)
{
    char *out = fz_alloc(&bg_arena, v.n + 1);
    size_t i = 0, o = 0;

    while (i < v.n) {
        if (v.s[i] == '%' && v.n - i >= 3 && bg_hex(v.s[i + 1]) >= 0
            && bg_hex(v.s[i + 2]) >= 0) {
            out[o++] = (char)(bg_hex(v.s[i + 1]) * 16 + bg_hex(v.s[i + 2]));
            i += 3;
        } else {
            out[o++] = v.s[i++];
        }
    }
    return fz_repaired(&bg_arena, out, o, -1);
}

/* Parses one trimmed member; false if malformed.  *raw gets the length
 * of the value as it is in the header. */
static bool bg_member(fz_str m, bg_entry *e, size_t *raw)
{
    const char *eq = memchr(m.s, '=', m.n), *semi;
    fz_str rest;

    if (!eq) {
        return false;
    }
    e->k = bg_trim(m.s, (size_t)(eq - m.s));
    if (!bg_token(e->k.s, e->k.n)) {
        return false;
    }
    rest.s = eq + 1;
    rest.n = (size_t)(m.s + m.n - rest.s);
    semi = rest.n ? memchr(rest.s, ';', rest.n) : NULL;
    e->meta.s = "";
    e->meta.n = 0;
    if (semi) {
        e->meta = bg_trim(semi + 1, (size_t)(rest.s + rest.n - semi - 1));
        if (!bg_props(e->meta.s, e->meta.n)) {
            return false;
        }
        rest.n = (size_t)(semi - rest.s);
    }
    rest = bg_trim(rest.s, rest.n);
    if (!bg_octets(rest.s, rest.n)) {
        return false;
    }
    *raw = rest.n;
    e->v = bg_decode(rest);
    return true;
}

/* limits false: every well-formed member, none dropped for the limits. */
static void bg_reference(const char *s, size_t len, bool limits,
                         bg_list *out)
{
    size_t start = 0, end, need, raw;
    bg_entry e;
    fz_str m;

    while (start < len) {
        for (end = start; end < len && s[end] != ','; end++) {
        }
        m = bg_trim(s + start, end - start);
        start = end + 1;
        if (!m.n) {
            continue;
        }
        if (!bg_member(m, &e, &raw)) {
            out->dropped++;
            continue;
        }
        /* key=value[;meta] as in the header, OWS left out, and a comma */
        need = e.k.n + 1 + raw + (e.meta.n ? e.meta.n + 1 : 0)
               + (out->n ? 1 : 0);
        if (limits && (out->n >= BG_MAX_MEMBERS
                       || out->bytes + need > BG_MAX_BYTES)) {
            out->dropped++;
            continue;
        }
        out->bytes += need;
        bg_push(out, e.k, e.v, e.meta);
    }
}

/* ---- the core -------------------------------------------------------------*/
static void bg_check_entry(const otel_baggage_entry *e, size_t cap)
{
    FZ_CHECK(bg_token(e->key, e->key_len), "key %s",
             fz_hex(e->key, e->key_len));
    FZ_CHECK(e->value_len <= cap, "value of %zu bytes in %zu", e->value_len,
             cap);
    FZ_CHECK(fz_utf8_valid(e->value, e->value_len, NULL),
             "value not UTF-8: %s", fz_hex(e->value, e->value_len));
    FZ_CHECK(e->meta_len == 0 || bg_props(e->meta, e->meta_len),
             "properties %s", fz_hex(e->meta, e->meta_len));
}

/* Reads header s with a buffer of cap bytes into out. */
static void bg_read(const char *s, size_t len, size_t cap, bg_list *out,
                    otel_baggage_iter *it)
{
    char *buf = malloc(cap ? cap : 1);
    otel_baggage_entry e;
    fz_str k, v, meta;

    memset(it, 0, sizeof(*it));
    while (otel_baggage_next(s, len, it, buf, cap, &e)) {
        bg_check_entry(&e, cap);
        k.s = e.key;
        k.n = e.key_len;
        v.s = e.value;
        v.n = e.value_len;
        meta.s = e.meta ? e.meta : "";
        meta.n = e.meta_len;
        bg_push(out, k, v, meta);
        FZ_CHECK(it->count == out->n, "count %u", it->count);
    }
    FZ_CHECK(it->pos >= len, "stopped at %zu of %zu", it->pos, len);
    FZ_CHECK(otel_baggage_next(s, len, it, buf, cap, &e) == 0,
             "more after the end");
    free(buf);
}

static bool bg_entry_eq(const bg_entry *a, const bg_entry *b)
{
    return fz_eq(a->k.s, a->k.n, b->k.s, b->k.n)
           && fz_eq(a->v.s, a->v.n, b->v.s, b->v.n)
           && fz_eq(a->meta.s, a->meta.n, b->meta.s, b->meta.n);
}

static void bg_same(const bg_list *got, const bg_list *want, const char *what)
{
    size_t i;

    FZ_CHECK(got->n == want->n, "%s: %zu entries, expected %zu", what,
             got->n, want->n);
    for (i = 0; i < got->n; i++) {
        FZ_CHECK(bg_entry_eq(&got->a[i], &want->a[i]),
                 "%s: entry %zu: %s", what, i,
                 fz_hex(got->a[i].k.s, got->a[i].k.n));
    }
}

/* Writes the entries with otel_baggage_put and reads them back. */
static void bg_roundtrip(const bg_list *l)
{
    otel_baggage_writer w = { 0 };
    otel_baggage_iter it;
    bg_list put = { 0 }, back = { 0 };
    size_t i;
    int rc;

    w.buf = malloc(BG_MAX_BYTES);
    w.cap = BG_MAX_BYTES;
    for (i = 0; i < l->n; i++) {
        rc = otel_baggage_put(&w, l->a[i].k.s, l->a[i].k.n, l->a[i].v.s,
                              l->a[i].v.n, l->a[i].meta.s, l->a[i].meta.n);
        FZ_CHECK(rc == OTEL_OK || rc == OTEL_ELIMIT, "put entry %zu: %d", i,
                 rc);
        if (rc == OTEL_OK) {
            bg_push(&put, l->a[i].k, l->a[i].v, l->a[i].meta);
        }
    }
    FZ_CHECK(w.len <= BG_MAX_BYTES && w.count == put.n
             && w.count + w.dropped == l->n, "writer counts");
    bg_read(w.buf, w.len, BG_MAX_BYTES, &back, &it);
    FZ_CHECK(it.dropped == 0, "written header has %u bad members",
             it.dropped);
    bg_same(&back, &put, "read back");
    free(w.buf);
}

/* Whether every entry of sub is one of l's, in order. */
static bool bg_subseq(const bg_list *sub, const bg_list *l)
{
    size_t i, j;

    for (i = j = 0; i < sub->n; i++, j++) {
        while (j < l->n && !bg_entry_eq(&sub->a[i], &l->a[j])) {
            j++;
        }
        if (j >= l->n) {
            return false;
        }
    }
    return true;
}

/* otel_baggage_clean: the well-formed members within the limits, as long
 * as they fit in cap (capsel 0: the input's length, always enough). */
static void bg_check_clean(const char *s, size_t len, uint8_t capsel,
                           const bg_list *ref)
{
    size_t cap = capsel ? 8u * capsel : len, i;
    char *out = malloc(cap + 1), *again;
    bg_list back = { 0 };
    otel_baggage_iter it;
    uint64_t inv = bg_invalid();
    int rc;

    memset(out, 0xa5, cap + 1);
    rc = otel_baggage_clean(s, len, cap ? out : NULL, cap);
    FZ_CHECK(rc >= 0 && (size_t)rc <= cap && (size_t)rc <= len,
             "clean: %d (cap %zu, input %zu)", rc, cap, len);
    for (i = (size_t)rc; i <= cap; i++) {
        FZ_CHECK((unsigned char)out[i] == 0xa5, "clean: written past");
    }
    bg_read(out, (size_t)rc, BG_MAX_BYTES, &back, &it);
    FZ_CHECK(it.dropped == 0, "cleaned header has %u bad members",
             it.dropped);
    if (cap >= len) {
        bg_same(&back, ref, "cleaned");
        FZ_CHECK(bg_invalid() - inv == ref->dropped, "clean: invalid "
                 "counter +%llu, dropped %zu",
                 (unsigned long long)(bg_invalid() - inv), ref->dropped);
    } else {
        FZ_CHECK(bg_subseq(&back, ref), "cleaned: not the reference's");
        FZ_CHECK(bg_invalid() - inv == ref->dropped + ref->n - back.n,
                 "clean: invalid counter");
    }
    if (rc) {
        again = malloc((size_t)rc);
        inv = bg_invalid();
        FZ_CHECK(otel_baggage_clean(out, (size_t)rc, again, (size_t)rc) == rc
                 && memcmp(again, out, (size_t)rc) == 0
                 && bg_invalid() == inv, "cleaned header changes");
        free(again);
    }
    free(out);
}

static void bg_parse_mode(const char *s, size_t len, uint8_t capsel)
{
    bg_list got = { 0 }, ref = { 0 }, all = { 0 };
    otel_baggage_iter it;
    uint64_t inv = bg_invalid();
    size_t cap = capsel ? capsel : BG_MAX_BYTES;

    bg_read(s, len, cap, &got, &it);
    FZ_CHECK(it.count <= BG_MAX_MEMBERS && it.bytes <= BG_MAX_BYTES,
             "over the limits: %u members, %zu bytes", it.count, it.bytes);
    FZ_CHECK(bg_invalid() - inv == it.dropped, "invalid counter");
    bg_reference(s, len, true, &ref);
    if (cap == BG_MAX_BYTES) {
        bg_same(&got, &ref, "parse");
        FZ_CHECK(it.dropped == ref.dropped && it.bytes == ref.bytes,
                 "dropped %u, reference %zu; bytes %zu, reference %zu",
                 it.dropped, ref.dropped, it.bytes, ref.bytes);
    } else {
        /* A short buffer drops members, so others may fit the limits
         * instead: the entries are well-formed members, in order. */
        bg_reference(s, len, false, &all);
        FZ_CHECK(bg_subseq(&got, &all), "entries not the reference's");
    }
    bg_check_clean(s, len, capsel, &ref);
    bg_roundtrip(&ref);
}

/* ---- put --------------------------------------------------------------- */
static bool bg_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
           || c == '~';
}

static void bg_put_mode(fz_in *in, uint8_t capsel)
{
    static const char hexd[] = "0123456789ABCDEF";
    otel_baggage_writer w = { 0 };
    otel_baggage_iter it;
    bg_list put = { 0 }, back = { 0 };
    size_t cap = capsel ? 40u * capsel : BG_MAX_BYTES, limit, need, i, o;
    size_t count = 0, dropped = 0;
    uint64_t inv = bg_invalid(), want_inv = 0;
    char *want = malloc(BG_MAX_BYTES + 1);
    fz_str k, v, meta;
    bg_entry e;
    int rc, want_rc;

    w.buf = malloc(cap + 1);
    memset(w.buf, 0xa5, cap + 1);
    w.cap = cap;
    limit = cap < BG_MAX_BYTES ? cap : BG_MAX_BYTES;
    o = 0;
    while (in->n) {
        k = fz_string(in);
        v = fz_string(in);
        meta = fz_string(in);
        rc = otel_baggage_put(&w, k.s ? k.s : "", k.n, v.s ? v.s : "", v.n,
                              meta.s ? meta.s : "", meta.n);
        meta = bg_trim(meta.s ? meta.s : "", meta.n);
        if (!bg_token(k.s, k.n)) {
            want_rc = OTEL_EINVAL;
        } else {
            if (meta.n && !bg_props(meta.s, meta.n)) {
                want_inv++;
                meta.n = 0;
            }
            need = (count ? 1 : 0) + k.n + 1 + (meta.n ? meta.n + 1 : 0);
            for (i = 0; i < v.n; i++) {
                need += bg_unreserved((unsigned char)v.s[i]) ? 1 : 3;
            }
            want_rc = count >= BG_MAX_MEMBERS || o + need > limit
                      ? OTEL_ELIMIT : OTEL_OK;
        }
        FZ_CHECK(rc == want_rc, "put %s: %d, expected %d", fz_hex(k.s, k.n),
                 rc, want_rc);
        if (rc != OTEL_OK) {
            dropped++;
            want_inv++;
            continue;
        }
        if (count++) {
            want[o++] = ',';
        }
        memcpy(want + o, k.s, k.n);
        o += k.n;
        want[o++] = '=';
        for (i = 0; i < v.n; i++) {
            unsigned char c = (unsigned char)v.s[i];
            if (bg_unreserved(c)) {
                want[o++] = (char)c;
            } else {
                want[o++] = '%';
                want[o++] = hexd[c >> 4];
                want[o++] = hexd[c & 15];
            }
        }
        if (meta.n) {
            want[o++] = ';';
            memcpy(want + o, meta.s, meta.n);
            o += meta.n;
        }
        e.k = k;
        e.v = fz_repaired(&bg_arena, v.s, v.n, -1);
        e.meta = meta;
        bg_push(&put, e.k, e.v, e.meta);
    }
    FZ_CHECK(w.len == o && memcmp(w.buf, want, o) == 0, "header %s",
             fz_hex(w.buf, w.len));
    for (i = o; i <= cap; i++) {
        FZ_CHECK((unsigned char)w.buf[i] == 0xa5, "written past the header");
    }
    FZ_CHECK(w.count == count && w.dropped == dropped, "writer counts");
    FZ_CHECK(bg_invalid() - inv == want_inv, "invalid counter +%llu, "
             "expected +%llu", (unsigned long long)(bg_invalid() - inv),
             (unsigned long long)want_inv);
    bg_read(w.buf, w.len, BG_MAX_BYTES, &back, &it);
    FZ_CHECK(it.dropped == 0, "written header has %u bad members",
             it.dropped);
    bg_same(&back, &put, "put, then read");
    free(w.buf);
    free(want);
}

static void baggage_init(void)
{
    fz_dict_init();
}

static void baggage_run(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    uint8_t mode = fz_u8(&in), capsel = fz_u8(&in);
    char *s;

    if (mode & 1) {
        bg_put_mode(&in, capsel);
    } else {
        /* An exact-size copy: ASan sees any read past the end. */
        s = malloc(in.n ? in.n : 1);
        if (in.n) {
            memcpy(s, in.p, in.n);
        }
        bg_parse_mode(s, in.n, capsel);
        free(s);
    }
    fz_arena_free(&bg_arena);
}

#ifndef FUZZ_REGRESS
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    baggage_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    baggage_run(data, size);
    return 0;
}
#endif
