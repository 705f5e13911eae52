package export

import "path/filepath"

// jsonLines writes candidates.jsonl: one Sample per line whose Image is
// the absolute path of the image in the run folder. Images are not copied.
type jsonLines struct {
	dir, runDir string
	out         lineFile
}

func (j *jsonLines) add(s Sample, _ string, _ []byte) error {
	if j.out.dir == "" {
		j.out = lineFile{dir: j.dir, name: "candidates.jsonl"}
	}
	s.Image = filepath.Join(j.runDir, filepath.FromSlash(s.Path))
	return j.out.write(s)
}

func (j *jsonLines) close() ([]string, error) {
	if j.out.dir == "" {
		j.out = lineFile{dir: j.dir, name: "candidates.jsonl"}
	}
	if err := j.out.commit(); err != nil {
		return nil, err
	}
	return []string{"candidates.jsonl"}, nil
}

func (j *jsonLines) abort() { j.out.abort() }
