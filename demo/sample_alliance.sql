-- The sample alliance: 瑞金医院 leads a city medical group (城市医疗集团) in
-- Shanghai's Huangpu district with two secondary hospitals and four community
-- health centers.  Coordinates are approximate (WGS 84).  Run as a superuser
-- or a member of alliance.admin_role; used by `make demo` and the tests.

SELECT alliance.create_alliance('瑞金-卢湾医联体', 'city_group', 'tight');

SELECT alliance.add_institution(name, tier::alliance.tier, '黄浦区', lat, lon, specialties, beds)
FROM (VALUES
	('瑞金医院', '三级甲等', 31.2105, 121.4686,
	 '{cardiology,neurology,oncology,endocrinology,nephrology,respiratory,general}'::text[], 2100),
	('瑞金医院卢湾分院', '二级', 31.2029, 121.4717, '{cardiology,general,rehabilitation}', 300),
	('卢湾区东南医院', '二级', 31.2013, 121.4798, '{general,respiratory,rehabilitation}', 200),
	('五里桥街道社区卫生服务中心', '一级', 31.1966, 121.4808, '{general,rehabilitation}', 40),
	('打浦桥街道社区卫生服务中心', '一级', 31.2046, 121.4703, '{general}', 30),
	('淮海中路街道社区卫生服务中心', '一级', 31.2197, 121.4694, '{general}', 30),
	('瑞金二路街道社区卫生服务中心', '一级', 31.2119, 121.4655, '{general,rehabilitation}', 35)
) AS v(name, tier, lat, lon, specialties, beds)
ORDER BY tier::alliance.tier DESC, name;

SELECT alliance.add_member(a.id, i.id, CASE WHEN i.name = '瑞金医院' THEN 'lead' ELSE 'member' END)
FROM alliance.alliance a, alliance.institution i
WHERE a.name = '瑞金-卢湾医联体'
ORDER BY i.id;
