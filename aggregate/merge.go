package aggregate

import (
	"context"
	"log/slog"
	"time"
)

// assemble merges the arrived slots in configuration order and reports
// every backend; the others are reported by ctx's state. slots is nil for a
// follower that left a shared fan-out before it ended.
func (a *Aggregator) assemble(ctx context.Context, slots []slot, start time.Time) *Result {
	c := a.ep
	reports := make([]BackendReport, len(c.backends))
	complete := true
	size, count := 2, 1
	for i, b := range c.backends {
		r := &reports[i]
		if slots != nil && slots[i].arrived {
			*r = slots[i].report
			for j := range slots[i].members {
				m := &slots[i].members[j]
				size += len(b.memberKey(slots[i].data, m)) + m.valEnd - m.valOff + 2
			}
			count += len(slots[i].members)
		} else {
			*r = BackendReport{Name: b.name, Required: b.required, Latency: time.Since(start)}
			phase := int32(phaseShared)
			if slots != nil {
				phase = slots[i].phase.Load()
			}
			ctxOutcome(ctx, r, phase)
		}
		if r.Outcome != OK {
			complete = false
			if a.log.Enabled(ctx, slog.LevelDebug) {
				a.log.LogAttrs(ctx, slog.LevelDebug, "backend failed",
					slog.String("endpoint", c.path), slog.String("upstream", r.Name),
					slog.String("outcome", string(r.Outcome)), slog.Int("status", r.Status),
					slog.Duration("elapsed", r.Latency), slog.String("err", r.Error))
			}
		}
	}
	if c.reportKey != nil {
		size += len(c.reportKey) + 2 + 96*len(reports)
	}
	buf := a.getBody(size)
	body := append(*buf, '{')
	t := a.getTable()
	t.reset(c.seed, count)
	// A name's ref is slot<<32 | member; the report key's is all ones.
	const reportRef = 1<<64 - 2
	nameOf := func(ref uint64) []byte {
		if ref == reportRef {
			return c.reportRaw
		}
		i, j := ref>>32, ref&(1<<32-1)
		return c.backends[i].memberName(slots[i].data, &slots[i].members[j])
	}
	if c.reportKey != nil {
		t.add(c.reportRaw, reportRef, nameOf) // reserved: the report wins
	}
	first := true
	for i := range slots {
		if !slots[i].arrived {
			continue
		}
		b, data := c.backends[i], slots[i].data
		for j := range slots[i].members {
			m := &slots[i].members[j]
			if !t.add(b.memberName(data, m), uint64(i)<<32|uint64(j), nameOf) {
				continue // an earlier backend (or member) has it
			}
			if !first {
				body = append(body, ',')
			}
			first = false
			body = append(append(append(body, b.memberKey(data, m)...), ':'), data[m.valOff:m.valEnd]...)
		}
	}
	a.putTable(t)
	if c.reportKey != nil {
		if !first {
			body = append(body, ',')
		}
		body = appendReports(append(append(body, c.reportKey...), ':'), reports)
	}
	body = append(body, '}')
	*buf = body
	return &Result{Body: body, Complete: complete, Backends: reports, owner: a, buf: buf}
}
