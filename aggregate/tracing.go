package aggregate

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// traceContext writes W3C traceparent and tracestate headers.
var traceContext = propagation.TraceContext{}

// startSpan starts backend b's client span, a child of the span in ctx, and
// puts its context in hreq's headers for the upstream.
func (a *Aggregator) startSpan(ctx context.Context, b *backend, hreq *http.Request) trace.Span {
	ctx, span := a.tracer.Start(ctx, "backend "+b.name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("aggregate.backend", b.name), attribute.String("http.request.method", http.MethodGet),
			attribute.String("url.full", hreq.URL.String())))
	traceContext.Inject(ctx, propagation.HeaderCarrier(hreq.Header))
	return span
}

// endSpan ends a backend call's span with its report.
func endSpan(span trace.Span, r *BackendReport) {
	span.SetAttributes(attribute.String("aggregate.outcome", string(r.Outcome)))
	if r.Status != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", r.Status))
	}
	if r.Hedged {
		span.SetAttributes(attribute.Bool("aggregate.hedged", true))
	}
	if r.Outcome != OK {
		span.SetStatus(codes.Error, r.Error)
	}
	span.End()
}
