#!/usr/bin/python3
# avro_fixture.py OUT_DIR -- writes Avro object container files with Debian's
# python3-avro (an independent writer) and, beside each, the records as that
# library reads them back, as JSON (bytes and fixed as lowercase hex): the
# expectation of tests/unit/test_avro_read.c.
import datetime, json, os, sys
import avro.schema
from avro.datafile import DataFileWriter, DataFileReader
from avro.io import DatumWriter, DatumReader

SCHEMA = {
    "type": "record", "name": "manifest_file", "fields": [
        {"name": "manifest_path", "type": "string", "field-id": 500},
        {"name": "manifest_length", "type": "long", "field-id": 501},
        {"name": "partition_spec_id", "type": "int", "field-id": 502},
        {"name": "added_snapshot_id", "type": ["null", "long"], "default": None, "field-id": 503},
        {"name": "partitions", "type": ["null", {"type": "array", "element-id": 508, "items": {
            "type": "record", "name": "r508", "fields": [
                {"name": "contains_null", "type": "boolean", "field-id": 509},
                {"name": "contains_nan", "type": ["null", "boolean"], "default": None, "field-id": 518},
                {"name": "lower_bound", "type": ["null", "bytes"], "default": None, "field-id": 510},
                {"name": "upper_bound", "type": ["null", "bytes"], "default": None, "field-id": 511}]}}],
         "default": None, "field-id": 507},
        {"name": "ratio", "type": "float"},
        {"name": "weight", "type": "double"},
        {"name": "kind", "type": {"type": "enum", "name": "kind_t", "symbols": ["DATA", "DELETES"]}},
        {"name": "id16", "type": {"type": "fixed", "name": "uuid16", "size": 16}},
        {"name": "other", "type": "uuid16"},
        {"name": "counts", "type": {"type": "map", "values": "long"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "nested", "type": {"type": "record", "name": "inner", "fields": [
            {"name": "a", "type": "string"}, {"name": "b", "type": ["null", "inner"], "default": None}]}},
    ]}


def record(i):
    return {
        "manifest_path": "s3://bucket/t/metadata/%05d-m%d.avro" % (i, i % 7) + ("é" if i % 5 == 0 else ""),
        "manifest_length": i * 1000003 - 5,
        "partition_spec_id": i % 3 - 1,
        "added_snapshot_id": None if i % 4 == 0 else (1 << 62) + i,
        "partitions": None if i % 6 == 0 else [
            {"contains_null": bool(j % 2), "contains_nan": None if j else False,
             "lower_bound": bytes([j, i % 256]), "upper_bound": None if j == 2 else b"\xff" * (j + 1)}
            for j in range(i % 4)],
        "ratio": i / 8.0,
        "weight": -i * 1.25e300 if i % 2 else i / 3.0,
        "kind": "DELETES" if i % 9 == 0 else "DATA",
        "id16": bytes((i + k) % 256 for k in range(16)),
        "other": bytes(16),
        "counts": {str(k): k * i - 3 for k in range(i % 3)},
        "day": datetime.date(1970, 1, 1) + datetime.timedelta(days=20000 + i),
        "nested": {"a": "x%d" % i, "b": None if i % 2 else {"a": "deep", "b": None}},
    }


def plain(v):
    if isinstance(v, datetime.date):
        return (v - datetime.date(1970, 1, 1)).days
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    schema = avro.schema.parse(json.dumps(SCHEMA))
    for codec, n in (("null", 3000), ("deflate", 3000), ("null", 0)):
        name = os.path.join(out, "%s-%d.avro" % (codec, n))
        with open(name, "wb") as f:
            w = DataFileWriter(f, DatumWriter(), schema, codec=codec)
            w.set_meta("iceberg.schema", b'{"type":"struct"}')
            for i in range(n):
                w.append(record(i))
            w.close()
        with open(name, "rb") as f:
            r = DataFileReader(f, DatumReader())
            recs = [plain(x) for x in r]
            meta = {k: v.decode() for k, v in r.meta.items() if k != "avro.sync"}
            r.close()
        with open(name + ".json", "w") as f:
            json.dump({"meta": meta, "records": recs}, f)


main()
