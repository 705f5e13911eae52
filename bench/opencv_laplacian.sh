#!/bin/sh
# Compare score.Sharpness with OpenCV's variance of the Laplacian on the same
# images. Installs Debian's python3-opencv when cv2 is missing (needs root).
# Usage: bench/opencv_laplacian.sh [reps]   (from the repository root)
set -eu
reps=${1:-50}
# Debian's python3-opencv lives in the system Python, which a pyenv or venv
# python3 on PATH would not see.
py=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

if ! "$py" -c 'import cv2' 2>/dev/null; then
	echo "installing python3-opencv with apt-get" >&2
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y python3-opencv
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"
go build -o "$work/sharpbench" ./bench/sharpbench
"$work/sharpbench" -gen "$work/img"
# One core each, as in a run: GOMAXPROCS=1 and cv2.setNumThreads(1).
GOMAXPROCS=1 "$work/sharpbench" -time "$work/img" -reps "$reps" >"$work/ours.txt"
"$py" "$here/opencv_laplacian.py" "$work/img" "$reps" >"$work/opencv.txt"

# ratio: against OpenCV given a ready gray image (the usual recipe);
# ratio_cvt: against OpenCV including cvtColor to gray, as our time includes
# the luma conversion.
printf '%-16s %9s %9s %7s %13s %9s %14s %14s\n' image ours_ms opencv_ms ratio opencv_cvt_ms ratio_cvt ours_value opencv_value
join "$work/ours.txt" "$work/opencv.txt" | while read -r f ours_ms ours_v cv_ms cv_v cvt_ms; do
	printf '%-16s %9s %9s %7s %13s %9s %14s %14s\n' "$f" "$ours_ms" "$cv_ms" \
		"$(awk -v a="$ours_ms" -v b="$cv_ms" 'BEGIN { printf "%.2f", a / b }')" "$cvt_ms" \
		"$(awk -v a="$ours_ms" -v b="$cvt_ms" 'BEGIN { printf "%.2f", a / b }')" "$ours_v" "$cv_v"
done
echo "ours_ms includes converting RGB to luma; opencv_ms does not (gray prepared before timing), opencv_cvt_ms does."
echo "ratio = ours / opencv_ms, ratio_cvt = ours / opencv_cvt_ms (target <= 1.0 for both); best of $reps runs, one core each."
echo "Values differ by about 1%: OpenCV rounds gray to whole levels (adding about 1.7 to the variance) and pads"
echo "borders (BORDER_REFLECT_101); we keep luma to 1/16 of a level and use interior pixels only."
