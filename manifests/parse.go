package manifests

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load reads the manifest at path and everything it references (the
// workflow, groups_from, input images) from the file system. It returns
// every problem at once: an errors.Join of *Error sorted by position, each
// matching comfybatch.ErrInvalid.
func Load(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: fileProblem(err)}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	m, err := parse(path, data, osSource{dir: filepath.Dir(abs)})
	if m != nil {
		m.Path = abs
	}
	return m, err
}

// LoadFS is Load for a manifest inside an fs.FS (such as the embedded
// examples); the files it references must be in the same FS. Paths in the
// result (Path, Output, image inputs) are FS paths, not absolute.
func LoadFS(fsys fs.FS, name string) (*Manifest, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, &Error{File: name, Msg: fileProblem(err)}
	}
	return parse(name, data, fsSource{fsys: fsys, dir: path.Dir(name)})
}

// Parse parses a manifest held in memory. name is used in messages and for
// the default Name; dir resolves the relative paths in it.
func Parse(name string, data []byte, dir string) (*Manifest, error) {
	return parse(name, data, osSource{dir: dir})
}

var topKeys = []string{"name", "workflow", "instances", "params", "groups", "groups_from", "sweep", "combine",
	"master_seed", "scorers", "select", "output", "outputs", "tags"}

func parse(name string, data []byte, src source) (*Manifest, error) {
	p := &problems{file: name}
	m := &Manifest{Path: name, Text: data, file: name, Combine: "matrix", bindings: map[string]*binding{}}
	base := filepath.Base(filepath.FromSlash(name))
	m.Name = strings.TrimSuffix(base, filepath.Ext(base))

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := yamlError(err)
		p.in(name, line, 0, "%s", msg)
		return nil, p.err()
	}
	if len(doc.Content) == 0 {
		p.in(name, 0, 0, "the manifest is empty; it needs at least workflow:")
		return nil, p.err()
	}
	top := p.fields(doc.Content[0], "the manifest", topKeys)
	if resolveAlias(doc.Content[0]).Kind != yaml.MappingNode {
		return nil, p.err()
	}
	sec := map[string]field{}
	for _, f := range top {
		sec[f.key] = f
	}

	var wfData, groupsData []byte
	if f, ok := sec["name"]; ok {
		if s, ok := p.nonEmpty(f.v, "name"); ok {
			m.Name = s
		}
	}
	if f, ok := sec["workflow"]; !ok {
		p.at(doc.Content[0], "missing workflow: the API-format workflow file (\"Save (API Format)\" in ComfyUI)")
	} else if rel, ok := p.nonEmpty(f.v, "workflow"); ok {
		d, resolved, err := src.read(rel)
		if err != nil {
			p.at(f.v, "workflow: %s", fileProblem(err))
		} else {
			wfData, m.Workflow, m.WorkflowPath = d, d, resolved
			m.wf = parseWorkflow(displayPath(name, rel), d, p)
		}
	}
	if f, ok := sec["tags"]; ok {
		m.Tags, _ = p.strings(f.v, "tags")
	}
	if f, ok := sec["outputs"]; ok {
		m.parseOutputs(f.v, p)
	}
	m.defaultOutputs(p)
	if f, ok := sec["instances"]; ok {
		m.parseInstances(f.v, p)
	}
	if f, ok := sec["params"]; ok {
		m.parseParams(f.v, p)
	}
	if f, ok := sec["sweep"]; ok {
		m.parseSweep(f.v, src, p)
	}
	if f, ok := sec["groups"]; ok {
		m.parseGroups(f.v, src, p)
	}
	if f, ok := sec["groups_from"]; ok {
		m.parseGroupsFrom(f.v, src, p, &groupsData)
	}
	if f, ok := sec["combine"]; ok {
		if s, ok := p.str(f.v, "combine"); ok {
			if s != "matrix" && s != "zip" {
				p.at(f.v, "combine must be matrix (every combination) or zip (the i-th values together), not %q", s)
			}
			m.Combine = s
		}
	}
	if f, ok := sec["master_seed"]; ok {
		if u, ok := parseUint(f.v); ok {
			m.MasterSeed = u
		} else {
			p.at(f.v, "master_seed must be an integer from 0 to %s, not %s", maxSeed, describe(f.v))
		}
	} else {
		var b [8]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		m.MasterSeed, m.MasterSeedChosen = binary.LittleEndian.Uint64(b[:]), true
	}
	if f, ok := sec["scorers"]; ok {
		m.parseScorers(f.v, p)
	}
	if f, ok := sec["select"]; ok {
		m.parseSelect(f.v, p)
	}
	m.Output = OutputSpec{Dir: "comfybatch-runs"}
	if f, ok := sec["output"]; ok {
		m.parseOutput(f.v, p)
	}
	m.Output.Dir = src.resolve(m.Output.Dir)
	if m.Output.Database == "" {
		m.Output.Database = joinResolved(m.Output.Dir, "comfybatch.db")
	} else {
		m.Output.Database = src.resolve(m.Output.Database)
	}

	if len(m.groups) == 0 && !hasKey(sec, "groups") && !hasKey(sec, "groups_from") {
		m.groups = []*group{{spec: GroupSpec{Name: m.Name}, file: name, pos: doc.Content[0]}}
	}
	m.checkGroups(p)
	m.checkScorers(src, p)

	h := sha256.New()
	for _, part := range [][]byte{data, wfData, groupsData} {
		fmt.Fprintf(h, "%d\x00", len(part))
		h.Write(part)
	}
	m.Hash = hex.EncodeToString(h.Sum(nil))
	if !p.empty() {
		return nil, p.err()
	}
	return m, nil
}

