package report

import (
	"bytes"
	"context"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/comfybatch/comfybatch"
)

//go:embed templates/report.html.tmpl
var templates embed.FS

// HTMLOptions configures HTML. The zero value embeds 256-pixel JPEG
// thumbnails in the page as data URIs.
type HTMLOptions struct {
	// Title defaults to "comfybatch run <ID>: <Name>".
	Title string
	// ThumbSize is the longest side of a thumbnail in pixels; default 256.
	ThumbSize int
	// ThumbDir, when set, is a directory thumbnails are written to as
	// JPEG files (created if missing), and ThumbURL is the URL prefix the
	// page uses for them (usually a relative path such as
	// "report_files/"). When ThumbDir is empty, thumbnails are embedded as
	// data URIs and the page stands alone.
	ThumbDir string
	ThumbURL string
	// ImageURL, when set, is the URL prefix of the run folder; each
	// thumbnail then links to its full-size image at ImageURL+Path.
	ImageURL string
	// Logger receives a warning per image that could not be read.
	Logger *slog.Logger
	// Now stamps the page's "generated" line; default time.Now.
	Now func() time.Time
}

func (o HTMLOptions) withDefaults(r Run) HTMLOptions {
	if o.Title == "" {
		o.Title = fmt.Sprintf("comfybatch run %d: %s", r.ID, r.Name)
	}
	if o.ThumbSize <= 0 {
		o.ThumbSize = 256
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// HTML writes a single-page report of run to w: the run summary (counts,
// pass rate per gate, time, utilization and model loads per instance,
// estimated cost per delivered image), a contact sheet per group sorted by
// total score with the selected candidates marked, and the failed jobs.
// The page uses no external assets and works from file://.
//
// Elements carry stable hooks for tools and tests: each group is a
// <section class="group" data-group="NAME" data-selected-count="N">, each
// candidate a <figure class="candidate" data-job="INDEX"
// data-selected="true|false" data-reject="gate|duplicate|error|">, with
// one <img class="thumb"> when its image could be read (an inline handler
// sets data-load="ok" or "error" on it), and each failed job a
// <tr class="failure" data-class="CLASS">.
//
// An unreadable image does not fail the report: its candidate shows
// "image unavailable" with the reason. HTML returns an error only when
// ctx is done, a thumbnail cannot be written or w fails.
func HTML(ctx context.Context, w io.Writer, run Run, opts HTMLOptions) error {
	opts = opts.withDefaults(run)
	page, err := buildPage(ctx, run, opts)
	if err != nil {
		return err
	}
	tmpl, err := template.New("report.html.tmpl").Funcs(templateFuncs()).ParseFS(templates, "templates/report.html.tmpl")
	if err != nil {
		return fmt.Errorf("parse report template: %w", err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, page); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WriteHTMLFile writes the report to dir/report.html and its thumbnails to
// dir/report_files/, creating dir if needed, and returns the page's path.
// Thumbnails link to the full-size images through a path relative to dir,
// so the folder can be opened in a browser from file://. opts.ThumbDir and
// opts.ThumbURL are overridden.
func WriteHTMLFile(ctx context.Context, dir string, run Run, opts HTMLOptions) (string, error) {
	files := filepath.Join(dir, "report_files")
	if err := os.MkdirAll(files, 0o755); err != nil {
		return "", fmt.Errorf("create report folder: %w", err)
	}
	opts.ThumbDir, opts.ThumbURL = files, "report_files/"
	if opts.ImageURL == "" && run.OutputDir != "" {
		abs, err1 := filepath.Abs(dir)
		out, err2 := filepath.Abs(run.OutputDir)
		if err1 == nil && err2 == nil {
			if rel, err := filepath.Rel(abs, out); err == nil {
				opts.ImageURL = filepath.ToSlash(rel) + "/"
			}
		}
	}
	var buf bytes.Buffer
	if err := HTML(ctx, &buf, run, opts); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "report.html")
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	return out, nil
}

type page struct {
	Title     string
	Generated time.Time
	Run       Run
	Summary   Summary
	Groups    []groupView
}

type groupView struct {
	Index    int
	Name     string
	TopK     int
	Selected int
	Rejected int
	Cards    []card
}

type kv struct{ Name, Value string }

type card struct {
	JobIndex   int
	JobKey     string
	Selected   bool
	Rank       int
	Total      float64
	Params     []kv
	Metrics    []kv
	Rejected   string
	RejectKind string
	Thumb      template.URL
	ThumbSize  [2]int
	ImageLink  template.URL
	ImageErr   string
}

func buildPage(ctx context.Context, run Run, opts HTMLOptions) (page, error) {
	p := page{Title: opts.Title, Generated: opts.Now().UTC(), Run: run, Summary: Summarize(run)}
	index := map[string]int{} // job key -> job index, for "near-duplicate of #N"
	for _, g := range run.Groups {
		for _, c := range g.Candidates {
			index[c.Candidate.Job.Key] = c.Candidate.Job.Index
		}
	}
	type slot struct {
		c   comfybatch.Scored
		out *card
		gi  int
	}
	var slots []slot
	for gi, g := range run.Groups {
		gv := groupView{Index: gi, Name: g.Name, TopK: g.TopK}
		cands := sortedByTotal(g.Candidates)
		gv.Cards = make([]card, len(cands))
		for i, c := range cands {
			cd := &gv.Cards[i]
			cd.JobIndex, cd.JobKey, cd.Total = c.Candidate.Job.Index, c.Candidate.Job.Key, c.Total
			if s, ok := run.Selected(g.Name, c.Candidate.Job.Key); ok {
				cd.Selected, cd.Rank = true, s.Rank
				gv.Selected++
			}
			for _, pr := range c.Candidate.Job.Params {
				cd.Params = append(cd.Params, kv{pr.Name, comfybatch.FormatValue(pr.Value)})
			}
			cd.Metrics = metrics(c)
			dupOf, dup := g.NearDuplicates[c.Candidate.Job.Key]
			cd.Rejected = c.Rejected
			if dup && cd.Rejected == "" {
				if n, ok := index[dupOf]; ok {
					cd.Rejected = fmt.Sprintf("near-duplicate of #%d", n)
				} else {
					cd.Rejected = "near-duplicate of " + dupOf
				}
			}
			cd.RejectKind = RejectKind(cd.Rejected, dup)
			if cd.Rejected != "" {
				gv.Rejected++
			}
			if opts.ImageURL != "" && c.Candidate.Path != "" {
				cd.ImageLink = template.URL(opts.ImageURL + escapePath(c.Candidate.Path))
			}
			slots = append(slots, slot{c, cd, gi})
		}
		p.Groups = append(p.Groups, gv)
	}
	if opts.ThumbDir != "" {
		if err := os.MkdirAll(opts.ThumbDir, 0o755); err != nil {
			return page{}, fmt.Errorf("create thumbnail folder: %w", err)
		}
	}

	// Each worker writes only its own card; the errgroup owns them all.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0)) // decoding and resizing are CPU-bound
	for _, s := range slots {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			return fillThumb(run, opts, s.gi, s.c, s.out)
		})
	}
	if err := g.Wait(); err != nil {
		return page{}, err
	}
	if err := ctx.Err(); err != nil {
		return page{}, err
	}
	return p, nil
}

// fillThumb sets the card's thumbnail, or ImageErr when the image cannot
// be read. Only failing to write a thumbnail file is an error.
func fillThumb(run Run, opts HTMLOptions, gi int, c comfybatch.Scored, cd *card) error {
	if c.Candidate.Path == "" {
		cd.ImageErr = "no image recorded"
		return nil
	}
	img, err := openImage(run.OutputDir, c.Candidate.Path)
	if err != nil {
		opts.Logger.Warn("candidate image unreadable", "job", c.Candidate.Job.Index, "err", err)
		cd.ImageErr = err.Error()
		return nil
	}
	data, size, err := thumbnail(img, opts.ThumbSize)
	if err != nil {
		cd.ImageErr = err.Error()
		return nil
	}
	cd.ThumbSize = [2]int{size.X, size.Y}
	if opts.ThumbDir == "" {
		cd.Thumb = template.URL("data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(data))
		return nil
	}
	// Names come from the group's position and the job index, never from
	// the server's file name.
	name := fmt.Sprintf("g%02d-j%06d.jpg", gi, c.Candidate.Job.Index)
	if err := os.WriteFile(filepath.Join(opts.ThumbDir, name), data, 0o644); err != nil {
		return fmt.Errorf("write thumbnail of job %d: %w", c.Candidate.Job.Index, err)
	}
	cd.Thumb = template.URL(opts.ThumbURL + name)
	return nil
}

// sortedByTotal returns the candidates by descending total, ties by job
// index, without changing the caller's slice.
func sortedByTotal(in []comfybatch.Scored) []comfybatch.Scored {
	out := append([]comfybatch.Scored(nil), in...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Total != out[j].Total {
			return out[i].Total > out[j].Total
		}
		return out[i].Candidate.Job.Index < out[j].Candidate.Job.Index
	})
	return out
}

// metrics lists "scorer.metric" values sorted by name, then scorer errors.
func metrics(c comfybatch.Scored) []kv {
	var out []kv
	for _, s := range c.Scores {
		for _, m := range s.MetricNames() {
			out = append(out, kv{s.Scorer + "." + m, fmt.Sprintf("%.4g", s.Metrics[m])})
		}
		if s.Err != "" {
			out = append(out, kv{s.Scorer, "error: " + s.Err})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func escapePath(p string) string {
	parts := strings.Split(filepath.ToSlash(p), "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return path.Join(parts...)
}
