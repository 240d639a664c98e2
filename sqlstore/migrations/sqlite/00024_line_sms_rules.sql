-- LINE reply tokens and SMS opt-outs, as on PostgreSQL (see its migration).

-- +goose Up
ALTER TABLE messages ADD COLUMN line_send_method TEXT NOT NULL DEFAULT '';

CREATE TABLE peer_opt_outs (
    dialog_id  TEXT NOT NULL,
    account_id TEXT NOT NULL,
    tm_create  INTEGER NOT NULL,
    PRIMARY KEY (dialog_id, account_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE line_reply_tokens (
    conversation_id TEXT NOT NULL PRIMARY KEY,
    reply_token     TEXT NOT NULL,
    tm_receive      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE line_reply_tokens;
DROP TABLE peer_opt_outs;
ALTER TABLE messages DROP COLUMN line_send_method;
