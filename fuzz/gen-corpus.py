#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/.

    python3 fuzz/gen-corpus.py

Deterministic: the same seeds every time, named by content.  Each seed is
a small input that reaches one case of the target's input format (see the
comment at the top of each fuzz/fuzz_*.c).
"""
import hashlib
import os
import struct
import sys

TOP = os.path.dirname(os.path.abspath(__file__))


def write(target, seeds):
    d = os.path.join(TOP, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    for s in seeds:
        name = hashlib.sha1(s).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as f:
            f.write(s)
    print("%s: %d seeds, %d bytes" % (target, len(seeds),
                                       sum(len(s) for s in seeds)))


# ---- fz_string(): a raw string of 0..63 bytes, or a dictionary entry ----
DICT = [b"", b"a", b"b", b"key", b"http.method", b"service.name", b"\xff",
        b"\xef\xbf\xbd", b"\xc3\xa9", b"\xc3", b"\xe2\x82\xac", b"\xe2\x82",
        b"\xf0\x9f\x98\x80", b"\xf0\x9f\x98", b"\xed\xa0\x80", b"\xc0\xaf",
        b"\xf4\x90\x80\x80", b"a\0b", b"\x80", b"\xe0\x80\x80", b"k\xff",
        b"k\xef\xbf\xbd"]
LONG_A, LONG_U, LONG_BAD = 35 - 3, 35 - 2, 35 - 1   # after the fixed ones


def S(s):
    """A raw string (at most 63 bytes)."""
    assert len(s) < 64
    return bytes([len(s)]) + s


def D(i):
    """Dictionary entry i."""
    return bytes([0xc0 + i])


def u64(v):
    return struct.pack(">Q", v & 0xffffffffffffffff)


def dbl(d):
    return struct.pack(">Q", struct.unpack("<Q", struct.pack("<d", d))[0])


TID = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
SID = bytes.fromhex("00f067aa0ba902b7")
TP = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


# ---- utf8 ------------------------------------------------------------------
def utf8():
    strs = [b"", b"hello", b"h\xc3\xa9llo", b"\xff", b"\xc3", b"\xe2\x82",
            b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xf0\x9f\x98",
            b"\xed\xa0\x80", b"\xed\x9f\xbf", b"\xc0\xaf", b"\xc1\xbf",
            b"\xe0\x80\xaf", b"\xe0\xa0\x80", b"\xf0\x80\x80\x80",
            b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80",
            b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80", b"\x80\x80\x80",
            b"a\xffb\xfec", b"\xef\xbf\xbd", b"a\0b",
            b"abc\xe2\x82\xac\xe2", b"\xe1\x80\xe2\xf0\x91\x92\xf1\xbf\x41",
            b"x" * 40 + b"\xc3\xa9" * 10, b"\xc3\xa9" * 30 + b"\xc3"]
    seeds = []
    for i, s in enumerate(strs):
        seeds.append(bytes([0x80, i * 7 % 256]) + s)      # no limit
        seeds.append(bytes([i % 6, 3]) + s)                # small limits
    seeds.append(bytes([0x40, 0x05, 0]) + b"y" * 10)       # 2-byte limit
    seeds.append(bytes([0x41, 0x00, 9]) + b"\xe2\x82\xac" * 20)
    return seeds


# ---- kvlist ---------------------------------------------------------------
def kvlist():
    return [
        b"", b"a=b", b"service.name=checkout,deployment.environment=prod",
        b" a = b , c = d ", b"\ta=b\n,\vc=d\r", b"=novalue", b"novalue",
        b"a=b=c", b",,,", b"a=", b"a=,b=", b"k=%ZZ", b"k=%4", b"k=%",
        b"k=%e2%82%ac", b"k=%E2%82%AC", b"k=%ff", b"%41%42=%43",
        b"%2541=%2542", b"%ff=1,%fe=2", b"\xff=1,\x80=2", b"key=\xc3\xa9",
        b"k\xc3=v", b"k=v%0d%0aX-Injected: y", b"a:b=c", b"a%3Ab=c",
        b"Authorization=Basic%20dXNlcjpwYXNz", b"a=1,A=2,a=3",
        b"a%00b=c,a%00c=d", b"k=a%00b", b"service.name=x,service.name=y",
        b"telemetry.sdk.name=other", b"%20=x", b"a%20=x",
        b"a=b,,c=d,=e,f", b"k=" + b"v" * 200,
        b",".join(b"k%d=v%d" % (i, i) for i in range(40)),
    ]


# ---- attrs ------------------------------------------------------------------
def attrs():
    START, STR, INT, DBL, BOOL, ARR, EVT, LNK, STAT, NAME, TS, END, ABN, \
        REC = range(14)
    default = bytes([0xfe] * 6)

    def head(lim=default, t0=S(b"lib") + S(b"1.0"), t1=S(b"other") + S(b"")):
        return lim + t0 + t1

    def ctx(tid=TID, sid=SID, flags=1, remote=1):
        return tid + sid + bytes([flags, remote])

    def start(slot, pm=0, kind=0, tsel=0, name=S(b"span"), t=0, c=b""):
        """pm % 5 == 2 reads a context (c) after the kind."""
        return (bytes([START, slot, pm, kind + 1]) + c + bytes([tsel])
                + name + u64(t))

    ev = lambda i: 1 + 4 * i        # target bytes
    ln = lambda i: 2 + 4 * i
    seeds = []
    # One span, every attribute type.
    seeds.append(head() + start(0)
                 + bytes([STR, 0, 0]) + S(b"http.method") + S(b"GET")
                 + bytes([INT, 0, 0]) + S(b"n") + u64(42)
                 + bytes([DBL, 0, 0]) + S(b"d") + dbl(1.5)
                 + bytes([BOOL, 0, 0]) + S(b"b") + b"\x01"
                 + bytes([ARR, 0, 0]) + S(b"as") + b"\x01\x03\x00"
                 + S(b"x") + S(b"") + D(6)
                 + bytes([ARR, 0, 0]) + S(b"ai") + b"\x03\x02" + u64(1)
                 + u64(2**63)
                 + bytes([ARR, 0, 0]) + S(b"ad") + b"\x04\x01" + dbl(-0.0)
                 + bytes([ARR, 0, 0]) + S(b"ab") + b"\x02\x03\x01\x00\xff"
                 + bytes([END, 0]) + u64(0))
    # Limits: 2 attributes, values of 3 code points, 1 event, 1 link.
    lim = bytes([2, 3, 1, 1, 1, 1])
    seeds.append(head(lim) + start(0)
                 + bytes([STR, 0, 0]) + S(b"a") + S(b"h\xc3\xa9llo")
                 + bytes([STR, 0, 0]) + S(b"b") + S(b"x")
                 + bytes([STR, 0, 0]) + S(b"c") + S(b"dropped")
                 + bytes([STR, 0, 0]) + S(b"a") + S(b"replaced")
                 + bytes([EVT, 0]) + S(b"e1") + u64(5)
                 + bytes([EVT, 0]) + S(b"e2") + u64(6)
                 + bytes([STR, 0, ev(0)]) + S(b"k") + S(b"v")
                 + bytes([STR, 0, ev(0)]) + S(b"k2") + S(b"v2")
                 + bytes([LNK, 0, 1]) + ctx() + S(b"a=b")
                 + bytes([LNK, 0, 1]) + ctx() + S(b"")
                 + bytes([INT, 0, ln(0)]) + S(b"k") + u64(1)
                 + bytes([INT, 0, ln(0)]) + S(b"k2") + u64(2)
                 + bytes([END, 0]) + u64(10))
    # Zero limits and unlimited value length.
    seeds.append(head(bytes([0, 0xff, 0, 0, 0, 0])) + start(0)
                 + bytes([STR, 0, 0]) + S(b"a") + D(LONG_U)
                 + bytes([EVT, 0]) + S(b"e") + u64(0)
                 + bytes([LNK, 0, 1]) + ctx() + S(b"")
                 + bytes([END, 0]) + u64(0))
    # Invalid limits are refused (0xff for counts, 0xfd for the length).
    seeds.append(head(bytes([0xff, 0xfd, 0xff, 0xff, 0xff, 0xff]))
                 + start(0) + bytes([END, 0]) + u64(0))
    # Keys that are not UTF-8: the same key set twice, and two keys that
    # repair to the same one.
    for k1, k2 in ((D(6), D(6)), (D(6), D(18)), (D(20), D(21)),
                   (D(7), D(6))):
        seeds.append(head(bytes([1, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe]))
                     + start(0) + bytes([STR, 0, 0]) + k1 + S(b"1")
                     + bytes([STR, 0, 0]) + k2 + S(b"2")
                     + bytes([END, 0]) + u64(0))
    # Tracer names and versions that are not UTF-8.
    seeds.append(head(default, D(6) + D(15), D(6) + D(15)) + start(0)
                 + bytes([END, 0]) + u64(0))
    seeds.append(head(default, D(9) + D(11), D(18) + D(19)) + start(0)
                 + start(1, tsel=1) + bytes([END, 1]) + u64(0))
    # Parents: another slot, remote, made up (sampled or not), invalid.
    seeds.append(head() + start(0) + start(1, pm=1 | 0 << 3)
                 + start(2, pm=4)
                 + start(3, pm=2, c=ctx(flags=0), name=S(b"unsampled"))
                 + start(3, pm=2, kind=2, c=ctx(flags=1, remote=1),
                         name=S(b"remote"), t=7)
                 + bytes([END, 1]) + u64(0) + bytes([END, 2]) + u64(0)
                 + bytes([END, 3]) + u64(0) + bytes([END, 0]) + u64(0))
    seeds.append(head() + start(0, pm=3) + bytes([END, 0]) + u64(0))
    # Kinds, invalid ones included; a NULL tracer.
    seeds.append(head() + b"".join(start(i % 4, kind=k, tsel=k % 3)
                                   for i, k in enumerate(range(-1, 6))))
    # Status: ERROR with a description, then OK (final), then ERROR.
    seeds.append(head() + start(0)
                 + bytes([STAT, 0, 3]) + S(b"boom \xff")
                 + bytes([STAT, 0, 2]) + S(b"ignored")
                 + bytes([STAT, 0, 3]) + S(b"ignored too")
                 + bytes([STAT, 0, 0]) + S(b"invalid code")
                 + bytes([STAT, 0, 4]) + S(b"invalid code")
                 + bytes([END, 0]) + u64(0))
    seeds.append(head() + start(0) + bytes([STAT, 0, 1]) + S(b"unset")
                 + bytes([STAT, 0, 3]) + S(b"") + bytes([END, 0]) + u64(0))
    # Names and trace state.
    seeds.append(head() + start(0, name=D(15))
                 + bytes([NAME, 0]) + S(b"renamed \xe2\x82")
                 + bytes([TS, 0]) + S(b"congo=t61rcWkgMzE")
                 + bytes([TS, 0]) + D(6) + bytes([END, 0]) + u64(0))
    # After end: every call is stale; abandon; is_recording.
    after = b"".join(bytes([op, 0]) + rest for op, rest in (
        (STR, b"\x00" + S(b"k") + S(b"v")), (EVT, S(b"e") + u64(0)),
        (LNK, b"\x01" + ctx() + S(b"")), (STAT, b"\x03" + S(b"x")),
        (NAME, S(b"n")), (TS, S(b"t")), (END, u64(0)), (ABN, b""),
        (REC, b"")))
    seeds.append(head() + start(0) + bytes([END, 0]) + u64(0) + after)
    seeds.append(head() + start(0) + bytes([REC, 0, ABN, 0]) + after)
    # Operations on slots that never had a span, and on a NULL-tracer span.
    seeds.append(head() + after)
    seeds.append(head() + start(0, tsel=2) + after)
    # Events and links: targets out of range, invalid link contexts.
    seeds.append(head() + start(0) + bytes([STR, 0, ev(3)]) + S(b"k")
                 + S(b"v") + bytes([STR, 0, ln(2)]) + S(b"k") + S(b"v")
                 + bytes([STR, 0, 3]) + S(b"k") + S(b"v")
                 + bytes([LNK, 0, 2]) + S(b"") + bytes([LNK, 0, 3]) + S(b"")
                 + bytes([LNK, 0, 0 | 1 << 2]) + S(b"")
                 + bytes([STR, 0, 0]) + S(b"") + S(b"empty key")
                 + bytes([ARR, 0, 0]) + S(b"bad") + b"\x00\x02"
                 + bytes([ARR, 0, 0]) + S(b"bad") + b"\x05\x02"
                 + bytes([ARR, 0, 0]) + S(b"empty") + b"\x01\x00\x80"
                 + bytes([END, 0]) + u64(0))
    # Many events and links with attributes under the default limits.
    body = b""
    for i in range(6):
        body += bytes([EVT, 0]) + S(b"e%d" % i) + u64(i + 1)
        body += bytes([LNK, 0, 1]) + ctx() + S(b"k=v%d" % i)
        body += bytes([DBL, 0, ev(i % 4)]) + S(b"x") + dbl(i / 3)
        body += bytes([BOOL, 0, ln(i % 4)]) + S(b"y") + bytes([i])
    seeds.append(head() + start(0) + body + bytes([END, 0]) + u64(0))
    # Array strings with NULL elements and value cuts.
    seeds.append(head(bytes([0xfe, 2, 0xfe, 0xfe, 0xfe, 0xfe])) + start(0)
                 + bytes([ARR, 0, 0]) + S(b"s") + b"\x01\x06\x05"
                 + S(b"abc") + S(b"xyz") + S(b"\xc3\xa9\xc3\xa9\xc3\xa9")
                 + S(b"\xff\xfe") + S(b"") + D(LONG_BAD)
                 + bytes([END, 0]) + u64(0))
    return seeds


# ---- otlp -------------------------------------------------------------------
def otlp():
    def cfg(lim=bytes([0xf0] * 6), res=b"\x00", svc=b"\x00"):
        return lim + res + svc

    tracers = S(b"lib") + S(b"1.0") + S(b"other") + S(b"2") + S(b"") + S(b"")

    def span(pm=0, kind=0, name=S(b"s"), start=1000, ops=b"", nops=0,
             end=2000, ctx=None):
        return (bytes([pm]) + (ctx or b"") + bytes([kind]) + name
                + u64(start) + bytes([nops]) + ops + u64(end))

    def attr(target, t, key, val):
        return bytes([0, target, t]) + key + val

    ctx = TID + SID + b"\x01\x01"
    seeds = []
    every = (attr(0, 0, S(b"str"), S(b"v"))
             + attr(0, 1, S(b"int"), u64(-5))
             + attr(0, 2, S(b"dbl"), dbl(2.5))
             + attr(0, 8, S(b"bool"), b"")
             + attr(0, 4, S(b"as"), b"\x02" + S(b"a") + S(b""))
             + attr(0, 9, S(b"ab"), b"\x02\x01\x00")
             + attr(0, 19, S(b"ai"), b"\x01" + u64(7))
             + attr(0, 29, S(b"ad"), b"\x01" + dbl(float("nan"))))
    seeds.append(cfg() + tracers + b"\x00\x00" + span(ops=every, nops=8))
    evl = (bytes([3]) + S(b"ev") + u64(5) + attr(1, 0, S(b"k"), S(b"v"))
           + bytes([4]) + ctx + S(b"a=b") + attr(2, 1, S(b"k"), u64(1))
           + bytes([5 | 16]) + S(b"err") + bytes([6]) + S(b"x=y")
           + bytes([7]) + S(b"renamed"))
    seeds.append(cfg() + tracers + b"\x00\x00" + span(ops=evl, nops=8))
    # Several scopes interleaved, parents, a split, a buffer with bytes.
    spans = b"".join(span(pm=(i % 3) << 4 | (1 if i else 0), kind=i % 5,
                          name=S(b"s%d" % i)) for i in range(7))
    for mode, split in ((0, 3), (1, 0), (3, 7), (0x41, 2), (0xff, 5)):
        seeds.append(cfg() + tracers + bytes([mode, split]) + spans)
    # A remote parent, a link to an earlier span, status OK, no times.
    seeds.append(cfg() + tracers + b"\x00\x01" + span()
                 + span(pm=2, ctx=ctx, start=0, end=0,
                        ops=bytes([4 | 8]) + S(b"") + bytes([5 | 8])
                        + S(b"ok"), nops=2))
    # Limits: drops everywhere.
    seeds.append(cfg(bytes([1, 2, 1, 1, 0, 0])) + tracers + b"\x00\x00"
                 + span(ops=every + evl, nops=15))
    # Resource of every type, a service name, invalid UTF-8.
    res = (b"\x05" + b"\x00" + S(b"r.s") + S(b"v\xff")
           + b"\x01" + S(b"r.i") + u64(3) + b"\x02" + S(b"r.d") + dbl(1e300)
           + b"\x03" + D(6) + b"\x07" + D(17))
    seeds.append(cfg(res=res, svc=b"\x01" + S(b"svc")) + tracers
                 + b"\x00\x00" + span())
    seeds.append(cfg(res=b"\x00", svc=b"\x01" + D(6)) + S(b"\xff")
                 + S(b"\xc3") + D(17) + D(17) + S(b"") + S(b"")
                 + b"\x00\x00" + span(pm=0x10) + span(pm=0x20))
    # No spans at all; a NUL in strings.
    seeds.append(cfg() + tracers + b"\x00\x00")
    seeds.append(cfg() + tracers + b"\x00\x00"
                 + span(name=D(17), ops=attr(0, 0, D(17), D(17)), nops=1))
    # Long strings.
    seeds.append(cfg() + tracers + b"\x00\x00"
                 + span(name=D(LONG_A), ops=attr(0, 0, S(b"l"), D(LONG_U)),
                        nops=1))
    return seeds


# ---- traceparent -----------------------------------------------------------
def traceparent():
    tps = [TP, TP[:-2] + b"00", TP[:-2] + b"ff", b"  " + TP + b"\t",
           b"01" + TP[2:] + b"-extra", b"01" + TP[2:], b"01" + TP[2:] + b"x",
           b"00" + TP[2:] + b"-extra", b"ff" + TP[2:], TP.upper(),
           TP[:3] + b"0" * 32 + TP[35:], TP[:36] + b"0" * 16 + TP[52:],
           TP[:-1], TP + b"0", TP.replace(b"-", b"_"), b"",
           b"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
           b"cc" + TP[2:]]
    states = [b"", b"congo=t61rcWkgMzE",
              b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
              b" a=1 , b=2 ,, c=3 ", b"a=1,a=2", b"a@b=1,tenant1@sys=x",
              b"1a=x", b"0@a=x", b"a@1=x", b"A=x", b"a=", b"a= ", b"a= x",
              b"a=x ", b"a=x\ty", b"a=b=c", b"a=,b=1", b"a=\x7f",
              b",".join(b"k%d=v" % i for i in range(34)),
              b"a=" + b"x" * 200 + b",b=" + b"y" * 200 + b",c=" + b"z" * 150,
              b",".join(b"k%d=" % i + b"v" * 60 for i in range(10)),
              b"a" * 257 + b"=x", b"a=" + b"x" * 257,
              b"t" * 241 + b"@" + b"s" * 14 + b"=x",
              b"t" * 242 + b"@s=x", b"t@" + b"s" * 15 + b"=x"]
    seeds = []
    for i, tp in enumerate(tps):
        seeds.append(bytes([171]) + tp + b"\n" + states[i % len(states)])
    for i, ts in enumerate(states):
        seeds.append(bytes([171]) + TP + b"\n" + ts)
        seeds.append(bytes([(0, 1, 20, 43, 200, 255)[i % 6]]) + TP
                     + b"\n" + ts)
    return seeds


# ---- baggage ----------------------------------------------------------------
def baggage():
    headers = [b"", b"userId=alice,serverNode=DF%2028,isProduction=false",
               b"k=v;p=1;q", b"k = v ; p = 1 ; q", b"k=%E2%82%AC",
               b"k=%e2%82%ac", b"k=%FF", b"k=%C3", b"k=%", b"k=%4",
               b"k=%ZZ", b"bad key=v", b"k=v v", b"k=v,,k2=v2, ,k3=",
               b"k=v;", b"k=v;;p", b"k=v;p=", b"k=v;p= ,x=y", b"k=v;p =",
               b"k=\"v\"", b"k=v\\", b"=v", b"k", b"k=v;p=a=b",
               b"k=v;p=a b", b"\tk\t=\tv\t", b"k!#$%&'*+-.^_`|~=v",
               b",".join(b"k%d=v" % i for i in range(185)),
               b"k=" + b"v" * 3000 + b",k2=" + b"w" * 1000,
               b"k=a%2Cb%3Bc%20d", b"k=v;p;q;r=s;t"]
    seeds = [bytes([0, (0, 4, 30)[i % 3]]) + h for i, h in enumerate(headers)]
    # One header past 8192 bytes, so the byte limit is reached.
    seeds.append(b"\x00\x00" + b",".join(b"key%03d=" % i + b"v" * 90
                                         for i in range(90)))

    def put(k, v, m):
        return k + v + m
    puts = [
        put(S(b"userId"), S(b"alice"), S(b"")),
        put(S(b"k"), S(b"a b,c;d=e%f\xe2\x82\xac"), S(b"p=1;q")),
        put(S(b"k"), S(b"v"), S(b" p = 1 ")),
        put(S(b"k"), S(b"v"), S(b"not props,")),
        put(S(b"bad key"), S(b"v"), S(b"")),
        put(S(b""), S(b"v"), S(b"")),
        put(S(b"k"), D(6), S(b"")),
        put(S(b"k"), D(LONG_U), S(b"")),
        put(S(b"k"), S(b"~-._"), S(b"  ")),
    ]
    seeds += [b"\x01\x00" + p for p in puts]
    seeds.append(b"\x01\x00" + b"".join(puts))
    seeds.append(b"\x01\x01" + b"".join(puts))       # 40 bytes of room
    seeds.append(b"\x01\x00" + put(S(b"k"), S(b"v"), S(b"")) * 185)
    seeds.append(b"\x01\x00" + put(S(b"k"), D(LONG_BAD), S(b"")) * 20)
    return seeds


# ---- b3 --------------------------------------------------------------------
def b3():
    t32 = b"80f198ee56343ba864fe8b2a57d3eff7"
    t16 = b"a3ce929d0e0e4736"
    s16 = b"e457b5a2e4d86bd1"
    p16 = b"05e3ac9a4f6e3b90"
    singles = [t32 + b"-" + s16 + b"-1-" + p16, t32 + b"-" + s16 + b"-d",
               t32 + b"-" + s16 + b"-0", t32 + b"-" + s16, t16 + b"-" + s16,
               t16 + b"-" + s16 + b"-1", b"0", b"1", b"d", b"x", b"",
               b" " + t32 + b"-" + s16 + b"-1 ", t32.upper() + b"-" + s16,
               t32 + b"-" + s16 + b"-2", t32 + b"-" + s16 + b"-",
               t32 + b"-" + s16 + b"-1-", t32 + b"-" + s16 + b"-1-" + p16
               + b"-x", b"0" * 32 + b"-" + s16, t32 + b"-" + b"0" * 16,
               b"0" * 16 + b"-" + s16, t32 + b"-" + s16[:-1],
               t32[:-1] + b"-" + s16, t32 + b"-" + s16 + b"-10"]
    seeds = [b"\x00" + s for s in singles]
    multis = [(0x1e, [t32, s16, b"1", b"0"]), (0x06, [t16, s16]),
              (0x0e, [t32, s16, b"true"]), (0x0e, [t32, s16, b"false"]),
              (0x0e, [t32, s16, b"yes"]), (0x16, [t32, s16, b"", b"1"]),
              (0x1e, [t32, s16, b"0", b"1"]), (0x1e, [t32, s16, b"x", b"1"]),
              (0x04, [b"", s16]), (0x02, [t32]), (0x18, [b"", b"", b"1",
                                                          b"1"]),
              (0x00, []), (0x06, [b" " + t32 + b"\t", b" " + s16]),
              (0x06, [b"0" * 32, s16]), (0x06, [t32, b"0" * 16]),
              (0x06, [t32, s16 + b"0"]), (0x16, [t32, s16, b"", b"10"]),
              (0x16, [t32, s16, b"", b" 1 "])]
    for bits, vals in multis:
        seeds.append(bytes([bits | 1]) + b"\n".join(vals))
    return seeds


# ---- other tracers' formats ----------------------------------------------
T32 = b"4bf92f3577b34da6a3ce929d0e0e4736"
S16 = b"00f067aa0ba902b7"


def jaeger():
    ctx = [T32 + b":" + S16 + b":0:1", T32 + b":" + S16 + b":0:3",
           b"abc:1f:0:0", T32.upper() + b":" + S16 + b":0:01",
           T32 + b"%3A" + S16 + b"%3a0%3A1", b" " + T32 + b":" + S16
           + b":0:1 ", T32 + b":" + S16 + b":0", T32 + b":" + S16
           + b":0:1:x", b"0:" + S16 + b":0:1", T32 + b":0:0:1",
           T32 + b"0:" + S16 + b":0:1", T32 + b":" + S16 + b":0:100",
           T32 + b":" + S16 + b"::1", b"", b":::", b"x:y:z:w"]
    seeds = [b"\x00" + c for c in ctx] + [b"\x01"]
    bags = [b"uberctx-user\nalice", b"UberCtx-k\na%20b%2", b"uberctx-\nv",
            b"uberctx-a b\nv", b"x-other\nv", b"uberctx-k\n  v  ",
            b"uberctx-k\n\xff\xfe", b"uberctx-k\n" + b"%41" * 100]
    return seeds + [b"\x02" + b for b in bags]


def ottrace():
    multis = [(7, [b"0000000000000001", b"0000000000000002", b"true"]),
              (7, [T32, S16, b"1"]), (3, [T32[16:], S16]),
              (7, [T32, S16, b"false"]), (7, [T32, S16, b"yes"]),
              (1, [T32]), (2, [b"", S16]), (0, []),
              (3, [T32[:31], S16]), (3, [T32.upper(), S16]),
              (3, [b"0" * 16, S16]), (3, [T32, b"0" * 16]),
              (7, [b" " + T32 + b" ", S16, b" 0 "])]
    seeds = [bytes([bits]) + b"\n".join(vals) for bits, vals in multis]
    bags = [b"ot-baggage-user\nalice", b"OT-Baggage-K\nv w",
            b"ot-baggage-k\na\x01b", b"ot-baggage-\nv", b"other\nv"]
    return seeds + [b"\x80" + b for b in bags]


def xray():
    root = b"Root=1-5759e988-bd862e3fe1be46a994272793"
    par = b"Parent=53995c3f42cd8ad8"
    vals = [root + b";" + par + b";Sampled=1", par + b";" + root,
            root + b";" + par + b";Sampled=?", root + b";" + par
            + b";Sampled=0;Lineage=a87bd80c:1|68fd508a:5",
            b" " + root + b" ; " + par + b" ;; ", root, par,
            root + b";" + par + b";" + par, root + b";" + par + b";Sampled=2",
            root.replace(b"1-", b"2-") + b";" + par, root.upper() + b";" + par,
            b"Root = 1-5759e988-bd862e3fe1be46a994272793;" + par,
            root + b";Parent", b"", b";", b"Self=1-67891234-abc"]
    return [b"\x00" + v for v in vals] + [b"\x01"]


def gcp():
    vals = [T32 + b"/1;o=1", T32 + b"/18446744073709551615;o=0",
            T32 + b"/18446744073709551616", T32 + b"/0;o=1", T32 + b"/12",
            T32 + b"/12;o=3", T32 + b"/12;o=", T32 + b"/12;o=10",
            T32 + b"/12;x=1", T32.upper() + b"/1", T32[:31] + b"/1",
            b" " + T32 + b"/1;o=1 ", T32 + b"/", T32 + b"/a", b"/1", b""]
    return [b"\x00" + v for v in vals] + [b"\x01"]


def datadog():
    multis = [(0x1f, [b"1234", b"5678", b"1", b"synthetics",
                      b"_dd.p.dm=-4,_dd.p.tid=640cfd8d00000000"]),
              (0x03, [b"18446744073709551615", b"1"]),
              (0x07, [b"1", b"2", b"-1"]), (0x07, [b"1", b"2", b"2"]),
              (0x07, [b"1", b"2", b"x"]), (0x07, [b"1", b"2", b"-"]),
              (0x13, [b"1", b"2", b"", b"", b"_dd.p.tid=XYZ"]),
              (0x13, [b"1", b"2", b"", b"", b"_dd.p.tid="]),
              (0x0b, [b"1", b"2", b"", b"a,b;c=d~e f\xff"]),
              (0x0b, [b"1", b"2", b"", b"o" * 201]),
              (0x03, [b"0", b"2"]), (0x03, [b"1", b"0"]),
              (0x03, [b"18446744073709551616", b"1"]), (0x01, [b"1"]),
              (0x00, []), (0x18, [b"", b"", b"", b"rum", b"x=y"]),
              (0x03, [b" 12 ", b"\t34"]), (0x03, [b"+1", b"2"])]
    return [bytes([bits]) + b"\n".join(vals) for bits, vals in multis]



def upstream():
    sets = [(0x1f, [b"127.0.0.1:8081", b"200", b"0.001", b"0.012",
                    b"0.120"]),
            (0x3f, [b"10.0.0.1:80, [::1]:8080 : unix:/run/app.sock",
                    b"502, 504 : 200", b"0.000, -, 0.002", b"-, -, 0.010",
                    b"0.003, 0.300, 0.050", b"backend"]),
            (0x00, []), (0x01, [b"a:1"]), (0x1f, [b"a:1, b:2", b"-", b"",
                                                  b"x", b"1.2.3"]),
            (0x1f, [b",,, : ,", b"999999999999", b"99999999999.999",
                    b"-1", b"0.0001"]),
            (0x21, [b"[::1", b"", b"", b"", b"", b"[v6]:99999"]),
            (0x1f, [b"h:\xff\xfe", b"200", b"0", b"0", b"0"])]
    return [bytes([bits]) + b"\n".join(vals) for bits, vals in sets]


# ---- response ---------------------------------------------------------------
def varint(v):
    v &= 0xffffffffffffffff
    out = b""
    while v >= 0x80:
        out += bytes([v & 0x7f | 0x80])
        v >>= 7
    return out + bytes([v])


def response():
    def ps(body):
        return b"\x0a" + varint(len(body)) + body

    def rej(n):
        return b"\x08" + varint(n)

    def msg(m):
        return b"\x12" + varint(len(m)) + m
    bodies = [b"", ps(b""), ps(rej(5)), ps(rej(5) + msg(b"too big")),
              ps(msg(b"only a message")), ps(rej(-1)), ps(rej(2**63 - 1)),
              ps(rej(3) + msg(b"x" * 300)), ps(msg(b"a\0b")),
              ps(msg(b"\xff\xfe")), ps(rej(1) + rej(2)),
              ps(rej(1)) + ps(msg(b"merged")), b"\x0a\x05\x08",
              b"\x0a", b"\xff\xff", b"\x12\x03abc", b"\x0b",
              ps(b"\x1a\x02hi" + rej(7)), b"\x0a\x80\x80\x80\x80\x10"]
    return [bytes([cap]) + b for b in bodies for cap in (0, 1, 8, 255)
            if cap in (8, 255) or len(b) < 12]


# ---- grpc -------------------------------------------------------------------
def grpc():
    import base64

    def ld(field, body):
        return varint(field << 3 | 2) + varint(len(body)) + body

    def status(type_url, secs, nanos):
        dur = varint(1 << 3) + varint(secs) + varint(2 << 3) + varint(nanos)
        any_ = ld(1, type_url) + ld(2, ld(1, dur))
        return varint(1 << 3) + varint(8) + ld(2, b"slow") + ld(3, any_)
    ri = b"type.googleapis.com/google.rpc.RetryInfo"
    frames = [b"", b"\0\0\0\0\0", b"\0\0\0\0\x03abc", b"\x01\0\0\0\x01x",
              b"\0\0\0\0\x09abc", b"\x02\0\0\0\0", b"\0\0"]
    details = [base64.b64encode(status(ri, 2, 500000000)),
               base64.b64encode(status(ri, 2, 500000000)).rstrip(b"="),
               base64.b64encode(status(b"type.googleapis.com/x", 1, 0)),
               base64.b64encode(status(ri, 10**6, 0)),
               base64.urlsafe_b64encode(status(ri, 0, 999999999)),
               b"!!!", b"", b"CAg="]
    answers = [b"", b"{}", b'{"partialSuccess":{"rejectedSpans":"3"}}',
               b' {"partialSuccess": {"rejectedSpans": 7}}',
               b'{"rejectedSpans":"99999999999999999999999"}', b"<html>",
               b"  ", b'{"rejectedSpans"']
    return ([b"\0" + f for f in frames] + [b"\x01" + d for d in details]
            + [b"\x02" + a for a in answers])


TARGETS = {"utf8": utf8, "kvlist": kvlist, "attrs": attrs, "otlp": otlp,
           "traceparent": traceparent, "baggage": baggage, "b3": b3,
           "response": response, "jaeger": jaeger, "ottrace": ottrace,
           "xray": xray, "gcp": gcp, "datadog": datadog,
           "upstream": upstream, "grpc": grpc}

if __name__ == "__main__":
    for name in sys.argv[1:] or TARGETS:
        write(name, TARGETS[name]())
