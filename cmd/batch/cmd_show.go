package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/inspect"
)

func newShowCmd(o IO) *cobra.Command {
	var (
		db, group string
		asJSON    bool
	)
	c := &cobra.Command{
		Use:   "show [flags] RUN",
		Short: "counts, gate pass rates, selected candidates and failures of a run",
		Long: `show reads run RUN from the database --db and prints its job counts, the pass
rate of every gate (size, blank, min score...), the selected candidates of each
group with their scores and image paths, and the failed jobs with their error
class. It reads while a run writes, so it also shows a run in progress.`,
		Example: `  batch show 3
  batch show 3 --group fox
  batch show 3 --json | jq -r '.selected[].image'`,
		Args:              exactArgs(1, "show takes one run id, e.g. batch show 3"),
		ValidArgsFunction: completeRunID(&db),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			return show(c.Context(), db, id, group, asJSON, o)
		},
	}
	fs := c.Flags()
	dbFlag(fs, &db)
	fs.StringVar(&group, "group", "", "only this group")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	completeFlag(c, "group", completeGroups(&db))
	setExits(c, queryExits()...)
	return c
}

func show(ctx context.Context, db string, id int64, group string, asJSON bool, o IO) error {
	st, err := openDB(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := inspect.Show(ctx, st, id, group)
	if err != nil {
		return notFound(err)
	}
	if asJSON {
		return r.WriteJSON(o.Out)
	}
	return r.WriteText(o.Out)
}
