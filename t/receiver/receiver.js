#!/usr/bin/env node
// Test OTLP trace receiver for lua-otel's tests: OTLP/HTTP (protobuf and
// JSON) and, with --grpc-port, OTLP/gRPC on @grpc/grpc-js.
//
// Decoding deliberately uses the official OpenTelemetry JS generated protobuf
// code (@opentelemetry/otlp-transformer, pinned in package.json), never our
// own .proto handling, so the exporter is checked against an independent
// implementation. See README.md for the HTTP/control API.
'use strict';

const http = require('http');
const https = require('https');
const zlib = require('zlib');
const fs = require('fs');
const path = require('path');

const root = require('@opentelemetry/otlp-transformer/build/src/generated/root.js');

const pb = root.opentelemetry.proto;
const ExportTraceServiceRequest = pb.collector.trace.v1.ExportTraceServiceRequest;
const ExportTraceServiceResponse = pb.collector.trace.v1.ExportTraceServiceResponse;

// Bodies larger than this are refused (413) instead of buffered without end.
const MAX_BODY = 64 * 1024 * 1024;

// ---------------------------------------------------------------- arguments

function usage(msg) {
  if (msg) process.stderr.write(`receiver: ${msg}\n`);
  process.stderr.write(
    'usage: node receiver.js --port N [--host 127.0.0.1] [--port-file PATH]\n' +
    '                        [--keep-alive-timeout MS] [--verbose]\n' +
    '                        [--tls-cert PEM --tls-key PEM] [--max-records N]\n' +
    '                        [--tls-client-ca PEM] [--grpc-port N]\n' +
    '                        [--grpc-port-file PATH]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    port: null, host: '127.0.0.1', portFile: null, keepAliveMs: null, verbose: false,
    tlsCert: null, tlsKey: null, maxRecords: null, tlsClientCa: null,
    grpcPort: null, grpcPortFile: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') opts.port = Number(next());
    else if (a === '--host') opts.host = next();
    else if (a === '--port-file') opts.portFile = next();
    else if (a === '--keep-alive-timeout') opts.keepAliveMs = Number(next());
    else if (a === '--verbose' || a === '-v') opts.verbose = true;
    else if (a === '--tls-cert') opts.tlsCert = next();
    else if (a === '--tls-key') opts.tlsKey = next();
    else if (a === '--max-records') opts.maxRecords = Number(next());
    else if (a === '--tls-client-ca') opts.tlsClientCa = next();
    else if (a === '--grpc-port') opts.grpcPort = Number(next());
    else if (a === '--grpc-port-file') opts.grpcPortFile = next();
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument ${a}`);
  }
  if (opts.port === null || !Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    usage('--port must be an integer 0..65535');
  }
  if (!opts.tlsCert !== !opts.tlsKey) usage('--tls-cert and --tls-key go together');
  if (opts.tlsClientCa && !opts.tlsCert) usage('--tls-client-ca needs --tls-cert');
  if (opts.grpcPort !== null && !(Number.isInteger(opts.grpcPort) && opts.grpcPort >= 0 && opts.grpcPort <= 65535)) {
    usage('--grpc-port must be an integer 0..65535');
  }
  if (opts.maxRecords !== null && !(Number.isInteger(opts.maxRecords) && opts.maxRecords >= 0)) {
    usage('--max-records must be an integer >= 0');
  }
  // This receiver is test plumbing with no auth: never expose it beyond loopback.
  if (!/^127\.\d+\.\d+\.\d+$/.test(opts.host) && opts.host !== '::1' && opts.host !== 'localhost') {
    usage(`refusing non-loopback --host ${opts.host}`);
  }
  return opts;
}

// ------------------------------------------------------ protobuf -> JSON

// longs: String keeps int64/fixed64 exact (times, intValue > 2^53); bytes are
// left as Buffers by protobufjs here and turned into hex by hexify() below,
// since protobufjs itself only offers base64 or number arrays.
const TO_OBJECT = { longs: String, enums: Number, defaults: true, arrays: true };

function hexify(v) {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  if (Array.isArray(v)) return v.map(hexify);
  if (v !== null && typeof v === 'object') {
    const out = {};
    for (const k of Object.keys(v)) out[k] = hexify(v[k]);
    return out;
  }
  return v;
}

function decodeRequest(buf) {
  const msg = ExportTraceServiceRequest.decode(buf);
  return hexify(ExportTraceServiceRequest.toObject(msg, TO_OBJECT));
}

// OTLP/JSON: ids are hex where protobuf's JSON mapping has base64, so they
// are turned into bytes before the official code's fromObject() reads the
// rest (camelCase names, int64 as strings, enums as integers).  A field
// name it does not know is reported, not silently dropped.
const JSON_IDS = new Set(['traceId', 'spanId', 'parentSpanId']);

function idsToBytes(v, where) {
  if (Array.isArray(v)) return v.map((x) => idsToBytes(x, where));
  if (v === null || typeof v !== 'object') return v;
  const out = {};
  for (const k of Object.keys(v)) {
    if (JSON_IDS.has(k)) {
      if (typeof v[k] !== 'string' || !/^([0-9a-f]{2})*$/.test(v[k])) throw new Error(`${where}.${k} is not lower-case hex`);
      out[k] = Buffer.from(v[k], 'hex');
    } else out[k] = idsToBytes(v[k], `${where}.${k}`);
  }
  return out;
}

function decodeJSONRequest(buf) {
  const obj = idsToBytes(JSON.parse(buf.toString('utf8')), 'request');
  const msg = ExportTraceServiceRequest.fromObject(obj);
  const err = ExportTraceServiceRequest.verify(msg);
  if (err) throw new Error(err);
  // Round trip through the wire format: what a collector would hold.
  return decodeRequest(ExportTraceServiceRequest.encode(msg).finish());
}

// Without the `long` package protobufjs silently decodes 64-bit ints as JS
// numbers and loses precision; check once at start-up instead of producing
// subtly wrong test data later.
function selfCheck() {
  const AnyValue = pb.common.v1.AnyValue;
  const v = 2n ** 53n + 1n;
  const bytes = [0x18]; // field 3 (intValue), varint
  let x = v;
  while (x >= 0x80n) { bytes.push(Number(x & 0x7fn) | 0x80); x >>= 7n; }
  bytes.push(Number(x));
  const obj = AnyValue.toObject(AnyValue.decode(Buffer.from(bytes)), TO_OBJECT);
  if (obj.intValue !== v.toString()) {
    throw new Error(`protobufjs lost int64 precision (got ${obj.intValue}); is the "long" package installed?`);
  }
}

// AnyValue (as produced by TO_OBJECT) -> plain JS value.
function plain(av) {
  if (av === null || av === undefined) return null;
  if ('stringValue' in av) return av.stringValue;
  if ('boolValue' in av) return av.boolValue;
  if ('intValue' in av) return av.intValue;
  if ('doubleValue' in av) return av.doubleValue;
  if ('bytesValue' in av) return av.bytesValue;
  if ('arrayValue' in av) return ((av.arrayValue && av.arrayValue.values) || []).map(plain);
  if ('kvlistValue' in av) return flattenAttrs(av.kvlistValue && av.kvlistValue.values);
  return null; // empty AnyValue
}

function flattenAttrs(kvs) {
  const out = {};
  for (const kv of kvs || []) out[kv.key] = plain(kv.value);
  return out;
}

// ---------------------------------------------------------------- state

const state = {
  seq: 0,
  records: [], // recorded trace POSTs, in arrival order
  raws: new Map(), // seq -> decompressed body (Buffer)
  modes: {}, // name -> options; see CONTROL_MODES
  // Since start, never cleared (records may be: DELETE, --max-records).
  total: { requests: 0, accepted: 0, spans: 0 },
  tlsClientErrors: 0, // TLS handshakes that failed (https only)
};

// Each mode applies to the next `times` trace POSTs; -1 = forever, 0 = off.
const CONTROL_MODES = {
  status(b) {
    const status = Number(b.status);
    if (!Number.isInteger(status) || status < 100 || status > 599) throw new Error('status must be an HTTP status code');
    const m = { status };
    if (b.retry_after !== undefined && b.retry_after !== null) m.retry_after = String(b.retry_after);
    return m;
  },
  partial(b) {
    const rejected = b.rejected === undefined ? 0 : Number(b.rejected);
    if (!Number.isInteger(rejected) || rejected < 0) throw new Error('rejected must be a non-negative integer');
    return { rejected, message: b.message === undefined ? '' : String(b.message) };
  },
  slow(b) {
    const delay = Number(b.delay_ms);
    if (!Number.isFinite(delay) || delay < 0) throw new Error('delay_ms must be a non-negative number');
    return { delay_ms: delay };
  },
  hang() { return {}; },
  // big: a 200 whose body is `bytes` bytes of padding (an oversized answer).
  big(b) {
    const bytes = Number(b.bytes);
    if (!Number.isInteger(bytes) || bytes < 0) throw new Error('bytes must be a non-negative integer');
    return { bytes };
  },
  // reset: true sends a TCP RST instead of a plain close (FIN).  With
  // after_bytes the connection goes as soon as that many body bytes have
  // arrived (mid-body, before the request is complete).
  close(b) {
    const m = { reset: !!b.reset };
    if (b.after_bytes !== undefined) {
      const n = Number(b.after_bytes);
      if (!Number.isInteger(n) || n < 0) throw new Error('after_bytes must be a non-negative integer');
      m.after_bytes = n;
    }
    return m;
  },
};

function setMode(name, body) {
  const m = CONTROL_MODES[name](body);
  const times = body.times === undefined ? 1 : Number(body.times);
  if (!Number.isInteger(times) || times < -1) throw new Error('times must be an integer >= -1');
  if (times === 0) delete state.modes[name];
  else state.modes[name] = { ...m, times };
}

// Takes one use of a mode, if it is active; returns its options or null.
function consume(name) {
  const m = state.modes[name];
  if (!m) return null;
  if (m.times > 0 && --m.times === 0) delete state.modes[name];
  return m;
}

function acceptedRecords() {
  return state.records.filter((r) => r.accepted);
}

function allSpans() {
  const out = [];
  for (const r of acceptedRecords()) {
    for (const rs of (r.decoded && r.decoded.resourceSpans) || []) {
      const resource = flattenAttrs(rs.resource && rs.resource.attributes);
      for (const ss of rs.scopeSpans || []) {
        const sc = ss.scope || {};
        const scope = { name: sc.name || '', version: sc.version || '', attrs: flattenAttrs(sc.attributes) };
        for (const span of ss.spans || []) {
          out.push({
            ...span,
            // proto3: an absent Status message means code UNSET; spare tests the null.
            status: span.status || { message: '', code: 0 },
            events: (span.events || []).map((e) => ({ ...e, attrs: flattenAttrs(e.attributes) })),
            links: (span.links || []).map((l) => ({ ...l, attrs: flattenAttrs(l.attributes) })),
            attrs: flattenAttrs(span.attributes),
            resource,
            scope,
            seq: r.seq,
          });
        }
      }
    }
  }
  return out;
}

function countSpans(decoded) {
  let n = 0;
  for (const rs of (decoded && decoded.resourceSpans) || []) {
    for (const ss of rs.scopeSpans || []) n += (ss.spans || []).length;
  }
  return n;
}

// ---------------------------------------------------------------- HTTP

let opts;

function log(msg) {
  process.stderr.write(`receiver: ${msg}\n`);
}

function sendJSON(res, status, obj) {
  const body = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}

function sendText(res, status, text) {
  const body = Buffer.from(text);
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c) => {
      size += c.length;
      // Keep draining so the response can still be delivered, but drop the data.
      if (size > MAX_BODY) { tooBig = true; chunks.length = 0; return; }
      chunks.push(c);
    });
    req.on('end', () => resolve({ body: Buffer.concat(chunks), size, tooBig }));
    req.on('error', reject);
  });
}

function parseJSONBody(buf) {
  if (buf.length === 0) return {};
  const v = JSON.parse(buf.toString('utf8'));
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('body must be a JSON object');
  return v;
}

function mediaType(h) {
  return String(h || '').split(';')[0].trim().toLowerCase();
}

// close mode with after_bytes: drop the connection while the body is still
// coming in.  The record keeps what arrived (body_size), nothing decoded.
function closeMidBody(req, pathname, m) {
  const rec = {
    seq: ++state.seq, time_ms: Date.now(), method: req.method, path: pathname,
    headers: { ...req.headers }, content_type: req.headers['content-type'] || null,
    content_encoding: req.headers['content-encoding'] || null, body_size: 0, raw_size: null,
    spans: 0, decoded: null, error: null, fault: m.reset ? 'reset' : 'close', mid_body: true,
    answered: null, accepted: false,
  };
  addRecord(rec);
  let done = false;
  const drop = () => {
    if (done) return;
    done = true;
    if (opts.verbose) log(`#${rec.seq} dropping connection after ${rec.body_size} body bytes`);
    if (m.reset) req.socket.resetAndDestroy(); else req.socket.destroy();
  };
  req.on('data', (c) => {
    if (done) return;
    rec.body_size += c.length;
    if (rec.body_size >= m.after_bytes) drop();
  });
  req.on('end', drop); // a body shorter than after_bytes
  req.on('error', () => {});
}

