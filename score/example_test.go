package score_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/score"
	"github.com/comfybatch/comfybatch/score/cliptest"
)

// checkerPNG returns a PNG of a w×h checkerboard with cells of the given size.
func checkerPNG(w, h, cell int, c color.NRGBA) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			if (x/cell+y/cell)%2 == 0 {
				img.SetNRGBA(x, y, c)
			} else {
				img.SetNRGBA(x, y, color.NRGBA{255 - c.R, 255 - c.G, 255 - c.B, 255})
			}
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}

// Decode once, then let every local scorer read the same pixels.
func Example() {
	data := checkerPNG(640, 480, 40, color.NRGBA{200, 30, 30, 255})
	px, err := score.Decode(data, score.Limits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	c := comfybatch.Candidate{Image: data, Pixels: px}
	ctx := context.Background()
	size, _ := (&score.Size{Width: 640, Height: 480}).Score(ctx, c)
	blank, _ := (&score.Blank{}).Score(ctx, c)
	sharp, _ := (&score.Sharpness{}).Score(ctx, c)
	fmt.Println("size ok:", size.Metrics["ok"], "blank ok:", blank.Metrics["ok"], "sharp:", sharp.Metrics["laplacian_var"] > 100)
	// Output: size ok: 1 blank ok: 0 sharp: true
}

// A CLIP scorer against the fake embeddings server: the red image matches
// "a red fox in the snow" better than the blue one.
func ExampleCLIP() {
	ts, url := cliptest.New(cliptest.Options{}).Start()
	defer ts.Close()
	clip, err := score.NewCLIP(score.CLIPOptions{URL: url, Protocol: score.ProtocolInfinity, Template: "{prompt}"})
	if err != nil {
		fmt.Println(err)
		return
	}
	job := comfybatch.Job{Key: "fox-1", Params: []comfybatch.Param{{Name: "prompt", Value: "a red fox in the snow"}}}
	sim := map[string]float64{}
	for name, c := range map[string]color.NRGBA{"red": {210, 40, 30, 255}, "blue": {30, 40, 210, 255}} {
		s, err := clip.Score(context.Background(), comfybatch.Candidate{Job: job, Image: checkerPNG(64, 64, 8, c)})
		if err != nil {
			fmt.Println(err)
			return
		}
		sim[name] = s.Metrics["similarity"]
	}
	fmt.Println("red beats blue:", sim["red"] > sim["blue"])
	// Output: red beats blue: true
}
