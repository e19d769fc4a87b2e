#!/usr/bin/env python3
"""Drive the official CloudEvents Python SDK (cloudevents==2.2.0) for interop tests.

Usage:
    python_sdk.py write <cases.json>   # one JSON message per line on stdout
    python_sdk.py read  < messages     # one JSON result per line on stdout

Two "producers"/"readers" are exercised, both shipped in cloudevents 2.2.0:

* python-core: the new API
    event:   cloudevents.core.v1.event.CloudEvent(attributes, data)
    HTTP:    cloudevents.core.bindings.http.to_binary_event / to_structured_event /
             from_http_event (auto-detects mode: any "ce-" header -> binary)
    Kafka:   cloudevents.core.bindings.kafka.to_binary_event / to_structured_event /
             from_kafka_event (auto-detects mode: any "ce_" header -> binary)
    (all default to cloudevents.core.formats.json.JSONFormat)
* python-v1: the 1.x-style API, which 2.2.0 ships as the ``cloudevents.v1`` package
  (``cloudevents.http`` / ``cloudevents.kafka`` / ``cloudevents.conversion`` no
  longer exist as top-level modules in 2.2.0)
    event:   cloudevents.v1.http.CloudEvent(attributes, data)
    HTTP:    cloudevents.v1.conversion.to_binary / to_structured (the same functions
             cloudevents.v1.http.to_binary/to_structured wrap, without the
             deprecation warning), cloudevents.v1.http.from_http (auto-detects mode)
    Kafka:   cloudevents.v1.kafka.to_binary / to_structured / from_binary /
             from_structured.  The v1 Kafka API has NO mode auto-detection; this
             script picks from_binary when a "ce_specversion" header is present and
             from_structured otherwise (the v1 structured writer does not set
             content-type to application/cloudevents+json, so detection by
             content-type would misroute its own messages).

Rendering of what the readers hold:
* python-core keeps ``time`` as a datetime; it is rendered with the SDK's own rule
  (datetime.isoformat(), "+00:00" replaced by "Z", as in
  cloudevents.core.formats.json._JSONEncoderWithDatetime).
* python-v1 keeps ``time`` as the string it got; it is printed as is.
* Data: bytes -> {"base64"}, str -> {"text"} unless datacontenttype is JSON (then
  {"json"}), an empty str -> {"text": ""}, None -> no "data", anything else ->
  {"json"}.

Anything this script had to coerce to fit the output shape (a non-string header
value, a str body, ...) is listed in an extra "notes" array on that line.
"""

import base64
import json
import re
import sys
import warnings
from datetime import datetime

warnings.simplefilter("ignore")

from dateutil.parser import isoparse  # noqa: E402  (dependency of cloudevents)

from cloudevents.core.bindings import http as core_http  # noqa: E402
from cloudevents.core.bindings import kafka as core_kafka  # noqa: E402
from cloudevents.core.v1.event import CloudEvent as CoreCloudEvent  # noqa: E402
from cloudevents.v1 import conversion as v1_conversion  # noqa: E402
from cloudevents.v1 import kafka as v1_kafka  # noqa: E402
from cloudevents.v1.http import CloudEvent as V1CloudEvent  # noqa: E402
from cloudevents.v1.http import from_http as v1_from_http  # noqa: E402

JSON_CT = re.compile(r"^\s*(application|text)/([^;\s]*\+)?json\s*(;.*)?$", re.I)


def is_json_ct(ct):
    # Absent datacontenttype: the JSON event format implies application/json.
    return ct is None or bool(JSON_CT.match(str(ct)))


