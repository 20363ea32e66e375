-- Creates the five source tables of the assistant's vocabulary (3.6) when they are absent:
-- public."Project", "Expenses", "CashFlow", "ExpensesColumn" and "CashFlowColumn", with the
-- quoted mixed-case names the app already uses. An app that has its own tables of these names
-- keeps them exactly as they are (nothing here touches an existing table); it then points the
-- vocabulary at its own columns through private.vocabulary_sources (docs/vocabulary.md).
--
-- Writers are signed-in users (authenticated): RLS lets each user read and write only the rows
-- they own (owner_id defaults to auth.uid()), and rows of the child tables only under a project
-- they own. owner_id is never updatable by authenticated, so a row cannot be handed to someone
-- else. service_role (Edge Functions) bypasses RLS; anon has no access.
--
-- Length limits: names, categories and file names become vocabulary terms; 200 characters is
-- the longest term the vocabulary keeps (private.vocabulary_term_sql), file names follow the
-- 255-byte file-name limit of common file systems.

do $$
begin
    if pg_catalog.to_regclass('public."Project"') is not null then
        raise notice 'public."Project" already exists: left unchanged';
        return;
    end if;

    create table public."Project" (
        id bigint generated always as identity primary key,
        name text not null,
        location text,
        owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
        created_at timestamptz not null default now(),
        constraint "Project_name_check" check (char_length(pg_catalog.btrim(name)) between 1 and 200),
        constraint "Project_location_check" check (char_length(location) <= 200)
    );

    alter table public."Project" enable row level security;

    comment on table public."Project" is
        'A user''s projects; name and location feed the assistant vocabulary (projects, project_locations).';
    comment on column public."Project".location is 'Where the project is (city, site); optional.';
    comment on column public."Project".owner_id is 'The user who owns the project (auth.uid() by default).';

    create index "Project_owner_id_idx" on public."Project" (owner_id);

    create policy "Users can read their own projects"
        on public."Project" for select to authenticated
        using ((select auth.uid()) = owner_id);
    create policy "Users can create their own projects"
        on public."Project" for insert to authenticated
        with check ((select auth.uid()) = owner_id);
    create policy "Users can update their own projects"
        on public."Project" for update to authenticated
        using ((select auth.uid()) = owner_id)
        with check ((select auth.uid()) = owner_id);
    create policy "Users can delete their own projects"
        on public."Project" for delete to authenticated
        using ((select auth.uid()) = owner_id);

    revoke all on table public."Project" from public, anon, authenticated, service_role;
    grant select, insert, delete on table public."Project" to authenticated;
    grant update (name, location) on table public."Project" to authenticated;
    grant select, insert, update, delete on table public."Project" to service_role;
    revoke all on sequence public."Project_id_seq" from public, anon, authenticated, service_role;
end
$$;

do $$
begin
    if pg_catalog.to_regclass('public."Expenses"') is not null then
        raise notice 'public."Expenses" already exists: left unchanged';
        return;
    end if;

    create table public."Expenses" (
        id bigint generated always as identity primary key,
        project_id bigint not null references public."Project" (id) on delete cascade,
        file_name text,
        category text,
        amount numeric(14, 2) not null default 0,
        spent_on date,
        owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
        created_at timestamptz not null default now(),
        constraint "Expenses_file_name_check" check (char_length(file_name) <= 255),
        constraint "Expenses_category_check" check (char_length(category) <= 200)
    );

    alter table public."Expenses" enable row level security;

    comment on table public."Expenses" is
        'Expense lines of a project; file_name and category feed the vocabulary (expense_files, expense_categories).';
    comment on column public."Expenses".file_name is 'The imported file (receipt, sheet) the line came from; optional.';
    comment on column public."Expenses".category is 'Expense category, usually one of the project''s "ExpensesColumn" names.';
    comment on column public."Expenses".amount is 'Amount in the project''s currency.';

    create index "Expenses_project_id_idx" on public."Expenses" (project_id);
    create index "Expenses_owner_id_idx" on public."Expenses" (owner_id);

    create policy "Users can read their own expenses"
        on public."Expenses" for select to authenticated
        using ((select auth.uid()) = owner_id);
    create policy "Users can create expenses in their own projects"
        on public."Expenses" for insert to authenticated
        with check (
            (select auth.uid()) = owner_id
            and exists (
                select 1 from public."Project" as p
                where p.id = project_id and p.owner_id = (select auth.uid())
            )
        );
    create policy "Users can update their own expenses"
        on public."Expenses" for update to authenticated
        using ((select auth.uid()) = owner_id)
        with check (
            (select auth.uid()) = owner_id
            and exists (
                select 1 from public."Project" as p
                where p.id = project_id and p.owner_id = (select auth.uid())
            )
        );
    create policy "Users can delete their own expenses"
        on public."Expenses" for delete to authenticated
        using ((select auth.uid()) = owner_id);

    revoke all on table public."Expenses" from public, anon, authenticated, service_role;
    grant select, insert, delete on table public."Expenses" to authenticated;
    grant update (project_id, file_name, category, amount, spent_on) on table public."Expenses" to authenticated;
    grant select, insert, update, delete on table public."Expenses" to service_role;
    revoke all on sequence public."Expenses_id_seq" from public, anon, authenticated, service_role;
