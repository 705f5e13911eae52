// Package jpegenc is a fast baseline JPEG encoder for the thumbnails a run
// makes of every candidate, where image/jpeg's encoder cost the
// coordinator about a sixth of its CPU (pipeline BenchmarkCoordinator): it
// divides each coefficient by its quantizer with an integer division and
// converts colours block by block through generic helpers.
//
// Encode writes what image/jpeg writes for an *image.RGBA (baseline
// sequential DCT, YCbCr with 4:2:0 chroma, the standard Huffman tables of
// ITU T.81 Annex K, the Annex K quantization tables scaled by quality as
// libjpeg scales them), computed differently. Each 16×16 MCU is converted
// in floating point straight from the pixel bytes into its six blocks, a
// 2×2 chroma sample at a time, its Cb and Cr from its B and R sums and its
// luminance. A separable floating-point DCT (Arai, Agui and Nakajima's,
// five multiplications per eight points) quantizes each coefficient as
// its column comes out, with one multiplication by the quantizer's
// reciprocal, into which the DCT's output scale is folded; the quantized
// block is kept in 16-bit values in zig-zag order, which lets the non-zero
// ones be found four at a time, and a 64-bit bit buffer takes the Huffman
// codes. The images differ from image/jpeg's by rounding, well within
// what the quantization itself loses (TestEncodeQuality).
//
// BenchmarkEncode compares the two on a 256² thumbnail of a ComfyUI-like
// render at the thumbnails' quality, encode by encode: Encode takes about
// 0.36 ms, image/jpeg 1.37 ms (medians, 3.8×; on a quieter machine 0.32
// against 1.18 ms, the same 3.7× on a thumbnail reduced from a 512²
// render, as a run makes it; before the per-MCU
// conversion and the quantization in the DCT's second pass, Encode took
// 0.63 ms, 2.2×). Measured and not kept: an integer DCT (0.91× the float
// one), one table of Huffman code and length, and the bit buffer in
// locals while a block is coded (neither faster).
//
// The package has no state; Encode is safe for concurrent use.
package jpegenc
