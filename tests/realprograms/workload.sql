-- workload.sql - the sqlite3 row (stdin of `sqlite3 :memory:`): 50,000 rows
-- inserted, indexed, grouped, joined and updated; deterministic output.
create table t(id integer primary key, name text, grp integer);
with recursive c(i) as (select 1 union all select i + 1 from c where i < 50000)
insert into t select i, 'name' || i, i % 97 from c;
create index t_grp on t(grp);
select grp, count(*), sum(id) from t group by grp order by grp limit 5;
select count(*) from t where name like '%77%';
create table g as select grp, max(id) as top from t group by grp;
select count(*), sum(t.id) from t join g on t.grp = g.grp and t.id = g.top;
update t set name = upper(name) where grp = 3;
select name from t where grp = 3 order by id limit 3;
select group_concat(name, ',') from (select name from t order by id desc limit 20);
