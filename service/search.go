package service

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/convohq/convo"
)

// fragmentContext is how many characters of context a fragment keeps on
// each side of the match: a line of a result list.
const fragmentContext = 40

// searchKinds maps the type filter of a search to a kind of hit.
var searchKinds = map[string]string{
	"": "", convo.SearchConversation: convo.SearchConversation, "conversations": convo.SearchConversation,
	convo.SearchMessage: convo.SearchMessage, "messages": convo.SearchMessage,
}

// searchQuery returns q trimmed, refusing one too short for the trigram
// indexes, too long, or holding control characters (which also keeps a
// match from spanning two of a conversation's fields on PostgreSQL).
func searchQuery(q string) (string, error) {
	q = strings.TrimSpace(q)
	n := utf8.RuneCountInString(q)
	switch {
	case !utf8.ValidString(q) || strings.ContainsFunc(q, unicode.IsControl):
		return "", convo.Invalid(convo.ReasonInvalidQuery, "q must be text without control characters")
	case n < convo.MinSearchQuery:
		return "", convo.Invalid(convo.ReasonQueryTooShort, "q must hold at least %d characters", convo.MinSearchQuery)
	case n > convo.MaxSearchQuery:
		return "", convo.Invalid(convo.ReasonTooLong, "q is longer than %d characters", convo.MaxSearchQuery)
	}
	return q, nil
}

// searchVisibility is canSee as a store condition: nil for admins,
// managers and access keys; for a plain agent its own conversations and,
// while its customer lets agents take them, the unassigned ones.
func (s *Service) searchVisibility(ctx context.Context, tx convo.Tx, c *convo.Caller) (*convo.SearchVisibility, error) {
	if c.IsManager() {
		return nil, nil
	}
	takes, err := s.agentsTakeUnassigned(ctx, tx, c)
	return &convo.SearchVisibility{OwnerID: c.AgentID, OrUnassigned: takes}, err
}

// Search finds the conversations and messages of the caller's customer that
// hold q (any agent; a plain agent's search covers only the conversations
// it may see). Conversations come first, then messages, each newest first.
func (s *Service) Search(ctx context.Context, c *convo.Caller, q, kind string, pr convo.PageRequest) (convo.List[*convo.SearchResult], error) {
	q, err := searchQuery(q)
	kind, known := searchKinds[strings.TrimSpace(kind)]
	if err == nil && !known {
		err = convo.Invalid(convo.ReasonInvalidSearchType, "type must be conversation or message")
	}
	var page convo.Page
	if err == nil {
		page, err = pr.Page()
	}
	if err != nil {
		return convo.NewList[*convo.SearchResult](pr, nil, nil), err
	}
	var hits []*convo.SearchHit
	err = s.store.View(ctx, func(tx convo.Tx) error {
		visible, err := s.searchVisibility(ctx, tx, c)
		if err != nil {
			return err
		}
		hits, err = tx.Search(ctx, convo.SearchParams{CustomerID: c.CustomerID, Query: q, Kind: kind,
			Visible: visible, After: page.After, Limit: page.Limit})
		if err != nil {
			return err
		}
		// A hit's conversation renders as everywhere else: labels, unread count.
		convs := make([]*convo.Conversation, len(hits))
		for i, h := range hits {
			convs[i] = h.Conversation
		}
		return s.decorate(ctx, tx, c, convs...)
	})
	results := make([]*convo.SearchResult, len(hits))
	for i, h := range hits {
		results[i] = searchResult(h, q)
	}
	l := convo.NewList(pr, results, resultCursor)
	if l.NextPageToken != "" {
		l.NextPageToken = convo.SearchToken(resultCursor(l.Result[len(l.Result)-1]))
	}
	return l, err
}

// resultCursor is the position of a result: its message's, or its conversation's.
func resultCursor(r *convo.SearchResult) convo.Cursor {
	if r.Message != nil {
		return cursorOf(r.Message.TMCreate, r.Message.ID)
	}
	return cursorOf(r.Conversation.TMCreate, r.Conversation.ID)
}

// searchResult renders a hit with the excerpt of the field holding q.
func searchResult(h *convo.SearchHit, q string) *convo.SearchResult {
	r := &convo.SearchResult{Type: convo.SearchConversation, Conversation: h.Conversation, Message: h.Message}
	fields := []struct{ name, text string }{{"text", ""}}
	if h.Message != nil {
		r.Type, fields[0].text = convo.SearchMessage, h.Message.Text
	} else {
		p := h.Conversation.Peer
		fields = []struct{ name, text string }{{"name", h.Conversation.Name}, {"peer.target_name", p.TargetName},
			{"peer.name", p.Name}, {"peer.target", p.Target}, {"dialog_id", h.Conversation.DialogID}}
	}
	for _, f := range fields {
		if fragment, match, ok := excerpt(f.text, q); ok {
			r.Field, r.Fragment, r.Match = f.name, fragment, match
			return r
		}
	}
	// The database folds case in ways Go may not (a few letters): show the
	// start of the first field, with no match marked.
	r.Field, r.Fragment = fields[0].name, string(runePrefix([]rune(fields[0].text), 2*fragmentContext))
	return r
}

// excerpt finds q in text ignoring case and returns up to fragmentContext
// characters each side of it, with the match's bounds in UTF-16 units.
func excerpt(text, q string) (string, []int, bool) {
	t, w := []rune(text), []rune(q)
	at := -1
	for i := 0; i+len(w) <= len(t) && at < 0; i++ {
		if foldedEqual(t[i:i+len(w)], w) {
			at = i
		}
	}
	if at < 0 {
		return "", nil, false
	}
	from, to := max(at-fragmentContext, 0), min(at+len(w)+fragmentContext, len(t))
	start := utf16Len(t[from:at])
	return string(t[from:to]), []int{start, start + utf16Len(t[at:at+len(w)])}, true
}

// foldedEqual reports whether a and b are equal under Unicode simple case folding.
func foldedEqual(a, b []rune) bool {
	for i := range a {
		if a[i] != b[i] && !strings.EqualFold(string(a[i]), string(b[i])) {
			return false
		}
	}
	return true
}

func utf16Len(rs []rune) int {
	n := 0
	for _, r := range rs {
		n += utf16.RuneLen(r)
	}
	return n
}

func runePrefix(rs []rune, n int) []rune { return rs[:min(n, len(rs))] }
