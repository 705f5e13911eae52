package report

import (
	"bytes"
	"context"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/runview"
)

//go:embed templates/report.html.tmpl
var templates embed.FS

// Full says which full-size images a report folder holds.
const (
	FullSelected = "selected" // the selected candidates' (the default)
	FullAll      = "all"      // every candidate's
	FullNone     = "none"     // none: thumbnails only
)

// Options configures Write and HTML. The zero value is useful.
type Options struct {
	// Title defaults to "comfybatch run <ID>: <Name>".
	Title string
	// CostPerGPUHour prices every instance for the cost per delivered
	// image; 0 leaves cost out.
	CostPerGPUHour float64
	// Full is FullSelected (default), FullAll or FullNone: which
	// candidates' full-size images Write puts in the folder, each card
	// linking to its own.
	Full string
	// Logger receives a warning per image that could not be read.
	Logger *slog.Logger
	// Now stamps the page's "generated" line; default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults(r *runview.Run) (Options, error) {
	if o.Title == "" {
		o.Title = fmt.Sprintf("comfybatch run %d: %s", r.ID, r.Name)
	}
	switch o.Full {
	case "":
		o.Full = FullSelected
	case FullSelected, FullAll, FullNone:
	default:
		return o, fmt.Errorf("report: full images %q: want selected, all or none: %w", o.Full, comfybatch.ErrInvalid)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// PageName is the report's page inside its folder.
const PageName = "report.html"

// Write writes the report of run into the folder dir (created if
// missing) and returns the page's path: dir/report.html, its thumbnails
// in dir/thumbs/ and the full-size images opts.Full asks for (the
// selected ones under dir/selected/<group>/, as in the run folder). Every
// link in the page is relative and inside dir, so the folder keeps
// working when it is moved, copied or zipped.
//
// Thumbnails are the ones the run made while it scored each image (the
// run folder's thumbs/), hard-linked when dir is on the same file system
// and copied otherwise, so a report of 10,000 candidates decodes no image.
// A run recorded before thumbnails were made gets them now, by decoding
// its images on up to GOMAXPROCS goroutines.
//
// An unreadable image does not fail the report: its card shows "image
// unavailable" with the reason. Write returns an error when ctx is done or
// a file cannot be written.
func Write(ctx context.Context, dir string, run *runview.Run, opts Options) (string, error) {
	opts, err := opts.withDefaults(run)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create report folder: %w", err)
	}
	out, err := os.OpenRoot(dir)
	if err != nil {
		return "", fmt.Errorf("open report folder: %w", err)
	}
	defer out.Close()
	p, err := buildPage(ctx, run, opts, &folder{root: out, dir: dir, full: opts.Full})
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := render(&buf, p); err != nil {
		return "", err
	}
	if err := writeAtomic(out, PageName, buf.Bytes()); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	return filepath.Join(dir, PageName), nil
}

// HTML writes the report of run as one page to w, its thumbnails inside
// it as data URIs and no link to a full-size image: a file to mail.
func HTML(ctx context.Context, w io.Writer, run *runview.Run, opts Options) error {
	opts, err := opts.withDefaults(run)
	if err != nil {
		return err
	}
	p, err := buildPage(ctx, run, opts, nil)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := render(&buf, p); err != nil {
		return err
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func render(w io.Writer, p page) error {
	tmpl, err := template.New("report.html.tmpl").Funcs(templateFuncs()).ParseFS(templates, "templates/report.html.tmpl")
	if err != nil {
		return fmt.Errorf("parse report template: %w", err)
	}
	if err := tmpl.Execute(w, p); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	return nil
}

type page struct {
	Title     string
	Generated time.Time
	Run       *runview.Run
	Summary   Summary
	Groups    []groupView
	Failures  []failureView
	// FailedMore is how many failed jobs are not listed.
	FailedMore int
}

type kv struct{ Name, Value string }

type groupView struct {
	Index int
	Name  string
	runview.Group
	// Fixed are the params every candidate of the group shares (its
	// prompt), shown once; cards show the swept ones.
	Fixed         []kv
	SelectedCards []*card // by rank
	PassedCards   []*card // not selected nor rejected, best first
	RejectedCards []*card // best first
}

type card struct {
	ID       string
	JobIndex int
	// Batched says the run's prompts save batches of images: the card
	// then names its Seed and BatchIndex (of BatchSize), which render it
	// again. Output is the id of the node that saved it, OutputLabel its
	// id and title when the run has several output nodes.
	Batched     bool
	Seed        string
	BatchIndex  int
	BatchSize   int
	Output      string
	OutputLabel string
	Rank        int
	Total       float64
	Params      []kv
	Metrics     []kv
	Rejected    string
	RejectKind  string
	Thumb       template.URL
	ThumbW      int
	ThumbH      int
	Full        template.URL
	ImageErr    string
}

type failureView struct {
	runview.Failure
	ParamsText string
}

// maxFailures is the most failed jobs the page lists; batch show --wide
// lists them all.
const maxFailures = 500

// buildPage reads the run's candidates, fills the cards and, through f
// (nil: data URIs), places thumbnails and full-size images.
func buildPage(ctx context.Context, run *runview.Run, opts Options, f *folder) (page, error) {
	p := page{Title: opts.Title, Generated: opts.Now().UTC(), Run: run, Summary: Summarize(run, opts.CostPerGPUHour)}
	type job struct {
		c   runview.Candidate
		out *card
	}
	var jobs []job
	for gi, g := range run.Groups {
		cands, err := run.LoadCandidates(ctx, runview.Filter{Group: g.Name})
		if err != nil {
			return page{}, err
		}
		gv := groupView{Index: gi, Name: g.Name, Group: g}
		swept, fixed := runview.SplitParams(func(yield func([]comfybatch.Param) bool) {
			for _, c := range cands {
				if !yield(c.Params) {
					return
				}
			}
		})
		for _, fp := range fixed {
			gv.Fixed = append(gv.Fixed, kv{fp.Name, comfybatch.FormatValue(fp.Value)})
		}
		slices.SortStableFunc(cands, func(a, b runview.Candidate) int {
			switch {
			case a.Rank > 0 && b.Rank > 0:
				return a.Rank - b.Rank
			case a.Total != b.Total:
				if a.Total > b.Total {
					return -1
				}
				return 1
			}
			if a.Index != b.Index {
				return a.Index - b.Index
			}
			return compareRefs(a.ID, b.ID)
		})
		for _, c := range cands {
			cd := &card{ID: c.ID.String(), JobIndex: c.Index, Rank: c.Rank, Total: c.Total,
				Rejected: c.Rejected, RejectKind: RejectKind(c.Rejected), Batched: run.Batched,
				BatchIndex: c.BatchIndex, BatchSize: c.BatchSize, Output: c.Output}
			if run.MultiOutput() {
				cd.OutputLabel = run.Output(c.Output).Label()
			}
			if run.Batched {
				seed, _ := c.Param("seed")
				cd.Seed = runview.FormatValue(seed)
			}
			if of, ok := c.NearDuplicateOf(); ok {
				cd.Rejected = fmt.Sprintf("near-duplicate of #%d", of)
			}
			for _, name := range swept {
				if run.Batched && name == "seed" {
					continue // on the card's first line, beside the batch index
				}
				v, _ := c.Param(name)
				cd.Params = append(cd.Params, kv{name, runview.FormatValue(v)})
			}
			cd.Metrics = metrics(c)
			switch {
			case c.Rank > 0:
				gv.SelectedCards = append(gv.SelectedCards, cd)
			case c.Rejected != "":
				gv.RejectedCards = append(gv.RejectedCards, cd)
			default:
				gv.PassedCards = append(gv.PassedCards, cd)
			}
			jobs = append(jobs, job{c, cd})
		}
		p.Groups = append(p.Groups, gv)
	}
	fails, err := run.Failures(ctx, "", maxFailures)
	if err != nil {
		return page{}, err
	}
	for _, fl := range fails {
		parts := make([]string, len(fl.Params))
		for i, pr := range fl.Params {
			parts[i] = pr.Name + "=" + comfybatch.FormatValue(pr.Value)
		}
		p.Failures = append(p.Failures, failureView{fl, strings.Join(parts, ", ")})
	}
	p.FailedMore = run.Failed - len(p.Failures)
	if f != nil {
		if err := f.prepare(); err != nil {
			return page{}, err
		}
	}

	// Each worker writes only its own card; the errgroup owns them all.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0)) // a run without thumbnails decodes images: CPU-bound
	for _, j := range jobs {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			return fillImages(run, opts, f, j.c, j.out)
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

// fillImages sets the card's thumbnail and full-size link, or ImageErr
// when the image cannot be read. Only failing to write a file is an error.
func fillImages(run *runview.Run, opts Options, f *folder, c runview.Candidate, cd *card) error {
	if c.Path == "" {
		cd.ImageErr = "no image recorded"
		return nil
	}
	thumb, err := readThumb(run, c)
	if err != nil {
		opts.Logger.Warn("candidate image unreadable", "job", c.Index, "candidate", c.ID.String(), "err", err)
		cd.ImageErr = err.Error()
		return nil
	}
	cd.ThumbW, cd.ThumbH = thumb.w, thumb.h
	if f == nil {
		data := thumb.data
		if data == nil {
			if data, err = os.ReadFile(thumb.path); err != nil {
				cd.ImageErr = err.Error()
				return nil
			}
		}
		cd.Thumb = template.URL("data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(data))
		return nil
	}
	// Names come from the image's hash and the selected/ layout, never
	// from the server's file name.
	name := "thumbs/" + c.SHA256 + ".jpg"
	if err := f.place(name, thumb.path, thumb.data); err != nil {
		return fmt.Errorf("thumbnail of candidate %s (job %d): %w", c.ID, c.Index, err)
	}
	cd.Thumb = template.URL(escapePath(name))
	full := ""
	switch {
	case f.full == FullNone:
	case c.SelectedPath != "":
		full = c.SelectedPath
	case f.full == FullAll:
		full = "images/" + c.SHA256 + path.Ext(c.Path)
	}
	if full != "" {
		if err := f.place(full, run.Abs(c.Path), nil); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("image of candidate %s (job %d): %w", c.ID, c.Index, err)
			}
			opts.Logger.Warn("candidate image missing", "job", c.Index, "candidate", c.ID.String(), "err", err)
		} else {
			cd.Full = template.URL(escapePath(full))
		}
	}
	return nil
}

// compareRefs orders the images of one job: by output node id in natural
// order, then batch index.
func compareRefs(a, b runview.ID) int {
	if c := runview.CompareNatural(a.Output, b.Output); c != 0 {
		return c
	}
	return a.BatchIndex - b.BatchIndex
}

// metrics lists "scorer.metric" values by name in human units, then
// scorer errors.
func metrics(c runview.Candidate) []kv {
	var out []kv
	for _, s := range c.Scores {
		for _, m := range s.MetricNames() {
			out = append(out, kv{s.Scorer + "." + m, runview.FormatMetric(m, s.Metrics[m])})
		}
		if s.Err != "" {
			out = append(out, kv{s.Scorer, "error: " + s.Err})
		}
	}
	slices.SortStableFunc(out, func(a, b kv) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// escapePath escapes each element of a slash-separated relative path for
// use in a URL.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}
