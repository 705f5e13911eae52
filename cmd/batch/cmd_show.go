package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/inspect"
)

func newShowCmd(o IO) *cobra.Command {
	var (
		db, group    string
		asJSON, wide bool
	)
	c := &cobra.Command{
		Use:   "show [flags] RUN",
		Short: "counts, gate pass rates, selected candidates and failures of a run",
		Long: `show reads run RUN from the database --db and prints its job counts, the pass
rate of every gate (size, blank, min score...), the selected candidates of each
group with the params that tell them apart (and, when prompts save several
images, the seed and batch index or output node of each), their scores and
selected/ paths, and the failed jobs with their error class. It fits 100
columns; --wide shows every column and every failure. It reads while a run
writes, so it also shows a run in progress.`,
		Example: `  batch show 3
  batch show 3 --group fox --wide
  batch show 3 --json | jq -r '.selected[].image'`,
		Args:              exactArgs(1, "show takes one run id, e.g. batch show 3"),
		ValidArgsFunction: completeRunID(&db),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			return show(c.Context(), db, id, group, asJSON, wide, o)
		},
	}
	fs := c.Flags()
	dbFlag(fs, &db)
	fs.StringVar(&group, "group", "", "only this group")
	fs.BoolVar(&wide, "wide", false, "every column and every failure, however wide")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	completeFlag(c, "group", completeGroups(&db))
	setExits(c, queryExits()...)
	return c
}

// showFailures is how many failed jobs batch show lists without --wide.
const showFailures = 10

func show(ctx context.Context, db string, id int64, group string, asJSON, wide bool, o IO) error {
	st, run, err := openRun(ctx, db, id)
	if err != nil {
		return err
	}
	defer st.Close()
	opts := inspect.ShowOptions{}
	if !wide && !asJSON {
		opts.Failures = showFailures
	}
	r, err := inspect.Show(ctx, run, group, opts)
	if err != nil {
		return notFound(err)
	}
	if asJSON {
		return r.WriteJSON(o.Out)
	}
	return r.WriteText(o.Out, wide)
}
