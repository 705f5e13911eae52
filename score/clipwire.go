package score

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/comfybatch/comfybatch"
)

// The request bodies of the three protocols, written from their public API
// documentation.

type oaiRequest struct {
	Model          string       `json:"model,omitempty"`
	Input          []string     `json:"input,omitempty"`
	Modality       string       `json:"modality,omitempty"` // Infinity only
	Messages       []oaiMessage `json:"messages,omitempty"` // vLLM images only
	EncodingFormat string       `json:"encoding_format"`
}

type oaiMessage struct {
	Role    string       `json:"role"`
	Content []oaiContent `json:"content"`
}

type oaiContent struct {
	Type     string `json:"type"`
	ImageURL struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

type jinaRequest struct {
	Data         []jinaDoc `json:"data"`
	ExecEndpoint string    `json:"execEndpoint"`
}

type jinaDoc struct {
	Text string `json:"text,omitempty"`
	URI  string `json:"uri,omitempty"`
}

// embedResponse covers both answers: OpenAI-style data[i] carries an index,
// clip-as-service returns its documents in request order.
type embedResponse struct {
	Data []struct {
		Embedding []float64 `json:"embedding"`
		Index     *int      `json:"index"`
	} `json:"data"`
}

// embed asks for the embeddings of texts or of images (data URIs), in one
// request, retrying transient failures.
func (c *CLIP) embed(ctx context.Context, images bool, inputs []string) ([][]float64, error) {
	var body any
	switch c.o.Protocol {
	case ProtocolInfinity:
		mod := "text"
		if images {
			mod = "image"
		}
		body = oaiRequest{Model: c.o.Model, Input: inputs, Modality: mod, EncodingFormat: "float"}
	case ProtocolVLLM:
		if !images {
			body = oaiRequest{Model: c.o.Model, Input: inputs, EncodingFormat: "float"}
			break
		}
		if len(inputs) != 1 {
			return nil, fmt.Errorf("vllm takes one image per request, not %d: %w", len(inputs), comfybatch.ErrInvalid)
		}
		part := oaiContent{Type: "image_url"}
		part.ImageURL.URL = inputs[0]
		body = oaiRequest{Model: c.o.Model, EncodingFormat: "float",
			Messages: []oaiMessage{{Role: "user", Content: []oaiContent{part}}}}
	case ProtocolCLIPAsService:
		docs := make([]jinaDoc, len(inputs))
		for i, in := range inputs {
			if images {
				docs[i].URI = in
			} else {
				docs[i].Text = in
			}
		}
		body = jinaRequest{Data: docs, ExecEndpoint: "/"}
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return retry(ctx, c.o.Retries, c.o.Backoff, c.o.Logger, c.endpoint, func() ([][]float64, error) {
		return c.post(ctx, payload, len(inputs))
	})
}

// post sends one request and checks that the answer has n embeddings of one
// dimension. An answer that does not is malformed: an outage, never a
// verdict on the inputs.
func (c *CLIP) post(ctx context.Context, payload []byte, n int) ([][]float64, error) {
	rctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.endpoint, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("build request: %v: %w", err, comfybatch.ErrInvalid)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.o.Token)
	}
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		return nil, transportError(ctx, http.MethodPost, c.endpoint, c.o.Timeout, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, statusError(resp, http.MethodPost, c.endpoint, c.o.Token != "", c.o.TokenEnv)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, transportError(ctx, http.MethodPost, c.endpoint, c.o.Timeout, err)
	}
	const hint = "check the scorer's url and protocol"
	var r embedResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, malformed(c.endpoint, hint, "%v", err)
	}
	if len(r.Data) != n {
		return nil, malformed(c.endpoint, hint, "%d embeddings for %d inputs", len(r.Data), n)
	}
	out := make([][]float64, n)
	for i, d := range r.Data {
		j := i
		if d.Index != nil {
			j = *d.Index
		}
		if j < 0 || j >= n || out[j] != nil {
			return nil, malformed(c.endpoint, hint, "bad or repeated index %d", j)
		}
		if len(d.Embedding) == 0 || len(d.Embedding) != len(r.Data[0].Embedding) {
			return nil, malformed(c.endpoint, hint, "embedding %d has %d dimensions", j, len(d.Embedding))
		}
		out[j] = d.Embedding
	}
	return out, nil
}

// statusError reads the start of a non-2xx answer's body into a
// StatusError.
func statusError(resp *http.Response, method, url string, sentToken bool, tokenEnv string) *StatusError {
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return &StatusError{Method: method, URL: url, Code: resp.StatusCode, Body: string(bytes.TrimSpace(head)),
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()), TokenEnv: tokenEnv, sentToken: sentToken}
}
