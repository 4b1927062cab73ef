package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/gin-gonic/gin"
)

// generation is one configuration's endpoints as served: a reload builds a
// new one and swaps it in whole. Requests in flight finish on the generation
// they started on; once the last has left a replaced one, its backend calls
// are waited for and it is dropped.
type generation struct {
	version int64  // 1 for the file read at start, then one more per reload applied
	hash    string // of the file's content: 12 hex digits of its SHA-256
	engine  *gin.Engine
	routes  []*route // one per endpoint, in config order

	// state counts the requests inside; retiredBit is set once replaced.
	state   atomic.Int64
	closed  atomic.Bool   // drained has been closed
	drained chan struct{} // closed once replaced and empty
}

const retiredBit = 1 << 62

// enter counts a request in, and reports whether g still serves: false once
// it was replaced, when the caller takes the new generation instead.
func (g *generation) enter() bool {
	if g.state.Add(1) >= retiredBit {
		g.leave()
		return false
	}
	return true
}

// leave counts a request out.
func (g *generation) leave() {
	if g.state.Add(-1) == retiredBit && g.closed.CompareAndSwap(false, true) {
		close(g.drained)
	}
}

// retire marks g replaced; drained is closed once no request is inside.
func (g *generation) retire() {
	if g.state.Add(retiredBit) == retiredBit && g.closed.CompareAndSwap(false, true) {
		close(g.drained)
	}
}

// wait blocks until every backend call started by g's endpoints has ended.
// Call it once no request is inside g.
func (g *generation) wait() {
	for _, rt := range g.routes {
		rt.agg.Wait()
	}
}

// configHash names a file's content: 12 hex digits of its SHA-256.
func configHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:6])
}

// install makes g the generation served, and says so in the metrics. It
// returns the generation replaced, nil at the first.
func (s *service) install(g *generation) *generation {
	old := s.gen.Swap(g)
	s.metrics.configVersion.Set(float64(g.version))
	s.metrics.configInfo.Reset()
	s.metrics.configInfo.WithLabelValues(strconv.FormatInt(g.version, 10), g.hash).Set(1)
	return old
}

// reloadDebounce is how long the file must stay unchanged after a write
// before it is read: an editor or a copy writes it in several steps.
const reloadDebounce = 100 * time.Millisecond

// watchConfig starts watching path's directory, before the service says it
// listens, so that no change made after that is missed; nil when watch is
// off or the watch cannot be had (then SIGHUP alone reloads).
func (s *service) watchConfig(path string, watch bool) *fsnotify.Watcher {
	if !watch || path == "" {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(filepath.Dir(path)); err != nil {
			w.Close()
		}
	}
	if err != nil {
		s.log.LogAttrs(context.Background(), slog.LevelWarn, "config watch unavailable; reload on SIGHUP only",
			slog.String("file", path), slog.String("err", err.Error()))
		return nil
	}
	return w
}

// reloadLoop reloads the configuration file at path on each value from hup
// and, with w (watchConfig), each time the file changes, until stop is closed, and then closes w. The
// directory is watched rather than the file, so that a file replaced by a
// rename (as editors and config tools write) is still seen. A replaced
// generation drains in a goroutine counted by retired.
func (s *service) reloadLoop(path string, hup <-chan os.Signal, w *fsnotify.Watcher, stop <-chan struct{}, retired *sync.WaitGroup) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w != nil {
		defer w.Close()
		events, errs = w.Events, w.Errors
	}
	name := filepath.Clean(path)
	var debounce <-chan time.Time
	for {
		select {
		case <-stop:
			return
		case <-hup:
			s.reload(path, "signal", retired)
		case ev := <-events:
			if filepath.Clean(ev.Name) == name && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				debounce = time.After(reloadDebounce)
			}
		case err := <-errs:
			s.log.LogAttrs(context.Background(), slog.LevelWarn, "config watch", slog.String("file", path), slog.String("err", err.Error()))
		case <-debounce:
			debounce = nil
			s.reload(path, "file changed", retired)
		}
	}
}

// reload reads the file at path and, if it is valid and changed, swaps its
// endpoints in; otherwise the current ones keep serving and the problems are
// logged, each with its place. The server and tracing sections are read
// only at start: a change there is logged, not applied.
func (s *service) reload(path, why string, retired *sync.WaitGroup) {
	cur := s.current()
	data, err := os.ReadFile(path)
	if err != nil {
		s.metrics.reloads.WithLabelValues("refused").Inc()
		s.log.LogAttrs(context.Background(), slog.LevelError, "config reload refused", slog.String("file", path), slog.String("reason", why),
			slog.String("err", err.Error()), slog.Int64("config_version", cur.version))
		return
	}
	hash := configHash(data)
	if hash == cur.hash {
		s.metrics.reloads.WithLabelValues("unchanged").Inc()
		s.log.LogAttrs(context.Background(), slog.LevelDebug, "config unchanged", slog.String("file", path), slog.String("reason", why))
		return
	}
	cfg, problems := parseConfig(data)
	var g *generation
	if len(problems) == 0 {
		if g, err = s.newGeneration(cfg, cur.version+1, hash); err != nil {
			problems = []problem{{text: err.Error()}}
		}
	}
	if len(problems) > 0 {
		s.metrics.reloads.WithLabelValues("refused").Inc()
		places := make([]string, len(problems))
		for i, p := range problems {
			places[i] = p.format(path)
		}
		s.log.LogAttrs(context.Background(), slog.LevelError, "config reload refused", slog.String("file", path), slog.String("reason", why),
			slog.String("hash", hash), slog.Int("count", len(problems)), slog.Any("problems", places), slog.Int64("config_version", cur.version))
		return
	}
	server := cfg.Server.withDefaults()
	server.Addr = s.cfg.Addr // -addr may have replaced it
	if server != s.cfg || !reflect.DeepEqual(cfg.Tracing, s.tracing) {
		s.log.LogAttrs(context.Background(), slog.LevelWarn, "config reload: server and tracing settings apply at the next start", slog.String("file", path))
	}
	old := s.install(g)
	s.metrics.reloads.WithLabelValues("applied").Inc()
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "config reloaded", slog.String("file", path), slog.String("reason", why),
		slog.Int64("config_version", g.version), slog.String("config_hash", g.hash), slog.Int("endpoints", len(cfg.Endpoints)))
	old.retire()
	retired.Go(func() {
		<-old.drained
		old.wait()
	})
}
