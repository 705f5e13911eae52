package export

// imageFolder writes <key>.png files and metadata.jsonl beside them, the
// Hugging Face "imagefolder" layout (datasets.load_dataset("imagefolder",
// data_dir=...)): each metadata line's file_name names its image.
type imageFolder struct {
	dir  string
	meta lineFile
}

func (f *imageFolder) add(s Sample, ext string, data []byte) error {
	if f.meta.dir == "" {
		f.meta = lineFile{dir: f.dir, name: "metadata.jsonl"}
	}
	s.FileName = s.Key + ext
	if err := writeFile(f.dir, s.FileName, data); err != nil {
		return err
	}
	return f.meta.write(s)
}

func (f *imageFolder) close() ([]string, error) {
	if f.meta.dir == "" {
		f.meta = lineFile{dir: f.dir, name: "metadata.jsonl"}
	}
	if err := f.meta.commit(); err != nil {
		return nil, err
	}
	return []string{"metadata.jsonl"}, nil
}

func (f *imageFolder) abort() { f.meta.abort() }
