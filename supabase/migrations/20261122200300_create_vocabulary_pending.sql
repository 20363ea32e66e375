-- Creates private.vocabulary_pending (3.6): what each writing transaction has done to the
-- vocabulary, waiting for its commit. The statement triggers on the source tables append here
-- (term deltas, truncated fields, failures); a deferred constraint trigger (created with the
-- commit function, next migrations) applies a transaction's rows to the snapshot once, at commit,
-- and deletes them.
--
-- Why not update the counts in the statement trigger: a count row updated there stays locked
-- until the writer commits, so two writers of the same term (say the category "Travel") would
-- queue behind each other for the whole of the first one's transaction, and writers touching
-- terms in different orders could deadlock. Applied at commit, in term order, a term row is
-- locked only while its writer commits, and never in conflicting orders. It also gives each
-- transaction one subtransaction (the commit step's exception block) instead of one per
-- statement, so long transactions do not overflow the subtransaction cache.
--
-- Unlogged: the rows live only until their transaction commits or aborts, so a crash (which
-- empties an unlogged table) loses nothing that still matters, and appending costs no WAL.
-- kind:
--   round      one per transaction and round: its deferred trigger runs the commit step
--   delta      field, term and the net change of its count by one statement
--   recompute  field to recompute from the sources at commit (TRUNCATE has no transition table)
--   failed     a statement's maintenance failed (detail): the commit marks the snapshot dirty

create unlogged table private.vocabulary_pending (
    txid xid8 not null default pg_catalog.pg_current_xact_id(),
    kind text not null,
    source_table text not null,
    field text,
    term text,
    delta bigint,
    detail text,
    constraint vocabulary_pending_kind_check check (kind in ('round', 'delta', 'recompute', 'failed')),
    constraint vocabulary_pending_delta_check check (
        kind <> 'delta' or (field is not null and term is not null and delta is not null and delta <> 0)
    ),
    constraint vocabulary_pending_recompute_check check (kind <> 'recompute' or field is not null)
);

alter table private.vocabulary_pending enable row level security;

comment on table private.vocabulary_pending is
    'Vocabulary changes of transactions not yet committed; applied to the snapshot and deleted at commit.';

-- The commit step reads and deletes exactly one transaction's rows.
create index vocabulary_pending_txid_idx on private.vocabulary_pending (txid);

-- One round row per transaction at a time: every statement trigger probes it (one index entry,
-- however many deltas the transaction has piled up), and a second one cannot slip in.
create unique index vocabulary_pending_round_idx on private.vocabulary_pending (txid) where kind = 'round';

revoke all on table private.vocabulary_pending from public, anon, authenticated, service_role;
