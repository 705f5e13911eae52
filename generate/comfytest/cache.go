package comfytest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
)

// cacheEntry is a node's cached result: its output values and its UI dict.
type cacheEntry struct {
	outputs []any
	ui      map[string]any
}

// fingerprint is IS_CHANGED: LoadImage re-runs when its file's content
// changes (§8); other classes have none.
func (s *Server) fingerprint(g *graph, id string) string {
	if g.class(id) != "LoadImage" {
		return ""
	}
	name, _ := g.inputs(id)["image"].(string)
	p, ok := s.annotatedPath(name, "input")
	if !ok {
		return "missing"
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "unreadable"
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// cacheKeys computes every node's cache key: class, the fingerprint, sorted
// literal inputs and, recursively, the keys of linked ancestors with the
// output index; node ids are not part of it (§8).
func cacheKeys(g *graph, fingerprint func(*graph, string) string) map[string]string {
	keys := map[string]string{}
	active := map[string]bool{}
	var key func(id string) string
	key = func(id string) string {
		if k, ok := keys[id]; ok {
			return k
		}
		if active[id] || g.nodes[id] == nil {
			return "invalid:" + id
		}
		active[id] = true
		defer delete(active, id)
		in := g.inputs(id)
		names := slices.Sorted(maps.Keys(in))
		var b strings.Builder
		b.WriteString(g.class(id) + "\x00" + fingerprint(g, id))
		for _, name := range names {
			b.WriteString("\x00" + name + "=")
			if link, ok := in[name].([]any); ok && len(link) == 2 {
				if src, ok := link[0].(string); ok {
					fmt.Fprintf(&b, "link(%s,%v)", key(src), link[1])
					continue
				}
			}
			v, _ := json.Marshal(in[name])
			b.Write(v)
		}
		sum := sha256.Sum256([]byte(b.String()))
		k := hex.EncodeToString(sum[:])
		keys[id] = k
		return k
	}
	for _, id := range g.order {
		key(id)
	}
	return keys
}
