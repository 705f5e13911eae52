// Command sharpbench writes the test images of the OpenCV comparison and
// times score.Sharpness on them. It is run by ../opencv_laplacian.sh, not by
// go test.
//
//	sharpbench -gen DIR          write DIR/scene_<n>.png for n in 512, 1024, 2048
//	sharpbench -time DIR -reps N print "file ms_per_image laplacian_var" per image
//
// Timing covers what cv2.Laplacian(gray, cv2.CV_64F).var() covers plus the
// luma conversion (our scorer takes colour pixels): the PNG is decoded
// first, untimed. LongSide is set to the image's long side so no reduction
// happens and both sides do the same work.
package main
