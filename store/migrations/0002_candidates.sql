-- foreign_keys: off
-- 0002: compact job rows and one row per candidate image.
--
-- A run stores its base workflow and the bindings of its params once; a job
-- row keeps only the raw values of the swept params (the group's fixed
-- values live in run_groups), so the patched workflow, and with it the job key,
-- is rebuilt on demand. Rows migrated from 0001 keep their whole patched
-- workflow in jobs.workflow and their params as [{"name":..,"value":..}].
--
-- A job (one prompt) yields one or more candidates: one per image saved by
-- an output node, identified by (job, output node id, batch index). Images,
-- scores and selections hang off a candidate. Migrated candidates have node
-- '' (the job's first saved image) and batch index 0.
--
-- Child tables reference integer row ids instead of (run_id, job_key).
-- Applied with foreign keys off (SQLite's procedure for rebuilding tables);
-- the migration runner checks foreign_key_check before it commits.

CREATE TABLE runs_v2 (
	id            INTEGER PRIMARY KEY,
	name          TEXT    NOT NULL DEFAULT '',
	manifest_path TEXT    NOT NULL DEFAULT '',
	manifest_text TEXT    NOT NULL DEFAULT '',
	manifest_hash TEXT    NOT NULL DEFAULT '',
	master_seed   TEXT    NOT NULL DEFAULT '0', -- uint64 as decimal text: SQLite integers are signed
	-- running; done (everything delivered); incomplete (finished with failed
	-- jobs, unscored candidates or short groups); stopped (an outage outlasted
	-- its deadline); failed (an unexpected error); interrupted (Ctrl-C)
	status        TEXT    NOT NULL CHECK (status IN ('running', 'done', 'incomplete', 'stopped', 'failed', 'interrupted')),
	output_dir    TEXT    NOT NULL DEFAULT '',
	tool_version  TEXT    NOT NULL DEFAULT '',
	started_ms    INTEGER NOT NULL,
	finished_ms   INTEGER,
	workflow      TEXT    NOT NULL DEFAULT '',  -- base API-format workflow; '' when jobs keep their own
	sweep         TEXT,                         -- JSON names of the swept params, the order of jobs.params; NULL for 0001 rows
	bindings      TEXT    NOT NULL DEFAULT '{}' -- JSON {"param": {"node": "3", "input": "seed", "kind": "int"}}
);
INSERT INTO runs_v2 (id, name, manifest_path, manifest_text, manifest_hash, master_seed, status, output_dir,
		tool_version, started_ms, finished_ms)
	SELECT id, name, manifest_path, manifest_text, manifest_hash, master_seed, status, output_dir,
		tool_version, started_ms, finished_ms FROM runs;

CREATE TABLE run_groups_v2 (
	run_id  INTEGER NOT NULL REFERENCES runs_v2 (id) ON DELETE CASCADE,
	name    TEXT    NOT NULL,
	params  TEXT    NOT NULL DEFAULT '[]', -- the group's fixed params [{"name":..,"value":<raw JSON>}]
	tags    TEXT    NOT NULL DEFAULT '[]', -- instance tags its jobs require
	top_k   INTEGER NOT NULL DEFAULT 0,    -- candidates it delivers; 0 = unknown (0001 rows)
	planned INTEGER NOT NULL DEFAULT 0,    -- candidates planned
	PRIMARY KEY (run_id, name)
);
INSERT INTO run_groups_v2 (run_id, name, tags, planned)
	SELECT run_id, group_name, max(tags), count(*) FROM jobs GROUP BY run_id, group_name;

CREATE TABLE jobs_v2 (
	id            INTEGER PRIMARY KEY,
	run_id        INTEGER NOT NULL REFERENCES runs_v2 (id) ON DELETE CASCADE,
	job_key       TEXT    NOT NULL,
	idx           INTEGER NOT NULL,
	group_name    TEXT    NOT NULL DEFAULT '',
	params        TEXT    NOT NULL DEFAULT '[]', -- raw JSON values in runs.sweep order; 0001 rows: [{"name":..,"value":..}]
	workflow      TEXT,                          -- the patched workflow when the run has no base workflow
	inputs        TEXT    NOT NULL DEFAULT '',   -- JSON []comfybatch.Input, '' for none
	affinity      TEXT    NOT NULL DEFAULT '',
	images        INTEGER NOT NULL DEFAULT 1,    -- candidates one prompt yields (batch size x output nodes)
	status        TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'submitted', 'done', 'failed')),
	instance      TEXT    NOT NULL DEFAULT '',
	prompt_id     TEXT    NOT NULL DEFAULT '',
	attempts      INTEGER NOT NULL DEFAULT 0,
	error_class   TEXT    NOT NULL DEFAULT '',
	error_message TEXT    NOT NULL DEFAULT '',
	queued_ms     INTEGER,
	started_ms    INTEGER,
	finished_ms   INTEGER,
	download_ms   INTEGER,
	UNIQUE (run_id, job_key)
);
INSERT INTO jobs_v2 (id, run_id, job_key, idx, group_name, params, workflow, inputs, affinity, status, instance,
		prompt_id, attempts, error_class, error_message, queued_ms, started_ms, finished_ms, download_ms)
	SELECT rowid, run_id, job_key, idx, group_name, params, workflow, CASE inputs WHEN '[]' THEN '' ELSE inputs END,
		affinity, status, instance, prompt_id, attempts, error_class, error_message, queued_ms, started_ms,
		finished_ms, download_ms FROM jobs;

