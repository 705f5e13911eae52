package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/score"
)

func main() {
	gen := flag.String("gen", "", "write test images into this directory")
	dir := flag.String("time", "", "time Sharpness on the PNGs in this directory")
	reps := flag.Int("reps", 50, "repetitions per image")
	flag.Parse()
	var err error
	switch {
	case *gen != "":
		err = generate(*gen)
	case *dir != "":
		err = timeAll(*dir, *reps)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sharpbench:", err)
		os.Exit(1)
	}
}

// generate writes structured, mildly noisy scenes: gradients, a disc and
// stripes, like a render rather than like white noise.
func generate(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, n := range []int{512, 1024, 2048} {
		r := rand.New(rand.NewPCG(uint64(n), 7))
		img := image.NewNRGBA(image.Rect(0, 0, n, n))
		cx, cy, rad := 0.4*float64(n), 0.55*float64(n), 0.25*float64(n)
		for y := range n {
			for x := range n {
				fx, fy := float64(x)/float64(n), float64(y)/float64(n)
				c := [3]float64{200 * fx, 180 * fy, 220 * (1 - fx)}
				if dx, dy := float64(x)-cx, float64(y)-cy; dx*dx+dy*dy < rad*rad {
					c = [3]float64{240 - c[0], 230 - c[1], 190}
				}
				if (x/16)%2 == 0 && y > n/2 {
					c[2] = 255 - c[2]
				}
				for i := range c {
					c[i] = min(255, max(0, c[i]+float64(r.IntN(11)-5)))
				}
				img.SetNRGBA(x, y, color.NRGBA{byte(c[0]), byte(c[1]), byte(c[2]), 255})
			}
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("scene_%d.png", n)))
		if err != nil {
			return err
		}
		if err := png.Encode(f, img); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func timeAll(dir string, reps int) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.png"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	ctx := context.Background()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		px, err := score.Decode(data, score.Limits{})
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		b := px.Bounds()
		s := &score.Sharpness{LongSide: max(b.Dx(), b.Dy())}
		c := comfybatch.Candidate{Pixels: px}
		var v float64
		best := time.Duration(1<<63 - 1)
		for range reps {
			start := time.Now()
			sc, err := s.Score(ctx, c)
			if d := time.Since(start); d < best {
				best = d
			}
			if err != nil {
				return err
			}
			v = sc.Metrics["laplacian_var"]
		}
		fmt.Printf("%s %.3f %.4f\n", filepath.Base(f), best.Seconds()*1000, v)
	}
	return nil
}