end
$$;

do $$
begin
    if pg_catalog.to_regclass('public."CashFlow"') is not null then
        raise notice 'public."CashFlow" already exists: left unchanged';
        return;
    end if;

    create table public."CashFlow" (
        id bigint generated always as identity primary key,
        project_id bigint not null references public."Project" (id) on delete cascade,
        file_name text,
        category text,
        amount numeric(14, 2) not null default 0,
        occurred_on date,
        owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
        created_at timestamptz not null default now(),
        constraint "CashFlow_file_name_check" check (char_length(file_name) <= 255),
        constraint "CashFlow_category_check" check (char_length(category) <= 200)
    );

    alter table public."CashFlow" enable row level security;

    comment on table public."CashFlow" is
        'Cash-flow lines of a project; file_name and category feed the vocabulary (cashflow_files, cashflow_categories).';
    comment on column public."CashFlow".file_name is 'The imported file the line came from; optional.';
    comment on column public."CashFlow".category is 'Cash-flow category, usually one of the project''s "CashFlowColumn" names.';
    comment on column public."CashFlow".amount is 'Signed amount: positive money in, negative money out.';

    create index "CashFlow_project_id_idx" on public."CashFlow" (project_id);
    create index "CashFlow_owner_id_idx" on public."CashFlow" (owner_id);

    create policy "Users can read their own cash flow"
        on public."CashFlow" for select to authenticated
        using ((select auth.uid()) = owner_id);
    create policy "Users can create cash flow in their own projects"
        on public."CashFlow" for insert to authenticated
        with check (
            (select auth.uid()) = owner_id
            and exists (
                select 1 from public."Project" as p
                where p.id = project_id and p.owner_id = (select auth.uid())
            )
        );
    create policy "Users can update their own cash flow"
        on public."CashFlow" for update to authenticated
        using ((select auth.uid()) = owner_id)
        with check (
            (select auth.uid()) = owner_id
            and exists (
                select 1 from public."Project" as p
                where p.id = project_id and p.owner_id = (select auth.uid())
            )
        );
    create policy "Users can delete their own cash flow"
        on public."CashFlow" for delete to authenticated
        using ((select auth.uid()) = owner_id);

    revoke all on table public."CashFlow" from public, anon, authenticated, service_role;
    grant select, insert, delete on table public."CashFlow" to authenticated;
    grant update (project_id, file_name, category, amount, occurred_on) on table public."CashFlow" to authenticated;
    grant select, insert, update, delete on table public."CashFlow" to service_role;
    revoke all on sequence public."CashFlow_id_seq" from public, anon, authenticated, service_role;
end
$$;