CREATE TABLE candidates_v2 (
	id          INTEGER PRIMARY KEY,
	job_id      INTEGER NOT NULL REFERENCES jobs_v2 (id) ON DELETE CASCADE,
	node        TEXT    NOT NULL DEFAULT '', -- output node id; '' = the job's first saved image (0001 rows)
	batch_index INTEGER NOT NULL DEFAULT 0,
	-- scored: every scorer answered; pending: some scorer was unavailable
	-- (named in pending), so it is neither selected nor rejected yet
	state       TEXT    NOT NULL DEFAULT 'scored' CHECK (state IN ('scored', 'pending')),
	pending     TEXT    NOT NULL DEFAULT '',  -- comma-separated scorer names still to score it
	sha256      TEXT    NOT NULL DEFAULT '',
	rel_path    TEXT    NOT NULL DEFAULT '',  -- relative to runs.output_dir
	width       INTEGER NOT NULL DEFAULT 0,
	height      INTEGER NOT NULL DEFAULT 0,
	bytes       INTEGER NOT NULL DEFAULT 0,
	total       REAL,
	rejected    TEXT    NOT NULL DEFAULT '',
	UNIQUE (job_id, node, batch_index)
);
INSERT INTO candidates_v2 (job_id, state, sha256, rel_path, width, height, bytes, total, rejected)
	SELECT j.rowid, 'scored', coalesce(i.sha256, ''), coalesce(i.rel_path, ''), coalesce(i.width, 0),
		coalesce(i.height, 0), coalesce(i.bytes, 0), j.total, j.rejected
	FROM jobs j LEFT JOIN images i ON i.run_id = j.run_id AND i.job_key = j.job_key
	WHERE j.status = 'done';

CREATE TABLE attempts_v2 (
	job_id       INTEGER NOT NULL REFERENCES jobs_v2 (id) ON DELETE CASCADE,
	prompt_id    TEXT    NOT NULL, -- client-chosen, unique: a resumed run may restart attempt numbers
	attempt      INTEGER NOT NULL,
	instance     TEXT    NOT NULL DEFAULT '',
	submitted_ms INTEGER,
	-- '' while the prompt may be on a server; done, failed, moved (taken off
	-- a queue to run elsewhere) or cancelled (taken off a queue at Ctrl-C)
	outcome      TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (job_id, prompt_id)
) WITHOUT ROWID;
INSERT INTO attempts_v2 (job_id, prompt_id, attempt, instance, submitted_ms, outcome)
	SELECT j.rowid, a.prompt_id, a.attempt, a.instance, a.submitted_ms, a.outcome
	FROM attempts a JOIN jobs j ON j.run_id = a.run_id AND j.job_key = a.job_key;

