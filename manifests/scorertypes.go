package manifests

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/comfybatch/comfybatch"
)

// ScorerType is one scorer type as a manifest declares it: the one typed
// specification of the type, listed in ScorerTypes. The manifest decodes a
// scorer's options into the struct NewOptions returns, with positions for
// every error; the pipeline builds the scorer from that struct in one type
// switch (the constructor cannot live here: manifests must not import
// score), and its tests walk this table so that a type without a
// constructor, or whose scores lack the metrics listed here, fails them.
type ScorerType struct {
	// Name is the manifest's type: value.
	Name string
	// Primary is the metric weight, min and max apply to ("" for phash,
	// which only feeds select.phash_distance).
	Primary string
	// Metrics are every metric the type's scores carry; metrics: may only
	// name these.
	Metrics []string
	// NewOptions returns the zero value of the type's options: a pointer
	// to one of the *Options structs of this package.
	NewOptions func() ScorerOptions
}

// ScorerTypes returns the scorer types, in the order the documentation
// lists them. It builds a new table on each call: nobody can change it.
func ScorerTypes() []ScorerType {
	return []ScorerType{
		{"sharpness", "laplacian_var", []string{"laplacian_var"}, func() ScorerOptions { return &SharpnessOptions{} }},
		{"size", "ok", []string{"ok", "width", "height", "bytes"}, func() ScorerOptions { return &SizeOptions{} }},
		{"blank", "ok", []string{"ok", "luma_std", "distinct_colors"}, func() ScorerOptions { return &BlankOptions{} }},
		{"phash", "", nil, func() ScorerOptions { return &PhashOptions{} }},
		{"clip", "similarity", []string{"similarity"}, func() ScorerOptions { return &CLIPOptions{} }},
		{"aesthetic", "aesthetic", []string{"aesthetic"}, func() ScorerOptions { return &AestheticOptions{} }},
		{"http", "value", []string{"value"}, func() ScorerOptions { return &HTTPOptions{} }},
		{"exec", "value", []string{"value"}, func() ScorerOptions { return &ExecOptions{} }},
	}
}

// scorerType looks a type up by name.
func scorerType(name string) (ScorerType, bool) {
	for _, t := range ScorerTypes() {
		if t.Name == name {
			return t, true
		}
	}
	return ScorerType{}, false
}

// scorerTypeNames lists the type names, for messages.
func scorerTypeNames() []string {
	var out []string
	for _, t := range ScorerTypes() {
		out = append(out, t.Name)
	}
	return out
}

// PrimaryMetric returns the metric a scorer type's weight, min and max
// apply to, as the score package names it ("" for phash and unknown
// types).
func PrimaryMetric(scorerType string) string {
	for _, t := range ScorerTypes() {
		if t.Name == scorerType {
			return t.Primary
		}
	}
	return ""
}

// ScorerOptions are one scorer type's typed options: *SharpnessOptions,
// *SizeOptions, *BlankOptions, *PhashOptions, *CLIPOptions,
// *AestheticOptions, *HTTPOptions or *ExecOptions. Zero fields mean the
// scorer's default. Only this package implements it.
type ScorerOptions interface {
	// options lists the manifest keys and where their values go.
	options() []option
	// check validates what needs more than one option or the rest of
	// the manifest.
	check(c *scorerCheck)
}

// option is one manifest key of a scorer type and the field it fills:
// *int, *int64, *float64, *string, *[]string, *time.Duration or **int.
type option struct {
	key      string
	dst      any
	required bool
	choices  []string // for strings: the values allowed
}

// SharpnessOptions are the options of a sharpness scorer.
type SharpnessOptions struct {
	LongSide int // long_side: downscale to this long side before measuring; 0 = the scorer's default
}

func (o *SharpnessOptions) options() []option  { return []option{{key: "long_side", dst: &o.LongSide}} }
func (o *SharpnessOptions) check(*scorerCheck) {}

// SizeOptions are the options of a size scorer.
type SizeOptions struct {
	Width, Height      int     // width, height: exact dimensions wanted (0 = any)
	Aspect             float64 // aspect: width/height wanted (0 = any)
	MinBytes, MaxBytes int64   // min_bytes, max_bytes: encoded size bounds (0 = none)
}

