#!/usr/bin/env node
// Drive the official CloudEvents JavaScript SDK (cloudevents@10.0.0) for interop tests.
//
// Usage:
//   node js_sdk.mjs write <cases.json>   # one JSON message per line on stdout
//   node js_sdk.mjs read < messages      # one JSON result per line on stdout
//
// The SDK is loaded with CommonJS resolution (createRequire), so it is found via
// IAP_INTEROP_NODE_PATH (a node_modules directory), NODE_PATH, or a node_modules
// directory above this script.  ESM `import` would ignore NODE_PATH.
//
// API used (cloudevents@10.0.0):
//   new CloudEvent(attributes, false)        // strict=false: no validation
//   HTTP.binary(ev) / HTTP.structured(ev)    // -> {headers, body}
//   HTTP.toEvent({headers, body})            // mode auto-detected by the SDK
//   Kafka.binary(ev) / Kafka.structured(ev)  // -> {headers, key, value, body, timestamp}
//   Kafka.toEvent({headers, key, value})     // mode auto-detected by the SDK
//
// What the reader is given (the SDK accepts several body types and behaves
// differently for each; these are the choices made here):
//   HTTP:  body = UTF-8 string when the bytes are valid UTF-8, else a Buffer
//          (override with IAP_JS_HTTP_BODY=string|buffer).
//   Kafka: value = Buffer (what kafkajs delivers; override with
//          IAP_JS_KAFKA_VALUE=string|auto), header values = strings (the SDK
//          cannot handle Buffer header values), key = string or null.
//
// Rendering: attributes as the CloudEvent object holds them (own properties,
// undefined/null skipped; `time` is the string the SDK holds, which its parsers
// have already re-rendered with Date#toISOString()).  Data: Buffer/TypedArray ->
// base64 (element-wise, as the SDK's own asBase64 does), string -> text unless
// datacontenttype is JSON (then json), "" -> {"text": ""}, undefined -> absent,
// anything else (incl. null) -> json.
//
// Anything this script had to coerce to fit the output shape is listed in an
// extra "notes" array on that line.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

function loadSdk() {
  const tried = [];
  const dirs = [];
  for (const v of [process.env.IAP_INTEROP_NODE_PATH, process.env.NODE_PATH]) {
    if (v) dirs.push(...v.split(path.delimiter).filter(Boolean));
  }
  for (const d of dirs) {
    try {
      const req = createRequire(path.join(path.resolve(d), "..", "__iap_resolver__.js"));
      return { sdk: req("cloudevents"), req };
    } catch (e) {
      tried.push(`${d}: ${e.message}`);
    }
  }
  const req = createRequire(import.meta.url);
  try {
    return { sdk: req("cloudevents"), req };
  } catch (e) {
    tried.push(`script dir: ${e.message}`);
    throw new Error(`cannot load cloudevents:\n  ${tried.join("\n  ")}`);
  }
}

const { sdk, req } = loadSdk();
const { CloudEvent, HTTP, Kafka } = sdk;
try {
  const pkgPath = path.join(path.dirname(req.resolve("cloudevents")), "..", "package.json");
  const version = JSON.parse(fs.readFileSync(pkgPath, "utf8")).version;
  if (version !== "10.0.0") process.stderr.write(`warning: cloudevents ${version} loaded, expected 10.0.0\n`);
} catch {
  /* version check is best effort */
}

const PRODUCER = "js";
const JSON_CT = /^\s*(application|text)\/([^;\s]*\+)?json\s*(;.*)?$/i;
const isJsonCt = (ct) => ct === undefined || ct === null || JSON_CT.test(String(ct));
const isTyped = (v) => ArrayBuffer.isView(v);

// The SDK's JSONParser assigns the global `JSON` to json-bigint when
// CE_USE_BIG_INT=true, so keep the native one.  BigInts (from that mode) are
// printed as exact JSON numbers.
const NativeJSON = JSON;
function stringify(obj) {
  const s = NativeJSON.stringify(obj, (_k, v) => (typeof v === "bigint" ? `\u0000BIGINT:${v}` : v));
  return s.replace(/"\\u0000BIGINT:(-?\d+)"/g, "$1");
}

