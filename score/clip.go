package score

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/comfybatch/comfybatch"
)

// CLIP protocols.
const (
	ProtocolInfinity      = "infinity"        // POST /v1/embeddings, "modality": "image"|"text"
	ProtocolVLLM          = "vllm"            // POST /v1/embeddings, chat-style messages, one image per request
	ProtocolCLIPAsService = "clip-as-service" // POST /post, Jina documents
)

// CLIPOptions configures NewCLIP. Only URL is required.
type CLIPOptions struct {
	// Name goes into Score.Scorer; default "clip".
	Name string
	// URL is the server's base URL. When it has no path, the protocol's
	// path is appended (/v1/embeddings or /post); otherwise it is used as
	// given. Infinity started without --url-prefix serves /embeddings: give
	// http://host:7997/embeddings for it.
	URL string
	// Model is sent as "model" (OpenAI-style protocols).
	Model string
	// Protocol is ProtocolInfinity (default), ProtocolVLLM or
	// ProtocolCLIPAsService.
	Protocol string
	// Template builds the text compared with the image from the job's
	// params (see comfybatch.Template): each {name} is replaced by the
	// value of param name. Default "{prompt}".
	Template string
	// ImageOnly sends no text: the score has only the "aesthetic" metric
	// of AestheticHead, which it then requires, and the job's params do
	// not matter. Template is ignored.
	ImageOnly bool
	// Token, when set, is sent as a bearer token.
	Token string
	// TokenEnv names the environment variable holding the token. When
	// Token is empty NewCLIP reads it from there (once; Score never reads
	// the environment), and an unset or empty variable is an error. Either
	// way a refusal of the credentials (401, 403) names it.
	TokenEnv string
	// MaxBatch is the most images per request; default 32. Concurrent Score
	// calls are gathered into one request until it is full or Linger has
	// passed since the first. vLLM takes one image per request.
	MaxBatch int
	// Linger is how long a partial batch waits for company; default 10ms.
	Linger time.Duration
	// Timeout bounds each HTTP request; default 60s.
	Timeout time.Duration
	// Retries is how many times a transient failure (network, timeout,
	// malformed answer, 408, 429, 5xx) is retried; default 2, negative for
	// none. Other 4xx are not retried; a verdict (400, 413, 415, 422) on a
	// request of several images splits it in halves until it is pinned on
	// the images concerned, and a 413 also lowers the batch size.
	Retries int
	// Backoff is the wait before the first retry, doubled after each;
	// default 250ms.
	Backoff time.Duration
	// AestheticHead is the path of a LinearHead JSON file. When set, the
	// score has an "aesthetic" metric computed from the same image
	// embedding.
	AestheticHead string
	// HTTPClient defaults to a new client with no overall timeout.
	HTTPClient *http.Client
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// CLIP scores prompt alignment: the cosine similarity between the image's
// embedding and the embedding of the text the Template builds from the job's
// params, metric "similarity" (−1..1; real CLIP models give roughly 0.15 to
// 0.40). With an aesthetic head it adds "aesthetic"; with ImageOnly that is
// its only metric. Create it with NewCLIP; it is safe for concurrent use,
// and concurrent calls are what make batches.
type CLIP struct {
	o        CLIPOptions
	endpoint string
	tmpl     comfybatch.Template
	head     *LinearHead

	mu    sync.Mutex
	texts map[string]*textEntry // single-flight cache of text embeddings
	cur   *batch                // the batch being gathered, nil if none

	maxBatch atomic.Int64 // lowered when the server answers 413
}

// textEntry is one text's embedding, or the call fetching it.
type textEntry struct {
	done chan struct{} // closed when unit or err is set
	unit []float64
	err  error
}

// NewCLIP validates the options, loads the aesthetic head and returns a
// ready scorer.
func NewCLIP(o CLIPOptions) (*CLIP, error) {
	if o.Name == "" {
		o.Name = "clip"
	}
	if o.Protocol == "" {
		o.Protocol = ProtocolInfinity
	}
	if o.Template == "" {
		o.Template = "{prompt}"
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 32
	}
	if o.Protocol == ProtocolVLLM {
		o.MaxBatch = 1
	}
	if o.Linger <= 0 {
		o.Linger = 10 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Retries == 0 {
		o.Retries = 2
	}
	if o.Backoff <= 0 {
		o.Backoff = 250 * time.Millisecond
	}
	if o.Token == "" && o.TokenEnv != "" {
		if o.Token = os.Getenv(o.TokenEnv); o.Token == "" {
			return nil, fmt.Errorf("clip %s: token_env %s is not set: %w", o.Name, o.TokenEnv, comfybatch.ErrInvalid)
		}
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var path string
	switch o.Protocol {
	case ProtocolInfinity, ProtocolVLLM:
		path = "/v1/embeddings"
	case ProtocolCLIPAsService:
		path = "/post"
	default:
		return nil, fmt.Errorf("clip %s: unknown protocol %q (want %s, %s or %s): %w",
			o.Name, o.Protocol, ProtocolInfinity, ProtocolVLLM, ProtocolCLIPAsService, comfybatch.ErrInvalid)
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("clip %s: url %q is not an http(s) URL: %w", o.Name, o.URL, comfybatch.ErrInvalid)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = path
	}
	tmpl, err := comfybatch.ParseTemplate(o.Template)
	if err != nil {
		return nil, fmt.Errorf("clip %s: %w", o.Name, err)
	}
	c := &CLIP{o: o, endpoint: u.String(), tmpl: tmpl, texts: map[string]*textEntry{}}
	c.maxBatch.Store(int64(o.MaxBatch))
	if o.ImageOnly && o.AestheticHead == "" {
		return nil, fmt.Errorf("clip %s: image-only scoring needs an aesthetic head: %w", o.Name, comfybatch.ErrInvalid)
	}
	if o.AestheticHead != "" {
		if c.head, err = LoadLinearHead(o.AestheticHead); err != nil {
			return nil, fmt.Errorf("clip %s: %w", o.Name, err)
		}
	}
	return c, nil
}

// Score implements the pipeline's Scorer. An error is comfybatch.ErrOutage
// when the server could not give a usable answer (see the package doc);
// otherwise it is a verdict on this candidate.
func (c *CLIP) Score(ctx context.Context, cand comfybatch.Candidate) (comfybatch.Score, error) {
	var text string
	if !c.o.ImageOnly {
		var err error
		if text, err = c.tmpl.Expand(cand.Job.Params); err != nil {
			return comfybatch.Score{}, fmt.Errorf("%s: job %s: %w", c.o.Name, cand.Job.Key, err)
		}
	}
	uri, err := dataURI(cand)
	if err != nil {
		return comfybatch.Score{}, fmt.Errorf("%s: job %s: %w", c.o.Name, cand.Job.Key, err)
	}
	var textUnit []float64
	if !c.o.ImageOnly {
		if textUnit, err = c.textEmbedding(ctx, text); err != nil {
			return comfybatch.Score{}, fmt.Errorf("%s: embed text %q: %w", c.o.Name, text, err)
		}
	}
	imgUnit, err := c.imageEmbedding(ctx, uri)
	if err != nil {
		return comfybatch.Score{}, fmt.Errorf("%s: embed image of job %s: %w", c.o.Name, cand.Job.Key, err)
	}
	sc := comfybatch.Score{Scorer: c.o.Name, Metrics: map[string]float64{}}
	if !c.o.ImageOnly {
		// Both embeddings come from one server, so a mismatch is the
		// server's (a model swapped mid-run), not the image's.
		if len(imgUnit) != len(textUnit) {
			return comfybatch.Score{}, outagef(false, "%s: %s answered an image embedding of %d dimensions and a text embedding of %d; check its model", c.o.Name, c.endpoint, len(imgUnit), len(textUnit))
		}
		sc.Metrics["similarity"] = dot(imgUnit, textUnit)
	}
	if c.head != nil {
		a, err := c.head.Apply(imgUnit)
		if err != nil {
			return comfybatch.Score{}, outagef(false, "%s: %s: %v; the head and the server's model do not match", c.o.Name, c.endpoint, err)
		}
		sc.Metrics["aesthetic"] = a
	}
	return sc, nil
}

// textEmbedding returns the unit embedding of text, fetching it once for
// all concurrent and later callers. A failed fetch is forgotten, so the
// next caller tries again.
func (c *CLIP) textEmbedding(ctx context.Context, text string) ([]float64, error) {
	c.mu.Lock()
	e, ok := c.texts[text]
	if !ok {
		e = &textEntry{done: make(chan struct{})}
		c.texts[text] = e
	}
	c.mu.Unlock()
	if !ok {
		// The fetch serves every waiter, so one caller's cancellation must
		// not fail it; the per-request Timeout still bounds it.
		embs, err := c.embed(context.WithoutCancel(ctx), false, []string{text})
		if err == nil {
			e.unit = normalize(embs[0])
		} else {
			e.err = err
			c.mu.Lock()
			delete(c.texts, text)
			c.mu.Unlock()
		}
		close(e.done)
	}
	select {
	case <-e.done:
		return e.unit, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// dataURI encodes the candidate's image as a data URI.
func dataURI(c comfybatch.Candidate) (string, error) {
	data, mime, err := encoded(c)
	if err != nil {
		return "", err
	}
	return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(data), nil
}

// Check asks the embeddings server for one text embedding (unless
// ImageOnly) and one of a small grey image, so that a wrong URL, model,
// protocol or token shows up before a run rather than on every candidate,
// and checks that the two embeddings and the aesthetic head agree in size.
// A server that cannot be reached, is overloaded or too slow is
// comfybatch.ErrOutage; one that refuses the requests or answers in
// another protocol is comfybatch.ErrInvalid (see checkError).
func (c *CLIP) Check(ctx context.Context) error {
	what := c.o.Name + ": " + c.o.URL
	var textDim int
	if !c.o.ImageOnly {
		embs, err := c.embed(ctx, false, []string{"comfybatch check"})
		if err != nil {
			return checkError(ctx, what+": embed a text", err)
		}
		textDim = len(embs[0])
	}
	uri, err := checkImage()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	embs, err := c.embed(ctx, true, []string{uri})
	if err != nil {
		return checkError(ctx, what+": embed an image", err)
	}
	imgDim := len(embs[0])
	if textDim != 0 && textDim != imgDim {
		return fmt.Errorf("%s: image embeddings have %d dimensions, text embeddings %d; check the model: %w", what, imgDim, textDim, comfybatch.ErrInvalid)
	}
	if c.head != nil && len(c.head.Weights) != imgDim {
		return fmt.Errorf("%s: the aesthetic head %s has %d weights but the model's embeddings have %d dimensions; use a head made for this model: %w",
			what, c.o.AestheticHead, len(c.head.Weights), imgDim, comfybatch.ErrInvalid)
	}
	return nil
}

// checkImage returns the data URI of the 16×16 grey gradient Check embeds.
func checkImage() (string, error) {
	img := image.NewGray(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = byte(96 + i%16*4)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", fmt.Errorf("encode check image: %w", err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}
