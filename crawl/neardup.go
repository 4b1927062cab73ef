package crawl

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/storage"
)

// NearDupDistance is the SimHash distance, in bits, within which two pages
// count as near-duplicates: dedupe.SimHash puts a page with one word in 500
// changed 1 to 3 bits away and unrelated pages about 32.
const NearDupDistance = 3

// maxNearDupPages bounds the fingerprints NearDuplicates reads: 16 bytes
// each plus the URLs of those in clusters.
const maxNearDupPages = 10_000_000

// NearDupCluster is one group of pages whose text is nearly the same.
type NearDupCluster struct {
	URLs []string // the pages, in fetch order
}

// NearDuplicates groups the pages of db whose SimHash fingerprints are
// within maxDist bits of one another (chains included: single linkage),
// largest groups first, and returns at most limit of them (0 means all)
// along with the number of groups. Pages without text have no fingerprint
// and are never grouped.
func NearDuplicates(ctx context.Context, db Fingerprints, maxDist, limit int) ([]NearDupCluster, int, error) {
	var fps []dedupe.Fingerprint
	err := db.EachFingerprint(ctx, func(f storage.Fingerprint) error {
		if len(fps) >= maxNearDupPages {
			return fmt.Errorf("more than %d pages with fingerprints", maxNearDupPages)
		}
		fps = append(fps, dedupe.Fingerprint{ID: f.ID, Hash: f.SimHash})
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("near-duplicates: %w", err)
	}
	groups := dedupe.Clusters(fps, maxDist)
	fps = nil
	slices.SortStableFunc(groups, func(a, b []int64) int { return cmp.Compare(len(b), len(a)) })
	total := len(groups)
	if limit > 0 && len(groups) > limit {
		groups = groups[:limit]
	}
	// A second pass for the URLs of the pages shown: most pages are in no group.
	urls := map[int64]string{}
	for _, g := range groups {
		for _, id := range g {
			urls[id] = ""
		}
	}
	err = db.EachFingerprint(ctx, func(f storage.Fingerprint) error {
		if _, ok := urls[f.ID]; ok {
			urls[f.ID] = f.URL
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("near-duplicates: %w", err)
	}
	out := make([]NearDupCluster, len(groups))
	for i, g := range groups {
		for _, id := range g {
			out[i].URLs = append(out[i].URLs, urls[id])
		}
	}
	return out, total, nil
}

// Fingerprints lists the SimHash of every page: storage.DB, or pgstore.DB.
type Fingerprints interface {
	EachFingerprint(ctx context.Context, fn func(storage.Fingerprint) error) error
}
