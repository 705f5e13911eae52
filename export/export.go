package export

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/jpeg" // sizes of JPEG candidates
	_ "image/png"  // sizes of PNG candidates
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/runview"
)

// Format names an export layout.
type Format string

// Formats.
const (
	// ImageFolder is the Hugging Face "imagefolder" layout: <key>.png files
	// and metadata.jsonl whose file_name column names them.
	ImageFolder Format = "imagefolder"
	// WebDataset writes tar shards <prefix>-000000.tar, ... with a
	// <key>.png and a <key>.json member per sample.
	WebDataset Format = "webdataset"
	// JSONL writes candidates.jsonl, one object per candidate whose
	// "image" is the absolute path of the image in the run folder; no
	// image is copied.
	JSONL Format = "jsonl"
)

// ParseFormat returns the Format named s, or an error wrapping
// comfybatch.ErrInvalid.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case ImageFolder, WebDataset, JSONL:
		return f, nil
	}
	return "", fmt.Errorf("export format %q: want imagefolder, webdataset or jsonl: %w", s, comfybatch.ErrInvalid)
}

// Options configures Export.
type Options struct {
	Format Format
	// Dir is the destination directory, created if missing. Files with the
	// names Export writes are replaced; other files are left alone.
	Dir string
	// SelectedOnly exports only the selected candidates.
	SelectedOnly bool
	// ShardSize is the most samples per WebDataset shard; default 1000.
	ShardSize int
	// ShardPrefix names WebDataset shards; default "shard".
	ShardPrefix string
	// PromptParam is the parameter copied into the "prompt" column;
	// default "prompt".
	PromptParam string
	// Logger receives a warning per candidate whose image cannot be read.
	Logger *slog.Logger
	// Now measures Stats.Duration; default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.ShardSize <= 0 {
		o.ShardSize = 1000
	}
	if o.ShardPrefix == "" {
		o.ShardPrefix = "shard"
	}
	if o.PromptParam == "" {
		o.PromptParam = "prompt"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Export writes run's candidates to opts.Dir in opts.Format and returns
// what it did; the same summary is written to opts.Dir/_stats.json.
// Candidates stream from the store one at a time, so a run of any size
// exports in constant memory.
//
// A candidate whose image cannot be read is counted in Stats.Failed and
// listed in Stats.Failures, and the export goes on. Export returns an
// error when the options are invalid (wrapping comfybatch.ErrInvalid),
// when ctx is done, or when writing fails.
func Export(ctx context.Context, run *runview.Run, opts Options) (Stats, error) {
	opts = opts.withDefaults()
	if _, err := ParseFormat(string(opts.Format)); err != nil {
		return Stats{}, err
	}
	if opts.Dir == "" {
		return Stats{}, fmt.Errorf("export: no destination directory: %w", comfybatch.ErrInvalid)
	}
	if strings.ContainsAny(opts.ShardPrefix, `/\`) {
		return Stats{}, fmt.Errorf("export: shard prefix %q contains a path separator: %w", opts.ShardPrefix, comfybatch.ErrInvalid)
	}
	start := opts.Now()
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return Stats{}, fmt.Errorf("create export folder: %w", err)
	}
	src, err := os.OpenRoot(run.OutputDir)
	if err != nil {
		return Stats{}, fmt.Errorf("open run folder: %w", err)
	}
	defer src.Close()

	var s sink
	switch opts.Format {
	case ImageFolder:
		s = &imageFolder{dir: opts.Dir}
	case WebDataset:
		s = &webDataset{dir: opts.Dir, prefix: opts.ShardPrefix, size: opts.ShardSize, mtime: modTime(run)}
	case JSONL:
		s = &jsonLines{dir: opts.Dir, runDir: run.OutputDir}
	}

	st := Stats{Format: opts.Format, FailedJobs: run.Failed, Groups: map[string]GroupStats{}}
	add := func(smp Sample) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		gs := st.Groups[smp.Group]
		gs.Count++
		st.Count++
		data, cfg, ext, err := readImage(src, smp.Path)
		if err != nil {
			opts.Logger.Warn("candidate image unreadable", "job", smp.JobIndex, "err", err)
			st.Failed++
			st.Failures = append(st.Failures, Failure{Key: smp.Key, Path: smp.Path, Error: err.Error()})
			st.Groups[smp.Group] = gs
			return nil
		}
		smp.Width, smp.Height, smp.Bytes = cfg.Width, cfg.Height, int64(len(data))
		if err := s.add(smp, ext, data); err != nil {
			return err
		}
		gs.Successes++
		if smp.Selected {
			gs.Selected++
		}
		st.Groups[smp.Group] = gs
		st.Successes++
		st.Bytes += smp.Bytes
		st.Width.add(cfg.Width)
		st.Height.add(cfg.Height)
		return nil
	}
	if err := walk(ctx, run, opts, add); err != nil {
		s.abort()
		return Stats{}, err
	}
	files, err := s.close()
	if err != nil {
		return Stats{}, err
	}
	st.Files = files
	st.Duration = opts.Now().Sub(start)
	st.DurationSeconds = math.Round(st.Duration.Seconds()*1000) / 1000
	if err := writeStats(opts.Dir, st); err != nil {
		return Stats{}, err
	}
	return st, nil
}

// sink is one output format. add is called once per sample in order;
// close finishes the output and returns the files written (relative to the
// destination, sorted); abort removes partial output after a failure.
type sink interface {
	add(s Sample, ext string, data []byte) error
	close() ([]string, error)
	abort()
}

// readImage reads a candidate image through the run folder's os.Root, so
// a stored path cannot reach outside it, and returns its bytes, size and
// file extension.
func readImage(root *os.Root, rel string) ([]byte, image.Config, string, error) {
	if rel == "" {
		return nil, image.Config{}, "", fmt.Errorf("no image recorded")
	}
	f, err := root.Open(rel)
	if err != nil {
		return nil, image.Config{}, "", fmt.Errorf("open image: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, image.Config{}, "", fmt.Errorf("read image %s: %w", rel, err)
	}
	cfg, kind, err := image.DecodeConfig(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, image.Config{}, "", fmt.Errorf("image %s: %w", rel, err)
	}
	ext := ".png"
	if kind == "jpeg" {
		ext = ".jpg"
	}
	return buf.Bytes(), cfg, ext, nil
}

// modTime is the time stamped on tar members: the run's end (or start),
// whole seconds, so that the same run gives the same bytes.
func modTime(run *runview.Run) time.Time {
	t := run.Finished
	if t.IsZero() {
		t = run.Started
	}
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t.UTC().Truncate(time.Second)
}

// writeFile writes data to dir/name through a temporary file and a
// rename, so a reader never sees half a file.
func writeFile(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