function emit(obj) {
  process.stdout.write(stringify(obj) + "\n");
}

function errText(e) {
  if (e && typeof e === "object") return `${e.name || "Error"}: ${e.message}`;
  return String(e);
}

function caseData(c) {
  const d = c.data;
  if (d === undefined || d === null) return { has: false };
  if ("json" in d) return { has: true, value: d.json };
  if ("text" in d) return { has: true, value: d.text };
  if ("base64" in d) return { has: true, value: Buffer.from(d.base64, "base64") };
  throw new Error(`bad data form in case ${c.name}`);
}

function headerValue(name, v, notes) {
  if (typeof v === "string") return v;
  if (Buffer.isBuffer(v)) return v.toString("utf8");
  if (v instanceof Date) {
    notes.push(`header ${name}: SDK gave a Date, printed with toISOString()`);
    return v.toISOString();
  }
  notes.push(`header ${name}: SDK gave ${typeof v} ${JSON.stringify(v)}, printed with String()`);
  return String(v);
}

function bodyBytes(b, notes, what) {
  if (b === undefined || b === null) {
    notes.push(`SDK gave ${what} ${b === null ? "null" : "undefined"}; printed as empty`);
    return Buffer.alloc(0);
  }
  if (typeof b === "string") return Buffer.from(b, "utf8");
  if (Buffer.isBuffer(b)) return b;
  if (isTyped(b)) {
    if (!(b instanceof Uint8Array)) notes.push(`SDK gave ${what} as ${b.constructor.name}; raw memory bytes printed`);
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  }
  notes.push(`SDK gave ${what} as ${typeof b} (not string/bytes); printed with JSON.stringify()`);
  return Buffer.from(JSON.stringify(b), "utf8");
}

function messageLine(name, binding, mode, headers, key, body) {
  const notes = [];
  const hs = [];
  const omitted = [];
  for (const [n, v] of Object.entries(headers || {})) {
    if (v === undefined || v === null) {
      omitted.push(n);
      continue;
    }
    hs.push([n, headerValue(n, v, notes)]);
  }
  if (omitted.length) notes.unshift(`headers the SDK set to undefined/null, omitted: ${omitted.join(", ")}`);
  let k = null;
  if (key !== undefined && key !== null) {
    if (typeof key === "string") k = key;
    else if (Buffer.isBuffer(key)) k = key.toString("utf8");
    else {
      notes.push(`key: SDK gave ${typeof key}, printed with String()`);
      k = String(key);
    }
  }
  const line = {
    case: name,
    producer: PRODUCER,
    binding,
    mode,
    headers: hs,
    key: k,
    body_base64: bodyBytes(body, notes, binding === "kafka" ? "value" : "body").toString("base64"),
  };
  if (notes.length) line.notes = notes;
  return line;
}

const WRITERS = [
  ["http", "binary", (ev) => HTTP.binary(ev)],
  ["http", "structured", (ev) => HTTP.structured(ev)],
  ["kafka", "binary", (ev) => Kafka.binary(ev)],
  ["kafka", "structured", (ev) => Kafka.structured(ev)],
];

function cmdWrite(file) {
  const cases = NativeJSON.parse(fs.readFileSync(file, "utf8"));
  for (const c of cases) {
    let ev;
    try {
      const d = caseData(c);
      const attrs = { ...c.event };
      if (d.has) attrs.data = d.value;
      ev = new CloudEvent(attrs, false);
    } catch (e) {
      for (const [b, m] of WRITERS) {
        emit({ case: c.name, producer: PRODUCER, binding: b, mode: m, error: "build: " + errText(e) });
      }
      continue;
    }
    for (const [b, m, fn] of WRITERS) {
      try {
        const msg = fn(ev);
        if (b === "http") emit(messageLine(c.name, b, m, msg.headers, null, msg.body));
        else emit(messageLine(c.name, b, m, msg.headers, msg.key, msg.value));
      } catch (e) {
        emit({ case: c.name, producer: PRODUCER, binding: b, mode: m, error: errText(e) });
      }
    }
  }
}

// ------------------------------------------------------------------ reading

function asUtf8StringOrNull(buf) {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(buf);
  } catch {
    return null;
  }
}

