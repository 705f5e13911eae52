package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/comfybatch/comfybatch"
)

// A job row keeps its params in one of two forms:
//   - compact (runs with a base workflow): a JSON array of the raw values of
//     the run's swept params, in Run.Sweep order; the group's fixed params
//     are in run_groups and the patched workflow is rebuilt on demand;
//   - named (runs without one, and rows from before schema 2):
//     [{"name":..,"value":..}] of every param, with the whole patched
//     workflow in jobs.workflow.
// A row starting with `[{` is named: raw values are never JSON objects.

// encodeJobParams returns the params column of a job of run: compact when
// the run has a base workflow and every swept param carries its raw value,
// else named (with the workflow to store beside it).
func encodeJobParams(run Run, j comfybatch.Job) (params string, workflow sql.NullString, err error) {
	if run.compact() {
		if raw, ok := sweptRaw(run.Sweep, j.Params); ok {
			return raw, sql.NullString{}, nil
		}
	}
	params, err = encodeParams(j.Params)
	if err != nil {
		return "", sql.NullString{}, fmt.Errorf("job %s: %w", j.Key, err)
	}
	wf := string(j.Workflow)
	if wf == "" {
		wf = "{}"
	}
	return params, sql.NullString{String: wf, Valid: true}, nil
}

// sweptRaw writes the raw values of the named params as a JSON array, or
// reports false when one is missing or has no raw value.
func sweptRaw(names []string, params []comfybatch.Param) (string, bool) {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, name := range names {
		p, ok := param(params, name)
		if !ok || len(p.Raw) == 0 {
			return "", false
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(p.Raw)
	}
	b.WriteByte(']')
	return b.String(), true
}

func param(params []comfybatch.Param, name string) (comfybatch.Param, bool) {
	for _, p := range params {
		if p.Name == name {
			return p, true
		}
	}
	return comfybatch.Param{}, false
}

// fixedParams returns the job's params that the run does not sweep (its
// group's fixed values), as [{"name":..,"value":<raw>}].
func fixedParams(run Run, params []comfybatch.Param) (string, error) {
	var b bytes.Buffer
	b.WriteByte('[')
	n := 0
	for _, p := range params {
		if containsString(run.Sweep, p.Name) {
			continue
		}
		if len(p.Raw) == 0 {
			return "", fmt.Errorf("param %s has no raw value", p.Name)
		}
		name, err := json.Marshal(p.Name)
		if err != nil {
			return "", err
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(`{"name":`)
		b.Write(name)
		b.WriteString(`,"value":`)
		b.Write(p.Raw)
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.String(), nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// rawParam is one stored param before decoding.
type rawParam struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

// runCodec decodes the job rows of one run: its sweep, bindings and the
// fixed params and tags of its groups.
type runCodec struct {
	run    Run
	groups map[string]groupRow
}

type groupRow struct {
	params []comfybatch.Param
	tags   []string
}

// codec reads what decoding run runID's job rows needs: of the groups
// named, or of every group when none is. Name the groups when they are
// known: reading all of them costs time in proportion to the run's groups,
// and a caller that works a group at a time would pay it once per group.
func (s *Store) codec(ctx context.Context, runID int64, groups ...string) (*runCodec, error) {
	run, err := s.Run(ctx, runID)
	if err != nil {
		return nil, err
	}
	return s.codecFor(ctx, run, groups...)
}

// codecFor is codec for a run the caller has read already (as Run or
// CreateRun returned it), which spares reading it again.
func (s *Store) codecFor(ctx context.Context, run Run, groups ...string) (*runCodec, error) {
	runID := run.ID
	c := &runCodec{run: run, groups: map[string]groupRow{}}
	q, args := `SELECT name, params, tags FROM run_groups WHERE run_id = ?`, []any{runID}
	if len(groups) > 0 {
		list, err := json.Marshal(groups)
		if err != nil {
			return nil, err
		}
		q, args = q+` AND name IN (SELECT value FROM json_each(?))`, append(args, string(list))
	}
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read groups of run %d: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, params, tags string
		if err := rows.Scan(&name, &params, &tags); err != nil {
			return nil, fmt.Errorf("read groups of run %d: %w", runID, err)
		}
		var g groupRow
		var raws []rawParam
		if err := json.Unmarshal([]byte(params), &raws); err != nil {
			return nil, fmt.Errorf("group %s of run %d: params: %w", name, runID, err)
		}
		for _, r := range raws {
			v, err := comfybatch.DecodeValue(r.Value, c.run.Bindings[r.Name].Kind)
			if err != nil {
				return nil, fmt.Errorf("group %s of run %d: param %s: %w", name, runID, r.Name, err)
			}
			g.params = append(g.params, comfybatch.Param{Name: r.Name, Value: v, Raw: r.Value})
		}
		if err := json.Unmarshal([]byte(tags), &g.tags); err != nil {
			return nil, fmt.Errorf("group %s of run %d: tags: %w", name, runID, err)
		}
		if len(g.tags) == 0 {
			g.tags = nil
		}
		c.groups[name] = g
	}
	return c, rows.Err()
}

// params decodes a job row's params column.
func (c *runCodec) params(group, text string) ([]comfybatch.Param, error) {
	if strings.HasPrefix(text, "[{") || !c.run.compact() {
		return decodeParams(text)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal([]byte(text), &raws); err != nil {
		return nil, fmt.Errorf("decode params: %w", err)
	}
	if len(raws) != len(c.run.Sweep) {
		return nil, fmt.Errorf("decode params: %d values for %d swept params", len(raws), len(c.run.Sweep))
	}
	fixed := c.groups[group].params
	out := make([]comfybatch.Param, 0, len(fixed)+len(raws))
	out = append(out, fixed...)
	for i, raw := range raws {
		name := c.run.Sweep[i]
		v, err := comfybatch.DecodeValue(raw, c.run.Bindings[name].Kind)
		if err != nil {
			return nil, fmt.Errorf("decode param %s: %w", name, err)
		}
		out = append(out, comfybatch.Param{Name: name, Value: v, Raw: raw})
	}
	return out, nil
}

// workflow returns a job's patched workflow: the stored one, or the run's
// base workflow with every param's raw value written into its input.
func (c *runCodec) workflow(stored sql.NullString, params []comfybatch.Param) (json.RawMessage, error) {
	if stored.Valid {
		return json.RawMessage(stored.String), nil
	}
	var wf map[string]map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(c.run.Workflow))
	dec.UseNumber()
	if err := dec.Decode(&wf); err != nil {
		return nil, fmt.Errorf("base workflow of run %d: %w", c.run.ID, err)
	}
	for _, p := range params {
		b, ok := c.run.Bindings[p.Name]
		if !ok {
			return nil, fmt.Errorf("param %s has no binding in run %d", p.Name, c.run.ID)
		}
		node, ok := wf[b.Node]
		if !ok {
			return nil, fmt.Errorf("param %s: node %s is not in the workflow of run %d", p.Name, b.Node, c.run.ID)
		}
		var inputs map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(node["inputs"]))
		dec.UseNumber()
		if err := dec.Decode(&inputs); err != nil {
			return nil, fmt.Errorf("param %s: node %s inputs: %w", p.Name, b.Node, err)
		}
		inputs[b.Input] = p.Raw
		enc, err := json.Marshal(inputs)
		if err != nil {
			return nil, fmt.Errorf("param %s: %w", p.Name, err)
		}
		node["inputs"] = enc
	}
	out, err := json.Marshal(wf)
	if err != nil {
		return nil, err
	}
	return comfybatch.Canonical(out)
}

// decodeInputs reads the inputs column: empty, or a JSON list.
func decodeInputs(text string) ([]comfybatch.Input, error) {
	if text == "" || text == "[]" {
		return nil, nil
	}
	var in []comfybatch.Input
	if err := json.Unmarshal([]byte(text), &in); err != nil {
		return nil, fmt.Errorf("inputs: %w", err)
	}
	return in, nil
}

// encodeInputs writes the inputs column.
func encodeInputs(in []comfybatch.Input) (string, error) {
	if len(in) == 0 {
		return "", nil
	}
	b, err := json.Marshal(in)
	return string(b), err
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
