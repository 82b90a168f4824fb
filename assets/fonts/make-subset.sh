#!/usr/bin/env bash
# Regenerates watermark-sc-bold.otf, the font the photo pipeline stamps with
# (src/imaging/pipeline/watermark.rs embeds it).
#
# Source: Noto Sans CJK SC Bold (face 2 of NotoSansCJK-Bold.ttc) from Debian's
# fonts-noto-cjk package (1:20220127+repack1-1 in bookworm), © 2014-2021 Adobe,
# SIL Open Font License 1.1 (OFL.txt beside this script).
# Tool: pyftsubset from fontTools (PyPI).
#
# Only the glyphs the watermark and the footer can show are kept: the watermark text,
# printable ASCII, and the few CJK characters and punctuation the footer uses. A footer
# character outside this set is drawn as '?'. Add characters to TEXT and rerun.
set -euo pipefail
cd "$(dirname "$0")"

SRC=${NOTO_CJK_BOLD:-/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc}
if [ ! -f "$SRC" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk
fi
python3 -m fontTools.subset --help >/dev/null 2>&1 || python3 -m pip install -q 'fonttools>=4.40'

TEXT='仅限备案使用案件编号日期年月日核验·：－—'
python3 -m fontTools.subset "$SRC" \
  --font-number=2 \
  --text="$TEXT" \
  --unicodes='U+0020-007E' \
  --layout-features='' \
  --no-hinting \
  --desubroutinize \
  --name-IDs='0,1,2,3,4,5,6,7,13,14' \
  --drop-tables+=VORG,vhea,vmtx,BASE,GSUB,GPOS,GDEF \
  --output-file=watermark-sc-bold.otf
ls -l watermark-sc-bold.otf
