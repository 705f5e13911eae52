package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/inspect"
)

func newCompareCmd(o IO) *cobra.Command {
	var (
		db, by, group string
		asJSON, wide  bool
		seed          uint64
	)
	c := &cobra.Command{
		Use:   "compare [flags] RUN --by PARAM[,PARAM]",
		Short: "scores and pass rates per value of a param, with confidence intervals",
		Long: `compare groups the candidates of run RUN by the value of the param --by and
prints, per value, how many candidates there are, their mean, median and best
total score, how many were selected and the gate pass rate, with a 95%
bootstrap interval of the mean and of its difference from the best value: it
tells whether dpmpp_2m really beats euler on this prompt, or the difference
is noise. Two params (--by sampler_name,cfg) give a two-way table. Every image
of a prompt is a candidate; --by also takes batch_size (a batch's size, unless
a param has that name), batch_index and output (the node that saved it).`,
		Example: `  batch compare 3 --by sampler_name
  batch compare 3 --by sampler_name,cfg --group fox
  batch compare 3 --by batch_size
  batch compare 3 --by steps --json`,
		Args:              exactArgs(1, compareUsage),
		ValidArgsFunction: completeRunID(&db),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			params := strings.Split(by, ",")
			for i := range params {
				params[i] = strings.TrimSpace(params[i])
				if params[i] == "" {
					return usageErr("%s", compareUsage)
				}
			}
			if len(params) > 2 {
				return usageErr("compare --by takes one or two params, not %d", len(params))
			}
			return compare(c.Context(), db, id, params, group, seed, asJSON, wide, o)
		},
	}
	fs := c.Flags()
	dbFlag(fs, &db)
	fs.StringVar(&by, "by", "", "`PARAM` to compare by, or two separated by a comma for a two-way table (required)")
	fs.StringVar(&group, "group", "", "only this group")
	fs.Uint64Var(&seed, "seed", 1, "seed of the bootstrap resampling behind the intervals")
	fs.BoolVar(&wide, "wide", false, "every column, however wide")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	completeFlag(c, "by", completeParams(&db))
	completeFlag(c, "group", completeGroups(&db))
	setExits(c, queryExits()...)
	return c
}

const compareUsage = "compare takes one run id and --by PARAM or --by PARAM,PARAM, e.g. batch compare 3 --by sampler_name,cfg"

func compare(ctx context.Context, db string, id int64, params []string, group string, seed uint64, asJSON, wide bool, o IO) error {
	st, run, err := openRun(ctx, db, id)
	if err != nil {
		return err
	}
	defer st.Close()
	cmp, err := inspect.Compare(ctx, run, params, group, inspect.CompareOptions{Seed: seed})
	if err != nil {
		return notFound(err)
	}
	if asJSON {
		return cmp.WriteJSON(o.Out)
	}
	return cmp.WriteText(o.Out, wide)
}
