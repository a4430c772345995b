package corralotel_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/corralcache/corral/extra/corralotel"
	"github.com/corralcache/corral/region"
)

// A region traced with OpenTelemetry: the call that missed has a span, with
// the creator's run as a child; the hit has none.
func Example() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	users, err := region.New("users", region.Config{
		Tracer: corralotel.NewTracer(corralotel.WithTracerProvider(tp)),
	})
	if err != nil {
		panic(err)
	}
	defer users.Close()
	ctx := context.Background()
	load := func(context.Context) (string, error) { return "Grace", nil }
	_, _ = region.GetOrCreate(ctx, users, "user:1", load) // a miss
	_, _ = region.GetOrCreate(ctx, users, "user:1", load) // a hit

	for _, s := range spans.Ended() {
		fmt.Print(s.Name())
		for _, a := range s.Attributes() {
			fmt.Printf(" %s=%s", a.Key, a.Value.Emit())
		}
		fmt.Println()
	}
	// Output:
	// corral.create corral.region=users
	// corral.GetOrCreate corral.region=users corral.outcome=created
}