-- scorer_results has one row per Score: its position in Scored.Scores, its
-- error and its non-numeric values. scores has one row per numeric metric.
CREATE TABLE scorer_results_v2 (
	candidate_id INTEGER NOT NULL REFERENCES candidates_v2 (id) ON DELETE CASCADE,
	ord          INTEGER NOT NULL,
	scorer       TEXT    NOT NULL,
	error        TEXT    NOT NULL DEFAULT '',
	vals         TEXT    NOT NULL DEFAULT '', -- JSON map[string]string (Score.Values), '' for none
	PRIMARY KEY (candidate_id, ord)
) WITHOUT ROWID;
INSERT INTO scorer_results_v2 (candidate_id, ord, scorer, error, vals)
	SELECT c.id, r.ord, r.scorer, r.error, CASE r.vals WHEN '{}' THEN '' ELSE r.vals END
	FROM scorer_results r JOIN jobs j ON j.run_id = r.run_id AND j.job_key = r.job_key
	JOIN candidates_v2 c ON c.job_id = j.rowid;

CREATE TABLE scores_v2 (
	candidate_id INTEGER NOT NULL REFERENCES candidates_v2 (id) ON DELETE CASCADE,
	ord          INTEGER NOT NULL, -- scorer_results.ord
	metric       TEXT    NOT NULL,
	value        REAL    NOT NULL,
	PRIMARY KEY (candidate_id, ord, metric)
) WITHOUT ROWID;
INSERT INTO scores_v2 (candidate_id, ord, metric, value)
	SELECT c.id, s.ord, s.metric, s.value
	FROM scores s JOIN jobs j ON j.run_id = s.run_id AND j.job_key = s.job_key
	JOIN candidates_v2 c ON c.job_id = j.rowid;

CREATE TABLE selections_v2 (
	run_id       INTEGER NOT NULL REFERENCES runs_v2 (id) ON DELETE CASCADE,
	group_name   TEXT    NOT NULL,
	rank         INTEGER NOT NULL,
	candidate_id INTEGER NOT NULL REFERENCES candidates_v2 (id) ON DELETE CASCADE,
	total        REAL    NOT NULL,
	reason       TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (run_id, group_name, rank)
);
INSERT INTO selections_v2 (run_id, group_name, rank, candidate_id, total, reason)
	SELECT x.run_id, x.group_name, x.rank, c.id, x.total, x.reason
	FROM selections x JOIN jobs j ON j.run_id = x.run_id AND j.job_key = x.job_key
	JOIN candidates_v2 c ON c.job_id = j.rowid;

CREATE TABLE instance_stats_v2 (
	run_id      INTEGER NOT NULL REFERENCES runs_v2 (id) ON DELETE CASCADE,
	instance    TEXT    NOT NULL,
	prompts     INTEGER NOT NULL DEFAULT 0,
	failures    INTEGER NOT NULL DEFAULT 0,
	busy_ms     INTEGER NOT NULL DEFAULT 0,
	model_loads INTEGER NOT NULL DEFAULT 0,
	down_ms     INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (run_id, instance)
);
INSERT INTO instance_stats_v2 SELECT run_id, instance, prompts, failures, busy_ms, model_loads, down_ms FROM instance_stats;

DROP TABLE selections;
DROP TABLE scores;
DROP TABLE scorer_results;
DROP TABLE images;
DROP TABLE attempts;
DROP TABLE instance_stats;
DROP TABLE jobs;
DROP TABLE runs;

-- Renaming also rewrites the REFERENCES clauses that name the old table.
ALTER TABLE runs_v2 RENAME TO runs;
ALTER TABLE run_groups_v2 RENAME TO run_groups;
ALTER TABLE jobs_v2 RENAME TO jobs;
ALTER TABLE candidates_v2 RENAME TO candidates;
ALTER TABLE attempts_v2 RENAME TO attempts;
ALTER TABLE scorer_results_v2 RENAME TO scorer_results;
ALTER TABLE scores_v2 RENAME TO scores;
ALTER TABLE selections_v2 RENAME TO selections;
ALTER TABLE instance_stats_v2 RENAME TO instance_stats;

CREATE INDEX runs_by_manifest ON runs (manifest_path, started_ms, id);
CREATE INDEX jobs_by_idx ON jobs (run_id, idx);
CREATE INDEX jobs_by_group_status ON jobs (run_id, group_name, status);
CREATE INDEX candidates_by_sha ON candidates (sha256);
CREATE INDEX attempts_by_prompt ON attempts (prompt_id);
CREATE INDEX selections_by_candidate ON selections (candidate_id);
