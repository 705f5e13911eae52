package report

import (
	"image"
	"image/color"
	"image/draw"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// pen writes grid labels with basicfont's 7×13 face magnified by an
// integer scale (nearest neighbour, so strokes stay crisp). The outline Go
// fonts would need golang.org/x/text, which go.mod does not list. The face
// covers printable ASCII; other runes draw as a replacement box.
type pen struct {
	face  *basicfont.Face
	scale int
}

func newPen(scale int) pen { return pen{face: basicfont.Face7x13, scale: max(1, scale)} }

// width is the advance of s in grid pixels.
func (p pen) width(s string) int {
	return font.MeasureString(p.face, s).Ceil() * p.scale
}

// lineHeight is the height of one line of text in grid pixels.
func (p pen) lineHeight() int { return p.face.Height * p.scale }

// ascent is the distance from the top of a line to its baseline.
func (p pen) ascent() int { return p.face.Ascent * p.scale }

// draw writes s with its baseline origin at dot.
func (p pen) draw(dst draw.Image, s string, dot image.Point, c color.Color) {
	w := font.MeasureString(p.face, s).Ceil()
	if w == 0 {
		return
	}
	small := image.NewRGBA(image.Rect(0, 0, w, p.face.Height))
	d := font.Drawer{Dst: small, Src: image.NewUniform(c), Face: p.face, Dot: fixed.P(0, p.face.Ascent)}
	d.DrawString(s)
	top := image.Pt(dot.X, dot.Y-p.ascent())
	r := image.Rectangle{top, top.Add(image.Pt(w*p.scale, p.face.Height*p.scale))}
	xdraw.NearestNeighbor.Scale(dst, r, small, small.Bounds(), xdraw.Over, nil)
}

// fit shortens s with "..." until it is at most w pixels wide.
func (p pen) fit(s string, w int) string {
	if p.width(s) <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 0 {
		r = r[:len(r)-1]
		if t := string(r) + "..."; p.width(t) <= w {
			return t
		}
	}
	return ""
}
