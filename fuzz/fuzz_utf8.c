/*
 * otel_utf8_sanitize() and otel__utf8_ok() against fuzz.h's reference.
 *
 * Input: a max_chars prefix, then the string.  First byte b0:
 *   b0 < 0x40         max_chars = b0
 *   0x40 <= b0 < 0x80 max_chars = (b0 - 0x40) << 8 | b1
 *   b0 >= 0x80        max_chars = -1 (no limit)
 * then one byte that picks the cap of a short-buffer call, then the string.
 *
 * Checks: the sizing call (cap 0) and the real one agree; the result is
 * valid UTF-8 of at most max_chars code points, equal to the input when
 * that was valid and short enough, and equal to the reference repair
 * (maximal subparts to U+FFFD, then the cut); flags bit 0 iff input was
 * left over, bit 1 iff a replacement was made; a short buffer gets the
 * whole code points that fit and nothing past cap; the result repairs to
 * itself; the cut result is a prefix of the uncut one.
 */
#include "internal.h"
#include "fuzz.h"

static void utf8_run(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    uint8_t b0 = fz_u8(&in), capsel;
    int64_t max;
    size_t len, n0, n1, n2, nref, nfull, cps, w, i;
    char *s, *out, *ref, *full, *small, *again;
    int f0 = -1, f1 = -1, f2 = -1, fref, ffull;
    bool valid;

    if (b0 < 0x40) {
        max = b0;
    } else if (b0 < 0x80) {
        max = (int64_t)(b0 - 0x40) << 8 | fz_u8(&in);
    } else {
        max = -1;
    }
    capsel = fz_u8(&in);
    len = in.n;
    /* An exact-size copy: ASan sees any read past the end. */
    s = malloc(len ? len : 1);
    if (len) {
        memcpy(s, in.p, len);
    }

    n0 = otel_utf8_sanitize(s, len, max, NULL, 0, &f0);
    out = malloc(n0 ? n0 : 1);
    n1 = otel_utf8_sanitize(s, len, max, out, n0, &f1);
    FZ_CHECK(n0 == n1 && f0 == f1, "sizing %zu/%d, real %zu/%d", n0, f0, n1,
             f1);
    FZ_CHECK(otel_utf8_sanitize(s, len, max, NULL, 0, NULL) == n0,
             "flags NULL");

    valid = fz_utf8_valid(out, n1, &cps);
    FZ_CHECK(valid, "output not UTF-8: %s", fz_hex(out, n1));
    FZ_CHECK(max < 0 || (int64_t)cps <= max, "%zu code points > %lld", cps,
             (long long)max);
    FZ_CHECK((f1 & ~3) == 0, "flags %d", f1);

    ref = malloc(3 * len + 1);
    nref = fz_utf8_repair(s, len, max, ref, &fref);
    FZ_CHECK(fz_eq(out, n1, ref, nref), "output %s differs from reference",
             fz_hex(out, n1));
    FZ_CHECK(f1 == fref, "flags %d, reference %d", f1, fref);

    /* Valid and short enough: returned as is, nothing flagged. */
    if (fz_utf8_valid(s, len, &cps) && (max < 0 || (int64_t)cps <= max)) {
        FZ_CHECK(fz_eq(out, n1, s, len) && f1 == 0, "valid input changed");
        FZ_CHECK(otel__utf8_ok(s, len, max), "otel__utf8_ok says no");
    } else {
        FZ_CHECK(!otel__utf8_ok(s, len, max), "otel__utf8_ok says yes");
        FZ_CHECK(f1 != 0, "changed but no flag");
    }

    /* A short buffer: whole code points up to cap, nothing past it. */
    if (n1) {
        size_t cap = capsel % (n1 + 1);
        small = malloc(cap + 1);
        memset(small, 0xAA, cap + 1);
        n2 = otel_utf8_sanitize(s, len, max, small, cap, &f2);
        FZ_CHECK(n2 == n1 && f2 == f1, "short buffer: %zu/%d", n2, f2);
        /* w: the last code point boundary of out at or before cap */
        for (w = 0, i = 0; i < n1;) {
            size_t k = fz_utf8_seq((const unsigned char *)out + i, n1 - i);
            if (i + k > cap) {
                break;
            }
            i += k;
            w = i;
        }
        FZ_CHECK(memcmp(small, out, w) == 0, "short buffer prefix");
        for (i = w; i <= cap; i++) {
            FZ_CHECK((unsigned char)small[i] == 0xAA,
                     "byte %zu written past the last whole code point "
                     "(cap %zu)", i, cap);
        }
        free(small);
    }

    /* Repairing a result changes nothing. */
    again = malloc(n1 ? n1 : 1);
    n2 = otel_utf8_sanitize(out, n1, -1, again, n1, &f2);
    FZ_CHECK(fz_eq(again, n2, out, n1) && f2 == 0, "not idempotent");
    free(again);

    /* Cutting is repairing, then keeping max_chars code points. */
    if (max >= 0) {
        full = malloc(3 * len + 1);
        nfull = otel_utf8_sanitize(s, len, -1, full, 3 * len + 1, &ffull);
        FZ_CHECK(nfull >= n1 && memcmp(full, out, n1) == 0,
                 "cut output is not a prefix of the uncut one");
        FZ_CHECK((ffull & 1) == 0, "no limit but cut");
        free(full);
    }

    free(ref);
    free(out);
    free(s);
}

#ifndef FUZZ_REGRESS
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    utf8_run(data, size);
    return 0;
}
#endif
