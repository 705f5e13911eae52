package generate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/comfybatch/comfybatch"
)

// prepare returns the job's workflow with every input uploaded to this
// instance (once per content hash) and its server name written into the
// node's input. The workflow is handled as raw JSON, so numbers keep every
// digit.
func (in *instance) prepare(ctx context.Context, job comfybatch.Job) (json.RawMessage, error) {
	if len(job.Inputs) == 0 {
		return job.Workflow, nil
	}
	var wf map[string]json.RawMessage
	if err := json.Unmarshal(job.Workflow, &wf); err != nil {
		return nil, fmt.Errorf("workflow: %w: %w", comfybatch.ErrInvalid, err)
	}
	for _, inp := range job.Inputs {
		name, err := in.upload(ctx, inp)
		if err != nil {
			return nil, err
		}
		if err := setInput(wf, inp.Node, inp.Input, name); err != nil {
			return nil, err
		}
	}
	out, err := json.Marshal(wf)
	if err != nil {
		return nil, fmt.Errorf("workflow: %w", err)
	}
	return out, nil
}

func setInput(wf map[string]json.RawMessage, node, input, value string) error {
	raw, ok := wf[node]
	if !ok {
		return fmt.Errorf("input for node %q: no such node in the workflow: %w", node, comfybatch.ErrInvalid)
	}
	var n map[string]json.RawMessage
	if err := json.Unmarshal(raw, &n); err != nil {
		return fmt.Errorf("node %q: %w: %w", node, comfybatch.ErrInvalid, err)
	}
	inputs := map[string]json.RawMessage{}
	if len(n["inputs"]) > 0 {
		if err := json.Unmarshal(n["inputs"], &inputs); err != nil {
			return fmt.Errorf("node %q inputs: %w: %w", node, comfybatch.ErrInvalid, err)
		}
	}
	v, _ := json.Marshal(value)
	inputs[input] = v
	var err error
	if n["inputs"], err = json.Marshal(inputs); err != nil {
		return err
	}
	wf[node], err = json.Marshal(n)
	return err
}

// upload sends a local input once per instance and content hash. The file
// is named by its hash, never by a path the server could misread.
func (in *instance) upload(ctx context.Context, inp comfybatch.Input) (string, error) {
	data, err := os.ReadFile(inp.Path)
	if err != nil {
		return "", fmt.Errorf("input %s: %w: %w", inp.Path, comfybatch.ErrInvalid, err)
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	if inp.SHA256 != "" && !strings.EqualFold(inp.SHA256, hash) {
		return "", fmt.Errorf("input %s changed since the job was planned: %w", inp.Path, comfybatch.ErrInvalid)
	}
	in.mu.Lock()
	name, ok := in.uploads[hash]
	in.mu.Unlock()
	if ok {
		return name, nil
	}
	name, err = in.c.Upload(ctx, "comfybatch-"+hash[:16]+strings.ToLower(filepath.Ext(inp.Path)), data)
	in.observe(err)
	if err != nil {
		return "", err
	}
	in.mu.Lock()
	in.uploads[hash] = name
	in.mu.Unlock()
	return name, nil
}
