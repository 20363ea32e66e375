-- is_valid_identifier and is_valid_qualified_name: plain lowercase names pass, everything a
-- hostile or careless registry row could carry fails (never null, never an error), and every
-- reserved keyword of the running server is rejected.
begin;
set search_path = extensions, public;
select plan(49);

-- Shape of the functions.
select volatility_is('public', 'is_valid_identifier', array['text'], 'immutable', 'is_valid_identifier is immutable');
select volatility_is(
    'public', 'is_valid_qualified_name', array['text'], 'immutable', 'is_valid_qualified_name is immutable'
);

-- Valid identifiers.
select is(public.is_valid_identifier('fetched_at'), true, 'fetched_at is valid');
select is(public.is_valid_identifier('a'), true, 'a single letter is valid');
select is(public.is_valid_identifier('_private'), true, 'a leading underscore is valid');
select is(public.is_valid_identifier('fmp_quote_v2'), true, 'digits after the first character are valid');
select is(public.is_valid_identifier(repeat('a', 63)), true, '63 characters (NAMEDATALEN - 1) is valid');
select is(public.is_valid_identifier('key'), true, 'an unreserved keyword (key) is valid');

-- Invalid identifiers.
select is(public.is_valid_identifier(null), false, 'null is invalid (false, not null)');
select is(public.is_valid_identifier(''), false, 'the empty string is invalid');
select is(public.is_valid_identifier(repeat('a', 64)), false, '64 characters is invalid (Postgres would truncate)');
select is(public.is_valid_identifier('Fetched_at'), false, 'upper case is invalid');
select is(public.is_valid_identifier('1abc'), false, 'a leading digit is invalid');
select is(public.is_valid_identifier('x; drop table public.feature_flags'), false, 'a statement separator is invalid');
select is(public.is_valid_identifier('x"; drop table y; --'), false, 'an embedded double quote is invalid');
select is(public.is_valid_identifier('"quoted"'), false, 'a quoted identifier is invalid');
select is(public.is_valid_identifier('it''s'), false, 'a single quote is invalid');
select is(public.is_valid_identifier('a b'), false, 'a space is invalid');
select is(public.is_valid_identifier('abc '), false, 'a trailing space is invalid');
select is(public.is_valid_identifier(E'abc\n'), false, 'a trailing newline is invalid');
select is(public.is_valid_identifier(E'a\tb'), false, 'a tab is invalid');
select is(public.is_valid_identifier('a-b'), false, 'a hyphen is invalid');
select is(public.is_valid_identifier('a.b'), false, 'a dot is invalid (use is_valid_qualified_name)');
select is(public.is_valid_identifier('a$b'), false, 'a dollar sign is invalid');
select is(public.is_valid_identifier('café'), false, 'a non-ASCII letter is invalid');
select is(public.is_valid_identifier('ａｂｃ'), false, 'full-width letters are invalid');
select is(public.is_valid_identifier(E'abc\u200b'), false, 'a zero-width space is invalid');
select is(public.is_valid_identifier('select'), false, 'a reserved keyword (select) is invalid');
select is(public.is_valid_identifier('user'), false, 'a reserved keyword (user) is invalid');
select is(public.is_valid_identifier('left'), false, 'a type/function-name keyword (left) is invalid');
select is(
    public.is_valid_identifier('timestamp'), false,
    'a column-name keyword (timestamp) is invalid: quote_ident would quote it'
);

-- Generic: every keyword the running server reserves is rejected, and every valid name reads
-- the same quoted or not (format('%I') returns it unchanged).
select is_empty(
    $$
        select k.word
        from pg_catalog.pg_get_keywords() as k
        where k.catcode in ('R', 'T', 'C')
            and public.is_valid_identifier(k.word)
        order by 1
    $$,
    'no reserved, type/function-name or column-name keyword of this server is a valid identifier'
);
select is_empty(
    $$
        select k.word
        from pg_catalog.pg_get_keywords() as k
        where public.is_valid_identifier(k.word)
            and pg_catalog.format('%I', k.word) <> k.word
        order by 1
    $$,
    'every keyword that passes is one format(''%I'') leaves unquoted'
);

-- Valid qualified names.
select is(public.is_valid_qualified_name('public.fmp_quote'), true, 'public.fmp_quote is valid');
select is(public.is_valid_qualified_name('private._x1'), true, 'private._x1 is valid');
select is(
    public.is_valid_qualified_name(repeat('s', 63) || '.' || repeat('t', 63)), true,
    'two 63-character parts are valid'
);

-- Invalid qualified names.
select is(public.is_valid_qualified_name(null), false, 'null is invalid (false, not null)');
select is(public.is_valid_qualified_name(''), false, 'the empty string is invalid');
select is(public.is_valid_qualified_name('fmp_quote'), false, 'an unqualified name is invalid');
select is(public.is_valid_qualified_name('public.'), false, 'a missing table is invalid');
select is(public.is_valid_qualified_name('.fmp_quote'), false, 'a missing schema is invalid');
select is(public.is_valid_qualified_name('a.b.c'), false, 'three parts are invalid');
select is(public.is_valid_qualified_name('Public.fmp_quote'), false, 'upper case is invalid');
select is(public.is_valid_qualified_name('public.select'), false, 'a reserved table name is invalid');
select is(public.is_valid_qualified_name('user.fmp_quote'), false, 'a reserved schema name is invalid');
select is(public.is_valid_qualified_name('"public"."fmp_quote"'), false, 'quoted parts are invalid');
select is(
    public.is_valid_qualified_name('public.fmp_quote; drop table public.feature_flags'), false,
    'a statement separator is invalid'
);
select is(public.is_valid_qualified_name('public .fmp_quote'), false, 'a space is invalid');
select is(
    public.is_valid_qualified_name(repeat('s', 64) || '.t'), false,
    'a 64-character schema name is invalid'
);

select * from finish();
rollback;
