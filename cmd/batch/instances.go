package main

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/spf13/pflag"

	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/pipeline"
)

// fleetFlags choose the ComfyUI instances of a command that talks to
// them (run, resume, validate --online): --instances replaces the
// manifest's instances, --header adds request headers to every instance.
type fleetFlags struct {
	urls    []string
	headers []string
}

func (f *fleetFlags) register(fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.urls, "instances", nil,
		"ComfyUI `URLs`, comma-separated or repeated, instead of the manifest's instances; "+
			"a URL the manifest lists too keeps its name, headers, weight, tags, in_flight and tier")
	fs.StringArrayVar(&f.headers, "header", nil,
		"an HTTP header for every request to every instance, e.g. a token (repeatable); "+
			"${VAR} in `'Name: value'` is the environment variable: single-quote it to keep the token out of ps")
}

// resolve returns the instances of the run: nil when neither flag is
// given (the pipeline then uses the manifest's), else the --instances
// URLs (or the manifest's instances) with the --header headers added.
func (f fleetFlags) resolve(m *manifests.Manifest, env func(string) (string, bool)) ([]generate.Instance, error) {
	if len(f.urls) == 0 && len(f.headers) == 0 {
		return nil, nil
	}
	headers, err := parseHeaders(f.headers, env)
	if err != nil {
		return nil, err
	}
	declared := pipeline.FleetInstances(m.Instances)
	var out []generate.Instance
	if len(f.urls) == 0 {
		if len(declared) == 0 {
			return nil, usageErr("--header needs instances: pass --instances or add instances: to %s", m.Path)
		}
		out = declared
	}
	for _, raw := range f.urls {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usageErr("--instances: %q is not an http(s) URL like http://127.0.0.1:8188", raw)
		}
		in := generate.Instance{Name: u.Host, URL: strings.TrimRight(raw, "/")}
		for _, d := range declared {
			if sameURL(d.URL, in.URL) {
				in = d
				break
			}
		}
		out = append(out, in)
	}
	if len(out) == 0 {
		return nil, usageErr("--instances: no URL given")
	}
	for i := range out {
		out[i].Headers = withHeaders(out[i].Headers, headers)
	}
	return out, nil
}

// sameURL reports whether two instance URLs name the same server: scheme
// and host compare without case, a trailing slash does not count.
func sameURL(a, b string) bool {
	ua, errA := url.Parse(strings.TrimRight(a, "/"))
	ub, errB := url.Parse(strings.TrimRight(b, "/"))
	return errA == nil && errB == nil && strings.EqualFold(ua.Scheme, ub.Scheme) &&
		strings.EqualFold(ua.Host, ub.Host) && ua.Path == ub.Path
}

// withHeaders returns a copy of base with add set on top; names compare
// without case, as HTTP's do.
func withHeaders(base, add map[string]string) map[string]string {
	if len(add) == 0 {
		return base
	}
	out := make(map[string]string, len(base)+len(add))
	for k, v := range base {
		out[http.CanonicalHeaderKey(k)] = v
	}
	maps.Copy(out, add)
	return out
}

// headerName is an HTTP field name (RFC 9110 token).
var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// parseHeaders parses --header values "Name: value", expanding ${VAR} in
// the value from env. Names are canonicalized.
func parseHeaders(raw []string, env func(string) (string, bool)) (map[string]string, error) {
	out := map[string]string{}
	for _, h := range raw {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || !headerName.MatchString(name) {
			return nil, usageErr("--header %q: want 'Name: value', e.g. --header 'Authorization: Bearer ${COMFY_TOKEN}'", h)
		}
		value, err := expandEnv(strings.TrimSpace(value), env)
		if err != nil {
			return nil, usageErr("--header %s: %v", name, err)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return nil, usageErr("--header %s: the value has a line break or NUL byte", name)
		}
		out[http.CanonicalHeaderKey(name)] = value
	}
	return out, nil
}

// envRef is a ${NAME} reference, as manifests expand in instance headers.
var envRef = regexp.MustCompile(`\$\{([^}]*)\}`)

// expandEnv replaces every ${NAME} in s with the variable's value; an
// unset or empty name is an error naming it.
func expandEnv(s string, env func(string) (string, bool)) (string, error) {
	var missing error
	out := envRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-1]
		v, ok := env(name)
		if (name == "" || !ok) && missing == nil {
			missing = fmt.Errorf("environment variable %q is not set", name)
		}
		return v
	})
	return out, missing
}
