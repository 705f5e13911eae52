package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/report"
)

func newGridCmd(o IO) *cobra.Command {
	var (
		db, out string
		opts    report.GridOptions
	)
	c := &cobra.Command{
		Use:   "grid [flags] RUN",
		Short: "draw an X/Y grid image of a run over two parameters",
		Long: `grid draws an A1111-style X/Y plot of run RUN as one PNG: the values of the
param --x along the columns and of --y along the rows (one row without --y),
each cell an image scaled to --cell pixels. It prints the file's path.`,
		Example: `  batch grid 3 --x seed --group fox -o fox.png
  batch grid 3 --x sampler --y steps --cell 192 -o grid.png`,
		Args:              exactArgs(1, "grid takes one run id, e.g. batch grid 3 --x seed --y sampler_name"),
		ValidArgsFunction: completeRunID(&db),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			return grid(c.Context(), db, id, opts, out, o)
		},
	}
	fs := c.Flags()
	dbFlag(fs, &db)
	// -x and -y as shorthands too: cobra completes the value of a
	// one-letter flag only through its shorthand (completions.go findFlag).
	fs.StringVarP(&opts.X, "x", "x", "seed", "`PARAM` along the columns")
	fs.StringVarP(&opts.Y, "y", "y", "", "`PARAM` along the rows (empty = one row)")
	fs.StringVar(&opts.Group, "group", "", "only this group")
	fs.IntVar(&opts.CellSize, "cell", 256, "longest side of a cell's image in pixels")
	fs.StringVarP(&out, "output", "o", "grid.png", "PNG `file` to write")
	completeFlag(c, "x", completeParams(&db))
	completeFlag(c, "y", completeParams(&db))
	completeFlag(c, "group", completeGroups(&db))
	completeFlag(c, "output", completeExt("png"))
	setExits(c, queryExits()...)
	return c
}

// grid writes the grid PNG through a temporary file, so out is either
// the old file or the complete new one.
func grid(ctx context.Context, db string, id int64, opts report.GridOptions, out string, o IO) error {
	run, err := loadRunData(ctx, db, id, 0)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(out), ".grid-*.png")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := report.WriteGridPNG(ctx, f, run, opts); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), out); err != nil {
		return err
	}
	fmt.Fprintln(o.Out, out)
	return nil
}
