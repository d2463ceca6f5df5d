-- make bench, refresh: family doctor contracts change in one alliance -- a
-- resident signed half a year ago (for a year), a contract that ended in the
-- last three months renewed, one in force ended early -- written directly as
-- sign_contract(), renew_contract() and end_contract() will, and marked as
-- they mark (alliance.touch_contract(), before and after a change); then time
-- alliance.refresh_indicators().  About a year of one alliance's months
-- (some 1.3% of the keys) is touched.
SELECT id AS alliance FROM alliance.alliance ORDER BY random() LIMIT 1 \gset
WITH i AS (
INSERT INTO alliance.contract (alliance_id, patient_ref, family_institution, secondary_institution,
							   tertiary_institution, groups, starts, ends)
SELECT c.alliance_id, 'BENCH-SIGN-' || (random() * 1e9)::int, c.family_institution, c.secondary_institution,
	   c.tertiary_institution, '{elderly}', current_date - 180, current_date + 185
  FROM alliance.contract c WHERE c.alliance_id = :alliance LIMIT 1
RETURNING alliance_id, id)
SELECT count(*) FROM i, LATERAL alliance.touch_contract(i.alliance_id, i.id) AS t;
WITH i AS (
INSERT INTO alliance.contract (alliance_id, patient_ref, family_institution, secondary_institution,
							   tertiary_institution, groups, starts, ends, renews)
SELECT c.alliance_id, c.patient_ref, c.family_institution, c.secondary_institution, c.tertiary_institution,
	   c.groups, c.ends, c.ends + 365, c.id
  FROM alliance.contract c
 WHERE c.alliance_id = :alliance AND c.ended_reason IS NULL AND c.ends BETWEEN current_date - 90 AND current_date
   AND NOT EXISTS (SELECT FROM alliance.contract n
					WHERE n.alliance_id = c.alliance_id AND n.patient_ref = c.patient_ref AND n.starts >= c.ends)
 LIMIT 1
RETURNING alliance_id, id)
SELECT count(*) FROM i, LATERAL alliance.touch_contract(i.alliance_id, i.id) AS t;
SELECT c.id AS ending FROM alliance.contract c
 WHERE c.alliance_id = :alliance AND c.ended_reason IS NULL
   AND c.starts < current_date - 60 AND c.ends > current_date
   AND NOT EXISTS (SELECT FROM alliance.contract n WHERE n.renews = c.id)
 LIMIT 1 \gset
SELECT alliance.touch_contract(:alliance, :ending);
UPDATE alliance.contract SET ends = current_date - 30, ended_reason = 'moved away'
 WHERE alliance_id = :alliance AND id = :ending;
SELECT alliance.touch_contract(:alliance, :ending);
