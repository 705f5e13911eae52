#!/usr/bin/python3
"""Time cv2.Laplacian(gray, cv2.CV_64F).var() on the PNGs in a directory.

Prints "file ms_per_image laplacian_var ms_with_cvtcolor" per image, each
time the best of N runs. The first time is the usual OpenCV recipe with the
grayscale image prepared before timing; the second includes
cv2.cvtColor(bgr, COLOR_BGR2GRAY), which is the work our scorer does on
colour pixels.
"""
import glob
import os
import sys
import time

import cv2

def best_of(reps, fn):
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best

def main():
    directory = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    cv2.setNumThreads(1)  # our scorer runs one candidate on one core
    for path in sorted(glob.glob(os.path.join(directory, "*.png"))):
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        value = cv2.Laplacian(gray, cv2.CV_64F).var()
        t = best_of(reps, lambda: cv2.Laplacian(gray, cv2.CV_64F).var())
        t_conv = best_of(reps, lambda: cv2.Laplacian(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())
        print(f"{os.path.basename(path)} {t * 1000:.3f} {value:.4f} {t_conv * 1000:.3f}")

if __name__ == "__main__":
    main()
