/*
 * UTF-8 validation, repair and code-point truncation.
 *
 * OTLP strings must be valid UTF-8 (a collector rejects the whole batch
 * otherwise), and the value length limit counts code points, so every
 * string the core keeps goes through here once, when it is set.
 */
#include <string.h>

#include "internal.h"

/* Length of the valid sequence starting at s (1..4), or 0 when the bytes
 * at s do not start a valid sequence; *bad gets how many bytes form the
 * maximal invalid subpart to replace with one U+FFFD. */
static size_t seq_len(const unsigned char *s, size_t avail, size_t *bad)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t need, i;

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) {
            lo = 0xA0;
        } else if (c == 0xED) {
            hi = 0x9F;
        }
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) {
            lo = 0x90;
        } else if (c == 0xF4) {
            hi = 0x8F;
        }
    } else {
        *bad = 1;
        return 0;
    }
    for (i = 1; i < need; i++) {
        if (i >= avail) {
            *bad = i;
            return 0;
        }
        if (i == 1 ? (s[i] < lo || s[i] > hi) : (s[i] < 0x80 || s[i] > 0xBF)) {
            *bad = i;
            return 0;
        }
    }
    return need;
}

static size_t ascii_prefix(const char *s, size_t len)
{
    size_t i = 0;
    uint64_t w;

    while (i + 8 <= len) {
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ULL) {
            break;
        }
        i += 8;
    }
    while (i < len && (unsigned char)s[i] < 0x80) {
        i++;
    }
    return i;
}

bool otel__utf8_ok(const char *s, size_t len, int64_t max_chars)
{
    size_t i = ascii_prefix(s, len), n, bad;
    int64_t chars = (int64_t)i;

    if (i == len) {
        return max_chars < 0 || (int64_t)len <= max_chars;
    }
    while (i < len) {
        n = seq_len((const unsigned char *)s + i, len - i, &bad);
        if (n == 0) {
            return false;
        }
        i += n;
        chars++;
    }
    return max_chars < 0 || chars <= max_chars;
}

OTEL_API size_t otel_utf8_sanitize(const char *in, size_t len,
                                   int64_t max_chars, char *out, size_t cap,
                                   int *flags)
{
    static const char fffd[3] = { (char)0xEF, (char)0xBF, (char)0xBD };
    size_t i = 0, o = 0, n, bad;
    int64_t chars = 0;
    int f = 0;

    while (i < len) {
        const char *piece;
        size_t plen;

        if (max_chars >= 0 && chars >= max_chars) {
            f |= 1;
            break;
        }
        n = seq_len((const unsigned char *)in + i, len - i, &bad);
        if (n) {
            piece = in + i;
            plen = n;
            i += n;
        } else {
            piece = fffd;
            plen = 3;
            i += bad;
            f |= 2;
        }
        if (o + plen <= cap) {
            memcpy(out + o, piece, plen);
        }
        o += plen;
        chars++;
    }
    if (flags) {
        *flags = f;
    }
    return o;
}