def emit(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def err_text(e):
    return f"{type(e).__name__}: {e}"


def case_data(case):
    """Natural Python value for the case's data, and whether data is present."""
    d = case.get("data")
    if d is None:
        return None
    if "json" in d:
        return d["json"]
    if "text" in d:
        return d["text"]
    if "base64" in d:
        return base64.b64decode(d["base64"])
    raise ValueError(f"bad data form in case {case.get('name')}")


def hdr_value(v, notes, name):
    if isinstance(v, (bytes, bytearray)):
        try:
            return bytes(v).decode("utf-8")
        except UnicodeDecodeError:
            notes.append(f"header {name}: not UTF-8, decoded with replacement")
            return bytes(v).decode("utf-8", "replace")
    if isinstance(v, str):
        return v
    notes.append(f"header {name}: SDK gave {type(v).__name__} {v!r}, printed with str()")
    return str(v)


def body_bytes(b, notes):
    if b is None:
        notes.append("SDK gave body None; printed as empty")
        return b""
    if isinstance(b, (bytes, bytearray, memoryview)):
        return bytes(b)
    if isinstance(b, str):
        notes.append("SDK gave body as str; encoded as UTF-8")
        return b.encode("utf-8")
    notes.append(f"SDK gave body {type(b).__name__}; printed with str()")
    return str(b).encode("utf-8")


def message_line(case, producer, binding, mode, headers, key, body):
    notes = []
    hs = [[str(n), hdr_value(v, notes, n)] for n, v in headers.items()]
    if isinstance(key, (bytes, bytearray)):
        key = hdr_value(key, notes, "<key>")
    elif key is not None and not isinstance(key, str):
        notes.append(f"key: SDK gave {type(key).__name__}, printed with str()")
        key = str(key)
    line = {
        "case": case,
        "producer": producer,
        "binding": binding,
        "mode": mode,
        "headers": hs,
        "key": key,
        "body_base64": base64.b64encode(body_bytes(body, notes)).decode("ascii"),
    }
    if notes:
        line["notes"] = notes
    return line


WRITERS = [
    ("http", "binary"),
    ("http", "structured"),
    ("kafka", "binary"),
    ("kafka", "structured"),
]


def write_core(name, event_json, data):
    producer = "python-core"
    attrs = dict(event_json)
    try:
        if "time" in attrs and isinstance(attrs["time"], str):
            attrs["time"] = isoparse(attrs["time"])
        event = CoreCloudEvent(attrs, data)
    except Exception as e:  # noqa: BLE001
        for b, m in WRITERS:
            emit({"case": name, "producer": producer, "binding": b, "mode": m,
                  "error": "build: " + err_text(e)})
        return
    for b, m in WRITERS:
        try:
            if b == "http":
                fn = core_http.to_binary_event if m == "binary" else core_http.to_structured_event
                msg = fn(event)
                emit(message_line(name, producer, b, m, msg.headers, None, msg.body))
            else:
                fn = core_kafka.to_binary_event if m == "binary" else core_kafka.to_structured_event
                msg = fn(event)
                emit(message_line(name, producer, b, m, msg.headers, msg.key, msg.value))
        except Exception as e:  # noqa: BLE001
            emit({"case": name, "producer": producer, "binding": b, "mode": m,
                  "error": err_text(e)})


def write_v1(name, event_json, data):
    producer = "python-v1"
    try:
        event = V1CloudEvent(dict(event_json), data)
    except Exception as e:  # noqa: BLE001
        for b, m in WRITERS:
            emit({"case": name, "producer": producer, "binding": b, "mode": m,
                  "error": "build: " + err_text(e)})
        return
    for b, m in WRITERS:
        try:
            if b == "http":
                fn = v1_conversion.to_binary if m == "binary" else v1_conversion.to_structured
                headers, body = fn(event)
                emit(message_line(name, producer, b, m, headers, None, body))
            else:
                fn = v1_kafka.to_binary if m == "binary" else v1_kafka.to_structured
                msg = fn(event)
                emit(message_line(name, producer, b, m, msg.headers, msg.key, msg.value))
        except Exception as e:  # noqa: BLE001
            emit({"case": name, "producer": producer, "binding": b, "mode": m,
                  "error": err_text(e)})


def cmd_write(path):
    with open(path, encoding="utf-8") as f:
        cases = json.load(f)
    for case in cases:
        name = case["name"]
        try:
            data = case_data(case)
        except Exception as e:  # noqa: BLE001
            for p in ("python-core", "python-v1"):
                for b, m in WRITERS:
                    emit({"case": name, "producer": p, "binding": b, "mode": m,
                          "error": "harness: " + err_text(e)})
            continue
        write_core(name, case["event"], data)
        write_v1(name, case["event"], data)


# ---------------------------------------------------------------- reading


def render_time(v):
    s = v.isoformat()
    if s.endswith("+00:00"):
        s = s[:-6] + "Z"
    return s


def render_attrs(attrs, notes):
    out = {}
    for k, v in attrs.items():
        if v is None:
            continue
        if isinstance(v, datetime):
            out[k] = render_time(v)
        elif isinstance(v, (str, bool, int, float)):
            out[k] = v
        elif isinstance(v, (bytes, bytearray)):
            notes.append(f"attribute {k}: SDK holds bytes; decoded as UTF-8")
            out[k] = bytes(v).decode("utf-8", "replace")
        else:
            notes.append(f"attribute {k}: SDK holds {type(v).__name__}; printed with str()")
            out[k] = str(v)
    return out


def render_data(data, ct):
    if data is None:
        return None
    if isinstance(data, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(data)).decode("ascii")}
    if isinstance(data, str):
        if data == "" or not is_json_ct(ct):
            return {"text": data}
        return {"json": data}
    return {"json": data}


