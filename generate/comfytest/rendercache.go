package comfytest

import (
	"image"
	"sync"
)

// renderCache is Options.RenderCache: rendered images with their
// compressed pixel data, by render key and by image, oldest evicted first.
// Images are never modified after Render, so one may be shared by several
// prompts.
type renderCache struct {
	max int

	mu      sync.Mutex
	byKey   map[renderKey]*rendered
	byImage map[*image.NRGBA]*rendered // the same entries
	order   []renderKey
	hits    int // renders answered from the cache
}

type renderKey struct {
	key         [32]byte
	w, h, steps int
	empty       bool
}

type rendered struct {
	img  *image.NRGBA
	idat []byte // compressPixels(img)
}

func newRenderCache(n int) *renderCache {
	return &renderCache{max: n, byKey: map[renderKey]*rendered{}, byImage: map[*image.NRGBA]*rendered{}}
}

// render is Render, answered from the cache when it holds the image; a
// newly rendered image is compressed once and cached.
func (c *renderCache) render(key [32]byte, w, h, steps int, empty bool) *image.NRGBA {
	if c.max <= 0 {
		return Render(key, w, h, steps, empty)
	}
	k := renderKey{key, w, h, steps, empty}
	c.mu.Lock()
	e := c.byKey[k]
	if e != nil {
		c.hits++
	}
	c.mu.Unlock()
	if e != nil {
		return e.img
	}
	img := Render(key, w, h, steps, empty)
	idat, err := compressPixels(img)
	if err != nil {
		return img // EncodePNG reports it
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.byKey[k]; old != nil {
		return old.img // rendered concurrently
	}
	if len(c.order) >= c.max {
		old := c.byKey[c.order[0]]
		delete(c.byImage, old.img)
		delete(c.byKey, c.order[0])
		c.order = c.order[1:]
	}
	e = &rendered{img, idat}
	c.byKey[k], c.byImage[img] = e, e
	c.order = append(c.order, k)
	return img
}

// encodePNG is EncodePNG, reusing the compressed pixels of a
// cached image.
func (c *renderCache) encodePNG(img *image.NRGBA, chunks [][2]string) ([]byte, error) {
	c.mu.Lock()
	e := c.byImage[img]
	c.mu.Unlock()
	if e == nil {
		return EncodePNG(img, chunks)
	}
	return assemblePNG(img.Bounds(), chunks, e.idat), nil
}
