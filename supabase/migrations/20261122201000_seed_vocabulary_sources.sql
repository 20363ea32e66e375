-- Maps the five source tables to the six vocabulary fields (3.6) and, through the mapping's
-- trigger, installs the per-table triggers and builds the first snapshot from the rows that
-- already exist:
--   projects            "Project".name
--   project_locations   "Project".location
--   expense_files       "Expenses".file_name
--   cashflow_files      "CashFlow".file_name
--   expense_categories  "ExpensesColumn".name and "Expenses".category
--   cashflow_categories "CashFlowColumn".name and "CashFlow".category
-- Only columns that exist are mapped: an app whose own tables of these names have other columns
-- gets the rest mapped and a notice, and maps its own columns afterwards (docs/vocabulary.md).

do $$
declare
    v_missing text;
begin
    select pg_catalog.string_agg(pg_catalog.format('%I.%I', m.source_table, m.source_column), ', ' order by m.ord)
    into v_missing
    from (
        values
            (1, 'Project', 'name'), (2, 'Project', 'location'), (3, 'Expenses', 'file_name'),
            (4, 'CashFlow', 'file_name'), (5, 'ExpensesColumn', 'name'), (6, 'Expenses', 'category'),
            (7, 'CashFlowColumn', 'name'), (8, 'CashFlow', 'category')
    ) as m (ord, source_table, source_column)
    where not exists (
        select 1
        from pg_catalog.pg_attribute as a
        where a.attrelid = pg_catalog.to_regclass(pg_catalog.format('public.%I', m.source_table))
            and a.attname = m.source_column
            and a.attnum > 0
            and not a.attisdropped
    );
    if v_missing is not null then
        raise notice 'keepfresh vocabulary: not mapped (no such column): %', v_missing;
    end if;
end
$$;

insert into private.vocabulary_sources (field, source_schema, source_table, source_column)
select m.field, 'public', m.source_table, m.source_column
from (
    values
        (1, 'projects', 'Project', 'name'),
        (2, 'project_locations', 'Project', 'location'),
        (3, 'expense_files', 'Expenses', 'file_name'),
        (4, 'cashflow_files', 'CashFlow', 'file_name'),
        (5, 'expense_categories', 'ExpensesColumn', 'name'),
        (6, 'expense_categories', 'Expenses', 'category'),
        (7, 'cashflow_categories', 'CashFlowColumn', 'name'),
        (8, 'cashflow_categories', 'CashFlow', 'category')
) as m (ord, field, source_table, source_column)
where exists (
    select 1
    from pg_catalog.pg_attribute as a
    where a.attrelid = pg_catalog.to_regclass(pg_catalog.format('public.%I', m.source_table))
        and a.attname = m.source_column
        and a.attnum > 0
        and not a.attisdropped
)
order by m.ord;

-- A database with none of these columns still gets its first (empty) snapshot built.
select private.rebuild_vocabulary('install')
where not exists (select 1 from private.vocabulary_state as s where s.id and s.built_at is not null);
