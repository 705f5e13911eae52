package comfytest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/comfybatch/comfybatch/generate/comfytest"
)

// A fleet of simulated ComfyUI servers on loopback: submit the txt2img graph
// to one of them and read the name of the image it saved.
func ExampleStartFleet() {
	fleet, err := comfytest.StartFleet(3, comfytest.Options{TimeScale: 0.001})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fleet.Close()

	workflow, err := os.ReadFile("testdata/txt2img_api.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	const promptID = "0b6d2c8e-6c2e-4a55-9f6e-1a1f4f1f7b11"
	body, _ := json.Marshal(map[string]any{"prompt": json.RawMessage(workflow), "prompt_id": promptID})
	resp, err := http.Post(fleet.URLs()[0]+"/prompt", "application/json", bytes.NewReader(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("POST /prompt:", resp.StatusCode)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := fleet.Servers()[0].WaitHistory(ctx, promptID); err != nil {
		fmt.Println(err)
		return
	}
	resp, err = http.Get(fleet.URLs()[0] + "/history/" + promptID)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var history map[string]struct {
		Outputs map[string]struct {
			Images []struct{ Filename, Type string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&history); err != nil {
		fmt.Println(err)
		return
	}
	img := history[promptID].Outputs["9"].Images[0]
	fmt.Println(img.Type, img.Filename)
	// Output:
	// POST /prompt: 200
	// output ComfyUI_00001_.png
}
