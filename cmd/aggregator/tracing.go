package main

import (
	"strconv"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// traceContext reads and writes W3C traceparent and tracestate headers.
var traceContext = propagation.TraceContext{}

// newTracerProvider returns the OpenTelemetry SDK's tracer provider,
// exporting to cfg's OTLP/HTTP endpoint in batches (otlpExporter); nil, and
// no cost at all, when cfg has none. The caller shuts it down, which flushes
// the spans left.
func newTracerProvider(cfg tracingConfig) *sdktrace.TracerProvider {
	if cfg.OTLPEndpoint == "" {
		return nil
	}
	return newTracerProviderWith(cfg, sdktrace.WithBatcher(newOTLPExporter(cfg.OTLPEndpoint)))
}

// newTracerProviderWith returns a tracer provider with cfg's service name and
// sampler and the span processor given (tests give the SDK's in-memory
// exporter).
func newTracerProviderWith(cfg tracingConfig, processor sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	name := cfg.ServiceName
	if name == "" {
		name = "aggregator"
	}
	ratio := cfg.SampleRatio
	if ratio == 0 {
		ratio = 1
	}
	return sdktrace.NewTracerProvider(processor,
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(name))),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))))
}

// tracerOf returns tp's tracer for the aggregator, or nil without tp.
func tracerOf(tp *sdktrace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer("github.com/trawl/trawl/cmd/aggregator")
}

// trace continues the client's trace (its traceparent header) or starts a
// new one, with a server span around the request; package aggregate adds a
// client span per backend call below it and sends traceparent upstream. It
// is in the chain only when tracing is on.
func (s *service) trace(c *gin.Context) {
	r := c.Request
	ctx := traceContext.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	ctx, span := s.tracer.Start(ctx, r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.HTTPRoute(route),
			attribute.String("http.request_id", r.Header.Get(hdrRequestID))))
	defer span.End()
	c.Request = r.WithContext(ctx)
	c.Next()
	status := c.Writer.Status()
	span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	if completed := c.Writer.Header()[hdrCompleted]; len(completed) == 1 {
		span.SetAttributes(attribute.Bool("aggregate.complete", completed[0] == "true"))
	}
	if status >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(status))
	}
}
