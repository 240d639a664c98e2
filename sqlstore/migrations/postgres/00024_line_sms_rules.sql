-- line_send_method: how LINE got an outgoing message, 'reply' (free, with
-- the reply token of the peer's last event) or 'push' (counts against the
-- monthly quota); '' on every other message.
--
-- peer_opt_outs: the peers (dialog ids) that asked an SMS account to stop
-- sending (STOP and its synonyms, or Twilio's error 21610); a row exists
-- while the peer is opted out. Keyed by dialog first so that the peers of
-- a page of conversations are read with one index scan.
--
-- line_reply_tokens: the newest reply token of each LINE conversation and
-- when it arrived; a send takes it (DELETE … RETURNING), so it is used once.

-- +goose Up
ALTER TABLE messages ADD COLUMN line_send_method TEXT NOT NULL DEFAULT '';

CREATE TABLE peer_opt_outs (
    dialog_id  TEXT NOT NULL,
    account_id UUID NOT NULL,
    tm_create  BIGINT NOT NULL,
    PRIMARY KEY (dialog_id, account_id)
);

CREATE TABLE line_reply_tokens (
    conversation_id UUID NOT NULL PRIMARY KEY,
    reply_token     TEXT NOT NULL,
    tm_receive      BIGINT NOT NULL
);

-- +goose Down
DROP TABLE line_reply_tokens;
DROP TABLE peer_opt_outs;
ALTER TABLE messages DROP COLUMN line_send_method;
