package report

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"strings"
	"unicode/utf8"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// pen writes grid labels with the Go Regular TrueType font, which covers
// Latin, Greek and Cyrillic (WGL4); a rune it lacks draws as its
// replacement box. A pen is not safe for concurrent use (the face keeps a
// glyph buffer): one grid draws with one pen.
type pen struct {
	face   font.Face
	height int // line height in pixels
	ascent int
}

func newPen(size float64) (pen, error) {
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return pen{}, fmt.Errorf("grid font: %w", err)
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return pen{}, fmt.Errorf("grid font: %w", err)
	}
	m := face.Metrics()
	return pen{face: face, height: (m.Height + fixed.I(2)).Ceil(), ascent: m.Ascent.Ceil()}, nil
}

// width is the advance of s in pixels.
func (p pen) width(s string) int { return font.MeasureString(p.face, s).Ceil() }

// draw writes s with its baseline origin at dot.
func (p pen) draw(dst draw.Image, s string, dot image.Point, c color.Color) {
	d := font.Drawer{Dst: dst, Src: image.NewUniform(c), Face: p.face, Dot: fixed.P(dot.X, dot.Y)}
	d.DrawString(s)
}

// wrap breaks s into lines at most w pixels wide, at spaces where it can
// and inside a word (a seed, a file name) where it must.
func (p pen) wrap(s string, w int) []string {
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			try := word
			if line != "" {
				try = line + " " + word
			}
			if p.width(try) <= w {
				line = try
				continue
			}
			if line != "" {
				lines = append(lines, line)
				line = ""
			}
			for p.width(word) > w {
				n := p.fits(word, w)
				lines = append(lines, word[:n])
				word = word[n:]
			}
			line = word
		}
		lines = append(lines, line)
	}
	return lines
}

// fits returns how many bytes of s, whole runes and at least one, fit in
// w pixels.
func (p pen) fits(s string, w int) int {
	n := 0
	for i, r := range s {
		if i > 0 && p.width(s[:i+utf8.RuneLen(r)]) > w {
			break
		}
		n = i + utf8.RuneLen(r)
	}
	return max(n, 1)
}
