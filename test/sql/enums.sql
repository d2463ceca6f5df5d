--
-- the enums of the extension, in their declared order
--
SELECT 'acuity' AS type, enum_range(NULL::alliance.acuity)::text AS labels
UNION ALL SELECT 'urgency', enum_range(NULL::alliance.urgency)::text
UNION ALL SELECT 'direction', enum_range(NULL::alliance.direction)::text
UNION ALL SELECT 'alliance_model', enum_range(NULL::alliance.alliance_model)::text
UNION ALL SELECT 'integration', enum_range(NULL::alliance.integration)::text
UNION ALL SELECT 'referral_status', enum_range(NULL::alliance.referral_status)::text;
-- urgency sorts most urgent first
SELECT u FROM unnest('{routine,emergency,urgent}'::alliance.urgency[]) AS u ORDER BY u;
SELECT sqlstate_of($$SELECT 'chronic-ish'::alliance.acuity$$) AS bad_label;
