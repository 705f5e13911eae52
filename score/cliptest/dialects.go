package cliptest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// dialect is one wire format: how inputs arrive and embeddings leave.
type dialect interface {
	parse(body []byte) ([]input, error)
	answer(embs [][]float64) any
}

// openAI covers both OpenAI-style servers on /v1/embeddings. Infinity takes
// "input" (a string or a list) and a "modality" of "text" or "image", the
// images as URLs or data URIs. vLLM takes either "input" (text) or
// chat-style "messages" whose content parts carry image_url and text; a
// messages request is one item.
type openAI struct{}

type openAIRequest struct {
	Model    string          `json:"model"`
	Input    json.RawMessage `json:"input"`
	Modality string          `json:"modality"`
	Messages []struct {
		Role    string `json:"role"`
		Content []struct {
			Type     string `json:"type"`
			Text     string `json:"text"`
			ImageURL struct {
				URL string `json:"url"`
			} `json:"image_url"`
		} `json:"content"`
	} `json:"messages"`
}

func (openAI) parse(body []byte) ([]input, error) {
	var req openAIRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("bad json: %v", err)
	}
	if len(req.Messages) > 0 {
		var in input
		for _, m := range req.Messages {
			for _, part := range m.Content {
				switch part.Type {
				case "image_url":
					if in.isImage {
						return nil, errors.New("one image per messages request")
					}
					in.isImage, in.dataURI = true, part.ImageURL.URL
				case "text":
					in.text += part.Text
				default:
					return nil, fmt.Errorf("unknown content part type %q", part.Type)
				}
			}
		}
		return []input{in}, nil
	}
	var list []string
	if err := json.Unmarshal(req.Input, &list); err != nil {
		var one string
		if err := json.Unmarshal(req.Input, &one); err != nil {
			return nil, errors.New(`"input" must be a string or a list of strings`)
		}
		list = []string{one}
	}
	var isImage bool
	switch req.Modality {
	case "", "text":
	case "image":
		isImage = true
	default:
		return nil, fmt.Errorf("unknown modality %q", req.Modality)
	}
	ins := make([]input, len(list))
	for i, s := range list {
		if isImage {
			ins[i] = input{isImage: true, dataURI: s}
		} else {
			ins[i] = input{text: s}
		}
	}
	return ins, nil
}

type openAIEmbedding struct {
	Object    string    `json:"object"`
	Embedding []float64 `json:"embedding"`
	Index     int       `json:"index"`
}

func (openAI) answer(embs [][]float64) any {
	data := make([]openAIEmbedding, len(embs))
	// Answer in reverse order: clients must place results by index.
	for i := range embs {
		j := len(embs) - 1 - i
		data[i] = openAIEmbedding{Object: "embedding", Embedding: embs[j], Index: j}
	}
	return map[string]any{"object": "list", "data": data, "model": "cliptest"}
}

// jina is clip-as-service's HTTP gateway: POST /post with
// {"data":[{"text":...} or {"uri":...}], "execEndpoint":"/"}; each document
// comes back in order with an "embedding".
type jina struct{}

type jinaDoc struct {
	ID        string    `json:"id,omitempty"`
	Text      string    `json:"text,omitempty"`
	URI       string    `json:"uri,omitempty"`
	Embedding []float64 `json:"embedding,omitempty"`
}

func (jina) parse(body []byte) ([]input, error) {
	var req struct {
		Data         []jinaDoc `json:"data"`
		ExecEndpoint string    `json:"execEndpoint"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("bad json: %v", err)
	}
	if req.ExecEndpoint != "/" && req.ExecEndpoint != "/encode" {
		return nil, fmt.Errorf("unknown execEndpoint %q", req.ExecEndpoint)
	}
	ins := make([]input, len(req.Data))
	for i, d := range req.Data {
		switch {
		case d.URI != "" && strings.HasPrefix(d.URI, "data:"):
			ins[i] = input{isImage: true, dataURI: d.URI}
		case d.URI != "":
			return nil, fmt.Errorf("document %d: only data URIs are supported", i)
		default:
			ins[i] = input{text: d.Text}
		}
	}
	return ins, nil
}

func (jina) answer(embs [][]float64) any {
	docs := make([]jinaDoc, len(embs))
	for i, e := range embs {
		docs[i] = jinaDoc{ID: fmt.Sprintf("doc%d", i), Embedding: e}
	}
	return map[string]any{"header": map[string]any{"status": nil}, "data": docs}
}
