package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/pipeline"
)

func cmdValidate(ctx context.Context, args []string, o IO) error {
	fs := newFlags("validate", "MANIFEST", o)
	online := fs.Bool("online", false, "also check node types, inputs and model names against every instance's /object_info")
	instances := fs.String("instances", "", "comma-separated ComfyUI URLs; replaces the manifest's instances")
	m, err := parseManifest(fs, args, "validate takes one manifest path")
	if err != nil {
		return err
	}
	plan, err := m.Plan()
	if err != nil {
		return err
	}
	if *online {
		inst, err := parseInstances(*instances)
		if err != nil {
			return err
		}
		if len(inst) == 0 {
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
	}
	fmt.Fprintf(o.Out, "%s: ok (%d jobs)\n", m.Path, len(plan.Jobs))
	return nil
}
