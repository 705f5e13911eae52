package manifests

import (
	"bufio"
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// group is one group as parsed: its spec and the values it sets.
type group struct {
	spec       GroupSpec
	countGiven bool
	set        []setValue
	file       string // where it was declared, for messages
	pos        *yaml.Node
	shape      groupShape // worked out by checkGroups
}

// setValue is one fixed parameter value of a group.
type setValue struct {
	b *binding
	v value
}

var groupKeys = []string{"name", "set", "count", "top_k", "tags"}

// parseGroups reads the groups: list.
func (m *Manifest) parseGroups(v *yaml.Node, src source, p *problems) {
	items, ok := p.items(v, "groups")
	if !ok {
		return
	}
	if len(items) == 0 {
		p.at(v, "groups is an empty list; remove it for one group named after the manifest")
	}
	for i, it := range items {
		what := fmt.Sprintf("groups[%d]", i)
		fs := p.fields(it, what, groupKeys)
		if fs == nil {
			continue
		}
		g := &group{file: p.file, pos: it}
		for _, f := range fs {
			if f.key == "name" {
				if s, ok := p.nonEmpty(f.v, what+" name"); ok {
					g.spec.Name = s
					what = "group " + quote(s)
				}
			}
		}
		if g.spec.Name == "" {
			p.at(it, "%s: every group needs a name", what)
		}
		for _, f := range fs {
			switch f.key {
			case "set":
				for _, s := range p.fields(f.v, what+" set", nil) {
					m.addSet(g, s.key, s.k, s.v, what, src, p)
				}
			case "count", "top_k":
				m.groupNumber(g, f, what, p)
			case "tags":
				g.spec.Tags, _ = p.strings(f.v, what+" tags")
			}
		}
		m.groups = append(m.groups, g)
	}
}

// groupNumber reads a group's count or top_k.
func (m *Manifest) groupNumber(g *group, f field, what string, p *problems) {
	n, ok := p.intIn(f.v, what+" "+f.key, 1, maxJobs)
	if !ok {
		return
	}
	if f.key == "count" {
		g.spec.Count, g.countGiven = n, true
	} else {
		g.spec.TopK = n
	}
}

// addSet binds one fixed value of a group.
func (m *Manifest) addSet(g *group, name string, k, v *yaml.Node, what string, src source, p *problems) {
	for _, s := range g.set {
		if s.b.name == name {
			p.at(k, "%s: %q is set twice", what, name)
			return
		}
	}
	b := m.resolve(name, k, what+" set "+quote(name), p)
	if b == nil {
		return
	}
	val, ok := m.convert(b, v, what+" set "+quote(name), src, p)
	if ok {
		g.set = append(g.set, setValue{b: b, v: val})
	}
}

// parseGroupsFrom reads groups from a file: a text file with one prompt
// per line (binding the param "prompt"; blank lines and lines starting
// with # are skipped), or a .jsonl file of objects with a name, optional
// count and top_k, and parameter values.
func (m *Manifest) parseGroupsFrom(v *yaml.Node, src source, p *problems, hash *[]byte) {
	rel, ok := p.nonEmpty(v, "groups_from")
	if !ok {
		return
	}
	data, _, err := src.read(rel)
	if err != nil {
		p.at(v, "groups_from: %s", fileProblem(err))
		return
	}
	*hash = data
	file := displayPath(p.file, rel)
	sub := &problems{file: file}
	defer func() { p.errs = append(p.errs, sub.errs...) }()
	if strings.EqualFold(filepath.Ext(rel), ".jsonl") {
		m.groupsFromJSONL(file, data, src, sub)
		return
	}
	var lines []*yaml.Node
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for ln := 1; sc.Scan(); ln++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		lines = append(lines, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: text, Line: ln, Column: 1})
	}
	if err := sc.Err(); err != nil {
		sub.in(file, 0, 0, "%v", err)
		return
	}
	if len(lines) == 0 {
		sub.in(file, 0, 0, "no prompts (one per line; blank lines and # comments are skipped)")
		return
	}
	width := len(fmt.Sprint(len(lines)))
	for i, n := range lines {
		g := &group{file: file, pos: n}
		g.spec.Name = fmt.Sprintf("p%0*d", width, i+1)
		m.addSet(g, "prompt", n, n, "group "+quote(g.spec.Name), src, sub)
		m.groups = append(m.groups, g)
	}
}

// groupsFromJSONL reads one group per line of a JSON Lines file.
func (m *Manifest) groupsFromJSONL(file string, data []byte, src source, sub *problems) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	n := 0
	for ln := 1; sc.Scan(); ln++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		n++
		if !strings.HasPrefix(text, "{") {
			sub.in(file, ln, 1, "each line must be a JSON object like {\"name\": \"alice\", \"prompt\": \"...\"}")
			continue
		}
		// JSON is YAML: parsing the line as YAML gives every value a
		// position, which is moved to the line in the file.
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(text), &doc); err != nil || len(doc.Content) == 0 {
			sub.in(file, ln, 0, "invalid JSON object")
			continue
		}
		shift(&doc, ln-1)
		obj := doc.Content[0]
		fs := sub.fields(obj, "line "+fmt.Sprint(ln), nil)
		if fs == nil {
			continue
		}
		g := &group{file: file, pos: obj}
		what := "this group"
		for _, f := range fs {
			if f.key == "name" {
				if s, ok := sub.nonEmpty(f.v, "name"); ok {
					g.spec.Name = s
					what = "group " + quote(s)
				}
			}
		}
		if g.spec.Name == "" {
			sub.at(obj, "every object needs a \"name\"")
		}
		for _, f := range fs {
			switch f.key {
			case "name":
			case "count", "top_k":
				m.groupNumber(g, f, what, sub)
			default:
				m.addSet(g, f.key, f.k, f.v, what, src, sub)
			}
		}
		m.groups = append(m.groups, g)
	}
	if err := sc.Err(); err != nil {
		sub.in(file, 0, 0, "%v", err)
	} else if n == 0 {
		sub.in(file, 0, 0, "no groups (one JSON object per line)")
	}
}

// shift moves every node's line by d.
func shift(n *yaml.Node, d int) {
	n.Line += d
	for _, c := range n.Content {
		shift(c, d)
	}
}
