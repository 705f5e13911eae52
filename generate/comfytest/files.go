package comfytest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// dirFor maps a ComfyUI folder type to its folder ("" for an unknown type).
func (s *Server) dirFor(typ string) string {
	switch typ {
	case "output":
		return s.outDir
	case "input":
		return s.inDir
	case "temp":
		return s.tempDir
	}
	return ""
}

// within reports whether p is dir or inside it.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// splitAnnotation strips a " [input]", " [output]" or " [temp]" suffix
// (folder_paths.annotated_filepath).
func splitAnnotation(name, def string) (string, string) {
	for _, t := range []string{"input", "output", "temp"} {
		if strings.HasSuffix(name, " ["+t+"]") {
			return strings.TrimSuffix(name, " ["+t+"]"), t
		}
	}
	return name, def
}

// annotatedPath resolves a LoadImage-style name to an existing file.
func (s *Server) annotatedPath(name, def string) (string, bool) {
	name, typ := splitAnnotation(name, def)
	dir := s.dirFor(typ)
	if name == "" || dir == "" {
		return "", false
	}
	p := filepath.Join(dir, filepath.FromSlash(name))
	if !within(dir, p) {
		return "", false
	}
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() {
		return "", false
	}
	return p, true
}

// inputFiles lists the files at the top of the input folder, as LoadImage's combo does.
func (s *Server) inputFiles() []string {
	entries, err := os.ReadDir(s.inDir)
	if err != nil {
		return []string{}
	}
	out := []string{}
	for _, e := range entries {
		if e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

// writeImages is SaveImage/PreviewImage: <prefix>_%05d_.png with the counter
// = max existing + 1 per folder and prefix, subfolder from the prefix (§6.4).
func (s *Server) writeImages(typ, prefix string, imgs []*image.NRGBA, chunks [][2]string) ([]any, error) {
	dir := s.dirFor(typ)
	if strings.Contains(prefix, "%") && len(imgs) > 0 {
		b := imgs[0].Bounds()
		prefix = strings.ReplaceAll(prefix, "%width%", strconv.Itoa(b.Dx()))
		prefix = strings.ReplaceAll(prefix, "%height%", strconv.Itoa(b.Dy()))
	}
	sub, base := path.Split(prefix)
	sub = strings.Trim(path.Clean("/"+sub), "/")
	folder := filepath.Join(dir, filepath.FromSlash(sub))
	if !within(dir, folder) || strings.Contains(prefix, "..") && !within(dir, filepath.Join(folder, base)) {
		return nil, &execError{"Exception", "**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: " + folder + "\n         output_dir: " + dir}
	}
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return nil, &execError{"OSError", err.Error()}
	}
	counter := 1
	if entries, err := os.ReadDir(folder); err == nil {
		for _, e := range entries {
			n := e.Name()
			if len(n) <= len(base) || n[:len(base)] != base || n[len(base)] != '_' {
				continue
			}
			digits, _, _ := strings.Cut(n[len(base)+1:], "_")
			if c, err := strconv.Atoi(digits); err == nil && c+1 > counter {
				counter = c + 1
			}
		}
	}
	files := []any{}
	for i, img := range imgs {
		name := fmt.Sprintf("%s_%05d_.png", strings.ReplaceAll(base, "%batch_num%", strconv.Itoa(i)), counter)
		data, err := encodePNG(img, chunks)
		if err != nil {
			return nil, &execError{"OSError", err.Error()}
		}
		if err := os.WriteFile(filepath.Join(folder, name), data, 0o644); err != nil {
			return nil, &execError{"OSError", err.Error()}
		}
		files = append(files, map[string]any{"filename": name, "subfolder": sub, "type": typ})
		counter++
	}
	return files, nil
}

// encodePNG encodes img fast and inserts tEXt chunks after IHDR.
func encodePNG(img image.Image, chunks [][2]string) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	const ihdrEnd = 8 + 4 + 4 + 13 + 4 // signature, IHDR length, type, data, CRC
	out := make([]byte, 0, len(raw)+256)
	out = append(out, raw[:ihdrEnd]...)
	for _, c := range chunks {
		data := append([]byte(c[0]+"\x00"), c[1]...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
		start := len(out)
		out = append(out, "tEXt"...)
		out = append(out, data...)
		out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start:]))
	}
	return append(out, raw[ihdrEnd:]...), nil
}

