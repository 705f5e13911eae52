package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/report"
	"github.com/comfybatch/comfybatch/runview"
)

func newGridCmd(o IO) *cobra.Command {
	var (
		db, out string
		opts    report.GridOptions
		where   conds
	)
	c := &cobra.Command{
		Use:   "grid [flags] RUN",
		Short: "draw an X/Y/Z grid image of a run over up to three parameters",
		Long: `grid draws an A1111-style X/Y/Z plot of run RUN as one PNG: the values of the
param --x along the columns, of --y along the rows (one row without --y) and
one panel per value of --z, each cell an image scaled to --cell pixels, with
full values on the axes. --where param=value (repeatable) keeps only some
candidates. Besides params, axes and --where take batch_index (an image's
index in its prompt's batch) and output (the id of the node that saved it).
A cell that would hold several candidates (a swept param that is not on an
axis, or several images of one prompt) is an error naming what differs and
the flags that resolve it, unless --pick best asks for the best of them (the
legend then says so). Rows wrap at --max-width. It prints the file's path.`,
		Example: `  batch grid 3 --x seed --group fox -o fox.png
  batch grid 3 --x seed --y sampler_name --z cfg -o grid.png
  batch grid 3 --x seed --y sampler_name --where cfg=7.5 --cell 192
  batch grid 3 --x seed --y batch_index --where output=9`,
		Args:              exactArgs(1, "grid takes one run id, e.g. batch grid 3 --x seed --y sampler_name --z cfg"),
		ValidArgsFunction: completeRunID(&db),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			opts.Where = where
			return grid(c.Context(), db, id, opts, out, o)
		},
	}
	fs := c.Flags()
	dbFlag(fs, &db)
	// -x and -y as shorthands too: cobra completes the value of a
	// one-letter flag only through its shorthand (completions.go findFlag).
	fs.StringVarP(&opts.X, "x", "x", "seed", "`PARAM` along the columns (or batch_index, output)")
	fs.StringVarP(&opts.Y, "y", "y", "", "`PARAM` along the rows (empty = one row)")
	fs.StringVarP(&opts.Z, "z", "z", "", "`PARAM` with one panel per value (empty = one panel)")
	fs.Var(&where, "where", "keep candidates whose param (or batch_index, output) has this value, as `param=value` (repeatable)")
	fs.StringVar(&opts.Group, "group", "", "only this group")
	fs.StringVar(&opts.Pick, "pick", "", `"best": a cell holding several candidates shows the best (default: that is an error)`)
	fs.IntVar(&opts.CellSize, "cell", 256, "longest side of a cell's image in pixels")
	fs.IntVar(&opts.MaxWidth, "max-width", 4096, "widest the image may be; further columns wrap onto new rows")
	fs.StringVarP(&out, "output", "o", "grid.png", "PNG `file` to write")
	completeFlag(c, "x", completeParams(&db))
	completeFlag(c, "y", completeParams(&db))
	completeFlag(c, "z", completeParams(&db))
	completeFlag(c, "pick", fixedCompletions("best\tthe best candidate of each cell"))
	completeFlag(c, "group", completeGroups(&db))
	completeFlag(c, "output", completeExt("png"))
	setExits(c, queryExits()...)
	return c
}

// grid writes the grid PNG through a temporary file, so out is either
// the old file or the complete new one.
func grid(ctx context.Context, db string, id int64, opts report.GridOptions, out string, o IO) error {
	st, run, err := openRun(ctx, db, id)
	if err != nil {
		return err
	}
	defer st.Close()
	f, err := os.CreateTemp(filepath.Dir(out), ".grid-*.png")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := report.WriteGridPNG(ctx, f, run, opts); err != nil {
		f.Close()
		return err
	}
	// CreateTemp makes the file 0600; an image is for everyone to read.
	if err := errors.Join(f.Chmod(0o644), f.Close()); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), out); err != nil {
		return err
	}
	fmt.Fprintln(o.Out, out)
	return nil
}

// conds collects repeated --where flags.
type conds []runview.Cond

func (c *conds) String() string { return fmt.Sprint(*c) }

func (c *conds) Set(s string) error {
	cond, err := runview.ParseCond(s)
	if err != nil {
		return err
	}
	*c = append(*c, cond)
	return nil
}

// Type names the value in help.
func (c *conds) Type() string { return "param=value" }
