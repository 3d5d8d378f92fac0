#!/usr/bin/python3
"""iceberg_scan.py TABLE_DIR -- the live data files of an Iceberg v2 table's
current snapshot on a local directory, read with Debian's python3-avro (an
independent reader: DataFileReader), with inheritance resolved as the spec
says: an entry's null snapshot_id comes from its manifest's
added_snapshot_id; a null data or file sequence number from the manifest's
sequence_number, allowed only for an entry of status 1 (ADDED).

Prints JSON: {"snapshot_id", "manifests": n, "files": [{"path", "status",
"snapshot_id", "sequence_number", "file_sequence_number", "records"}]}, files
in manifest-list order. Exits 1 with a message when something the spec
requires does not hold (a manifest missing, an inherited sequence number on
an entry that is not ADDED)."""
import json
import os
import sys
import warnings

import avro.datafile
import avro.io

warnings.filterwarnings("ignore", message="Unknown map")


def local(location):
    if not location.startswith("file://"):
        sys.exit("not a local location: " + location)
    return location[len("file://"):]


def records(path):
    with open(path, "rb") as f:
        with avro.datafile.DataFileReader(f, avro.io.DatumReader()) as r:
            return list(r)


def main():
    meta_dir = os.path.join(sys.argv[1], "metadata")
    with open(os.path.join(meta_dir, "version-hint.text")) as f:
        v = int(f.read().strip())
    while os.path.exists(os.path.join(meta_dir, "v%d.metadata.json" % (v + 1))):
        v += 1
    with open(os.path.join(meta_dir, "v%d.metadata.json" % v)) as f:
        t = json.load(f)
    cur = t.get("current-snapshot-id")
    out = {"snapshot_id": cur, "manifests": 0, "files": []}
    snap = [s for s in t["snapshots"] if s["snapshot-id"] == cur]
    if snap:
        lst = records(local(snap[0]["manifest-list"]))
        out["manifests"] = len(lst)
        for m in lst:
            for e in records(local(m["manifest_path"])):
                if e["status"] == 2:
                    continue
                seq, fseq = e["sequence_number"], e["file_sequence_number"]
                if (seq is None or fseq is None) and e["status"] != 1:
                    sys.exit("%s: an inherited sequence number on an entry of status %d"
                             % (m["manifest_path"], e["status"]))
                out["files"].append({
                    "path": e["data_file"]["file_path"],
                    "status": e["status"],
                    "snapshot_id": e["snapshot_id"] if e["snapshot_id"] is not None else m["added_snapshot_id"],
                    "sequence_number": seq if seq is not None else m["sequence_number"],
                    "file_sequence_number": fseq if fseq is not None else m["sequence_number"],
                    "records": e["data_file"]["record_count"],
                })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
