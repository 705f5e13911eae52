// Package jpegenc is a fast baseline JPEG encoder for the thumbnails a run
// makes of every candidate, where image/jpeg's encoder cost the
// coordinator about a sixth of its CPU (pipeline BenchmarkCoordinator): it
// divides each coefficient by its quantizer with an integer division and
// converts colours block by block through generic helpers.
//
// Encode writes what image/jpeg writes for an *image.RGBA (baseline
// sequential DCT, YCbCr with 4:2:0 chroma, the standard Huffman tables of
// ITU T.81 Annex K, the Annex K quantization tables scaled by quality as
// libjpeg scales them), computed differently: a separable floating-point
// DCT (Arai, Agui and Nakajima's, five multiplications per eight points)
// whose output scale is folded into one multiplication per coefficient
// with the quantizer's reciprocal, colour conversion in floating point
// straight from the pixel rows, and a 64-bit bit buffer. The images
// differ from image/jpeg's by rounding, well within what the quantization
// itself loses (TestEncodeQuality); BenchmarkEncode compares the two on a
// 256² thumbnail of a ComfyUI-like render.
//
// The package has no state; Encode is safe for concurrent use.
package jpegenc
