package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/export"
)

func newExportCmd(o IO) *cobra.Command {
	var (
		db, format, out string
		selected        bool
		shard           int
	)
	c := &cobra.Command{
		Use:   "export [flags] RUN -o DIR",
		Short: "export a run as imagefolder, webdataset or jsonl",
		Long: `export writes run RUN's candidates (or with --selected-only its selection) as a
dataset into --output:

  imagefolder  a Hugging Face imagefolder: the images and metadata.jsonl
  webdataset   tar shards of --shard-size samples (key.png and key.json members)
  jsonl        one JSON line per candidate, pointing at its image

Every image is a sample; its metadata records the seed, batch index and size
and output node that render it again (for an image of a batch, with where to
insert LatentFromBatch). Every format also writes _stats.json. The output is
deterministic: the same run gives byte-identical files. Failed jobs are counted, not exported; an image
that cannot be read is listed in _stats.json and makes the exit code 3.`,
		Example: `  batch export 3 --format imagefolder -o dataset/
  batch export 3 --format webdataset --selected-only --shard-size 500 -o shards/`,
		Args:              exactArgs(1, "export takes one run id and -o DIR, e.g. batch export 3 --format webdataset -o shards/"),
		ValidArgsFunction: completeRunID(&db),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			if out == "" {
				return usageErr("export takes one run id and -o DIR, e.g. batch export 3 --format webdataset -o shards/")
			}
			f, err := export.ParseFormat(format)
			if err != nil {
				return err
			}
			return exportRun(c.Context(), db, id, export.Options{Format: f, Dir: out, SelectedOnly: selected, ShardSize: shard}, o)
		},
	}
	fs := c.Flags()
	dbFlag(fs, &db)
	fs.StringVar(&format, "format", "imagefolder", "imagefolder, webdataset or jsonl")
	fs.BoolVar(&selected, "selected-only", false, "export only the selected candidates")
	fs.IntVar(&shard, "shard-size", 1000, "samples per webdataset shard")
	fs.StringVarP(&out, "output", "o", "", "destination `DIR` (required)")
	completeFlag(c, "format", fixedCompletions(
		"imagefolder\tHugging Face imagefolder: images and metadata.jsonl",
		"webdataset\ttar shards of key.png and key.json",
		"jsonl\tone JSON line per candidate"))
	completeFlag(c, "output", completeDirs)
	setExits(c, queryExits()...)
	return c
}

func exportRun(ctx context.Context, db string, id int64, opts export.Options, o IO) error {
	st, run, err := openRun(ctx, db, id)
	if err != nil {
		return err
	}
	defer st.Close()
	stats, err := export.Export(ctx, run, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "%s: %d samples, %d written, in %s\n", opts.Format, stats.Count, stats.Successes, opts.Dir)
	if stats.Failed > 0 {
		return fmt.Errorf("export: %d of %d images could not be read (listed in %s): %w",
			stats.Failed, stats.Count, filepath.Join(opts.Dir, "_stats.json"), comfybatch.ErrIncomplete)
	}
	return nil
}
