package httpclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// DefaultMaxPages bounds how many pages one listing follows: a server that
// keeps handing out next links cannot keep a poll running for ever.
const DefaultMaxPages = 1000

// ODataPage is the part of an OData list response (Microsoft Graph) that
// paging needs.
type ODataPage struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

// ODataPages GETs rawURL and follows "@odata.nextLink" until a page has
// none, calling fn with each page's "value" items (valid only during the
// call). A next link to another scheme or host is refused (it would carry
// the bearer token elsewhere), and so is one already followed.
func (c *Client) ODataPages(ctx context.Context, rawURL string, maxPages int, fn func(items []json.RawMessage) error) error {
	if maxPages <= 0 {
		maxPages = DefaultMaxPages
	}
	first, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("list URL %q: %w", redactURL(rawURL), err)
	}
	seen := map[string]bool{}
	next := rawURL
	for page := 1; next != ""; page++ {
		if page > maxPages {
			return fmt.Errorf("more than %d pages from %s: stopping", maxPages, redactURL(rawURL))
		}
		seen[next] = true
		body, err := c.Get(ctx, next)
		if err != nil {
			return err
		}
		var p ODataPage
		if err := json.Unmarshal(body, &p); err != nil {
			return fmt.Errorf("page %d of %s: not an OData list response: %v", page, redactURL(rawURL), err)
		}
		if p.Value == nil {
			return fmt.Errorf("page %d of %s: no \"value\" array", page, redactURL(rawURL))
		}
		if err := fn(p.Value); err != nil {
			return err
		}
		if p.NextLink == "" {
			return nil
		}
		u, err := url.Parse(p.NextLink)
		if err != nil || u.Scheme != first.Scheme || u.Host != first.Host {
			return fmt.Errorf("page %d of %s: @odata.nextLink %q leaves %s://%s: refused", page, redactURL(rawURL), redactURL(p.NextLink), first.Scheme, first.Host)
		}
		if seen[p.NextLink] {
			return fmt.Errorf("page %d of %s: @odata.nextLink repeats an earlier page: stopping", page, redactURL(rawURL))
		}
		next = p.NextLink
	}
	return nil
}

// Pagination is CrowdStrike's "meta.pagination": offset paging (offset,
// limit, total) or, on newer endpoints, a cursor ("after").
type Pagination struct {
	Offset json.RawMessage `json:"offset"` // a number, or a string token on some endpoints
	Limit  int             `json:"limit"`
	Total  int             `json:"total"`
	After  string          `json:"after"`
}

// Cursor is where the next page starts: After when the API gave a cursor,
// else Offset.
type Cursor struct {
	Offset int
	After  string
}

// Next returns the cursor of the page after the one that held got items,
// and false when that page was the last.
func (p Pagination) Next(got int) (Cursor, bool) {
	if got == 0 {
		return Cursor{}, false
	}
	if p.After != "" {
		return Cursor{After: p.After}, true
	}
	off, err := strconv.Atoi(strings.Trim(string(p.Offset), `"`))
	if err != nil {
		return Cursor{}, false
	}
	next := off + got
	if next >= p.Total {
		return Cursor{}, false
	}
	return Cursor{Offset: next}, true
}

// Pages calls fetch with the cursor of each page in turn, starting with
// the zero Cursor, until it reports no next page, at most maxPages times
// (DefaultMaxPages when 0). A cursor that repeats stops it with an error.
func Pages(ctx context.Context, maxPages int, fetch func(ctx context.Context, c Cursor) (next Cursor, more bool, err error)) error {
	if maxPages <= 0 {
		maxPages = DefaultMaxPages
	}
	seen := map[Cursor]bool{}
	cur := Cursor{}
	for page := 1; ; page++ {
		if page > maxPages {
			return fmt.Errorf("more than %d pages: stopping", maxPages)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		seen[cur] = true
		next, more, err := fetch(ctx, cur)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		if seen[next] {
			return fmt.Errorf("page %d: the next cursor repeats an earlier page: stopping", page)
		}
		cur = next
	}
}
