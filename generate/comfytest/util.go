package comfytest

import (
	"bytes"
	"crypto/rand"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func randRead(b []byte) { rand.Read(b) }
