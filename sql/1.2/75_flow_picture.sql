
------------------------------------------------------------------------------
-- The referral-flow picture (issue 13): alliance.referral_flow_dot draws its
-- text in a CJK font (Noto Sans CJK SC, Debian's fonts-noto-cjk, which
-- `make demo` installs), so that Chinese names are not empty boxes; it has a
-- title and a legend (upward / downward / lateral colours, width = count);
-- each count is set beside its edge, not on the arrow.  The colours and the
-- width of a flow are written once, for the edges and the legend alike.
------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION alliance.referral_flow_dot(alliance_id bigint, from_date date DEFAULT NULL, to_date date DEFAULT NULL)
	RETURNS text
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	tz text := alliance.indicator_timezone();
	font text := 'Noto Sans CJK SC';
	dot text;
BEGIN
	-- dates outside alliance.time_window() are refused (22008), not converted
	PERFORM alliance.check_days(referral_flow_dot.from_date, 1, 'from_date'),
			alliance.check_days(referral_flow_dot.to_date, 1, 'to_date');
	WITH colour (direction, colour, name, ord) AS (
		VALUES ('upward'::alliance.direction, '#d62728', '上转 upward', 1),
			   ('downward'::alliance.direction, '#2ca02c', '下转 downward', 2),
			   ('lateral'::alliance.direction, '#7f7f7f', '平转 lateral', 3)),
	counted AS (
		SELECT r.from_institution, r.to_institution, r.direction, count(*) AS n
		  FROM alliance.referral r
		 WHERE r.alliance_id = referral_flow_dot.alliance_id
		   AND (from_date IS NULL OR r.created_at >= from_date::timestamp AT TIME ZONE tz)
		   AND (to_date IS NULL OR r.created_at < (to_date + 1)::timestamp AT TIME ZONE tz)
		 GROUP BY 1, 2, 3),
	flow AS (
		-- an edge's width in points: 1 plus up to 5 by its share of the largest flow
		SELECT c.*, round(1 + 5.0 * c.n / max(c.n) OVER (), 1) AS width FROM counted c),
	node AS (
		SELECT i.id, i.name, i.tier, alliance.level(i.tier) AS level
		  FROM alliance.institution i
		 WHERE i.id IN (SELECT m.institution_id FROM alliance.membership m
						 WHERE m.alliance_id = referral_flow_dot.alliance_id
						UNION SELECT from_institution FROM flow UNION SELECT to_institution FROM flow)),
	rank AS (
		-- one rank per level, kept in order by invisible edges between levels;
		-- the legend stands in the top one
		SELECT format('  { rank=same; %s%s }', string_agg(format('i%s', n.id), '; ' ORDER BY n.id),
					  CASE WHEN row_number() OVER (ORDER BY n.level DESC) = 1 THEN '; legend' ELSE '' END) AS line,
			   n.level, min(n.id) AS first,
			   lag(min(n.id)) OVER (ORDER BY n.level) AS below
		  FROM node n GROUP BY n.level),
	-- the legend's width samples: the thinnest and the thickest flow
	sample AS (
		SELECT DISTINCT f.n, greatest(1, round(f.width))::int AS height FROM flow f
		 WHERE f.n IN ((SELECT min(n) FROM flow), (SELECT max(n) FROM flow)))
	SELECT concat_ws(E'\n',
		'digraph referral_flows {',
		'  rankdir=BT;',
		format('  graph [fontname="%s", fontsize=18, labelloc=t, nodesep=0.4, ranksep=0.9];', font),
		format('  label="%s 转诊流向 referral flows%s";',
			   replace(replace(coalesce((SELECT a.name FROM alliance.alliance a
										  WHERE a.id = referral_flow_dot.alliance_id), '?'),
							   '\', '\\'), '"', '\"'),
			   CASE WHEN from_date IS NOT NULL OR to_date IS NOT NULL
					THEN format(', %s – %s', coalesce(to_char(from_date, 'YYYY-MM-DD'), '…'),
								coalesce(to_char(to_date, 'YYYY-MM-DD'), '…')) ELSE '' END),
		format('  node [shape=box, style="rounded,filled", fontname="%s"];', font),
		format('  edge [fontname="%s", fontsize=12];', font),
		(SELECT string_agg(format('  i%s [label="%s\n%s", fillcolor="%s"];', n.id,
								  replace(replace(n.name, '\', '\\'), '"', '\"'), n.tier,
								  CASE n.level::text WHEN 'village' THEN '#e8f5e9' WHEN 'primary' THEN '#c8e6c9'
													 WHEN 'secondary' THEN '#bbdefb' ELSE '#ffcdd2' END),
						   E'\n' ORDER BY n.id) FROM node n),
		-- the legend, a grid of three columns of a line and its meaning: the
		-- colours, then the thinnest and the thickest flow
		'  legend [shape=plain, style="", fontsize=12, label=<<TABLE BORDER="1" COLOR="#9e9e9e" CELLBORDER="0" CELLSPACING="4" CELLPADDING="1">',
		'    <TR><TD COLSPAN="6" ALIGN="LEFT"><B>图例 legend</B></TD></TR>',
		'    <TR>' || (SELECT string_agg(format('<TD FIXEDSIZE="TRUE" WIDTH="30" HEIGHT="3" BGCOLOR="%s"></TD><TD ALIGN="LEFT">%s</TD>',
											 c.colour, c.name), '' ORDER BY c.ord) FROM colour c) || '</TR>',
		coalesce((SELECT '    <TR>' || string_agg(format('<TD FIXEDSIZE="TRUE" WIDTH="30" HEIGHT="%s" BGCOLOR="#616161"></TD><TD ALIGN="LEFT">%s 人次</TD>',
													   s.height, s.n), '' ORDER BY s.n)
						 || format('<TD COLSPAN="%s"></TD></TR>', 6 - 2 * count(*))
					FROM sample s HAVING count(*) > 0),
				 '    <TR><TD COLSPAN="6" ALIGN="LEFT">本期无转诊 no referrals in this period</TD></TR>'),
		'    <TR><TD COLSPAN="6" ALIGN="LEFT">线宽、边旁数字 = 转诊人次<BR ALIGN="LEFT"/>width, number beside an edge = referrals</TD></TR>',
		'  </TABLE>>];',
		(SELECT string_agg(r.line, E'\n' ORDER BY r.level) FROM rank r),
		(SELECT string_agg(format('  i%s -> i%s [style=invis];', r.below, r.first), E'\n' ORDER BY r.level)
		   FROM rank r WHERE r.below IS NOT NULL),
		-- upward flows rank the picture; the others follow it.  The count
		-- stands right of its edge, past a spacer wider than the thickest line.
		(SELECT string_agg(format('  i%s -> i%s [label=<<TABLE BORDER="0" CELLPADDING="0"><TR><TD WIDTH="14"></TD><TD>%s</TD></TR></TABLE>>, penwidth=%s, color="%s", fontcolor="%s"%s];',
								  f.from_institution, f.to_institution, f.n, f.width, c.colour, c.colour,
								  CASE WHEN f.direction = 'upward' THEN '' ELSE ', constraint=false' END),
						   E'\n' ORDER BY f.from_institution, f.to_institution, f.direction)
		   FROM flow f JOIN colour c USING (direction)),
		'}') INTO dot;
	RETURN dot;
END
$$;
COMMENT ON FUNCTION alliance.referral_flow_dot(bigint, date, date) IS
	'a Graphviz DOT picture of the referral flows between an alliance''s members, in a CJK font (Noto Sans CJK SC): ranked by tier, upward red, downward green, lateral grey, edge width by count, the count beside each edge, with a title and a legend';
