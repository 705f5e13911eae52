package store

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrateEmptyAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "runs.sqlite") // parent folders are created
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.CreateRun(t.Context(), Run{Name: "keep", OutputDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	rows, err := s.read.Query(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	want := "attempts candidates instance_stats jobs run_groups runs selections"
	if got := strings.Join(tables, " "); got != want {
		t.Errorf("tables = %s, want %s", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v := userVersion(t, path); v != SchemaVersion() || v < 1 {
		t.Errorf("user_version = %d, want %d", v, SchemaVersion())
	}
	// Reopening applies nothing and keeps the data.
	s, err = Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if got, err := s.Run(t.Context(), run.ID); err != nil || got.Name != "keep" {
		t.Errorf("after reopen Run(%d) = %+v, %v", run.ID, got, err)
	}
	if v := userVersion(t, path); v != SchemaVersion() {
		t.Errorf("user_version after reopen = %d, want %d", v, SchemaVersion())
	}
}

func TestMigrateRejectsNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.sqlite")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(t.Context(), path, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open(schema version 999) = nil error, want one")
	}
	if !strings.Contains(err.Error(), "999") {
		t.Errorf("Open(schema version 999) = %v, want the version named", err)
	}
}

func TestMigrationsNumbered(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].name != "0001_init.sql" {
		t.Errorf("migrations = %+v, want 0001_init.sql first", ms)
	}
}