function addRecord(rec) {
  state.records.push(rec);
  state.total.requests++;
  if (opts.maxRecords !== null) {
    while (state.records.length > opts.maxRecords) state.raws.delete(state.records.shift().seq);
  }
}

async function handleTrace(req, res, pathname) {
  const early = state.modes.close && state.modes.close.after_bytes !== undefined;
  if (early) return closeMidBody(req, pathname, consume('close'));
  const { body, size, tooBig } = await readBody(req);
  const rec = {
    seq: ++state.seq,
    time_ms: Date.now(),
    method: req.method,
    path: pathname,
    headers: { ...req.headers }, // node already lower-cases header names
    content_type: req.headers['content-type'] || null,
    content_encoding: req.headers['content-encoding'] || null,
    body_size: size,
    raw_size: null,
    spans: 0,
    decoded: null,
    error: null,
    fault: null,
    answered: null,
    accepted: false,
  };
  addRecord(rec);

  // Work out the normal answer first, so the record holds the decoded payload
  // even when a fault mode overrides the answer (tests compare retries).
  let status = 200;
  const enc = mediaType(rec.content_encoding);
  if (tooBig) {
    status = 413;
    rec.error = `body larger than ${MAX_BODY} bytes`;
  } else if (mediaType(rec.content_type) !== 'application/x-protobuf'
             && mediaType(rec.content_type) !== 'application/json') {
    status = 415;
    rec.error = `unsupported content-type ${JSON.stringify(rec.content_type)}`;
  } else {
    let raw = null;
    if (enc === '' || enc === 'identity') raw = body;
    else if (enc === 'gzip') {
      try { raw = zlib.gunzipSync(body); } catch (e) { status = 400; rec.error = `gunzip failed: ${e.message}`; }
    } else {
      status = 415;
      rec.error = `unsupported content-encoding ${JSON.stringify(rec.content_encoding)}`;
    }
    if (raw) {
      if (opts.maxRecords !== 0) state.raws.set(rec.seq, raw);
      rec.raw_size = raw.length;
      try {
        rec.decoded = mediaType(rec.content_type) === 'application/json' ? decodeJSONRequest(raw) : decodeRequest(raw);
        rec.spans = countSpans(rec.decoded);
      } catch (e) {
        status = 400;
        rec.error = `decode failed: ${e.message}`;
      }
    }
  }
  if (rec.error) log(`#${rec.seq} ${pathname}: ${rec.error}`);

  // Fault modes, in order of precedence. close/hang never answer at all.
  const close = consume('close');
  if (close) {
    rec.fault = close.reset ? 'reset' : 'close';
    if (opts.verbose) log(`#${rec.seq} dropping connection without answer`);
    if (close.reset) req.socket.resetAndDestroy(); else req.socket.destroy();
    return;
  }
  if (consume('hang')) {
    rec.fault = 'hang';
    if (opts.verbose) log(`#${rec.seq} hanging`);
    res.on('close', () => { rec.client_gone = true; });
    return; // keep the socket open until the client gives up
  }

  let clientGone = false;
  res.on('close', () => { if (!res.writableFinished) { clientGone = true; rec.client_gone = true; } });

  const slow = consume('slow');
  if (slow) {
    rec.fault = 'slow';
    await new Promise((r) => setTimeout(r, slow.delay_ms));
    if (clientGone || res.destroyed) return; // client timed out: never accepted
  }

  const forced = consume('status');
  if (forced) {
    rec.fault = rec.fault ? `${rec.fault}+status` : 'status';
    const headers = { 'content-type': 'application/x-protobuf', 'content-length': 0 };
    if (forced.retry_after !== undefined) headers['retry-after'] = forced.retry_after;
    res.writeHead(forced.status, headers);
    res.end();
    rec.answered = forced.status;
    if (opts.verbose) log(`#${rec.seq} answered ${forced.status} (status mode)`);
    return;
  }

  if (status !== 200) {
    sendText(res, status, `${rec.error}\n`);
    rec.answered = status;
    return;
  }

  const resp = {};
  const partial = consume('partial');
  if (partial) {
    rec.fault = rec.fault ? `${rec.fault}+partial` : 'partial';
    resp.partialSuccess = { rejectedSpans: partial.rejected, errorMessage: partial.message };
  }
  const big = consume('big');
  if (big) {
    rec.fault = 'big';
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': big.bytes });
    res.end(Buffer.alloc(big.bytes));
    rec.answered = 200;
    return;
  }
  if (mediaType(rec.content_type) === 'application/json') {
    // The JSON mapping of the answer, int64 as a string as collectors write it.
    const out = {};
    if (resp.partialSuccess) {
      out.partialSuccess = { rejectedSpans: String(partial.rejected), errorMessage: partial.message };
    }
    sendJSON(res, 200, out);
  } else {
    const out = encodeResponse(resp);
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': out.length });
    res.end(out);
  }
  accept(rec, pathname);
}

