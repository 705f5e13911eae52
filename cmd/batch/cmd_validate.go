package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/pipeline"
)

func newValidateCmd(o IO) *cobra.Command {
	var (
		online bool
		fleet  fleetFlags
	)
	c := &cobra.Command{
		Use:   "validate [flags] MANIFEST",
		Short: "check a manifest (with --online, against the instances too)",
		Long: `validate loads MANIFEST and its workflow, checks every binding, group, sweep,
scorer and selection setting and expands the plan, without running anything.
Every problem is reported at once, each with its file:line:col and a fix.

With --online it also asks every instance for its /object_info and checks that
the workflow's node types, inputs and model file names exist there.`,
		Example: `  batch validate headshots.yaml
  batch validate --online headshots.yaml
  batch validate --online --instances http://gpu1:8188 \
      --header 'Authorization: Bearer ${COMFY_TOKEN}' headshots.yaml`,
		Args:              exactArgs(1, "validate takes one manifest path, e.g. batch validate headshots.yaml"),
		ValidArgsFunction: completeManifest,
		RunE: func(c *cobra.Command, args []string) error {
			return validate(c.Context(), args[0], online, fleet, o)
		},
	}
	fs := c.Flags()
	fs.BoolVar(&online, "online", false, "also check node types, inputs and model names against every instance's /object_info")
	fleet.register(fs)
	setExits(c, queryExits()...)
	return c
}

func validate(ctx context.Context, path string, online bool, fleet fleetFlags, o IO) error {
	m, err := manifests.Load(path)
	if err != nil {
		return err
	}
	plan, err := m.Plan()
	if err != nil {
		return err
	}
	if online {
		inst, err := fleet.resolve(m, o.lookupEnv)
		if err != nil {
			return err
		}
		if inst == nil {
			inst = pipeline.FleetInstances(m.Instances)
		}
		if len(inst) == 0 {
			return usageErr("--online needs instances: add them to the manifest or pass --instances")
		}
		infos := map[string]json.RawMessage{}
		var errs []error
		hc := &http.Client{Timeout: 30 * time.Second}
		for _, in := range inst {
			c := generate.NewClient(in.URL, hc, generate.ClientOptions{Headers: in.Headers})
			info, err := c.ObjectInfo(ctx)
			if err != nil {
				errs = append(errs, fmt.Errorf("instance %s (%s): %w; is it running and reachable?", in.Name, in.URL, err))
				continue
			}
			infos[in.Name] = info
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		if err := manifests.ValidateOnline(m, infos); err != nil {
			return err
		}
	} else if len(fleet.urls) > 0 || len(fleet.headers) > 0 {
		return usageErr("--instances and --header are used only with --online")
	}
	fmt.Fprintf(o.Out, "%s: ok (%d jobs)\n", m.Path, len(plan.Jobs))
	return nil
}