def result_line(msg, reader, event_attrs, data):
    notes = []
    line = {
        "case": msg.get("case"),
        "producer": msg.get("producer"),
        "reader": reader,
        "binding": msg.get("binding"),
        "mode": msg.get("mode"),
    }
    attrs = render_attrs(event_attrs, notes)
    line["event"] = attrs
    rd = render_data(data, attrs.get("datacontenttype"))
    if rd is not None:
        line["data"] = rd
    if notes:
        line["notes"] = notes
    try:
        json.dumps(line)
    except (TypeError, ValueError) as e:
        line.pop("data", None)
        line["error"] = "harness: data not JSON-serialisable: " + err_text(e)
    return line


def error_line(msg, reader, e):
    return {
        "case": msg.get("case"),
        "producer": msg.get("producer"),
        "reader": reader,
        "binding": msg.get("binding"),
        "mode": msg.get("mode"),
        "error": err_text(e),
    }


def read_one(msg):
    headers = [(str(n), str(v)) for n, v in (msg.get("headers") or [])]
    body = base64.b64decode(msg.get("body_base64") or "")
    key = msg.get("key")
    binding = msg.get("binding")
    if binding == "http":
        hdict = {n: v for n, v in headers}
        try:
            ev = core_http.from_http_event(core_http.HTTPMessage(headers=dict(hdict), body=body))
            emit(result_line(msg, "python-core", ev.get_attributes(), ev.get_data()))
        except Exception as e:  # noqa: BLE001
            emit(error_line(msg, "python-core", e))
        try:
            ev = v1_from_http(dict(hdict), body)
            emit(result_line(msg, "python-v1", ev.get_attributes(), ev.get_data()))
        except Exception as e:  # noqa: BLE001
            emit(error_line(msg, "python-v1", e))
    elif binding == "kafka":
        hbytes = {n: v.encode("utf-8") for n, v in headers}
        try:
            ev = core_kafka.from_kafka_event(
                core_kafka.KafkaMessage(headers=dict(hbytes), key=key, value=body))
            emit(result_line(msg, "python-core", ev.get_attributes(), ev.get_data()))
        except Exception as e:  # noqa: BLE001
            emit(error_line(msg, "python-core", e))
        try:
            m = v1_kafka.KafkaMessage(dict(hbytes), key, body)
            if any(n.lower() == "ce_specversion" for n in hbytes):
                ev = v1_kafka.from_binary(m)
            else:
                ev = v1_kafka.from_structured(m)
            emit(result_line(msg, "python-v1", ev.get_attributes(), ev.get_data()))
        except Exception as e:  # noqa: BLE001
            emit(error_line(msg, "python-v1", e))
    else:
        for r in ("python-core", "python-v1"):
            emit(error_line(msg, r, ValueError(f"harness: unknown binding {binding!r}")))


def cmd_read():
    for raw in sys.stdin:
        raw = raw.strip()
        if not raw:
            continue
        msg = json.loads(raw)
        if "error" in msg:
            continue  # the writer failed; nothing to read
        read_one(msg)


def main(argv):
    if len(argv) >= 3 and argv[1] == "write":
        cmd_write(argv[2])
    elif len(argv) == 2 and argv[1] == "read":
        cmd_read()
    else:
        sys.stderr.write("usage: python_sdk.py write <cases.json> | python_sdk.py read < messages\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
