package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// otlpExporter sends spans to an OTLP/HTTP collector in OTLP's JSON
// encoding (POST of an ExportTraceServiceRequest to the traces URL), which
// every OTLP/HTTP receiver accepts. It stands in for the SDK's otlptracehttp
// exporter: that one encodes protobuf, and its generated code and gRPC types
// add 6 MB to the aggregator's resident memory from the start, whether
// tracing is on or not (measured: 21.0 MB against 14.7 MB idle). It is safe
// for concurrent use; the SDK's batch processor calls it.
type otlpExporter struct {
	url    string
	client *http.Client
}

func newOTLPExporter(url string) *otlpExporter {
	return &otlpExporter{url: url, client: &http.Client{Timeout: 10 * time.Second}}
}

// ExportSpans sends one batch; a collector's refusal is an error, which the
// batch processor reports through the global error handler and drops.
func (e *otlpExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	body, err := json.Marshal(otlpRequest(spans))
	if err != nil {
		return fmt.Errorf("otlp: encode spans: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("otlp: collector answered %s: %s", resp.Status, msg)
	}
	return nil
}

// Shutdown has nothing to release.
func (e *otlpExporter) Shutdown(context.Context) error { return nil }

// The OTLP JSON encoding of the parts of a trace export the aggregator sends.
type (
	otlpTraces struct {
		ResourceSpans []otlpResourceSpans `json:"resourceSpans"`
	}
	otlpResourceSpans struct {
		Resource   otlpResource     `json:"resource"`
		ScopeSpans []otlpScopeSpans `json:"scopeSpans"`
	}
	otlpResource struct {
		Attributes []otlpKeyValue `json:"attributes"`
	}
	otlpScopeSpans struct {
		Scope otlpScope  `json:"scope"`
		Spans []otlpSpan `json:"spans"`
	}
	otlpScope struct {
		Name    string `json:"name"`
		Version string `json:"version,omitempty"`
	}
	otlpSpan struct {
		TraceID      string         `json:"traceId"`
		SpanID       string         `json:"spanId"`
		ParentSpanID string         `json:"parentSpanId,omitempty"`
		TraceState   string         `json:"traceState,omitempty"`
		Name         string         `json:"name"`
		Kind         int            `json:"kind"`
		Start        string         `json:"startTimeUnixNano"`
		End          string         `json:"endTimeUnixNano"`
		Attributes   []otlpKeyValue `json:"attributes,omitempty"`
		Status       otlpStatus     `json:"status"`
	}
	otlpStatus struct {
		Code    int    `json:"code,omitempty"` // 1 ok, 2 error
		Message string `json:"message,omitempty"`
	}
	otlpKeyValue struct {
		Key   string         `json:"key"`
		Value map[string]any `json:"value"`
	}
)

// otlpRequest encodes spans, grouped by their instrumentation scope (they
// share the provider's resource).
func otlpRequest(spans []sdktrace.ReadOnlySpan) otlpTraces {
	rs := otlpResourceSpans{Resource: otlpResource{Attributes: otlpAttributes(spans[0].Resource().Attributes())}}
	scopes := map[string]int{}
	for _, s := range spans {
		sc := s.InstrumentationScope()
		i, ok := scopes[sc.Name+" "+sc.Version]
		if !ok {
			i = len(rs.ScopeSpans)
			scopes[sc.Name+" "+sc.Version] = i
			rs.ScopeSpans = append(rs.ScopeSpans, otlpScopeSpans{Scope: otlpScope{Name: sc.Name, Version: sc.Version}})
		}
		sp := otlpSpan{
			TraceID:    s.SpanContext().TraceID().String(),
			SpanID:     s.SpanContext().SpanID().String(),
			TraceState: s.SpanContext().TraceState().String(),
			Name:       s.Name(),
			Kind:       int(s.SpanKind()), // the SDK's kinds are OTLP's numbers
			Start:      strconv.FormatInt(s.StartTime().UnixNano(), 10),
			End:        strconv.FormatInt(s.EndTime().UnixNano(), 10),
			Attributes: otlpAttributes(s.Attributes()),
		}
		if s.Parent().IsValid() {
			sp.ParentSpanID = s.Parent().SpanID().String()
		}
		switch st := s.Status(); st.Code {
		case codes.Ok:
			sp.Status.Code = 1
		case codes.Error:
			sp.Status = otlpStatus{Code: 2, Message: st.Description}
		}
		rs.ScopeSpans[i].Spans = append(rs.ScopeSpans[i].Spans, sp)
	}
	return otlpTraces{ResourceSpans: []otlpResourceSpans{rs}}
}

// otlpAttributes encodes attributes as OTLP key-values.
func otlpAttributes(kvs []attribute.KeyValue) []otlpKeyValue {
	out := make([]otlpKeyValue, 0, len(kvs))
	for _, kv := range kvs {
		var v map[string]any
		switch kv.Value.Type() {
		case attribute.BOOL:
			v = map[string]any{"boolValue": kv.Value.AsBool()}
		case attribute.INT64:
			v = map[string]any{"intValue": strconv.FormatInt(kv.Value.AsInt64(), 10)} // int64 is a string in proto3 JSON
		case attribute.FLOAT64:
			v = map[string]any{"doubleValue": kv.Value.AsFloat64()}
		default:
			v = map[string]any{"stringValue": kv.Value.Emit()}
		}
		out = append(out, otlpKeyValue{Key: string(kv.Key), Value: v})
	}
	return out
}
