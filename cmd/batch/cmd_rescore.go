package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/pipeline"
)

func newRescoreCmd(o IO) *cobra.Command {
	var (
		db      string
		scorers []string
		pending bool
	)
	c := &cobra.Command{
		Use:   "rescore [flags] RUN",
		Short: "score a stored run's images again and re-select",
		Long: `rescore reads run RUN's stored images, runs the scorers of the run's manifest
on them again (all, or the ones named by --scorers), replaces their scores in
the database and re-selects like batch select. Nothing is generated: use it
after fixing a scorer or changing its options. With --pending it scores only the
candidates that wait for a scorer that was unavailable during the run.

It is all or nothing: the new scores replace the stored ones only when every
candidate got a complete set; a scorer outage leaves everything as it was.`,
		Example: `  batch rescore 3
  batch rescore 3 --scorers clip,sharpness
  batch rescore 3 --pending      # the CLIP service is back`,
		Args:              exactArgs(1, "rescore takes one run id, e.g. batch rescore 3 --scorers clip"),
		ValidArgsFunction: completeRunID(&db),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			return rescore(c.Context(), db, id, pipeline.RescoreOptions{Only: scorers, Pending: pending}, o)
		},
	}
	dbFlag(c.Flags(), &db)
	c.Flags().StringSliceVar(&scorers, "scorers", nil, "scorer `names` to run again, comma-separated (default: all)")
	c.Flags().BoolVar(&pending, "pending", false, "score only the candidates waiting for a scorer that was unavailable")
	completeFlag(c, "scorers", completeScorers(&db))
	setExits(c, generateExits()...)
	return c
}

func rescore(ctx context.Context, db string, id int64, opts pipeline.RescoreOptions, o IO) error {
	m, err := runManifest(ctx, db, id)
	if err != nil {
		return err
	}
	groups, n, err := pipeline.Rescore(ctx, m, id, opts, pipeline.Options{Env: o.lookupEnv})
	if err != nil {
		return notFound(err)
	}
	fmt.Fprintf(o.Out, "rescored %d candidates\n", n)
	printGroups(o, groups)
	return nil
}