func (o *SizeOptions) options() []option {
	return []option{{key: "width", dst: &o.Width}, {key: "height", dst: &o.Height}, {key: "aspect", dst: &o.Aspect},
		{key: "min_bytes", dst: &o.MinBytes}, {key: "max_bytes", dst: &o.MaxBytes}}
}

func (o *SizeOptions) check(c *scorerCheck) {
	if o.MinBytes > 0 && o.MaxBytes > 0 && o.MinBytes > o.MaxBytes {
		c.at("min_bytes", "min_bytes %d is greater than max_bytes %d: no image can pass", o.MinBytes, o.MaxBytes)
	}
}

// BlankOptions are the options of a blank scorer.
type BlankOptions struct {
	MinStd    float64 // min_std: luma standard deviation below which an image is blank
	MinColors int     // min_colors: fewer distinct colours is blank
}

func (o *BlankOptions) options() []option {
	return []option{{key: "min_std", dst: &o.MinStd}, {key: "min_colors", dst: &o.MinColors}}
}
func (o *BlankOptions) check(*scorerCheck) {}

// PhashOptions are the options of a phash scorer: none.
type PhashOptions struct{}

func (o *PhashOptions) options() []option  { return nil }
func (o *PhashOptions) check(*scorerCheck) {}

// CLIPServer is what the clip and aesthetic scorers share: the embeddings
// server and how to talk to it.
type CLIPServer struct {
	URL      string        // url (required): the server's base URL
	Model    string        // model: sent as "model"
	Protocol string        // protocol: infinity (default), vllm or clip-as-service
	TokenEnv string        // token_env: the environment variable holding a bearer token
	MaxBatch int           // max_batch: most images per request (0 = default)
	Timeout  time.Duration // timeout: per request (0 = default)
	Retries  *int          // retries: of transient failures (nil = default, 0 = none)
}

func (o *CLIPServer) options() []option {
	return []option{{key: "url", dst: &o.URL, required: true}, {key: "model", dst: &o.Model},
		{key: "protocol", dst: &o.Protocol, choices: []string{"infinity", "vllm", "clip-as-service"}},
		{key: "token_env", dst: &o.TokenEnv}, {key: "max_batch", dst: &o.MaxBatch}, {key: "timeout", dst: &o.Timeout},
		{key: "retries", dst: &o.Retries}}
}

// CLIPOptions are the options of a clip scorer.
type CLIPOptions struct {
	CLIPServer
	// Template (template) builds the text compared with the image from
	// the job's params; "" = "{prompt}". Every job has every param it
	// names: the manifest checks that.
	Template string
}

func (o *CLIPOptions) options() []option {
	return append(o.CLIPServer.options(), option{key: "template", dst: &o.Template})
}

func (o *CLIPOptions) check(c *scorerCheck) {
	c.url("url", o.URL)
	text, label := o.Template, fmt.Sprintf("template %q", o.Template)
	if text == "" {
		text, label = "{prompt}", `template (by default "{prompt}")`
	}
	t, err := comfybatch.ParseTemplate(text)
	if err != nil {
		c.at("template", "%s: %s", label, templateProblem(err))
		return
	}
	c.templateParams("template", label, t)
}

