-- 0001: the initial schema. Times are UTC unix milliseconds; NULL means
-- "not yet". Every child row hangs off (run_id, job_key) with cascading
-- deletes, so deleting a run removes everything it recorded.

CREATE TABLE runs (
	id            INTEGER PRIMARY KEY,
	name          TEXT    NOT NULL DEFAULT '',
	manifest_path TEXT    NOT NULL DEFAULT '',
	manifest_text TEXT    NOT NULL DEFAULT '',
	manifest_hash TEXT    NOT NULL DEFAULT '',
	master_seed   TEXT    NOT NULL DEFAULT '0', -- uint64 as decimal text: SQLite integers are signed
	status        TEXT    NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
	output_dir    TEXT    NOT NULL DEFAULT '',
	tool_version  TEXT    NOT NULL DEFAULT '',
	started_ms    INTEGER NOT NULL,
	finished_ms   INTEGER
);
CREATE INDEX runs_by_manifest ON runs (manifest_path, started_ms, id);

-- jobs holds one row per planned candidate.
CREATE TABLE jobs (
	run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	job_key       TEXT    NOT NULL,
	idx           INTEGER NOT NULL,
	group_name    TEXT    NOT NULL DEFAULT '',
	params        TEXT    NOT NULL DEFAULT '[]', -- JSON [{"name":..,"value":..}]
	workflow      TEXT    NOT NULL DEFAULT '{}', -- JSON, API format
	inputs        TEXT    NOT NULL DEFAULT '[]', -- JSON []comfybatch.Input
	tags          TEXT    NOT NULL DEFAULT '[]', -- JSON []string
	affinity      TEXT    NOT NULL DEFAULT '',
	status        TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'submitted', 'done', 'failed')),
	instance      TEXT    NOT NULL DEFAULT '',
	prompt_id     TEXT    NOT NULL DEFAULT '',
	attempts      INTEGER NOT NULL DEFAULT 0,
	error_class   TEXT    NOT NULL DEFAULT '',
	error_message TEXT    NOT NULL DEFAULT '',
	queued_ms     INTEGER,
	started_ms    INTEGER,
	finished_ms   INTEGER,
	generation_ms INTEGER,
	download_ms   INTEGER,
	total         REAL,
	rejected      TEXT    NOT NULL DEFAULT '',
	UNIQUE (run_id, job_key)
);
CREATE INDEX jobs_by_idx ON jobs (run_id, idx);
CREATE INDEX jobs_by_group_status ON jobs (run_id, group_name, status);

-- attempts records every prompt id we sent (before sending it), so a
-- resumed run can find and cancel or collect prompts still on a server.
CREATE TABLE attempts (
	run_id       INTEGER NOT NULL,
	job_key      TEXT    NOT NULL,
	prompt_id    TEXT    NOT NULL, -- client-chosen, unique: a resumed run may restart attempt numbers
	attempt      INTEGER NOT NULL,
	instance     TEXT    NOT NULL DEFAULT '',
	submitted_ms INTEGER,
	outcome      TEXT    NOT NULL DEFAULT '', -- '' while in flight, then 'done' or 'failed'
	PRIMARY KEY (run_id, job_key, prompt_id),
	FOREIGN KEY (run_id, job_key) REFERENCES jobs (run_id, job_key) ON DELETE CASCADE
);
CREATE INDEX attempts_by_prompt ON attempts (prompt_id);

CREATE TABLE images (
	run_id   INTEGER NOT NULL,
	job_key  TEXT    NOT NULL,
	sha256   TEXT    NOT NULL,
	rel_path TEXT    NOT NULL, -- relative to runs.output_dir
	width    INTEGER NOT NULL DEFAULT 0,
	height   INTEGER NOT NULL DEFAULT 0,
	bytes    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (run_id, job_key),
	FOREIGN KEY (run_id, job_key) REFERENCES jobs (run_id, job_key) ON DELETE CASCADE
);
CREATE INDEX images_by_sha ON images (sha256);

-- scorer_results has one row per Score: its position in Scored.Scores, its
-- error and its non-numeric values. scores has one row per numeric metric.
CREATE TABLE scorer_results (
	run_id  INTEGER NOT NULL,
	job_key TEXT    NOT NULL,
	ord     INTEGER NOT NULL,
	scorer  TEXT    NOT NULL,
	error   TEXT    NOT NULL DEFAULT '',
	vals    TEXT    NOT NULL DEFAULT '{}', -- JSON map[string]string (Score.Values)
	PRIMARY KEY (run_id, job_key, ord),
	FOREIGN KEY (run_id, job_key) REFERENCES jobs (run_id, job_key) ON DELETE CASCADE
);

CREATE TABLE scores (
	run_id  INTEGER NOT NULL,
	job_key TEXT    NOT NULL,
	ord     INTEGER NOT NULL, -- scorer_results.ord
	scorer  TEXT    NOT NULL,
	metric  TEXT    NOT NULL,
	value   REAL    NOT NULL,
	passed  INTEGER, -- NULL: no gate on this metric
	PRIMARY KEY (run_id, job_key, ord, metric),
	FOREIGN KEY (run_id, job_key) REFERENCES jobs (run_id, job_key) ON DELETE CASCADE
);
CREATE INDEX scores_by_metric ON scores (run_id, scorer, metric);

CREATE TABLE selections (
	run_id     INTEGER NOT NULL,
	group_name TEXT    NOT NULL,
	rank       INTEGER NOT NULL,
	job_key    TEXT    NOT NULL,
	total      REAL    NOT NULL,
	reason     TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (run_id, group_name, rank),
	FOREIGN KEY (run_id, job_key) REFERENCES jobs (run_id, job_key) ON DELETE CASCADE
);

CREATE TABLE instance_stats (
	run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	instance    TEXT    NOT NULL,
	prompts     INTEGER NOT NULL DEFAULT 0,
	failures    INTEGER NOT NULL DEFAULT 0,
	busy_ms     INTEGER NOT NULL DEFAULT 0,
	model_loads INTEGER NOT NULL DEFAULT 0,
	down_ms     INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (run_id, instance)
);
