package convo

import (
	"strconv"
	"strings"
)

// MaxPageSize is the largest page a list returns; it is also the default.
const MaxPageSize = 100

// PageRequest is a client's page selection as it arrives on the wire.
type PageRequest struct {
	// Size is page_size; out of range (including unset) means MaxPageSize.
	Size int
	// Token is page_token: empty for the first page.
	Token string
}

// List is one page of a newest-first list as rendered to clients.
type List[T any] struct {
	Result        []T    `json:"result"`
	NextPageToken string `json:"next_page_token"`
}

// ParsePageSize reads page_size leniently: anything that is not a number in
// 1..MaxPageSize means MaxPageSize, as VoIPbin clients expect.
func ParsePageSize(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > MaxPageSize {
		return MaxPageSize
	}
	return n
}

// pageTokenSep separates the timestamp from the tie-breaking id in a token.
const pageTokenSep = "|"

// Page turns a request into store paging that fetches one extra row, so that
// the next token can tell whether the last row's timestamp is shared. The
// token's timestamp may be in either time format.
func (r PageRequest) Page() (Page, error) {
	size := r.Size
	if size < 1 || size > MaxPageSize {
		size = MaxPageSize
	}
	p := Page{Limit: size + 1}
	if r.Token == "" {
		return p, nil
	}
	ts, id, _ := strings.Cut(r.Token, pageTokenSep)
	t, err := ParseTime(ts)
	if err != nil {
		return p, Invalid(ReasonInvalidToken, "page_token must be a next_page_token, or a timestamp like 2022-06-23 05:05:40.950834 or 2022-06-23T05:05:40.950834Z")
	}
	c := &Cursor{Time: t}
	if id != "" {
		if c.ID, err = ParseID(id); err != nil {
			return p, Invalid(ReasonInvalidToken, "page_token is malformed")
		}
	}
	p.After = c
	return p, nil
}

// NewList cuts rows (fetched with the Limit of r.Page) to the page size and
// computes the next token (in the seed format; answers render it): the last row's tm_create, with its id appended
// only when the following row shares that tm_create, so paging never skips
// or repeats rows. An empty page has an empty token.
func NewList[T any](r PageRequest, rows []T, position func(T) Cursor) List[T] {
	size := r.Size
	if size < 1 || size > MaxPageSize {
		size = MaxPageSize
	}
	l := List[T]{Result: rows}
	if l.Result == nil {
		l.Result = []T{}
	}
	if len(rows) == 0 {
		return l
	}
	var next *Cursor
	if len(rows) > size {
		n := position(rows[size])
		next = &n
		l.Result = rows[:size]
	}
	last := position(l.Result[len(l.Result)-1])
	l.NextPageToken = last.Time.String()
	if next != nil && next.Time.Equal(last.Time.Time) {
		l.NextPageToken += pageTokenSep + last.ID
	}
	return l
}