// templateProblem phrases a template syntax error without the template
// and the error kind, which the message already gives.
func templateProblem(err error) string {
	msg := err.Error()
	msg = strings.TrimSuffix(msg, ": "+comfybatch.ErrInvalid.Error())
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// AestheticOptions are the options of an aesthetic scorer.
type AestheticOptions struct {
	CLIPServer
	// Head (head, required) is the LAION-style linear head's JSON file,
	// {"weights": [...], "bias": b}, resolved against the manifest's
	// folder.
	Head string
}

func (o *AestheticOptions) options() []option {
	return append(o.CLIPServer.options(), option{key: "head", dst: &o.Head, required: true})
}

func (o *AestheticOptions) check(c *scorerCheck) {
	c.url("url", o.URL)
	if o.Head == "" {
		return
	}
	data, resolved, err := c.src.read(o.Head)
	if err != nil {
		c.at("head", "head: %s", fileProblem(err))
		return
	}
	// The format is score.LinearHead's; the pipeline's tests check that
	// both accept the same files.
	var h struct {
		Weights []float64 `json:"weights"`
		Bias    float64   `json:"bias"`
	}
	if err := json.Unmarshal(data, &h); err != nil {
		c.at("head", "head %s is not a linear head's JSON ({\"weights\": [...], \"bias\": b}): %v", o.Head, err)
		return
	}
	if len(h.Weights) == 0 {
		c.at("head", "head %s has no weights", o.Head)
		return
	}
	o.Head = resolved
}

// HTTPOptions are the options of an http scorer.
type HTTPOptions struct {
	URL      string        // url (required): where the image is posted
	Format   string        // format: multipart (default) or json
	JSONPath string        // json_path: where the number is in the answer ("" = the answer itself)
	TokenEnv string        // token_env: the environment variable holding a bearer token
	Timeout  time.Duration // timeout: per request (0 = default)
}

func (o *HTTPOptions) options() []option {
	return []option{{key: "url", dst: &o.URL, required: true},
		{key: "format", dst: &o.Format, choices: []string{"multipart", "json"}},
		{key: "json_path", dst: &o.JSONPath}, {key: "timeout", dst: &o.Timeout}, {key: "token_env", dst: &o.TokenEnv}}
}

func (o *HTTPOptions) check(c *scorerCheck) { c.url("url", o.URL) }

// ExecOptions are the options of an exec scorer. Whether the program
// exists is not checked here: a manifest may be validated on another
// machine than the one that runs it. The run checks it before generating
// anything.
type ExecOptions struct {
	Command []string      // command (required): the program and its arguments
	Timeout time.Duration // timeout: per image (0 = default)
}

func (o *ExecOptions) options() []option {
	return []option{{key: "command", dst: &o.Command, required: true}, {key: "timeout", dst: &o.Timeout}}
}
func (o *ExecOptions) check(*scorerCheck) {}

// scorerCheck is what a type's check needs: where each option was
// written, the manifest's files and params, and where to report.
type scorerCheck struct {
	m     *Manifest
	p     *problems
	src   source
	what  string                // "scorers[2]"
	item  *yaml.Node            // the scorer's mapping
	nodes map[string]*yaml.Node // option key -> its value
}

// at reports a problem at the option key's value, or at the scorer when
// the option was not written.
func (c *scorerCheck) at(key, format string, args ...any) {
	n := c.nodes[key]
	if n == nil {
		n = c.item
	}
	c.p.at(n, "%s %s", c.what, fmt.Sprintf(format, args...))
}

// url checks an http(s) URL option.
func (c *scorerCheck) url(key, s string) {
	if s == "" {
		return // missing: reported as required
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.at(key, "%s %q must be an http:// or https:// address like http://127.0.0.1:7997", key, s)
	}
}

// templateParams checks that every job has every param t names: each is
// swept or set by every group.
func (c *scorerCheck) templateParams(key, label string, t comfybatch.Template) {
	known := map[string]bool{}
	for _, a := range c.m.sweep {
		known[a.b.name] = true
	}
	for _, g := range c.m.groups {
		for _, s := range g.set {
			known[s.b.name] = true
		}
	}
	all := sortedKeys(known)
	have := "none"
	if len(all) > 0 {
		have = strings.Join(all, ", ")
	}
	for _, name := range t.Params() {
		if swept(c.m, name) {
			continue
		}
		var missing []string
		for _, g := range c.m.groups {
			if !slices.ContainsFunc(g.set, func(s setValue) bool { return s.b.name == name }) {
				missing = append(missing, quote(g.spec.Name))
			}
		}
		switch {
		case len(missing) == 0:
		case !known[name]:
			c.at(key, "%s: no job has a param %q%s, so the scorer would reject every candidate: set %s in the groups or sweep it, or write a template naming the jobs' params (%s)",
				label, name, didYouMean(name, all), name, have)
		default:
			c.at(key, "%s: %s %s not set param %q, so the scorer would reject their candidates: set it there too",
				label, plural(len(missing), "group", "groups")+" "+strings.Join(missing, ", "), plural(len(missing), "does", "do"), name)
		}
	}
}

func swept(m *Manifest, name string) bool {
	return slices.ContainsFunc(m.sweep, func(a *axisSpec) bool { return a.b.name == name })
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
