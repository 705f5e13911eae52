package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/pipeline"
)

func cmdSelect(ctx context.Context, args []string, o IO) error {
	fs := newFlags("select", "MANIFEST RUN", o)
	topK := fs.Int("top-k", 0, "candidates to select per group (0 = the manifest's top_k)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageErr("select takes a manifest path and a run id, e.g. batch select headshots.yaml 3")
	}
	m, err := manifests.Load(fs.Arg(0))
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(fs.Arg(1), 10, 64)
	if err != nil {
		return usageErr("run id %q is not a number; batch runs lists them", fs.Arg(1))
	}
	groups, err := pipeline.Select(ctx, m, id, *topK)
	if err != nil {
		return err
	}
	for _, g := range groups {
		fmt.Fprintf(o.Out, "%s: %d selected\n", g.Name, len(g.Selection))
	}
	return nil
}
