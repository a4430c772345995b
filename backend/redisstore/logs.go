package redisstore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
)

// RouteClientLogs sends the lines go-redis logs by itself — "redis:
// connection pool: failed to dial after 1 attempts: …", a Sentinel's
// failover, a Cluster's reload — to logger, at Warn level with the
// attribute logger=go-redis, instead of go-redis's default: plain text on
// standard error, outside the regions' Config.Logger. A nil logger puts
// go-redis's default back.
//
// WARNING: go-redis v9 has one logger per process (redis.SetLogger), and no
// option per client. RouteClientLogs changes it for every go-redis client of
// the process, corral's or not: call it once, from main, at start-up — never
// from a library. corral never calls it by itself.
func RouteClientLogs(logger *slog.Logger) {
	if logger == nil {
		logging.Enable() // go-redis's default logger
		return
	}
	redis.SetLogger(clientLogger{logger})
}

// clientLogger is a go-redis logger writing to a slog.Logger.
type clientLogger struct{ l *slog.Logger }

func (c clientLogger) Printf(ctx context.Context, format string, args ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	c.l.Log(ctx, slog.LevelWarn, fmt.Sprintf(format, args...), slog.String("logger", "go-redis"))
}
