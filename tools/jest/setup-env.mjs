// Time logic is tested in UTC (house style §4).
process.env.TZ = 'UTC';