do $$
begin
    if pg_catalog.to_regclass('public."ExpensesColumn"') is not null then
        raise notice 'public."ExpensesColumn" already exists: left unchanged';
        return;
    end if;

    create table public."ExpensesColumn" (
        id bigint generated always as identity primary key,
        project_id bigint not null references public."Project" (id) on delete cascade,
        name text not null,
        owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
        created_at timestamptz not null default now(),
        constraint "ExpensesColumn_project_id_name_key" unique (project_id, name),
        constraint "ExpensesColumn_name_check" check (char_length(pg_catalog.btrim(name)) between 1 and 200)
    );

    alter table public."ExpensesColumn" enable row level security;

    comment on table public."ExpensesColumn" is
        'The expense categories (sheet columns) a project uses; name feeds the vocabulary (expense_categories).';

    create index "ExpensesColumn_owner_id_idx" on public."ExpensesColumn" (owner_id);

    create policy "Users can read their own expense columns"
        on public."ExpensesColumn" for select to authenticated
        using ((select auth.uid()) = owner_id);
    create policy "Users can create expense columns in their own projects"
        on public."ExpensesColumn" for insert to authenticated
        with check (
            (select auth.uid()) = owner_id
            and exists (
                select 1 from public."Project" as p
                where p.id = project_id and p.owner_id = (select auth.uid())
            )
        );
    create policy "Users can update their own expense columns"
        on public."ExpensesColumn" for update to authenticated
        using ((select auth.uid()) = owner_id)
        with check ((select auth.uid()) = owner_id);
    create policy "Users can delete their own expense columns"
        on public."ExpensesColumn" for delete to authenticated
        using ((select auth.uid()) = owner_id);

    revoke all on table public."ExpensesColumn" from public, anon, authenticated, service_role;
    grant select, insert, delete on table public."ExpensesColumn" to authenticated;
    grant update (name) on table public."ExpensesColumn" to authenticated;
    grant select, insert, update, delete on table public."ExpensesColumn" to service_role;
    revoke all on sequence public."ExpensesColumn_id_seq" from public, anon, authenticated, service_role;
end
$$;

do $$
begin
    if pg_catalog.to_regclass('public."CashFlowColumn"') is not null then
        raise notice 'public."CashFlowColumn" already exists: left unchanged';
        return;
    end if;

    create table public."CashFlowColumn" (
        id bigint generated always as identity primary key,
        project_id bigint not null references public."Project" (id) on delete cascade,
        name text not null,
        owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
        created_at timestamptz not null default now(),
        constraint "CashFlowColumn_project_id_name_key" unique (project_id, name),
        constraint "CashFlowColumn_name_check" check (char_length(pg_catalog.btrim(name)) between 1 and 200)
    );

    alter table public."CashFlowColumn" enable row level security;

    comment on table public."CashFlowColumn" is
        'The cash-flow categories (sheet columns) a project uses; name feeds the vocabulary (cashflow_categories).';

    create index "CashFlowColumn_owner_id_idx" on public."CashFlowColumn" (owner_id);

    create policy "Users can read their own cash flow columns"
        on public."CashFlowColumn" for select to authenticated
        using ((select auth.uid()) = owner_id);
    create policy "Users can create cash flow columns in their own projects"
        on public."CashFlowColumn" for insert to authenticated
        with check (
            (select auth.uid()) = owner_id
            and exists (
                select 1 from public."Project" as p
                where p.id = project_id and p.owner_id = (select auth.uid())
            )
        );
    create policy "Users can update their own cash flow columns"
        on public."CashFlowColumn" for update to authenticated
        using ((select auth.uid()) = owner_id)
        with check ((select auth.uid()) = owner_id);
    create policy "Users can delete their own cash flow columns"
        on public."CashFlowColumn" for delete to authenticated
        using ((select auth.uid()) = owner_id);

    revoke all on table public."CashFlowColumn" from public, anon, authenticated, service_role;
    grant select, insert, delete on table public."CashFlowColumn" to authenticated;
    grant update (name) on table public."CashFlowColumn" to authenticated;
    grant select, insert, update, delete on table public."CashFlowColumn" to service_role;
    revoke all on sequence public."CashFlowColumn_id_seq" from public, anon, authenticated, service_role;
end
$$;