func hasKey(m map[string]field, k string) bool { _, ok := m[k]; return ok }

// joinResolved joins a file name to a resolved directory, which is an OS
// path for Load and a slash path for LoadFS.
func joinResolved(dir, name string) string {
	if filepath.IsAbs(dir) {
		return filepath.Join(dir, name)
	}
	return path.Join(filepath.ToSlash(dir), name)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError extracts the line from a yaml.v3 syntax error.
func yamlError(err error) (int, string) {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, "YAML syntax: " + m[2]
	}
	return 0, "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")
}

// fileProblem phrases a file error for a person.
func fileProblem(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if errors.Is(err, fs.ErrNotExist) {
			return pe.Path + " does not exist"
		}
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

var instanceKeys = []string{"url", "name", "headers", "in_flight", "weight", "tags", "tier"}

// parseInstances reads the instances: list.
func (m *Manifest) parseInstances(v *yaml.Node, p *problems) {
	items, ok := p.items(v, "instances")
	if !ok {
		return
	}
	names := map[string]bool{}
	for i, it := range items {
		what := fmt.Sprintf("instances[%d]", i)
		fs := p.fields(it, what, instanceKeys)
		if fs == nil {
			continue
		}
		in := Instance{InFlight: 2, Weight: 1}
		for _, f := range fs {
			switch f.key {
			case "url":
				s, ok := p.nonEmpty(f.v, what+" url")
				if !ok {
					continue
				}
				s = expandEnv(s, f.v, what+" url", p)
				u, err := url.Parse(s)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					p.at(f.v, "%s url %q must be an http:// or https:// address like http://gpu1:8188", what, s)
					continue
				}
				in.URL = strings.TrimRight(s, "/")
				if in.Name == "" {
					in.Name = u.Host
				}
			case "name":
				if s, ok := p.nonEmpty(f.v, what+" name"); ok {
					in.Name = s
				}
			case "headers":
				in.Headers = map[string]string{}
				for _, h := range p.fields(f.v, what+" headers", nil) {
					if s, ok := p.str(h.v, what+" header "+h.key); ok {
						in.Headers[h.key] = expandEnv(s, h.v, what+" header "+h.key, p)
					}
				}
			case "in_flight":
				in.InFlight, _ = p.intIn(f.v, what+" in_flight", 1, 1024)
			case "weight":
				if w, ok := p.number(f.v, what+" weight"); ok {
					if w <= 0 {
						p.at(f.v, "%s weight must be positive", what)
					}
					in.Weight = w
				}
			case "tags":
				in.Tags, _ = p.strings(f.v, what+" tags")
			case "tier":
				in.Tier, _ = p.intIn(f.v, what+" tier", 0, 100)
			}
		}
		if in.URL == "" {
			if !hasField(fs, "url") {
				p.at(it, "%s: missing url (for example url: http://gpu1:8188)", what)
			}
			continue
		}
		if names[in.Name] {
			p.at(it, "%s: two instances are named %q; give one a name:", what, in.Name)
		}
		names[in.Name] = true
		m.Instances = append(m.Instances, in)
	}
}

func hasField(fs []field, key string) bool {
	for _, f := range fs {
		if f.key == key {
			return true
		}
	}
	return false
}

var envRef = regexp.MustCompile(`\$\{([^}]*)\}`)

// expandEnv replaces ${NAME} with the environment variable; a missing or
// malformed reference is an error.
func expandEnv(s string, n *yaml.Node, what string, p *problems) string {
	return envRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-1]
		if name == "" {
			p.at(n, "%s: empty ${} reference", what)
			return ""
		}
		v, ok := os.LookupEnv(name)
		if !ok {
			p.at(n, "%s: environment variable %s is not set", what, name)
		}
		return v
	})
}

// parseSelect reads select:.
func (m *Manifest) parseSelect(v *yaml.Node, p *problems) {
	for _, f := range p.fields(v, "select", []string{"top_k", "min_score", "phash_distance", "accept_shortfall"}) {
		switch f.key {
		case "accept_shortfall":
			m.Select.AcceptShortfall, _ = p.boolean(f.v, "select accept_shortfall")
		case "top_k":
			m.Select.TopK, _ = p.intIn(f.v, "select top_k", 1, maxJobs)
		case "min_score":
			if x, ok := p.number(f.v, "select min_score"); ok {
				m.Select.MinScore = &x
			}
		case "phash_distance":
			if d, ok := p.intIn(f.v, "select phash_distance", 0, 64); ok {
				m.Select.PhashDistance = d
				if d > 0 && !m.hasScorer("phash") {
					p.at(f.v, "select phash_distance needs a scorer of type phash (add - type: phash to scorers)")
				}
			}
		}
	}
}

func (m *Manifest) hasScorer(typ string) bool {
	for _, s := range m.Scorers {
		if s.Type == typ {
			return true
		}
	}
	return false
}

// parseOutput reads output:.
func (m *Manifest) parseOutput(v *yaml.Node, p *problems) {
	for _, f := range p.fields(v, "output", []string{"dir", "database"}) {
		s, ok := p.nonEmpty(f.v, "output "+f.key)
		if !ok {
			continue
		}
		if f.key == "dir" {
			m.Output.Dir = s
		} else {
			m.Output.Database = s
		}
	}
}

// parseDuration parses option durations such as "30s".
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err == nil && d <= 0 {
		err = fmt.Errorf("duration %s is not positive", s)
	}
	return d, err
}