function bodyFor(buf, policy) {
  if (policy === "buffer") return buf;
  if (policy === "string") return buf.toString("utf8");
  const s = asUtf8StringOrNull(buf);
  return s === null ? buf : s;
}

function renderAttrs(ev, notes) {
  const out = {};
  for (const k of Object.getOwnPropertyNames(ev)) {
    if (k === "data" || k === "data_base64") continue;
    const v = ev[k];
    if (v === undefined || v === null) continue;
    if (typeof v === "string" || typeof v === "boolean") out[k] = v;
    else if (typeof v === "number") out[k] = v;
    else if (typeof v === "bigint") {
      notes.push(`attribute ${k}: SDK holds a BigInt; printed as string`);
      out[k] = v.toString();
    } else if (v instanceof Date) {
      notes.push(`attribute ${k}: SDK holds a Date; printed with toISOString()`);
      out[k] = v.toISOString();
    } else if (isTyped(v)) {
      notes.push(`attribute ${k}: SDK holds ${v.constructor.name}; decoded as UTF-8`);
      out[k] = Buffer.from(v).toString("utf8");
    } else {
      notes.push(`attribute ${k}: SDK holds ${typeof v}; printed as JSON`);
      out[k] = v;
    }
  }
  return out;
}

function renderData(data, ct, notes) {
  if (data === undefined) return undefined;
  if (isTyped(data)) {
    if (!Buffer.isBuffer(data) && !(data instanceof Uint8Array)) {
      notes.push(`data: SDK holds ${data.constructor.name}(${data.length}); base64 of its elements`);
    }
    return { base64: Buffer.from(data).toString("base64") };
  }
  if (typeof data === "string") {
    if (data === "" || !isJsonCt(ct)) return { text: data };
    return { json: data };
  }
  return { json: data };
}

function resultLine(msg, ev) {
  const notes = [];
  const line = { case: msg.case, producer: msg.producer, reader: PRODUCER, binding: msg.binding, mode: msg.mode };
  const attrs = renderAttrs(ev, notes);
  line.event = attrs;
  const d = renderData(ev.data, attrs.datacontenttype, notes);
  if (d !== undefined) line.data = d;
  if (notes.length) line.notes = notes;
  try {
    stringify(line);
  } catch (e) {
    delete line.data;
    line.error = "harness: data not JSON-serialisable: " + errText(e);
  }
  return line;
}

function errorLine(msg, e) {
  return { case: msg.case, producer: msg.producer, reader: PRODUCER, binding: msg.binding, mode: msg.mode, error: errText(e) };
}

function readOne(msg) {
  const headers = {};
  for (const [n, v] of msg.headers || []) headers[String(n)] = String(v);
  const buf = Buffer.from(msg.body_base64 || "", "base64");
  try {
    let ev;
    if (msg.binding === "http") {
      ev = HTTP.toEvent({ headers, body: bodyFor(buf, process.env.IAP_JS_HTTP_BODY || "auto") });
    } else if (msg.binding === "kafka") {
      const value = bodyFor(buf, process.env.IAP_JS_KAFKA_VALUE || "buffer");
      ev = Kafka.toEvent({ headers, key: msg.key === undefined ? null : msg.key, value, body: value });
    } else {
      throw new Error(`harness: unknown binding ${msg.binding}`);
    }
    if (Array.isArray(ev)) {
      emit(errorLine(msg, new Error(`harness: SDK returned a batch of ${ev.length} events`)));
      return;
    }
    emit(resultLine(msg, ev));
  } catch (e) {
    emit(errorLine(msg, e));
  }
}

function cmdRead() {
  const input = fs.readFileSync(0, "utf8");
  for (const raw of input.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const msg = NativeJSON.parse(line);
    if ("error" in msg) continue; // the writer failed; nothing to read
    readOne(msg);
  }
}

const [, , cmd, arg] = process.argv;
if (cmd === "write" && arg) cmdWrite(arg);
else if (cmd === "read") cmdRead();
else {
  process.stderr.write("usage: js_sdk.mjs write <cases.json> | js_sdk.mjs read < messages\n");
  process.exit(2);
}
