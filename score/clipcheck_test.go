package score

import (
	"testing"

	"github.com/comfybatch/comfybatch/score/cliptest"
)

func TestCLIPCheck(t *testing.T) {
	srv, url := cliptest.New(cliptest.Options{Token: "s3cret"}).Start()
	defer srv.Close()
	tests := []struct {
		name    string
		url     string
		token   string
		wantErr bool
	}{
		{"reachable with token", url, "s3cret", false},
		{"wrong token", url, "nope", true},
		{"nothing listening", "http://127.0.0.1:1", "s3cret", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCLIP(CLIPOptions{URL: tt.url, Protocol: ProtocolInfinity, Token: tt.token, Retries: -1})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Check(t.Context()); (err != nil) != tt.wantErr {
				t.Errorf("Check() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
