package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/inspect"
)

func newCompareCmd(o IO) *cobra.Command {
	var (
		db, by, group string
		asJSON        bool
	)
	c := &cobra.Command{
		Use:   "compare [flags] RUN --by PARAM",
		Short: "scores and pass rates per value of a param, e.g. sampler or seed",
		Long: `compare groups the candidates of run RUN by the value of the param --by and
prints, per value, how many candidates there are, their mean, median and best
total score, how many were selected and the gate pass rate: which sampler,
step count or seed range works best.`,
		Example: `  batch compare 3 --by sampler
  batch compare 3 --by steps --group fox --json`,
		Args:              exactArgs(1, "compare takes one run id and --by PARAM, e.g. batch compare 3 --by sampler_name"),
		ValidArgsFunction: completeRunID(&db),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			if by == "" {
				return usageErr("compare takes one run id and --by PARAM, e.g. batch compare 3 --by sampler_name")
			}
			return compare(c.Context(), db, id, by, group, asJSON, o)
		},
	}
	fs := c.Flags()
	dbFlag(fs, &db)
	fs.StringVar(&by, "by", "", "`PARAM` to compare by, e.g. sampler_name or seed (required)")
	fs.StringVar(&group, "group", "", "only this group")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	completeFlag(c, "by", completeParams(&db))
	completeFlag(c, "group", completeGroups(&db))
	setExits(c, queryExits()...)
	return c
}

func compare(ctx context.Context, db string, id int64, by, group string, asJSON bool, o IO) error {
	st, err := openDB(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	cmp, err := inspect.Compare(ctx, st, id, by, group)
	if err != nil {
		return notFound(err)
	}
	if asJSON {
		return cmp.WriteJSON(o.Out)
	}
	return cmp.WriteText(o.Out)
}
