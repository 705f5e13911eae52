package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/pipeline"
)

func newSelectCmd(o IO) *cobra.Command {
	var (
		db   string
		topK int
	)
	c := &cobra.Command{
		Use:   "select [flags] RUN",
		Short: "re-select the top K of a stored run from its scores",
		Long: `select ranks run RUN's candidates again from the scores in the database (with
the weights, gates and select: settings of the run's manifest as it is now),
keeps the top K of each group, records the new selection and lays the selected
images out again in the run's selected/ folder. Nothing is generated or scored.`,
		Example: `  batch select 3 --top-k 10
  batch select 3                 # after editing the manifest's weights or gates`,
		Args:              exactArgs(1, "select takes one run id, e.g. batch select 3 --top-k 10"),
		ValidArgsFunction: completeRunID(&db),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			return reselect(c.Context(), db, id, topK, o)
		},
	}
	dbFlag(c.Flags(), &db)
	c.Flags().IntVar(&topK, "top-k", 0, "candidates to select per group (0 = the manifest's top_k)")
	setExits(c, generateExits()...)
	return c
}

func reselect(ctx context.Context, db string, id int64, topK int, o IO) error {
	m, err := runManifest(ctx, db, id)
	if err != nil {
		return err
	}
	groups, err := pipeline.Select(ctx, m, id, topK)
	if err != nil {
		return notFound(err)
	}
	printGroups(o, groups)
	return nil
}
