package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/inspect"
)

func newRunsCmd(o IO) *cobra.Command {
	var (
		db     string
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "runs [flags]",
		Short: "list the runs in a database",
		Long: `runs lists every run of the database --db, oldest first: its id (what resume,
show and the other commands take), manifest name, status, job counts,
selected candidates and times.`,
		Example: `  batch runs
  batch runs --db nightly/comfybatch.db --json | jq -r '.[].id'`,
		Args: exactArgs(0, "runs takes no arguments; pass the database with --db"),
		RunE: func(c *cobra.Command, _ []string) error { return runs(c.Context(), db, asJSON, o) },
	}
	dbFlag(c.Flags(), &db)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	setExits(c, queryExits()...)
	return c
}

func runs(ctx context.Context, db string, asJSON bool, o IO) error {
	st, err := openDB(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	runs, err := inspect.Runs(ctx, st)
	if err != nil {
		return err
	}
	if asJSON {
		return inspect.WriteRunsJSON(o.Out, runs)
	}
	return inspect.WriteRunsText(o.Out, runs)
}