// getView follows server.view_image (§6.3) for stored files.
func (s *Server) getView(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("filename") {
		http.Error(w, "404: Not Found", 404)
		return
	}
	typ := q.Get("type")
	if typ == "" {
		typ = "output"
	}
	name, typ := splitAnnotation(q.Get("filename"), typ)
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		w.WriteHeader(400)
		return
	}
	dir := s.dirFor(typ)
	if dir == "" {
		w.WriteHeader(400)
		return
	}
	folder := dir
	if sub := q.Get("subfolder"); sub != "" {
		folder = filepath.Join(dir, filepath.FromSlash(sub))
		if !within(dir, folder) {
			w.WriteHeader(403)
			return
		}
	}
	base := path.Base(name)
	p := filepath.Join(folder, base)
	f, err := os.Open(p)
	if err != nil {
		http.Error(w, "404: Not Found", 404)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.Error(w, "404: Not Found", 404)
		return
	}
	ctype := mime.TypeByExtension(filepath.Ext(base))
	if ctype == "" || strings.HasPrefix(ctype, "text/html") || strings.Contains(ctype, "javascript") || strings.HasPrefix(ctype, "text/css") {
		ctype = "application/octet-stream"
	}
	if strings.HasPrefix(q.Get("preview"), "jpeg") {
		ctype = "image/jpeg"
	} else if q.Has("preview") {
		ctype = "image/webp"
	}
	// preview= and channel= variants are answered with the stored bytes (§10.15 allows it).
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `filename="`+base+`"`)
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// postUpload follows server.image_upload (§6.1).
func (s *Server) postUpload(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxUploadSize)
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "413 Request Entity Too Large", 413)
			return
		}
		w.WriteHeader(400)
		return
	}
	defer r.MultipartForm.RemoveAll()
	file, hdr, err := r.FormFile("image")
	if err != nil || hdr.Filename == "" {
		w.WriteHeader(400)
		return
	}
	defer file.Close()
	data, err := io.ReadAll(file)
	if err != nil {
		w.WriteHeader(400)
		return
	}
	typ := r.FormValue("type")
	if typ == "" {
		typ = "input"
	}
	dir := s.dirFor(typ)
	if dir == "" {
		serverError(w)
		return
	}
	sub := r.FormValue("subfolder")
	folder := filepath.Join(dir, filepath.FromSlash(sub))
	name := hdr.Filename
	if !within(dir, filepath.Join(folder, name)) {
		w.WriteHeader(400)
		return
	}
	overwrite := r.FormValue("overwrite") == "true" || r.FormValue("overwrite") == "1"
	if err := os.MkdirAll(folder, 0o755); err != nil {
		serverError(w)
		return
	}
	write := true
	if !overwrite {
		sum := sha256.Sum256(data)
		ext := filepath.Ext(name)
		stem := strings.TrimSuffix(name, ext)
		for i := 1; ; i++ {
			existing, err := os.ReadFile(filepath.Join(folder, name))
			if err != nil {
				break // a free name
			}
			if sha256.Sum256(existing) == sum {
				write = false // identical content: reuse the name
				break
			}
			name = fmt.Sprintf("%s (%d)%s", stem, i, ext)
		}
	}
	if write {
		if err := os.WriteFile(filepath.Join(folder, name), data, 0o644); err != nil {
			serverError(w)
			return
		}
	}
	writeJSON(w, 200, map[string]any{"name": name, "subfolder": sub, "type": typ})
}
