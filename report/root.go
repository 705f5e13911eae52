package report

import (
	"fmt"
	"os"
)

func openRoot(dir string) (*os.Root, error) {
	if dir == "" {
		return nil, fmt.Errorf("run has no output directory")
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open run folder: %w", err)
	}
	return r, nil
}
