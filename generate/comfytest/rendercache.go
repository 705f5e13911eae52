package comfytest

import (
	"image"
	"sync"
)

// renderCache is Options.RenderCache: rendered images by render key, and
// their compressed pixel data by image, oldest evicted first. Images are
// never modified after Render, so one may be shared by several prompts.
type renderCache struct {
	max int

	mu    sync.Mutex
	byKey map[renderKey]*image.NRGBA
	keyOf map[*image.NRGBA]renderKey // the images in byKey
	idat  map[*image.NRGBA][]byte    // compressed pixels of images in byKey
	order []renderKey
	hits  int // renders answered from the cache
}

type renderKey struct {
	key         [32]byte
	w, h, steps int
	empty       bool
}

func newRenderCache(n int) *renderCache {
	return &renderCache{max: n, byKey: map[renderKey]*image.NRGBA{}, keyOf: map[*image.NRGBA]renderKey{}, idat: map[*image.NRGBA][]byte{}}
}

// render is Render, answered from the cache when it holds the image.
func (c *renderCache) render(key [32]byte, w, h, steps int, empty bool) *image.NRGBA {
	if c.max <= 0 {
		return Render(key, w, h, steps, empty)
	}
	k := renderKey{key, w, h, steps, empty}
	c.mu.Lock()
	img := c.byKey[k]
	if img != nil {
		c.hits++
	}
	c.mu.Unlock()
	if img != nil {
		return img
	}
	img = Render(key, w, h, steps, empty)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.byKey[k]; old != nil {
		return old // rendered concurrently
	}
	if len(c.order) >= c.max {
		old := c.order[0]
		c.order = c.order[1:]
		delete(c.idat, c.byKey[old])
		delete(c.keyOf, c.byKey[old])
		delete(c.byKey, old)
	}
	c.byKey[k] = img
	c.keyOf[img] = k
	c.order = append(c.order, k)
	return img
}

// encodePNG is the package's encodePNG, reusing the compressed pixels of a
// cached image.
func (c *renderCache) encodePNG(img *image.NRGBA, chunks [][2]string) ([]byte, error) {
	if c.max <= 0 {
		return encodePNG(img, chunks)
	}
	c.mu.Lock()
	idat, ok := c.idat[img]
	c.mu.Unlock()
	if !ok {
		var err error
		if idat, err = compressPixels(img); err != nil {
			return nil, err
		}
		c.mu.Lock()
		if _, cached := c.keyOf[img]; cached {
			c.idat[img] = idat
		}
		c.mu.Unlock()
	}
	return assemblePNG(img.Bounds(), chunks, idat), nil
}
