-- Schema 3: a candidate's scores, one per scorer in Scored.Scores order, are
-- one JSON column, candidates.scores:
-- [{"scorer":..,"metrics":{..},"values":{..},"error":..}]. A run is read
-- (selection, reports) candidate by candidate, and one column reads several
-- times faster than schema 2's row per scorer (scorer_results) and row per
-- metric (scores). The group index gains idx, the plan order groups are
-- read in.

ALTER TABLE candidates ADD COLUMN scores TEXT NOT NULL DEFAULT '[]';

UPDATE candidates SET scores = coalesce((
	SELECT json_group_array(json(x.obj)) FROM (
		SELECT json_object(
			'scorer', r.scorer,
			'metrics', json(coalesce((SELECT json_group_object(s.metric, s.value) FROM scores s
				WHERE s.candidate_id = r.candidate_id AND s.ord = r.ord), '{}')),
			'values', json(CASE r.vals WHEN '' THEN '{}' ELSE r.vals END),
			'error', r.error) AS obj
		FROM scorer_results r
		WHERE r.candidate_id = candidates.id ORDER BY r.ord) x), '[]');

DROP TABLE scores;
DROP TABLE scorer_results;

DROP INDEX jobs_by_group_status;
CREATE INDEX jobs_by_group_status ON jobs (run_id, group_name, status, idx);
