-- Search: pg_trgm GIN indexes, so that ILIKE '%q%' on any substring of
-- three characters or more finds its rows through an index, in any script
-- the database's LC_CTYPE classifies as letters (C.UTF-8 and the usual
-- UTF-8 locales do; the C locale does not, and then such a query reads the
-- whole index). The index is written with the row, in its transaction.
--
-- pg_trgm is created in pg_catalog when missing, which every search_path
-- holds: convo runs in a schema of its own (tests, tenants), and an
-- extension in one of them would be dropped with it. An installation made
-- earlier by the database's owner is used where it is, which must then be
-- on convo's search_path. Two stores migrating at once may both create it:
-- the loser finds it made.
--
-- Indexes are built CONCURRENTLY, as in 00010: writes go on meanwhile.

-- +goose NO TRANSACTION
-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION pg_trgm SCHEMA pg_catalog;
        EXCEPTION WHEN unique_violation OR duplicate_object THEN
            NULL;
        END;
    END IF;
END
$$;
-- +goose StatementEnd
DROP INDEX CONCURRENTLY IF EXISTS messages_search;
CREATE INDEX CONCURRENTLY messages_search ON messages USING gin (text gin_trgm_ops);
-- The fields a conversation is found by, joined by a character no query
-- holds (search refuses control characters), so that no match spans two.
DROP INDEX CONCURRENTLY IF EXISTS conversations_search;
CREATE INDEX CONCURRENTLY conversations_search ON conversations USING gin ((
    name || chr(31) || coalesce(peer::jsonb ->> 'target_name', '') || chr(31) || coalesce(peer::jsonb ->> 'name', '')
    || chr(31) || coalesce(peer::jsonb ->> 'target', '') || chr(31) || dialog_id) gin_trgm_ops);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS conversations_search;
DROP INDEX CONCURRENTLY IF EXISTS messages_search;