function encodeResponse(resp) {
  const out = ExportTraceServiceResponse.encode(ExportTraceServiceResponse.fromObject(resp)).finish();
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

function accept(rec, where) {
  rec.answered = rec.answered || 200;
  rec.accepted = true;
  state.total.accepted++;
  state.total.spans += rec.spans;
  if (opts.verbose) log(`#${rec.seq} ${where} accepted ${rec.spans} span(s)`);
}

// ---------------------------------------------------------------- gRPC

const grpc = require('@grpc/grpc-js');

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const sessions = new WeakMap(); // http2 session -> connection number
let nSessions = 0;

// The http2-level call under grpc-js's wrappers: the stream (for resets and
// the connection), the request's grpc-encoding and deadline.
function baseCall(call) {
  let c = call.call;
  for (let i = 0; c && i < 8; i++) {
    if (c.stream) return c;
    c = c.nextCall;
  }
  return null;
}

function varint(n) {
  const out = [];
  let x = BigInt(n);
  while (x >= 0x80n) { out.push(Number(x & 0x7fn) | 0x80); x >>= 7n; }
  out.push(Number(x));
  return out;
}

function lenField(field, bytes) {
  return [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
}

// google.rpc.Status { code, message, details: [Any(RetryInfo {retry_delay})] }
// for grpc-status-details-bin, built by hand: no google.rpc protos here.
function statusDetails(code, message, delayMs) {
  const duration = [...varint(1 << 3), ...varint(Math.floor(delayMs / 1000)),
    ...varint(2 << 3), ...varint((delayMs % 1000) * 1e6)];
  const retryInfo = lenField(1, duration);
  const any = [...lenField(1, [...Buffer.from('type.googleapis.com/google.rpc.RetryInfo')]), ...lenField(2, retryInfo)];
  return Buffer.from([...varint(1 << 3), ...varint(code), ...lenField(2, [...Buffer.from(message)]), ...lenField(3, any)]);
}

CONTROL_MODES.grpc_status = (b) => {
  const code = Number(b.code);
  if (!Number.isInteger(code) || code < 1 || code > 16) throw new Error('code must be a gRPC status code 1..16');
  const m = { code, message: b.message === undefined ? '' : String(b.message) };
  if (b.retry_delay_ms !== undefined) m.retry_delay_ms = Number(b.retry_delay_ms);
  return m;
};

async function handleGrpc(call, callback) {
  const base = baseCall(call);
  const stream = base && base.stream;
  const session = stream && stream.session;
  if (session && !sessions.has(session)) sessions.set(session, ++nSessions);
  const raw = call.request;
  const rec = {
    seq: ++state.seq, time_ms: Date.now(), method: 'POST', path: EXPORT_PATH,
    headers: call.metadata.getMap(), content_type: 'application/grpc',
    content_encoding: base ? base.incomingEncoding : null,
    grpc_timeout_ms: base && Number.isFinite(base.deadline) ? base.deadline - Date.now() : null,
    connection: session ? sessions.get(session) : null,
    body_size: raw.length, raw_size: raw.length, spans: 0, decoded: null, error: null, fault: null,
    answered: null, accepted: false, grpc: true,
  };
  addRecord(rec);
  if (opts.maxRecords !== 0) state.raws.set(rec.seq, raw);
  let bad = null;
  try {
    rec.decoded = decodeRequest(raw);
    rec.spans = countSpans(rec.decoded);
  } catch (e) {
    bad = `decode failed: ${e.message}`;
    rec.error = bad;
    log(`#${rec.seq} grpc: ${bad}`);
  }
  const fail = (code, message, metadata) => {
    rec.answered = code;
    callback({ code, details: message, metadata });
  };
  const close = consume('close');
  if (close) {
    // reset: the connection goes (TCP RST); else the stream is reset
    // (RST_STREAM) with the connection left up.
    rec.fault = close.reset ? 'reset' : 'close';
    if (close.reset && session) session.socket.resetAndDestroy();
    else if (stream) stream.close(require('http2').constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  if (consume('hang')) {
    rec.fault = 'hang';
    call.on('cancelled', () => { rec.client_gone = true; });
    return;
  }
  const slow = consume('slow');
  if (slow) {
    rec.fault = 'slow';
    await new Promise((r) => setTimeout(r, slow.delay_ms));
    if (call.cancelled) { rec.client_gone = true; return; }
  }
  const forced = consume('grpc_status');
  if (forced) {
    rec.fault = rec.fault ? `${rec.fault}+grpc_status` : 'grpc_status';
    const md = new grpc.Metadata();
    if (forced.retry_delay_ms !== undefined) {
      md.set('grpc-status-details-bin', statusDetails(forced.code, forced.message, forced.retry_delay_ms));
    }
    return fail(forced.code, forced.message, md);
  }
  if (bad) return fail(grpc.status.INVALID_ARGUMENT, bad);
  const resp = {};
  const partial = consume('partial');
  if (partial) {
    rec.fault = rec.fault ? `${rec.fault}+partial` : 'partial';
    resp.partialSuccess = { rejectedSpans: partial.rejected, errorMessage: partial.message };
  }
  rec.answered = 0;
  callback(null, encodeResponse(resp));
  accept(rec, 'grpc');
}

function grpcCredentials() {
  if (!opts.tlsCert) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    opts.tlsClientCa ? fs.readFileSync(opts.tlsClientCa) : null,
    [{ cert_chain: fs.readFileSync(opts.tlsCert), private_key: fs.readFileSync(opts.tlsKey) }],
    !!opts.tlsClientCa);
}

function startGrpc() {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_BODY });
  const id = (b) => b;
  server.addService({
    Export: {
      path: EXPORT_PATH, requestStream: false, responseStream: false,
      requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id,
    },
  }, {
    Export: (call, callback) => handleGrpc(call, callback).catch((e) => {
      log(`grpc: ${e && e.stack ? e.stack : e}`);
      callback({ code: grpc.status.INTERNAL, details: 'receiver error' });
    }),
  });
  server.bindAsync(`${opts.host}:${opts.grpcPort}`, grpcCredentials(), (err, port) => {
    if (err) { log(`grpc bind: ${err.message}`); process.exit(1); }
    if (opts.grpcPortFile) writePortFile(opts.grpcPortFile, port);
    process.stdout.write(`grpc listening ${port}\n`);
  });
  return server;
}

async function handleControl(req, res, name) {
  const { body } = await readBody(req);
  if (name === 'reset') { state.modes = {}; return sendJSON(res, 200, state.modes); }
  if (name === 'clear') { clearRecords(); return sendJSON(res, 200, { cleared: true }); }
  if (!Object.prototype.hasOwnProperty.call(CONTROL_MODES, name)) return sendText(res, 404, `unknown control ${name}\n`);
  let parsed;
  try {
    parsed = parseJSONBody(body);
    setMode(name, parsed);
  } catch (e) {
    return sendText(res, 400, `bad control request: ${e.message}\n`);
  }
  if (opts.verbose) log(`mode ${name} = ${JSON.stringify(state.modes[name] || null)}`);
  sendJSON(res, 200, state.modes);
}

function clearRecords() {
  state.records = [];
  state.raws.clear();
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://receiver.invalid');
  const p = url.pathname;
  const m = req.method;

  if (m === 'GET' && p === '/health') return sendText(res, 200, 'ok');
  if (m === 'GET' && p === '/requests') {
    const all = url.searchParams.get('all');
    const list = all && all !== '0' ? state.records : acceptedRecords();
    return sendJSON(res, 200, list);
  }
  let mm;
  if (m === 'GET' && (mm = /^\/requests\/(\d+)(\/raw)?$/.exec(p))) {
    const seq = Number(mm[1]);
    if (mm[2]) {
      const raw = state.raws.get(seq);
      if (!raw) return sendText(res, 404, `no raw body for request ${seq}\n`);
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': raw.length });
      return res.end(raw);
    }
    const rec = state.records.find((r) => r.seq === seq);
    return rec ? sendJSON(res, 200, rec) : sendText(res, 404, `no request ${seq}\n`);
  }
  if (m === 'GET' && p === '/spans') return sendJSON(res, 200, allSpans());
  if (m === 'GET' && p === '/stats') {
    const acc = acceptedRecords();
    return sendJSON(res, 200, {
      requests: state.records.length,
      accepted: acc.length,
      spans: acc.reduce((n, r) => n + r.spans, 0),
      total: state.total,
      tls_client_errors: state.tlsClientErrors,
      grpc_connections: nSessions,
    });
  }
  if (m === 'GET' && p === '/control') return sendJSON(res, 200, state.modes);
  if (m === 'DELETE' && p === '/requests') { clearRecords(); return sendJSON(res, 200, { cleared: true }); }
  if (m === 'POST' && p.startsWith('/control/')) return handleControl(req, res, p.slice('/control/'.length));

  // Every other POST is an export attempt (default /v1/traces, or whatever
  // custom path the exporter was configured with), except the query paths.
  const reserved = p === '/health' || p === '/spans' || p === '/stats' || p === '/control' || p.startsWith('/requests');
  if (m === 'POST' && !reserved) return handleTrace(req, res, p);

  sendText(res, m === 'GET' || m === 'POST' || m === 'DELETE' ? 404 : 405, `no route for ${m} ${p}\n`);
}

function writePortFile(file, port) {
  // Write then rename so a test polling the file never reads it half-written.
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${port}\n`);
  fs.renameSync(tmp, file);
}

function main() {
  opts = parseArgs(process.argv.slice(2));
  selfCheck();

  const handler = (req, res) => {
    handle(req, res).catch((e) => {
      log(`error handling ${req.method} ${req.url}: ${e && e.stack ? e.stack : e}`);
      if (!res.headersSent && !res.destroyed) sendText(res, 500, 'internal error\n');
      else res.destroy();
    });
  };
  const tlsOpts = opts.tlsCert && { cert: fs.readFileSync(opts.tlsCert), key: fs.readFileSync(opts.tlsKey) };
  if (opts.tlsClientCa) {
    // mutual TLS: a client without a certificate from this CA is refused
    // in the handshake (counted in tls_client_errors).
    Object.assign(tlsOpts, { ca: fs.readFileSync(opts.tlsClientCa), requestCert: true, rejectUnauthorized: true });
  }
  const server = tlsOpts ? https.createServer(tlsOpts, handler) : http.createServer(handler);
  const grpcServer = opts.grpcPort !== null ? startGrpc() : null;
  // A client that rejects our certificate ends the handshake: counted.
  server.on('tlsClientError', (err) => {
    state.tlsClientErrors++;
    if (opts.verbose) log(`TLS handshake failed: ${err.message}`);
  });
  if (opts.keepAliveMs !== null) server.keepAliveTimeout = opts.keepAliveMs;

  server.on('clientError', (err, socket) => {
    if (err.code !== 'ECONNRESET') log(`client error: ${err.message}`);
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  server.on('error', (e) => {
    log(`server error: ${e.message}`);
    process.exit(1);
  });

  server.listen(opts.port, opts.host, () => {
    const port = server.address().port;
    if (opts.portFile) writePortFile(opts.portFile, port);
    process.stdout.write(`listening ${port}\n`);
  });

  let stopping = false;
  const stop = (sig) => {
    if (stopping) return;
    stopping = true;
    if (opts.verbose) log(`${sig}: stopping`);
    if (grpcServer) grpcServer.forceShutdown();
    server.close(() => process.exit(0));
    // Hanging/slow requests and idle keep-alive sockets would hold close() open.
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Test plumbing must outlive bad input: log and carry on.
  process.on('uncaughtException', (e) => log(`uncaught: ${e && e.stack ? e.stack : e}`));
  process.on('unhandledRejection', (e) => log(`unhandled rejection: ${e && e.stack ? e.stack : e}`));
}

main();
