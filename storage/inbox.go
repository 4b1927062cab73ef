package storage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// The inbox's statements (see schemaV3's inbox).
const (
	// mergeInbox adds the inbox's URLs that url does not have, in key order
	// (one sorted pass over the B-tree), the first discovery of a URL
	// winning, and returns them; the trigger url_queued queues each one in
	// the same statement. The WHERE is SQLite's way of telling an
	// upsert's ON from a join's.
	mergeInbox = `INSERT INTO url (id, url, host_id, depth, seq, crawl_id)
SELECT id, url, host_id, depth, seq, crawl_id FROM inbox WHERE true ORDER BY id, seq
ON CONFLICT (id) DO NOTHING RETURNING id, url, host_id, depth, seq`
	clearInbox = `DELETE FROM inbox`
	countInbox = `SELECT count(*) FROM inbox`
	hostName   = `SELECT host FROM hosts WHERE id = ?`
)

// mergeInbox queues the inbox's new URLs and empties it, and returns the
// URLs queued, in queue order. The merge is one statement in a transaction
// of its own: inside a larger one SQLite would keep a statement journal of
// every page it changes (all of url's leaves, held in memory), and on its
// own it needs none. Emptying the inbox is a second one: a crash between
// the two leaves URLs in the inbox that are in url already, which the next
// merge finds known.
func (ws *writeStmts) mergeInbox(ctx context.Context) ([]URL, error) {
	rows, err := ws.merge.QueryContext(ctx)
	if err != nil {
		return nil, err
	}
	var queued []URL
	var hostIDs []int64
	for rows.Next() {
		var u URL
		var hid int64
		if err := rows.Scan(&u.ID, &u.URL, &hid, &u.Depth, &u.Seq); err != nil {
			rows.Close()
			return nil, err
		}
		queued = append(queued, u)
		hostIDs = append(hostIDs, hid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, hid := range hostIDs {
		if queued[i].Host, err = ws.hostOf(ctx, hid); err != nil {
			return nil, err // nothing is lost: the URLs are queued in url, and leased back by host
		}
	}
	slices.SortFunc(queued, func(a, b URL) int { return cmp.Compare(a.Seq, b.Seq) })
	if _, err := ws.clear.ExecContext(ctx); err != nil {
		// The merge is committed: report what it queued. The inbox keeps its
		// rows, which the next merge finds known.
		return queued, fmt.Errorf("empty the inbox: %w", err)
	}
	return queued, nil
}

// hostOf returns the name of the host with id hid.
func (ws *writeStmts) hostOf(ctx context.Context, hid int64) (string, error) {
	if h, ok := ws.hostNames[hid]; ok {
		return h, nil
	}
	var h string
	if err := ws.hostName.QueryRowContext(ctx, hid).Scan(&h); err != nil {
		return "", fmt.Errorf("host %d: %w", hid, err)
	}
	ws.remember(h, hid)
	return h, nil
}
