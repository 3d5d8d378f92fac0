#!/usr/bin/python3
"""avro_check.py EXPECT.json -- reads Avro container files with Debian's
python3-avro (an independent reader: DataFileReader) and compares them with
what tests/unit/test_avro.c says it wrote.

EXPECT.json is a list of {"path", "codec", "meta": {key: value},
"records": [...], "min_blocks"}. Records are compared after bytes become
lower-case hex strings and dates become days since 1970-01-01. Also checks
that every record field of the writer's schema has an integer "field-id",
that every array has an "element-id" or is a logicalType "map" array of
key/value records, and that the file holds at least min_blocks blocks.
Exits 1 with a message on the first difference."""
import datetime
import json
import sys
import warnings

import avro.datafile
import avro.io

EPOCH = datetime.date(1970, 1, 1)
# Iceberg's int-keyed maps are arrays with logicalType "map", which Avro
# itself does not know: python3-avro reads them as arrays (as it should) and warns.
warnings.filterwarnings("ignore", message="Unknown map")


def norm(v):
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, datetime.date):
        return (v - EPOCH).days
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    return v


def check_ids(t, where, problems):
    if isinstance(t, list):
        for b in t:
            check_ids(b, where, problems)
    elif isinstance(t, dict):
        kind = t.get("type")
        if kind == "record":
            for f in t["fields"]:
                if not isinstance(f.get("field-id"), int):
                    problems.append(f"{where}.{f['name']}: no field-id")
                check_ids(f["type"], f"{where}.{f['name']}", problems)
        elif kind == "array":
            items = t["items"]
            if t.get("logicalType") == "map":
                names = [f["name"] for f in items.get("fields", [])] if isinstance(items, dict) else []
                if names != ["key", "value"]:
                    problems.append(f"{where}: a map array whose items are not key/value records")
            elif not isinstance(t.get("element-id"), int):
                problems.append(f"{where}: array without element-id")
            check_ids(items, where + "[]", problems)
        elif kind == "map":
            if not isinstance(t.get("key-id"), int) or not isinstance(t.get("value-id"), int):
                problems.append(f"{where}: map without key-id/value-id")
            check_ids(t["values"], where + "{}", problems)


def fail(msg):
    print("avro_check: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    expect = json.load(open(sys.argv[1]))
    for e in expect:
        path = e["path"]
        with open(path, "rb") as f:
            r = avro.datafile.DataFileReader(f, avro.io.DatumReader())
            meta = {k: v.decode() for k, v in r.meta.items()}
            if meta.get("avro.codec") != e["codec"]:
                fail(f"{path}: codec {meta.get('avro.codec')!r}, expected {e['codec']!r}")
            for k, v in e["meta"].items():
                if meta.get(k) != v:
                    fail(f"{path}: metadata {k} = {meta.get(k)!r}, expected {v!r}")
            problems = []
            check_ids(json.loads(meta["avro.schema"]), "", problems)
            if problems:
                fail(f"{path}: " + "; ".join(problems))
            got = [norm(x) for x in r]
            sync = r.sync_marker
            r.close()
        if len(got) != len(e["records"]):
            fail(f"{path}: {len(got)} records, expected {len(e['records'])}")
        for i, (g, w) in enumerate(zip(got, e["records"])):
            if g != w:
                fail(f"{path}: record {i}:\n  got      {json.dumps(g, sort_keys=True)}\n  expected {json.dumps(w, sort_keys=True)}")
        blocks = open(path, "rb").read().count(sync) - 1  # the header ends with the marker too
        if blocks < e.get("min_blocks", 0):
            fail(f"{path}: {blocks} blocks, expected at least {e['min_blocks']}")
        print(f"avro_check: {path}: {len(got)} records, {blocks} blocks, codec {e['codec']}: ok")


main()
